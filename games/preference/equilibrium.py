"""The β-regularized game of a preference game: best response, exploitability, the exact
regularized Nash equilibrium π*_β, and the maximal lottery (β = 0).

For β > 0 the game ``J_β(π, π') = P(π ≻ π') − β·KL(π‖π_ref) + β·KL(π'‖π_ref)`` has a unique
symmetric Nash equilibrium π*_β, the fixed point of the regularized best response
``BR_β(π)(y) ∝ π_ref(y)·exp(P(y ≻ π)/β)`` (docs/preference_games.md).
:func:`regularized_nash` computes it to 1e-12 with the exact Nash-MP iteration at λ = ½,
which contracts KL(π*‖π) by 1/(1+2β) per iteration (Nash Mirror Prox: Tiapkin et al., 2025,
"Accelerating Nash Learning from Human Feedback via Mirror Prox"; the contraction constant is
derived in docs/preference_games.md and checked by the tests).
"""

from __future__ import annotations

import math

import numpy as np

from games.preference.game import PreferenceGame
from gtlearn.core.errors import GtlearnError


def _log_normalize(logits: np.ndarray) -> np.ndarray:
    m = logits.max(axis=-1, keepdims=True)
    return logits - (m + np.log(np.exp(logits - m).sum(axis=-1, keepdims=True)))


def log_best_response(game: PreferenceGame, pi: np.ndarray, beta: float) -> np.ndarray:
    """``log BR_β(π)``, with ``BR_β(π)(y) ∝ π_ref(y)·exp(P(y ≻ π)/β)``."""
    return _log_normalize(np.log(game.ref) + game.win_prob(pi) / beta)


def best_response(game: PreferenceGame, pi: np.ndarray, beta: float) -> np.ndarray:
    return np.exp(log_best_response(game, pi, beta))


def regularized_exploitability(game: PreferenceGame, pi: np.ndarray, beta: float) -> np.ndarray:
    """Per-context ``e_β(π) = β·log Σ_y π_ref(y) e^{P(y≻π)/β} + β·KL(π‖π_ref) − ½`` (≥ 0, = 0 only
    at π*_β). Returns ``[X]``; average with ``game.rho``."""
    pi = np.asarray(pi, dtype=np.float64)
    s = np.log(game.ref) + game.win_prob(pi) / beta
    m = s.max(axis=1)
    lse = m + np.log(np.exp(s - m[:, None]).sum(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = np.where(pi > 0, pi * (np.log(pi) - np.log(game.ref)), 0.0).sum(axis=1)
    return beta * lse + beta * kl - 0.5


def _check_beta(beta: float) -> float:
    try:
        beta = float(beta)
    except (TypeError, ValueError):
        raise GtlearnError(f"beta must be a number, got {beta!r}") from None
    if not math.isfinite(beta) or beta <= 0:
        raise GtlearnError(f"beta must be a positive finite number, got {beta}")
    return beta


def regularized_nash(
    game: PreferenceGame,
    beta: float,
    tol: float = 1e-12,
    *,
    max_iterations: int | None = None,
    return_info: bool = False,
):
    """The exact β-regularized symmetric Nash equilibrium π*_β, ``[X, n]``.

    Runs the exact Nash-MP iteration with λ = ½ from π_ref, in float64 and log space,
    vectorized over contexts; both half-steps use the prior ``λ·log π_k + β·log π_ref`` and the
    opponents π_k then π_{k+½}. Each iteration contracts KL(π*‖π) by at least 1/(1+2β), so it
    takes about log(1/tol)/log(1+2β) iterations. It stops when, for every context,
    ``e_β(π) ≤ max(β·tol, 1e-14)`` and ``max_y |log π(y) − log BR_β(π)(y)| ≤ tol``.
    Deviations (float64 floors): e_β is a difference of O(1) numbers and cannot be resolved
    below a few ulps, hence the 1e-14 floor; and the log-gap tolerance is
    ``max(tol, 256·eps·(max|log π_ref| + 1/β))``, because log BR_β adds numbers of that size
    and their rounding stalls the gap above tol for small β (at 1.3e-11 for β = 0.0017).
    For β = 0 use :func:`maximal_lottery`.
    """
    beta = _check_beta(beta)
    lam = 0.5
    if max_iterations is None:
        max_iterations = int(4 * math.log(1.0 / tol) / math.log1p(2 * beta)) + 1000
    log_ref = np.log(game.ref)
    log_pi = log_ref.copy()
    e_tol = max(beta * tol, 1e-14)
    # log BR adds numbers of size up to |log π_ref| + 1/β, whose float64 rounding floors the
    # attainable log-gap; the tolerance scales with that size when it exceeds 1.
    log_tol = max(tol, 256 * np.finfo(np.float64).eps * (float(np.max(np.abs(log_ref))) + 1.0 / beta))
    it = 0
    for it in range(1, max_iterations + 1):
        pi = np.exp(log_pi)
        prior = lam * log_pi + beta * log_ref
        half = np.exp(_log_normalize((prior + game.win_prob(pi)) / (beta + lam)))
        log_pi = _log_normalize((prior + game.win_prob(half)) / (beta + lam))
        if it % 8 == 0 or it < 8:
            pi = np.exp(log_pi)
            gap = np.max(np.abs(log_pi - log_best_response(game, pi, beta)))
            if gap <= log_tol and np.max(regularized_exploitability(game, pi, beta)) <= e_tol:
                break
    else:
        raise RuntimeError(f"regularized_nash did not reach tol={tol} in {max_iterations} iterations")
    pi = np.exp(log_pi)
    if return_info:
        return pi, {"iterations": it, "exploitability": float(np.max(regularized_exploitability(game, pi, beta)))}
    return pi


def solve_regularized_nash(P: np.ndarray, ref: np.ndarray, beta: float, tol: float = 1e-12) -> np.ndarray:
    """:func:`regularized_nash` of the game ``(P, ref)`` given as arrays."""
    return regularized_nash(PreferenceGame(P=P, ref=ref), beta, tol)


def maximal_lottery(game: PreferenceGame) -> np.ndarray:
    """An equilibrium of the unregularized game (β = 0), the maximal lottery, per context, by
    the linear program ``max v s.t. Σ_y π(y)(P(y≻y') − ½) ≥ v ∀y', π ∈ Δ`` (optimum v = 0).
    It may be non-unique; the LP returns one vertex solution."""
    from scipy.optimize import linprog

    X, n = game.num_contexts, game.num_responses
    out = np.empty((X, n))
    for x in range(X):
        M = game.P[x] - 0.5
        # variables (π_0..π_{n-1}, v); minimize −v; constraint −Mᵀπ + v ≤ 0
        c = np.zeros(n + 1)
        c[-1] = -1.0
        A_ub = np.hstack([-M.T, np.ones((n, 1))])
        A_eq = np.hstack([np.ones((1, n)), np.zeros((1, 1))])
        res = linprog(c, A_ub=A_ub, b_ub=np.zeros(n), A_eq=A_eq, b_eq=[1.0],
                      bounds=[(0, None)] * n + [(None, None)], method="highs")
        if not res.success:  # pragma: no cover - the LP is always feasible and bounded
            raise RuntimeError(f"maximal lottery LP failed: {res.message}")
        p = np.clip(res.x[:n], 0.0, None)
        out[x] = p / p.sum()
    return out
