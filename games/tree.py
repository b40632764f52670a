"""Compile once, solve many times: an OpenSpiel game enumerated into flat arrays.

A :class:`GameTree` holds the whole game tree of a (sequential, explicit-chance) OpenSpiel
game as NumPy arrays. Nodes are stored **level by level** (all nodes of depth d before those
of depth d+1, and the children of a node contiguous in legal-action order), so forward
(reach) and backward (value) sweeps are one vectorized step per level. Infosets are numbered
**player by player** (player 0's block first, first-visit order of a depth-first walk inside
a block), so that "all infosets of player p" is a slice and a policy is one
``(num_infosets, max_actions)`` array with a boolean ``legal`` mask.

Per node:
    parent         int32   index of the parent node (-1 for the root)
    player         int8    acting player, CHANCE (-1) or TERMINAL (-2)
    infoset        int32   global infoset id of a decision node, else -1
    action_index   int16   index of the edge into this node among the parent's actions
    edge_slot      int32   parent_infoset * max_actions + action_index for an edge taken by a
                           player, else -1 (flat index into a policy array)
    chance_prob    float64 probability of the edge into this node if the parent is chance, else 1
    terminal       int32   row of ``payoffs`` for a terminal node, else -1
Per outcome:
    payoffs        float64 (rows, N): the distinct payoff vectors in first-visit order (terminals
                   with equal payoffs share a row; after PAYOFF_ROWS_SHARED distinct ones, each
                   further new vector gets its own row)
Per infoset:
    infoset_player, legal (bool, I x A), actions (OpenSpiel action ids, -1 padded),
    keys (information state strings, stored as one UTF-8 blob + offsets), rep_node (one node
    of the infoset), own_depth (number of decisions of the same player above it)

Compilation streams (:mod:`games.tree_walk`): one depth-first walk appends each node's record
to compact per-level buffers (a node's visit order inside its level *is* its level position,
so nothing is sorted and no node object is kept), and the buffers become the final arrays one
level at a time. Peak memory stays under about twice the finished tree. A size guard estimates the tree with
Knuth's random-probe estimator and refuses a game above the node limit, whose default is
derived from the memory available and the bytes per node of the solver that will run.
Compiled trees are cached on disk, keyed by the game string and :data:`COMPILER_VERSION`.
"""

from __future__ import annotations

import hashlib
import os
import random
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from games.openspiel import load_game, resolve_game_string
from games.tree_walk import CHANCE, TERMINAL, TreeWalk
from gtlearn.core.errors import GameTooLargeError, GtlearnError

__all__ = ["CHANCE", "TERMINAL", "COMPILER_VERSION", "GameTree", "compile_game", "compile_tree", "estimate_tree_size",
           "default_max_nodes", "available_memory", "cache_dir"]

COMPILER_VERSION = "2"
# Measured on the battleship benchmark games (experiments/results/scale_battleship.md): the
# finished arrays take ~41-45 B/node (two players) and compiling peaks below ~70 B/node.
TREE_BYTES_PER_NODE = 45
COMPILE_PEAK_BYTES_PER_NODE = 70
MEMORY_FRACTION = 0.8  # of the available memory the default limit lets a run use


def cache_dir() -> Path:
    root = os.environ.get("GTLEARN_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "gtlearn"
    )
    return Path(root) / "trees"


def available_memory() -> int:
    """Bytes of memory this process can still use: MemAvailable, capped by a cgroup limit."""
    avail = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
    except OSError:
        pass
    if avail is None:
        avail = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            limit = int(Path(limit_file).read_text().strip())
            used = int(Path(usage_file).read_text().strip())
        except (OSError, ValueError):  # absent, or "max"
            continue
        avail = min(avail, max(limit - used, 0))
    return avail


def default_max_nodes(solver_bytes_per_node: float = 0.0) -> tuple[int, str]:
    """The default node limit and how it was derived (for error messages).

    ``GTLEARN_MAX_NODES`` wins when set; otherwise a fraction of the available memory divided
    by the larger of the compiler's peak and the finished tree plus the solver's own bytes per
    node (``solver_bytes_per_node``, e.g. :func:`solvers.cfr.factory.solver_bytes_per_node`)."""
    env = os.environ.get("GTLEARN_MAX_NODES")
    if env:
        return int(env), "GTLEARN_MAX_NODES"
    avail = available_memory()
    per_node = max(COMPILE_PEAK_BYTES_PER_NODE, TREE_BYTES_PER_NODE + solver_bytes_per_node)
    limit = int(MEMORY_FRACTION * avail / per_node)
    return limit, (f"{MEMORY_FRACTION:.0%} of {avail / 2**30:.1f} GiB available at {per_node:.0f} B/node: tree "
                   f"{TREE_BYTES_PER_NODE} + solver {solver_bytes_per_node:.0f}, compile peak {COMPILE_PEAK_BYTES_PER_NODE}")


@dataclass
class GameTree:
    game_string: str
    num_players: int
    max_actions: int
    # nodes (level order)
    parent: np.ndarray
    player: np.ndarray
    infoset: np.ndarray
    action_index: np.ndarray
    edge_slot: np.ndarray
    chance_prob: np.ndarray
    terminal: np.ndarray
    level_ptr: np.ndarray  # nodes of depth d are level_ptr[d]:level_ptr[d+1]
    payoffs: np.ndarray  # (distinct outcomes, num_players)
    # infosets (player blocks)
    infoset_player: np.ndarray
    player_ptr: np.ndarray  # infosets of player p are player_ptr[p]:player_ptr[p+1]
    legal: np.ndarray
    actions: np.ndarray
    key_blob: np.ndarray  # uint8: the UTF-8 information state strings, concatenated
    key_offsets: np.ndarray  # int64 (I + 1,): key i is key_blob[key_offsets[i]:key_offsets[i+1]]
    rep_node: np.ndarray
    own_depth: np.ndarray
    uniform_depth: bool  # every infoset's histories share one tree depth

    # -- sizes -------------------------------------------------------------------------
    @property
    def num_nodes(self) -> int:
        return int(self.parent.shape[0])

    @property
    def num_infosets(self) -> int:
        return int(self.infoset_player.shape[0])

    @property
    def num_levels(self) -> int:
        return int(self.level_ptr.shape[0] - 1)

    def infosets_of(self, player: int) -> slice:
        return slice(int(self.player_ptr[player]), int(self.player_ptr[player + 1]))

    def levels(self):
        """Slices of node indices, root level first."""
        return [slice(int(a), int(b)) for a, b in zip(self.level_ptr[:-1], self.level_ptr[1:])]

    def nbytes(self) -> int:
        """Bytes held by the compiled arrays (infoset keys included)."""
        return sum(getattr(self, f.name).nbytes for f in fields(self) if isinstance(getattr(self, f.name), np.ndarray))

    def uniform_policy(self) -> np.ndarray:
        return self.legal / self.legal.sum(axis=1, keepdims=True)

    # -- infoset keys -----------------------------------------------------------------
    def key(self, i: int) -> str:
        """The information state string of infoset ``i``."""
        return self.key_blob[self.key_offsets[i]: self.key_offsets[i + 1]].tobytes().decode()

    @property
    def keys(self) -> np.ndarray:
        """All information state strings as a NumPy string array (built on first use)."""
        cached = self.__dict__.get("_keys")
        if cached is None:
            cached = np.array(self._key_list()) if self.num_infosets else np.array([], dtype=str)
            self.__dict__["_keys"] = cached
        return cached

    def _key_list(self) -> list[str]:
        blob = self.key_blob.tobytes()
        off = self.key_offsets.tolist()
        return [blob[a:b].decode() for a, b in zip(off[:-1], off[1:])]

    def infoset_index(self) -> dict[str, int]:
        """Information state string -> global infoset id."""
        return {k: i for i, k in enumerate(self._key_list())}

    # -- persistence ------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        from gtlearn.core.io import atomic_save_npz

        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["game_string"] = np.array(self.game_string)
        data["uniform_depth"] = np.array(self.uniform_depth)
        data["compiler_version"] = np.array(COMPILER_VERSION)
        atomic_save_npz(Path(path), **data)

    @classmethod
    def load(cls, path: str | Path) -> GameTree:
        with np.load(path, allow_pickle=False) as data:
            if str(data["compiler_version"]) != COMPILER_VERSION:
                raise GtlearnError(f"{path} was compiled by another compiler version")
            kwargs = {f.name: data[f.name] for f in fields(cls)}
        kwargs["game_string"] = str(kwargs["game_string"])
        kwargs["uniform_depth"] = bool(kwargs["uniform_depth"])
        kwargs["num_players"] = int(kwargs["num_players"])
        kwargs["max_actions"] = int(kwargs["max_actions"])
        return cls(**kwargs)


def estimate_tree_size(game, probes: int = 256, seed: int = 0) -> float:
    """Knuth's estimator: the mean over random root-to-leaf probes of sum_d prod_{k<d} b_k,
    where b_k is the branching factor met at depth k. Unbiased for the number of nodes."""
    rng = random.Random(seed)
    total = 0.0
    for _ in range(probes):
        state = game.new_initial_state()
        weight, count = 1.0, 1.0
        while not state.is_terminal():
            actions = [a for a, _ in state.chance_outcomes()] if state.is_chance_node() else state.legal_actions()
            weight *= len(actions)
            count += weight
            state.apply_action(rng.choice(actions))
        total += count
    return total / probes


def _resolve_limit(max_nodes: int | None, solver_bytes_per_node: float) -> tuple[int, str]:
    if max_nodes is not None:
        return int(max_nodes), "raise --max-nodes"
    limit, how = default_max_nodes(solver_bytes_per_node)
    return limit, f"the default limit: {how}; pass --max-nodes to change it"


def compile_game(game_string: str, *, max_nodes: int | None = None, use_cache: bool = True,
                 progress=None, solver_bytes_per_node: float = 0.0) -> GameTree:
    """Compile (or load from the on-disk cache) the tree of an OpenSpiel game string.

    ``max_nodes=None`` derives the limit from the available memory and
    ``solver_bytes_per_node`` (:func:`default_max_nodes`). ``progress(nodes_so_far,
    projected_total)`` is called every few ten thousand nodes while a tree is compiled; a walk
    projected well over the limit stops after a few seconds."""
    game_string = resolve_game_string(game_string)
    max_nodes, how = _resolve_limit(max_nodes, solver_bytes_per_node)
    key = hashlib.sha256(f"{game_string}|{COMPILER_VERSION}".encode()).hexdigest()[:20]
    path = cache_dir() / f"{key}.npz"
    if use_cache and path.exists():
        try:
            tree = GameTree.load(path)
        except Exception:  # a corrupt or foreign cache file is rebuilt, never trusted
            tree = None
        if tree is not None and tree.game_string == game_string:
            if tree.num_nodes > max_nodes:
                raise GameTooLargeError(
                    f"game {game_string!r} has {tree.num_nodes:,} nodes, over the limit of {max_nodes:,} ({how})"
                )
            return tree
    game = load_game(game_string)
    tree = compile_tree(game, game_string, max_nodes=max_nodes, progress=progress, limit_reason=how)
    if use_cache:
        try:
            tree.save(path)
        except OSError:  # a read-only cache is not an error; the tree is simply not cached
            pass
    return tree


def compile_tree(game, game_string: str | None = None, *, max_nodes: int | None = None, check_size: bool = True,
                 progress=None, solver_bytes_per_node: float = 0.0, limit_reason: str | None = None) -> GameTree:
    """Compile any game object with the pyspiel game/state API (OpenSpiel C++ games, OpenSpiel
    Python games, or a project's own game class) into a :class:`GameTree`. Not cached."""
    game_string = game_string or str(game)
    max_nodes, how = _resolve_limit(max_nodes, solver_bytes_per_node)
    how = limit_reason or how
    if check_size:
        estimate = estimate_tree_size(game)
        if estimate > max_nodes:
            raise GameTooLargeError(
                f"game {game_string!r} is estimated at {estimate:,.0f} nodes (Knuth's estimator, 256 random "
                f"probes), over the limit of {max_nodes:,} ({how})"
            )
    walk = TreeWalk(game, game_string, max_nodes, how, progress, available=available_memory())
    walk.run()
    return GameTree(game_string=game_string, **walk.arrays())
