"""f-DPG (f-divergence Distributional Policy Gradients) on finite spaces.

Paper: D. Go, T. Korbak, G. Kruszewski, J. Rozen, N. Ryu, M. Dymetman, "Aligning Language
Models with Preferences through f-divergence Minimization" (ICML 2023, arXiv:2302.08215).
Spec §5.

π_θ = softmax(θ) per context approximates a target p = P/Z, P an unnormalized EBM::

    ∇_θ D_f(π_θ‖p) = E_{x∼π_θ}[ f'(π_θ(x)/p(x)) · ∇_θ log π_θ(x) ]

so on softmax logits the exact gradient is π ⊙ (f'(π/p) − E_π f'(π/p)) (``mode="exact"``).
``mode="sampled"`` draws ``samples`` x ~ q per context and step, estimates Ẑ as the running
mean of P/q over all samples seen, uses the pseudo-reward −f'(π/p̂) minus a moving-average
baseline (window ``baseline_window``), IS weights π/q, and the policy-gradient estimate of
the loss mean(−w·A·log π). The proposal q is π itself (``proposal="online"``) or a frozen
copy refreshed every ``proposal_interval`` steps only if the IS estimate of KL(p‖π) is below
that of KL(p‖q) (``"offline"``). One *query* is one evaluation of P(x).

Divergences (f' computed from log t, t = π/p): ``kl`` forward KL(p‖π) (= DPG/GDC),
``rkl`` reverse KL(π‖p) (= RLHF on a·exp(r/β)), ``tv``, ``js`` (with the ½ kept; the
reference library drops it, which only rescales the learning rate), ``chi2`` = χ²(p‖π) and
``rchi2`` = χ²(π‖p). Reverse KL and reverse χ² have infinite f' outside the support of p, so
they require full-support targets and raise :class:`GtlearnError` otherwise.

Targets: :func:`rlhf_target` a·exp(r/β), :func:`pointwise_target` a·1[φ],
:func:`distributional_target` a·exp(λφ) with λ fitted to a moment; all per context
(the conditional case, one Z(x) per context).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from gtlearn.core.errors import GtlearnError

DIVERGENCES = ("kl", "rkl", "tv", "js", "chi2", "rchi2")
_FULL_SUPPORT = ("rkl", "rchi2")


# ----------------------------------------------------------------------------------------
# Targets
# ----------------------------------------------------------------------------------------
@dataclass
class Target:
    """An unnormalized target ``log_P`` ``[X, n]`` (−inf = outside the support)."""

    log_P: np.ndarray
    kind: str = "custom"

    @property
    def log_Z(self) -> np.ndarray:
        m = np.max(self.log_P, axis=1, keepdims=True)
        return (m + np.log(np.exp(self.log_P - m).sum(axis=1, keepdims=True)))[:, 0]

    @property
    def p(self) -> np.ndarray:
        return np.exp(self.log_P - self.log_Z[:, None])

    @property
    def full_support(self) -> bool:
        return bool(np.all(np.isfinite(self.log_P)))


def rlhf_target(a: np.ndarray, r: np.ndarray, beta: float) -> Target:
    """P = a·exp(r/β): reverse KL to it is KL-regularized reward maximization."""
    if not beta > 0:
        raise GtlearnError(f"beta must be positive, got {beta}")
    return Target(np.log(a) + np.asarray(r, np.float64) / beta, "rlhf")


def pointwise_target(a: np.ndarray, phi: np.ndarray) -> Target:
    """P = a·1[φ] (φ boolean ``[X, n]``, at least one true per context)."""
    phi = np.asarray(phi, dtype=bool)
    if not phi.any(axis=1).all():
        raise GtlearnError("a pointwise constraint must be satisfiable in every context")
    with np.errstate(divide="ignore"):
        return Target(np.where(phi, np.log(a), -np.inf), "pointwise")


def distributional_target(a: np.ndarray, phi: np.ndarray, moment: float | np.ndarray) -> Target:
    """P = a·exp(λφ), λ per context fitted (bisection on the monotone E_p[φ]) so E_p[φ] = moment."""
    from scipy.optimize import brentq

    a = np.asarray(a, np.float64)
    phi = np.asarray(phi, np.float64)
    moment = np.broadcast_to(np.asarray(moment, np.float64), (a.shape[0],))
    lam = np.empty(a.shape[0])
    for x in range(a.shape[0]):
        lo, hi = phi[x].min(), phi[x].max()
        if not lo < moment[x] < hi:
            raise GtlearnError(f"moment {moment[x]} must lie strictly between min and max of phi ({lo}, {hi})")

        def gap(l, x=x):
            w = np.log(a[x]) + l * phi[x]
            w = np.exp(w - w.max())
            return (w @ phi[x]) / w.sum() - moment[x]

        b = 1.0
        while gap(-b) > 0 or gap(b) < 0:
            b *= 2.0
        lam[x] = brentq(gap, -b, b, xtol=1e-14)
    t = Target(np.log(a) + lam[:, None] * phi, "distributional")
    t.lam = lam  # type: ignore[attr-defined]
    return t


# ----------------------------------------------------------------------------------------
# Divergences
# ----------------------------------------------------------------------------------------
def f_prime(div: str, log_t: np.ndarray) -> np.ndarray:
    """f'(t) from log t (log t = +inf outside the target's support)."""
    with np.errstate(over="ignore", invalid="ignore"):
        if div == "kl":
            return -np.exp(-log_t)
        if div == "rkl":
            return 1.0 + log_t
        if div == "tv":
            return 0.5 * np.sign(log_t)
        if div == "js":
            return 0.5 * (np.log(2.0) - np.logaddexp(0.0, -log_t))  # ½ log(2t/(1+t)), finite at t = ∞
        if div == "chi2":
            return 1.0 - np.exp(-2.0 * log_t)
        if div == "rchi2":
            return 2.0 * (np.exp(log_t) - 1.0)
    raise GtlearnError(f"unknown divergence {div!r}; known: {', '.join(DIVERGENCES)}")


def _xlogy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.where(x > 0, x * np.log(np.where(x > 0, x / y, 1.0)), 0.0)


def divergence(div: str, pi: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Exact D_f(π‖p) per context, in the table's orientation (``kl`` = KL(p‖π), ``chi2`` =
    χ²(p‖π), ``rkl`` = KL(π‖p), ``rchi2`` = χ²(π‖p))."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if div == "kl":
            return _xlogy(p, pi).sum(axis=1)
        if div == "rkl":
            return _xlogy(pi, p).sum(axis=1)
        if div == "tv":
            return 0.5 * np.abs(pi - p).sum(axis=1)
        if div == "js":
            m = 0.5 * (pi + p)
            return 0.5 * _xlogy(pi, m).sum(axis=1) + 0.5 * _xlogy(p, m).sum(axis=1)
        if div == "chi2":
            return np.where(p > 0, (p - pi) ** 2 / pi, 0.0).sum(axis=1)
        if div == "rchi2":
            return np.where((p == 0) & (pi > 0), np.inf, np.where(p > 0, (pi - p) ** 2 / np.where(p > 0, p, 1), 0.0)).sum(axis=1)
    raise GtlearnError(f"unknown divergence {div!r}; known: {', '.join(DIVERGENCES)}")


def exact_gradient(theta: np.ndarray, target: Target, div: str) -> np.ndarray:
    """∇_θ D_f(softmax θ ‖ p) = π ⊙ (f'(π/p) − E_π f'(π/p))."""
    log_pi = theta - _lse(theta)[:, None]
    pi = np.exp(log_pi)
    with np.errstate(invalid="ignore"):
        fp = f_prime(div, log_pi - (target.log_P - target.log_Z[:, None]))
    fp = np.where(pi > 0, fp, 0.0)
    return pi * (fp - (pi * fp).sum(axis=1, keepdims=True))


def is_gradient(theta: np.ndarray, target: Target, div: str, q: np.ndarray) -> np.ndarray:
    """The importance-sampled gradient Σ_x q(x)·(π(x)/q(x))·f'(π/p)(x)·∇_θ log π(x), enumerated
    over all x (∇_θ log π(x) = e_x − π). Equals :func:`exact_gradient` for full-support q."""
    log_pi = theta - _lse(theta)[:, None]
    pi = np.exp(log_pi)
    fp = f_prime(div, log_pi - (target.log_P - target.log_Z[:, None]))
    X, n = pi.shape
    out = np.zeros((X, n))
    for x in range(n):
        score = np.eye(n)[x][None, :] - pi
        out += (q[:, x] * (pi[:, x] / q[:, x]) * fp[:, x])[:, None] * score
    return out


def _lse(z: np.ndarray) -> np.ndarray:
    m = z.max(axis=1, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]


# ----------------------------------------------------------------------------------------
# The algorithm
# ----------------------------------------------------------------------------------------
@dataclass
class FDPGConfig:
    divergence: str = "js"  # the reference library's recommended default
    learning_rate: float = 1.0  # plain gradient descent on the logits; chosen for tabular runs
    baseline_window: int = 1024
    proposal: str = "online"  # or "offline"
    proposal_interval: int = 16

    def to_dict(self) -> dict:
        return asdict(self)


class FDPG:
    """f-DPG on a tabular softmax policy ``[X, n]``, initialized at the base model ``a``."""

    name = "fdpg"

    def __init__(self, a: np.ndarray, target: Target, config: FDPGConfig | None = None, *, mode: str = "exact",
                 samples: int = 64, seed: int = 0) -> None:
        self.config = config or FDPGConfig()
        c = self.config
        if c.divergence not in DIVERGENCES:
            raise GtlearnError(f"unknown divergence {c.divergence!r}; known: {', '.join(DIVERGENCES)}")
        if c.divergence in _FULL_SUPPORT and not target.full_support:
            raise GtlearnError(f"{c.divergence} needs a full-support target; this {target.kind} target has zeros")
        if mode not in ("exact", "sampled"):
            raise GtlearnError(f"unknown mode {mode!r}; use exact or sampled")
        if c.proposal not in ("online", "offline"):
            raise GtlearnError(f"unknown proposal {c.proposal!r}; use online or offline")
        if not c.learning_rate > 0:
            raise GtlearnError(f"learning_rate must be positive, got {c.learning_rate}")
        self.target = target
        self.mode = mode
        self.samples = int(samples)
        self.rng = np.random.default_rng(seed)
        self.theta = np.log(np.asarray(a, np.float64))
        self.t = 0
        self.queries = 0
        X = self.theta.shape[0]
        self._z_sum = np.zeros(X)
        self._z_count = 0
        self._rewards: list[np.ndarray] = []
        self.q = self.policy.copy()
        self.refreshes = 0
        self._last: dict[str, float] = {}

    @property
    def policy(self) -> np.ndarray:
        return np.exp(self.theta - _lse(self.theta)[:, None])

    @property
    def z_hat(self) -> np.ndarray:
        return self._z_sum / max(self._z_count, 1)

    def gap(self) -> float:
        """Mean exact D_f(π‖p) over contexts."""
        return float(np.mean(divergence(self.config.divergence, self.policy, self.target.p)))

    def _sample(self, dist: np.ndarray, size: int) -> np.ndarray:
        cdf = np.cumsum(dist, axis=1)
        cdf[:, -1] = 1.0
        u = self.rng.random((dist.shape[0], size))
        return np.stack([np.searchsorted(cdf[x], u[x], side="right") for x in range(dist.shape[0])])

    def sampled_gradient(self) -> np.ndarray:
        c = self.config
        pi = self.policy
        q = pi if c.proposal == "online" else self.q
        X, n = pi.shape
        xs = self._sample(q, self.samples)
        rows = np.arange(X)[:, None]
        logP = self.target.log_P[rows, xs]
        q_s = q[rows, xs]
        self.queries += xs.size
        self._z_sum += (np.exp(logP) / q_s).sum(axis=1)
        self._z_count += self.samples
        z = self.z_hat
        ok = z > 0  # contexts whose Ẑ is still 0 (no sample in the support yet) are skipped
        with np.errstate(divide="ignore"):
            log_p_hat = logP - np.log(np.where(ok, z, 1.0))[:, None]
        log_pi_s = np.log(pi[rows, xs])
        R = -f_prime(c.divergence, log_pi_s - log_p_hat)
        self._rewards.append(R.ravel())
        window = np.concatenate(self._rewards)[-c.baseline_window:]
        b = float(window.mean())
        # keep only as many batches as the window needs
        while sum(r.size for r in self._rewards[1:]) >= c.baseline_window:
            self._rewards.pop(0)
        A = R - b
        w = pi[rows, xs] / q_s
        grad = np.zeros((X, n))
        for x in range(X):
            if not ok[x]:
                continue
            coef = -(w[x] * A[x])
            np.add.at(grad[x], xs[x], coef)
            grad[x] -= coef.sum() * pi[x]
        grad /= self.samples
        self._last = {"pseudo_reward_mean": float(R.mean()), "pseudo_reward_std": float(R.std()), "baseline": b,
                      "is_weight_mean": float(w.mean()), "is_weight_max": float(w.max()),
                      "outside_support": float(np.mean(~np.isfinite(logP))), "z_hat": float(np.mean(z))}
        if c.proposal == "offline" and (self.t + 1) % c.proposal_interval == 0:
            self.maybe_refresh(xs, logP, q_s)
        return grad

    def maybe_refresh(self, xs: np.ndarray, logP: np.ndarray, q_s: np.ndarray) -> bool:
        """Replace q by π only if the IS estimate of KL(p‖π) is below that of KL(p‖q)."""
        rows = np.arange(xs.shape[0])[:, None]
        z = np.where(self.z_hat > 0, self.z_hat, 1.0)[:, None]
        p_s = np.exp(logP) / z
        wp = p_s / q_s
        pi_s = self.policy[rows, xs]
        with np.errstate(divide="ignore", invalid="ignore"):
            kl_pi = np.where(p_s > 0, wp * np.log(p_s / pi_s), 0.0).mean()
            kl_q = np.where(p_s > 0, wp * np.log(p_s / q_s), 0.0).mean()
        if kl_pi < kl_q:
            self.q = self.policy.copy()
            self.refreshes += 1
            return True
        return False

    def step(self) -> np.ndarray:
        if self.mode == "exact":
            g = exact_gradient(self.theta, self.target, self.config.divergence)
            self.queries += 1
        else:
            g = self.sampled_gradient()
        self.theta = self.theta - self.config.learning_rate * g
        self.theta -= self.theta.max(axis=1, keepdims=True)
        self.t += 1
        return self.policy

    def run(self, iterations: int, callback: Callable[["FDPG"], None] | None = None) -> np.ndarray:
        for _ in range(int(iterations)):
            self.step()
            if callback is not None:
                callback(self)
        return self.policy

    def extra_metrics(self) -> dict[str, float]:
        pi, p = self.policy, self.target.p
        out = {f"div_{d}": float(np.mean(divergence(d, pi, p))) for d in ("kl", "tv", "js")}
        out["entropy"] = float(np.mean(-(np.where(pi > 0, pi * np.log(pi), 0.0)).sum(axis=1)))
        out["mass_in_support"] = float(np.mean(np.where(p > 0, pi, 0.0).sum(axis=1)))
        out["refreshes"] = self.refreshes
        out.update(self._last)
        return out
