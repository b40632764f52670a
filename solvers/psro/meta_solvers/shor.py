"""SHOR-PSRO meta-solvers: Smoothed Hybrid Optimistic Regret (Li, Schultz, Hennes & Lanctot,
"Discovering multiagent learning algorithms with large language models", arXiv:2602.16928 v1;
the appendix source listing is authoritative, docs/psro.md).

One inner solver H(M; L, lambda, tau, mu, c, norm, avg) serves both slots. Per player: strategy
sigma (uniform), accumulated positive regret Q = 0, previous centred gain g_hat = 0, running sum
A = 0. For l = 1..L, players p = 0..N-1 in turn (Gauss-Seidel: p sees the strategies already
updated in this l):

    u = u_p(.|sigma_-p);  g = u - mean(u)                       (centred by the uniform mean)
    h = (1 + mu) g - mu g_hat + c (1 - sigma_p)                 (optimism + diversity bonus)
    h /= max|h| when norm and max|h| > 1e-8                     (scale-free step)
    Q = [Q + h]_+;  rho = Q / sum Q (uniform when sum Q <= 1e-12)
    b = softmax(u / tau);  sigma_p = (1 - lambda) rho + lambda b;  g_hat = g
then A += sigma when averaging. Returns A / sum A (avg) or the last iterate.

``SHORTrain`` anneals lambda 0.3->0.05, tau 0.5->0.01, c 0.05->0.001 over its own call counter
(``state["calls"]``, incremented at the start of every call; progress min(1, k/75)), uses
L = clip(1000 + 20 (n0 - 1), 1000, 5000), mu = 0.5 and returns the time average.
``SHOREval`` is stateless: L = clip(8000 + 50 (n0 - 1), 8000, 15000), lambda = 0.01,
tau = 0.001, c = 0, mu = 0.2, last iterate. These are the appendix code semantics; the paper's
in-text abstraction (1000 + 20 n, no clipping) is not what is implemented.

Every constant is a constructor parameter (defaults = the listing), so mechanisms can be
switched off one at a time (``experiments/ablation_shor.py``): ``mu=0`` removes the optimism,
``lam=0`` (``lam0=lam1=0``) the softmax blend, ``c=0`` the diversity bonus, ``norm=False`` the
max-normalisation, equal initial and final values the annealing, ``avg`` picks the time average
or the last iterate. Parameters left at their defaults do not appear in ``repr``. ``early_stop``:
the opt-in certified early stop of :mod:`solvers.psro.meta_solvers._fast`.
"""

from __future__ import annotations

import solvers.psro.meta_solvers._fast as _fast
from games.matrix import array_module, sizes_of, utilities
from solvers.psro.meta_solvers.base import EarlyStopping, MetaSolver

ANNEAL_CALLS = 75


def shor_inner(payoffs, iterations, lam, tau, mu, c, norm=True, avg=True, fast=True, early_stop=False, check_every=1000,
               info=None):
    """The inner solver H of docs/psro.md (array code on any ``xp``)."""
    xp = array_module(payoffs)
    shape = sizes_of(payoffs)
    if any(n == 0 for n in shape):
        return [xp.zeros(n) for n in shape]
    if fast and _fast.usable(payoffs):
        args, classes = _fast.prepare(payoffs)
        out, steps = _fast.shor(*args, int(iterations), float(lam), float(tau), float(mu), float(c),
                                bool(norm), bool(avg), bool(early_stop), int(check_every))
        if info is not None:
            info.append(int(steps))
        return _fast.unpad(out, classes)
    sigma = [xp.full(n, 1.0 / n) for n in shape]
    q = [xp.zeros(n) for n in shape]
    ghat = [xp.zeros(n) for n in shape]
    acc = [xp.zeros(n) for n in shape]
    for _ in range(int(iterations)):
        for p in range(len(shape)):
            n = shape[p]
            u = utilities(payoffs, sigma, p)
            g = u - u.sum() / n
            h = (1 + mu) * g - mu * ghat[p] + c * (1 - sigma[p])
            if norm:
                hmax = xp.abs(h).max()
                h = h / xp.where(hmax > 1e-8, hmax, 1.0)
            q[p] = xp.maximum(q[p] + h, 0.0)
            qs = q[p].sum()
            rho = xp.where(qs > 1e-12, q[p] / xp.where(qs > 1e-12, qs, 1.0), 1.0 / n)
            z = xp.exp((u - u.max()) / tau)
            zs = z.sum()
            b = xp.where(zs > 1e-12, z / xp.where(zs > 1e-12, zs, 1.0), 1.0 / n)
            sigma[p] = (1 - lam) * rho + lam * b
            ghat[p] = g
        if avg:
            for p in range(len(shape)):
                acc[p] += sigma[p]
    return acc if avg else sigma


def _clip(x, lo, hi):
    return min(max(x, lo), hi)


def _lerp(a, b, w):
    return a * (1 - w) + b * w


def train_iterations(n0: int, base: int = 1000, slope: int = 20, cap: int = 5000) -> int:
    return _clip(base + slope * (n0 - 1), base, cap)


def eval_iterations(n0: int, base: int = 8000, slope: int = 50, cap: int = 15000) -> int:
    return _clip(base + slope * (n0 - 1), base, cap)


TRAIN_DEFAULTS = {"lam0": 0.30, "lam1": 0.05, "tau0": 0.50, "tau1": 0.01, "c0": 0.05, "c1": 0.001, "mu": 0.5,
                  "norm": True, "avg": True, "anneal_calls": ANNEAL_CALLS, "base": 1000, "slope": 20, "cap": 5000}
EVAL_DEFAULTS = {"lam": 0.01, "tau": 0.001, "c": 0.0, "mu": 0.2, "norm": True, "avg": False, "base": 8000, "slope": 50,
                 "cap": 15000}


def train_schedule(calls: int, lam0=0.30, lam1=0.05, tau0=0.50, tau1=0.01, c0=0.05, c1=0.001,
                   anneal_calls: int = ANNEAL_CALLS) -> dict:
    """lambda, tau and c after ``calls`` training calls (annealing complete at ``anneal_calls``)."""
    w = min(1.0, calls / anneal_calls)
    return {
        "lam": _clip(_lerp(lam0, lam1, w), min(lam0, lam1), max(lam0, lam1)),
        "tau": _clip(_lerp(tau0, tau1, w), min(tau0, tau1), max(tau0, tau1)),
        "c": _clip(_lerp(c0, c1, w), min(c0, c1), max(c0, c1)),
    }


class _Switchable(EarlyStopping):
    """Constants as parameters; only the ones changed from the listing show in ``params``."""

    DEFAULTS: dict = {}

    def _set(self, values: dict, early_stop: bool, check_every: int) -> None:
        unknown = set(values) - set(self.DEFAULTS)
        if unknown:
            raise ValueError(f"unknown parameters {sorted(unknown)}")
        for key, default in self.DEFAULTS.items():
            setattr(self, key, type(default)(values.get(key, default)))
        self.set_early_stopping(early_stop, check_every)

    def params(self) -> dict:
        return {k: v for k, v in super().params().items() if k not in self.DEFAULTS or v != self.DEFAULTS[k]}

    def _inner(self, payoffs, iterations, lam, tau, mu, c):
        stop = {"early_stop": True, "check_every": self.check_every, "info": self.steps_run} if self.early_stop else {}
        return shor_inner(payoffs, iterations, lam, tau, mu, c, self.norm, self.avg, **stop)


class SHORTrain(_Switchable, MetaSolver):
    """SHOR training meta-solver (annealed, time-averaged); training slot only."""

    name = "shor-train"
    slots = ("train",)
    DEFAULTS = TRAIN_DEFAULTS

    def __init__(self, early_stop: bool = False, check_every: int = 1000, **switches) -> None:
        super().__init__()
        self._set(switches, early_stop, check_every)

    def solve(self, payoffs, t=None):
        self.state["calls"] = self.state.get("calls", 0) + 1  # the counter ignores t (docs/psro.md)
        sched = train_schedule(self.state["calls"], self.lam0, self.lam1, self.tau0, self.tau1, self.c0, self.c1,
                               self.anneal_calls)
        n0 = int(sizes_of(payoffs)[0])
        return self._inner(payoffs, train_iterations(n0, self.base, self.slope, self.cap), sched["lam"], sched["tau"],
                           self.mu, sched["c"])


class SHOREval(_Switchable, MetaSolver):
    """SHOR evaluation meta-solver (near-argmax blend, last iterate); evaluation slot only."""

    name = "shor-eval"
    slots = ("eval",)
    stateless = True
    DEFAULTS = EVAL_DEFAULTS

    def __init__(self, early_stop: bool = False, check_every: int = 1000, **switches) -> None:
        super().__init__()
        self._set(switches, early_stop, check_every)

    def solve(self, payoffs, t=None):
        n0 = int(sizes_of(payoffs)[0])
        return self._inner(payoffs, eval_iterations(n0, self.base, self.slope, self.cap), self.lam, self.tau, self.mu,
                           self.c)
