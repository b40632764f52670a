"""The games of the CFR and PSRO discovery sweeps (arXiv:2602.16928).

The v1 suite: ``games.openspiel.TRAINING_GAMES`` (3-player Kuhn, 2-player Leduc, 4-card
Goofspiel, 5-sided Liar's Dice) and ``TEST_GAMES`` (4-player Kuhn, 3-player Leduc, 5-card
Goofspiel, 6-sided Liar's Dice). The paper's revised version widens the suite with Blotto and
Battleship; the variants below are the small members of those families that an exact solver
and an exact-oracle PSRO can afford on 2 CPU cores at the full protocol:

* ``blotto(coins=6,fields=3,players=2)`` (OpenSpiel's default is 10 coins): 28 allocations per
  player, a one-shot zero-sum game with a mixed equilibrium -- 813 nodes, 2 infosets. Blotto is
  simultaneous, so it runs under ``turn_based_simultaneous_game``.
* ``blotto(coins=4,fields=3,players=3)``: 15 allocations, three players -- 3,616 nodes,
  3 infosets, an extra N-player meta-game for PSRO.
* ``battleship`` on a 2x2 board, one ship of size 2, 2 shots each: 4,949 nodes, 598 infosets.
* ``battleship`` on a 2x3 board, one ship of size 2, 2 shots each: 72,675 nodes, 3,411 infosets.
  (3 shots on the same board is 2.2M nodes, larger than 3-player Leduc; 2 ships on 2x2 with 3
  shots is 0.33M.)
"""

from __future__ import annotations

import re

from games.openspiel import TEST_GAMES, TRAINING_GAMES

BLOTTO = "turn_based_simultaneous_game(game=blotto(coins={c},fields=3,players={n}))"
BATTLESHIP = "battleship(board_height={h},board_width={w},ship_sizes=[2],ship_values=[1],num_shots=2)"
EXTRA_GAMES = [BLOTTO.format(c=6, n=2), BLOTTO.format(c=4, n=3), BATTLESHIP.format(h=2, w=2),
               BATTLESHIP.format(h=2, w=3)]
V1_GAMES = TRAINING_GAMES + TEST_GAMES
ALL_GAMES = V1_GAMES + EXTRA_GAMES

SHORT = {
    "kuhn_poker(players=3)": "3p Kuhn",
    "leduc_poker": "2p Leduc",
    TRAINING_GAMES[2]: "4-card Goofspiel",
    "liars_dice(dice_sides=5)": "5-sided Liar's Dice",
    "kuhn_poker(players=4)": "4p Kuhn",
    "leduc_poker(players=3)": "3p Leduc",
    TEST_GAMES[2]: "5-card Goofspiel",
    "liars_dice(dice_sides=6)": "6-sided Liar's Dice",
    "kuhn_poker": "2p Kuhn",
    EXTRA_GAMES[0]: "2p Blotto 6c",
    EXTRA_GAMES[1]: "3p Blotto 4c",
    EXTRA_GAMES[2]: "Battleship 2x2",
    EXTRA_GAMES[3]: "Battleship 2x3",
}


def short(game: str) -> str:
    return SHORT.get(game, game)


def split(game: str) -> str:
    if game in TRAINING_GAMES:
        return "training"
    if game in TEST_GAMES:
        return "test"
    return "v3 extra"


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9+.-]+", "_", text).strip("_")
