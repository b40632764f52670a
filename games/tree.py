"""Compile once, solve many times: an OpenSpiel game enumerated into flat arrays.

A :class:`GameTree` holds the whole game tree of a (sequential, explicit-chance) OpenSpiel
game as NumPy arrays. Nodes are stored **level by level** (all nodes of depth d before those
of depth d+1, and the children of a node contiguous in legal-action order), so forward
(reach) and backward (value) sweeps are one vectorized step per level. Infosets are numbered
**player by player** (player 0's block first), so that "all infosets of player p" is a slice
and a policy is one ``(num_infosets, max_actions)`` array with a boolean ``legal`` mask.

Per node:
    parent         int32   index of the parent node (-1 for the root)
    player         int8    acting player, CHANCE (-1) or TERMINAL (-2)
    infoset        int32   global infoset id of a decision node, else -1
    action_index   int16   index of the edge into this node among the parent's actions
    edge_slot      int32   parent_infoset * max_actions + action_index for an edge taken by a
                           player, else -1 (flat index into a policy array)
    chance_prob    float64 probability of the edge into this node if the parent is chance, else 1
    terminal       int32   row of ``payoffs`` for a terminal node, else -1
Per infoset:
    infoset_player, legal (bool, I x A), actions (OpenSpiel action ids, -1 padded),
    keys (information state strings), rep_node (one node of the infoset),
    own_depth (number of decisions of the same player above it)

A size guard estimates the tree with Knuth's unbiased random-probe estimator before
enumerating it and refuses a game above ``max_nodes``. Compiled trees are cached on disk,
keyed by the game string and :data:`COMPILER_VERSION`.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
import time
from array import array
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from games.openspiel import load_game, resolve_game_string
from gtlearn.core.errors import GameTooLargeError, GtlearnError

COMPILER_VERSION = "1"
CHANCE = -1
TERMINAL = -2
DEFAULT_MAX_NODES = int(os.environ.get("GTLEARN_MAX_NODES", 5_000_000))
PROGRESS_EVERY = 20_000  # nodes between progress reports while compiling
PROJECTION_AFTER_S = 3.0  # a walk projected over the limit is stopped after this many seconds
PROJECTION_MARGIN = 1.5


def cache_dir() -> Path:
    root = os.environ.get("GTLEARN_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "gtlearn"
    )
    return Path(root) / "trees"


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
    payoffs: np.ndarray  # (num_terminals, num_players)
    # infosets (player blocks)
    infoset_player: np.ndarray
    player_ptr: np.ndarray  # infosets of player p are player_ptr[p]:player_ptr[p+1]
    legal: np.ndarray
    actions: np.ndarray
    keys: np.ndarray
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
        """Bytes held by the compiled arrays (infoset key strings excluded)."""
        return sum(
            getattr(self, f.name).nbytes
            for f in fields(self)
            if isinstance(getattr(self, f.name), np.ndarray) and f.name != "keys"
        )

    def uniform_policy(self) -> np.ndarray:
        return self.legal / self.legal.sum(axis=1, keepdims=True)

    def infoset_index(self) -> dict[str, int]:
        """Information state string -> global infoset id."""
        return {str(k): i for i, k in enumerate(self.keys)}

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


def compile_game(game_string: str, *, max_nodes: int | None = None, use_cache: bool = True,
                 progress=None) -> GameTree:
    """Compile (or load from the on-disk cache) the tree of an OpenSpiel game string.

    ``progress(nodes_so_far, projected_total)`` is called every few thousand nodes while a tree
    is compiled; a walk projected well over ``max_nodes`` stops after a few seconds."""
    game_string = resolve_game_string(game_string)
    max_nodes = DEFAULT_MAX_NODES if max_nodes is None else int(max_nodes)
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
                    f"game {game_string!r} has {tree.num_nodes:,} nodes, over the limit of {max_nodes:,} (raise --max-nodes)"
                )
            return tree
    game = load_game(game_string)
    estimate = estimate_tree_size(game)
    if estimate > max_nodes:
        raise GameTooLargeError(
            f"game {game_string!r} is estimated at {estimate:,.0f} nodes, over the limit of {max_nodes:,} (raise --max-nodes)"
        )
    tree = compile_tree(game, game_string, max_nodes=max_nodes, check_size=False, progress=progress)
    if use_cache:
        try:
            tree.save(path)
        except OSError:  # a read-only cache is not an error; the tree is simply not cached
            pass
    return tree


def compile_tree(game, game_string: str | None = None, *, max_nodes: int | None = None, check_size: bool = True,
                 progress=None) -> GameTree:
    """Compile any game object with the pyspiel game/state API (OpenSpiel C++ games, OpenSpiel
    Python games, or a project's own game class) into a :class:`GameTree`. Not cached."""
    game_string = game_string or str(game)
    max_nodes = DEFAULT_MAX_NODES if max_nodes is None else int(max_nodes)
    if check_size:
        estimate = estimate_tree_size(game)
        if estimate > max_nodes:
            raise GameTooLargeError(
                f"game {game_string!r} is estimated at {estimate:,.0f} nodes, over the limit of {max_nodes:,}"
            )
    return _level_order(_enumerate(game, game_string, max_nodes, progress), game_string)


@dataclass
class _Enumeration:
    """The tree as the depth-first walk found it (pre-order), before level ordering."""

    n_players: int
    parent: array
    player: array
    infoset: array
    action_index: array
    chance_prob: array
    terminal: array
    depth: array
    payoffs: list
    infoset_ids: dict
    infoset_actions: list
    infoset_player: list
    infoset_depths: list
    infoset_own_depth: list
    rep_node: list

    def infoset_of(self, key: str, legal: list[int], q: int, node: int, d: int, own: tuple, game_string: str) -> int:
        """The id of the infoset ``key`` (numbered in first-visit order), checking its actions."""
        iid = self.infoset_ids.get(key)
        if iid is None:
            iid = self.infoset_ids[key] = len(self.infoset_actions)
            self.infoset_actions.append(legal)
            self.infoset_player.append(q)
            self.infoset_depths.append({d})
            self.infoset_own_depth.append(own[q])
            self.rep_node.append(node)
        else:
            if self.infoset_actions[iid] != legal:
                raise GtlearnError(f"game {game_string!r}: infoset {key!r} has inconsistent legal actions")
            self.infoset_depths[iid].add(d)
        return iid


def _log_add(a: float, b: float) -> float:
    if a < b:
        a, b = b, a
    return a if b == -math.inf else a + math.log1p(math.exp(b - a))


def _size(log_n: float) -> str:
    return f"{math.exp(log_n):,.0f}" if log_n < 50 else f"10^{log_n / math.log(10):.0f}"


def _report(game_string: str, nodes: int, log_finished: float, seconds: float, max_nodes: int, progress) -> None:
    """Progress of the walk; refuse early when the projected size is clearly over the limit."""
    log_projected = math.log(nodes) - log_finished
    projected = math.exp(log_projected) if log_projected < 700 else math.inf
    if progress is not None:
        progress(nodes, projected)
    if seconds > PROJECTION_AFTER_S and log_finished > -math.inf and projected > PROJECTION_MARGIN * max_nodes:
        raise GameTooLargeError(
            f"game {game_string!r} is projected at ~{_size(log_projected)} nodes after walking {nodes:,} of them, "
            f"over the limit of {max_nodes:,} (raise --max-nodes)"
        )


def _enumerate(game, game_string: str, max_nodes: int, progress=None) -> _Enumeration:
    """Walk the game depth-first (pre-order), recording every node and numbering infosets."""
    n_players = game.num_players()
    try:
        perfect_info = not game.get_type().provides_information_state_string
    except AttributeError:
        perfect_info = False
    e = _Enumeration(n_players, array("i"), array("b"), array("i"), array("h"), array("d"), array("i"), array("i"),
                     [], {}, [], [], [], [], [])
    parent, player, infoset, action_index, chance_prob, terminal, depth, payoffs = (
        e.parent, e.player, e.infoset, e.action_index, e.chance_prob, e.terminal, e.depth, e.payoffs)

    # Depth-first pre-order; own_counts[q] = decisions of q on the path (for own_depth).
    # mass = probability of reaching the node by uniformly random choices (kept as a log: deep
    # games underflow); the finished mass is the fraction of the tree walked, so nodes / finished
    # projects the total size (Knuth's measure).
    stack = [(game.new_initial_state(), -1, 0, 1.0, 0, (0,) * n_players, 0.0)]
    finished, started = -math.inf, time.perf_counter()
    while stack:
        state, par, a_idx, prob, d, own, log_mass = stack.pop()
        idx = len(parent)
        if idx >= max_nodes:
            raise GameTooLargeError(
                f"game {game_string!r} has more than {max_nodes:,} nodes (raise --max-nodes)"
            )
        if idx and idx % PROGRESS_EVERY == 0:
            _report(game_string, idx, finished, time.perf_counter() - started, max_nodes, progress)
        parent.append(par)
        action_index.append(a_idx)
        chance_prob.append(prob)
        depth.append(d)
        if state.is_terminal():
            player.append(TERMINAL)
            infoset.append(-1)
            terminal.append(len(payoffs))
            payoffs.append(state.returns())
            finished = _log_add(finished, log_mass)
            continue
        terminal.append(-1)
        children = []
        if state.is_chance_node():
            player.append(CHANCE)
            infoset.append(-1)
            outcomes = state.chance_outcomes()
            for k, (action, p) in enumerate(outcomes):
                children.append((state.child(action), idx, k, p, d + 1, own, log_mass - math.log(len(outcomes))))
        else:
            q = state.current_player()
            if q < 0:
                raise GtlearnError(f"game {game_string!r} has a simultaneous node after wrapping; cannot compile")
            key = state.history_str() if perfect_info else state.information_state_string(q)
            legal = state.legal_actions()
            player.append(q)
            infoset.append(e.infoset_of(key, legal, q, idx, d, own, game_string))
            child_own = own[:q] + (own[q] + 1,) + own[q + 1 :]
            for k, action in enumerate(legal):
                children.append((state.child(action), idx, k, 1.0, d + 1, child_own, log_mass - math.log(len(legal))))
        stack.extend(reversed(children))

    return e


def _level_order(e: _Enumeration, game_string: str) -> GameTree:
    """Renumber nodes level by level and infosets player by player into a :class:`GameTree`."""
    (n_players, parent, player, infoset, action_index, chance_prob, terminal, depth, payoffs, infoset_ids,
     infoset_actions, infoset_player, infoset_depths, infoset_own_depth, rep_node) = (
        e.n_players, e.parent, e.player, e.infoset, e.action_index, e.chance_prob, e.terminal, e.depth, e.payoffs,
        e.infoset_ids, e.infoset_actions, e.infoset_player, e.infoset_depths, e.infoset_own_depth, e.rep_node)
    parent_a = np.frombuffer(parent, dtype=np.int32).copy()
    depth_a = np.frombuffer(depth, dtype=np.int32)
    # Stable sort by depth: DFS pre-order keeps each node's children contiguous and ordered.
    order = np.argsort(depth_a, kind="stable")
    inverse = np.empty_like(order)
    inverse[order] = np.arange(order.size)
    parent_a = parent_a[order]
    parent_a[parent_a >= 0] = inverse[parent_a[parent_a >= 0]]
    player_a = np.frombuffer(player, dtype=np.int8)[order].copy()
    infoset_old = np.frombuffer(infoset, dtype=np.int32)[order]
    levels = np.bincount(depth_a)
    level_ptr = np.concatenate([[0], np.cumsum(levels)]).astype(np.int64)

    # Renumber infosets player by player (first-visit order inside each player's block).
    n_inf = len(infoset_actions)
    inf_player = np.asarray(infoset_player, dtype=np.int32)
    inf_order = np.argsort(inf_player, kind="stable")
    inf_new = np.empty(n_inf, dtype=np.int32)
    inf_new[inf_order] = np.arange(n_inf, dtype=np.int32)
    infoset_a = np.where(infoset_old >= 0, inf_new[np.maximum(infoset_old, 0)], -1).astype(np.int32)
    max_actions = max((len(a) for a in infoset_actions), default=1)
    legal_m = np.zeros((n_inf, max_actions), dtype=bool)
    actions_m = np.full((n_inf, max_actions), -1, dtype=np.int64)
    for old, acts in enumerate(infoset_actions):
        legal_m[inf_new[old], : len(acts)] = True
        actions_m[inf_new[old], : len(acts)] = acts
    keys_by_old = list(infoset_ids.keys())  # insertion order == old id order
    keys = np.array([keys_by_old[i] for i in inf_order]) if n_inf else np.array([], dtype=str)
    rep = inverse[np.asarray(rep_node, dtype=np.int64)[inf_order]].astype(np.int64) if n_inf else np.zeros(0, np.int64)
    own_depth = np.asarray(infoset_own_depth, dtype=np.int32)[inf_order] if n_inf else np.zeros(0, np.int32)
    uniform_depth = all(len(ds) == 1 for ds in infoset_depths)
    player_ptr = np.searchsorted(inf_player[inf_order], np.arange(n_players + 1)).astype(np.int64)

    action_index_a = np.frombuffer(action_index, dtype=np.int16)[order].copy()
    parent_infoset = np.where(parent_a >= 0, infoset_a[np.maximum(parent_a, 0)], -1)
    edge_slot = np.where(parent_infoset >= 0, parent_infoset.astype(np.int64) * max_actions + action_index_a, -1).astype(np.int32)
    return GameTree(
        game_string=game_string,
        num_players=n_players,
        max_actions=int(max_actions),
        parent=parent_a,
        player=player_a,
        infoset=infoset_a,
        action_index=action_index_a,
        edge_slot=edge_slot,
        chance_prob=np.frombuffer(chance_prob, dtype=np.float64)[order].copy(),
        terminal=np.frombuffer(terminal, dtype=np.int32)[order].copy(),
        level_ptr=level_ptr,
        payoffs=np.asarray(payoffs, dtype=np.float64).reshape(-1, n_players),
        infoset_player=inf_player[inf_order],
        player_ptr=player_ptr,
        legal=legal_m,
        actions=actions_m,
        keys=keys,
        rep_node=rep,
        own_depth=own_depth,
        uniform_depth=uniform_depth,
    )
