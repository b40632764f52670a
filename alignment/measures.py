"""The measures of a policy in a regularized preference game (docs/preference_games.md).

Every function returns per-context values ``[X]``; :func:`measures` averages them with the
context weights ρ(x) and returns the dictionary that the tabular lab logs:

=======================  =====================================================================
``exploitability_reg``   e_β(π) = max_π' J_β(π', π) − ½  (≥ 0, = 0 only at π*_β)
``duality_gap``          DG_β(π) = 2·e_β(π) (by the symmetry of the game)
``exploitability``       e_0(π) = max_y P(y ≻ π) − ½, unregularized
``kl_nash_pi``           KL(π*_β ‖ π), the distance the convergence theorems use
``kl_pi_nash``           KL(π ‖ π*_β)
``win_rate_ref``         P(π ≻ π_ref)
``kl_ref``               drift KL(π ‖ π_ref)
=======================  =====================================================================

The certificate identity ``e_β(π) = β·[KL(π‖π*) + KL(π*‖BR_β(π))]`` holds exactly and is
checked by the tests, so ``e_β/β`` upper-bounds KL(π‖π*).
"""

from __future__ import annotations

import numpy as np

from games.preference import PreferenceGame, best_response, regularized_exploitability, regularized_nash
from gtlearn.core.metrics import kl_divergence

__all__ = [
    "regularized_exploitability",
    "duality_gap",
    "unregularized_exploitability",
    "kl_to_nash",
    "kl_from_nash",
    "win_rate_vs_reference",
    "drift",
    "measures",
    "certificate",
]


def duality_gap(game: PreferenceGame, pi: np.ndarray, beta: float) -> np.ndarray:
    """DG_β(π) = max_π' J_β(π', π) − min_π' J_β(π, π') = 2·e_β(π)."""
    return 2.0 * regularized_exploitability(game, pi, beta)


def unregularized_exploitability(game: PreferenceGame, pi: np.ndarray) -> np.ndarray:
    """e_0(π) = max_y P(y ≻ π) − ½ (≥ 0 since P(π ≻ π) = ½)."""
    return game.win_prob(pi).max(axis=1) - 0.5


def kl_to_nash(pi: np.ndarray, nash: np.ndarray) -> np.ndarray:
    """KL(π* ‖ π)."""
    return kl_divergence(nash, pi)


def kl_from_nash(pi: np.ndarray, nash: np.ndarray) -> np.ndarray:
    """KL(π ‖ π*)."""
    return kl_divergence(pi, nash)


def win_rate_vs_reference(game: PreferenceGame, pi: np.ndarray) -> np.ndarray:
    """P(π ≻ π_ref) per context."""
    return game.preference(pi, game.ref)


def drift(game: PreferenceGame, pi: np.ndarray) -> np.ndarray:
    """KL(π ‖ π_ref) per context."""
    return kl_divergence(pi, game.ref)


def certificate(game: PreferenceGame, pi: np.ndarray, beta: float, nash: np.ndarray) -> np.ndarray:
    """β·[KL(π‖π*) + KL(π*‖BR_β(π))], which equals e_β(π) exactly."""
    return beta * (kl_divergence(pi, nash) + kl_divergence(nash, best_response(game, pi, beta)))


def measures(game: PreferenceGame, pi: np.ndarray, beta: float, nash: np.ndarray | None = None) -> dict[str, float]:
    """All the measures of ``pi`` (module docstring), averaged over contexts with ρ."""
    if nash is None:
        nash = regularized_nash(game, beta)
    rho = game.rho
    e = regularized_exploitability(game, pi, beta)
    return {
        "exploitability_reg": float(rho @ e),
        "duality_gap": float(rho @ (2.0 * e)),
        "exploitability": float(rho @ unregularized_exploitability(game, pi)),
        "kl_nash_pi": float(rho @ kl_to_nash(pi, nash)),
        "kl_pi_nash": float(rho @ kl_from_nash(pi, nash)),
        "win_rate_ref": float(rho @ win_rate_vs_reference(game, pi)),
        "kl_ref": float(rho @ drift(game, pi)),
    }
