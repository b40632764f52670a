"""Compiled game trees for evaluations: one per game and evaluation worker (trusted side only;
no tree ever enters a sandbox)."""

from __future__ import annotations

from games.tree import compile_game

_TREES: dict = {}


def get_tree(game: str):
    if game not in _TREES:
        _TREES[game] = compile_game(game)
    return _TREES[game]
