"""Finite preference games and their exact β-regularized Nash equilibrium (docs/preference_games.md).

:mod:`.game` holds the game (contexts, preference tensor, reference policy) and its files,
:mod:`.equilibrium` the regularized game (best response, exploitability, π*_β, maximal
lottery), :mod:`.generators` the generators and the CLI game strings.
"""

from games.preference.equilibrium import (
    best_response,
    log_best_response,
    maximal_lottery,
    regularized_exploitability,
    regularized_nash,
    solve_regularized_nash,
)
from games.preference.game import MatrixPreference, PreferenceGame, win_prob
from games.preference.generators import (
    GAME_KINDS,
    bradley_terry,
    cyclic,
    make_game,
    mixture,
    random_intransitive,
    tournament,
)

__all__ = [
    "PreferenceGame",
    "MatrixPreference",
    "cyclic",
    "random_intransitive",
    "tournament",
    "bradley_terry",
    "mixture",
    "make_game",
    "win_prob",
    "best_response",
    "log_best_response",
    "regularized_exploitability",
    "regularized_nash",
    "solve_regularized_nash",
    "maximal_lottery",
    "GAME_KINDS",
]
