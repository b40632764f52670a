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
"""

from __future__ import annotations

import solvers.psro.meta_solvers._fast as _fast
from games.matrix import contract_others
from gtlearn.core.backend import namespace
from solvers.psro.meta_solvers.base import MetaSolver

ANNEAL_CALLS = 75


def shor_inner(payoffs, iterations, lam, tau, mu, c, norm=True, avg=True, fast=True):
    """The inner solver H of docs/psro.md (array code on any ``xp``)."""
    xp = namespace(payoffs[0])
    shape = tuple(payoffs[0].shape)
    if any(n == 0 for n in shape):
        return [xp.zeros(n) for n in shape]
    if fast and _fast.usable(payoffs):
        mts, sizes = _fast.prepare(payoffs)
        out = _fast.shor(mts, sizes, int(iterations), float(lam), float(tau), float(mu), float(c), bool(norm), bool(avg))
        return _fast.unpad(out, sizes)
    sigma = [xp.full(n, 1.0 / n) for n in shape]
    q = [xp.zeros(n) for n in shape]
    ghat = [xp.zeros(n) for n in shape]
    acc = [xp.zeros(n) for n in shape]
    for _ in range(int(iterations)):
        for p, m in enumerate(payoffs):
            n = shape[p]
            u = contract_others(m, sigma, p)
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


def train_iterations(n0: int) -> int:
    return _clip(1000 + 20 * (n0 - 1), 1000, 5000)


def eval_iterations(n0: int) -> int:
    return _clip(8000 + 50 * (n0 - 1), 8000, 15000)


def train_schedule(calls: int) -> dict:
    """lambda, tau and c after ``calls`` training calls (annealing complete at call 75)."""
    w = min(1.0, calls / ANNEAL_CALLS)
    return {
        "lam": _clip(_lerp(0.30, 0.05, w), 0.05, 0.30),
        "tau": _clip(_lerp(0.50, 0.01, w), 0.01, 0.50),
        "c": _clip(_lerp(0.05, 0.001, w), 0.001, 0.05),
    }


class SHORTrain(MetaSolver):
    """SHOR training meta-solver (annealed, time-averaged); training slot only."""

    name = "shor-train"
    slots = ("train",)

    def solve(self, payoffs, t=None):
        self.state["calls"] = self.state.get("calls", 0) + 1  # the counter ignores t (spec §6.6)
        sched = train_schedule(self.state["calls"])
        n0 = int(payoffs[0].shape[0])
        return shor_inner(payoffs, train_iterations(n0), sched["lam"], sched["tau"], 0.5, sched["c"], True, True)


class SHOREval(MetaSolver):
    """SHOR evaluation meta-solver (near-argmax blend, last iterate); evaluation slot only."""

    name = "shor-eval"
    slots = ("eval",)
    stateless = True

    def solve(self, payoffs, t=None):
        n0 = int(payoffs[0].shape[0])
        return shor_inner(payoffs, eval_iterations(n0), 0.01, 0.001, 0.2, 0.0, True, False)
