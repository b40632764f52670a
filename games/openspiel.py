"""Loading OpenSpiel games by their game string.

Simultaneous-move games are wrapped with OpenSpiel's ``turn_based_simultaneous_game`` so that
every game reaching the CFR engine has sequential dynamics. Loading errors become one-line
:class:`~gtlearn.core.errors.GtlearnError` messages.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from functools import lru_cache

from gtlearn.core.errors import GtlearnError

# The games of the CFR-discovery benchmark (arXiv:2602.16928 v1), as the toolkit fixes them
# (see docs/cfr.md for the parameter choices the paper leaves open).
GOOFSPIEL = (
    "turn_based_simultaneous_game(game=goofspiel(imp_info=True,num_cards={n},"
    "points_order=descending,returns_type=win_loss))"
)
EXAMPLE_GAMES: dict[str, str] = {
    "kuhn_poker": "kuhn_poker",
    "kuhn_poker_3p": "kuhn_poker(players=3)",
    "kuhn_poker_4p": "kuhn_poker(players=4)",
    "leduc_poker": "leduc_poker",
    "leduc_poker_3p": "leduc_poker(players=3)",
    "goofspiel_4": GOOFSPIEL.format(n=4),
    "goofspiel_5": GOOFSPIEL.format(n=5),
    "liars_dice_5": "liars_dice(dice_sides=5)",
    "liars_dice": "liars_dice",
    "rps": "matrix_rps",
}
TRAINING_GAMES = ["kuhn_poker(players=3)", "leduc_poker", GOOFSPIEL.format(n=4), "liars_dice(dice_sides=5)"]
TEST_GAMES = ["kuhn_poker(players=4)", "leduc_poker(players=3)", GOOFSPIEL.format(n=5), "liars_dice(dice_sides=6)"]


def resolve_game_string(name: str) -> str:
    """Map a short alias (``goofspiel_4``) to its game string; other strings pass through."""
    return EXAMPLE_GAMES.get(name, name)


@contextmanager
def _quiet_stderr():
    """OpenSpiel's C++ side prints every SpielError to fd 2 before raising it; the CLI wants
    one clear line, so the fd is muted for the duration of the call."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, ValueError, OSError):  # e.g. captured stderr in tests
        yield
        return
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), fd)
            yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


@lru_cache(maxsize=64)
def load_game(game_string: str):
    """Load an OpenSpiel game, wrapping simultaneous-move games turn-based."""
    try:
        import pyspiel
    except ImportError as exc:  # pragma: no cover - open_spiel is a core dependency
        raise GtlearnError("OpenSpiel is not installed: `pip install open_spiel`") from exc
    game_string = resolve_game_string(game_string)
    try:
        with _quiet_stderr():
            game = pyspiel.load_game(game_string)
    except Exception as exc:  # pyspiel raises SpielError / RuntimeError with a long message
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "Unknown game" in msg or "unknown game" in msg.lower():
            raise GtlearnError(
                f"unknown game {game_string!r}; `gtlearn games` lists examples, any OpenSpiel game string works"
            ) from exc
        raise GtlearnError(f"cannot load game {game_string!r}: {msg}") from exc
    info = game.get_type()
    if info.dynamics == pyspiel.GameType.Dynamics.SIMULTANEOUS:
        game = pyspiel.convert_to_turn_based(game)
    if info.dynamics not in (pyspiel.GameType.Dynamics.SEQUENTIAL, pyspiel.GameType.Dynamics.SIMULTANEOUS):
        raise GtlearnError(f"game {game_string!r} has {info.dynamics} dynamics, which gtlearn cannot solve")
    if info.chance_mode == pyspiel.GameType.ChanceMode.SAMPLED_STOCHASTIC:
        raise GtlearnError(
            f"game {game_string!r} has sampled chance (no explicit outcome probabilities); exact solvers need explicit chance"
        )
    if info.information not in (
        pyspiel.GameType.Information.PERFECT_INFORMATION,
        pyspiel.GameType.Information.IMPERFECT_INFORMATION,
    ) and info.information != pyspiel.GameType.Information.ONE_SHOT:
        raise GtlearnError(f"game {game_string!r} has unsupported information type {info.information}")
    return game
