"""Targets of f-DPG: unnormalized distributions P ``[X, n]`` over the responses of each context,
p = P/Z (docs/preference_games.md, f-DPG).

:func:`rlhf_target` a·exp(r/β), :func:`pointwise_target` a·1[φ], :func:`distributional_target`
a·exp(λφ) with λ fitted to a moment; all per context (the conditional case, one Z(x) per
context). :func:`fdpg_target` builds one of them from a preference game; :func:`base_game` is
the problem of an f-DPG run whose target is given directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from games.preference import PreferenceGame
from gtlearn.core.errors import GtlearnError

TARGETS = ("rlhf", "pointwise", "distributional")


@dataclass
class Target:
    """An unnormalized target ``log_P`` ``[X, n]`` (−inf = outside the support); ``lam`` holds
    the fitted λ of a distributional target."""

    log_P: np.ndarray
    kind: str = "custom"
    lam: np.ndarray | None = None

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


def base_game(a: np.ndarray) -> PreferenceGame:
    """The preference game with reference ``a`` and no preference signal (every P = ½): the
    problem of f-DPG when the target is given directly (``FDPG(base_game(a), config, target=t)``)."""
    a = np.asarray(a, np.float64)
    return PreferenceGame(P=np.full((a.shape[0], a.shape[1], a.shape[1]), 0.5), ref=a, name="base")


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
    return Target(np.log(a) + lam[:, None] * phi, "distributional", lam)


def fdpg_target(game: PreferenceGame, kind: str, beta: float) -> Target:
    """The f-DPG target built from a preference game: base a = π_ref, reward r(y) = P(y ≻ π_ref).

    ``rlhf``: a·exp(r/β); ``pointwise``: a·1[r ≥ median r]; ``distributional``: a·exp(λr) with
    E_p[r] halfway between E_a[r] and max r.
    """
    r = game.win_prob(game.ref)
    if kind == "rlhf":
        return rlhf_target(game.ref, r, beta)
    if kind == "pointwise":
        return pointwise_target(game.ref, r >= np.median(r, axis=1, keepdims=True))
    if kind == "distributional":
        mean_a = (game.ref * r).sum(axis=1)
        return distributional_target(game.ref, r, 0.5 * (mean_a + r.max(axis=1)))
    raise GtlearnError(f"unknown f-DPG target {kind!r}; use {', '.join(TARGETS)}")
