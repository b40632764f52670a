"""Saving and loading tabular policies as ``.npz`` files that know their game.

A policy file holds the policy array over the tree's global infosets together with the game
string, the infoset keys (OpenSpiel information state strings) and the legal action ids, so
it can be loaded back as an array for a compiled tree or as an OpenSpiel ``TabularPolicy``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from games.tree import GameTree, compile_game
from gtlearn.core.errors import GtlearnError
from gtlearn.core.io import atomic_save_npz


def save_policy(path: str | Path, tree: GameTree, policy: np.ndarray, **meta) -> Path:
    path = Path(path)
    atomic_save_npz(
        path,
        policy=np.asarray(policy, dtype=np.float64),
        game_string=np.array(tree.game_string),
        keys=tree.keys,
        actions=tree.actions,
        legal=tree.legal,
        **{f"meta_{k}": np.asarray(v) for k, v in meta.items()},
    )
    return path


def load_policy(path: str | Path, tree: GameTree | None = None) -> tuple[GameTree, np.ndarray]:
    """Load a saved policy; returns (tree, policy array aligned with that tree's infosets)."""
    path = Path(path)
    if not path.is_file():
        raise GtlearnError(f"policy file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            game_string = str(data["game_string"])
            keys, actions, policy = data["keys"], data["actions"], data["policy"]
    except (KeyError, ValueError, OSError) as exc:
        raise GtlearnError(f"{path} is not a gtlearn policy file ({exc})") from exc
    tree = tree or compile_game(game_string)
    if tree.game_string != game_string:
        raise GtlearnError(f"{path} holds a policy for {game_string!r}, not {tree.game_string!r}")
    index = tree.infoset_index()
    out = tree.uniform_policy()
    for row, key in enumerate(keys):
        i = index.get(str(key))
        if i is None or not np.array_equal(actions[row], tree.actions[i]):
            raise GtlearnError(f"{path} does not match the compiled game (infoset {key!r})")
        out[i] = policy[row]
    return tree, out


def load_openspiel_policy(path: str | Path):
    """Load a saved policy as an OpenSpiel ``TabularPolicy`` (with its game)."""
    from solvers.best_response import to_openspiel_policy

    tree, policy = load_policy(path)
    return to_openspiel_policy(tree, policy)
