"""Compiled game trees for evaluations: one per game and process, and one shared file per game
that each sandbox gets a copy of."""

from __future__ import annotations

import hashlib
import os
import tempfile

from games.tree import COMPILER_VERSION, compile_game

_TREES: dict = {}
_TREE_FILES: dict = {}


def get_tree(game: str):
    if game not in _TREES:
        _TREES[game] = compile_game(game)
    return _TREES[game]


def tree_file(game: str) -> str:
    """The compiled tree as a file to copy into each sandbox: one content-addressed file per game
    in a shared temp directory, written atomically, reused by every worker and run."""
    if game not in _TREE_FILES:
        d = os.path.join(tempfile.gettempdir(), f"gtlearn-evolve-trees-{os.getuid()}")
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, hashlib.sha256(f"{game}|{COMPILER_VERSION}".encode()).hexdigest()[:24] + ".npz")
        if not os.path.exists(path):
            get_tree(game).save(path)  # atomic (temp file + rename), so concurrent writers are safe
        _TREE_FILES[game] = path
    return _TREE_FILES[game]
