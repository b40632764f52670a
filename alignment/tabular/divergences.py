"""The f-divergences of f-DPG on finite spaces: f'(t) from log t, the exact D_f(π‖p), and the
exact and importance-sampled gradients on softmax logits (docs/preference_games.md, f-DPG).

Divergences (f' computed from log t, t = π/p): ``kl`` forward KL(p‖π) (= DPG/GDC),
``rkl`` reverse KL(π‖p) (= RLHF on a·exp(r/β)), ``tv``, ``js`` (with the ½ kept; the
reference library drops it, which only rescales the learning rate), ``chi2`` = χ²(p‖π) and
``rchi2`` = χ²(π‖p). Reverse KL and reverse χ² have infinite f' outside the support of p
(:data:`FULL_SUPPORT`).
"""

from __future__ import annotations

import numpy as np

from alignment.tabular.targets import Target
from gtlearn.core.errors import GtlearnError

DIVERGENCES = ("kl", "rkl", "tv", "js", "chi2", "rchi2")
FULL_SUPPORT = ("rkl", "rchi2")  # need a target with full support


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


def lse(z: np.ndarray) -> np.ndarray:
    """Row-wise log-sum-exp ``[X]``."""
    m = z.max(axis=1, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]


def exact_gradient(theta: np.ndarray, target: Target, div: str) -> np.ndarray:
    """∇_θ D_f(softmax θ ‖ p) = π ⊙ (f'(π/p) − E_π f'(π/p))."""
    log_pi = theta - lse(theta)[:, None]
    pi = np.exp(log_pi)
    with np.errstate(invalid="ignore"):
        fp = f_prime(div, log_pi - (target.log_P - target.log_Z[:, None]))
    fp = np.where(pi > 0, fp, 0.0)
    return pi * (fp - (pi * fp).sum(axis=1, keepdims=True))


def is_gradient(theta: np.ndarray, target: Target, div: str, q: np.ndarray) -> np.ndarray:
    """The importance-sampled gradient Σ_x q(x)·(π(x)/q(x))·f'(π/p)(x)·∇_θ log π(x), enumerated
    over all x (∇_θ log π(x) = e_x − π). Equals :func:`exact_gradient` for full-support q."""
    log_pi = theta - lse(theta)[:, None]
    pi = np.exp(log_pi)
    fp = f_prime(div, log_pi - (target.log_P - target.log_Z[:, None]))
    X, n = pi.shape
    out = np.zeros((X, n))
    for x in range(n):
        score = np.eye(n)[x][None, :] - pi
        out += (q[:, x] * (pi[:, x] / q[:, x]) * fp[:, x])[:, None] * score
    return out
