"""The streaming enumerator behind :func:`games.tree.compile_tree`.

One depth-first (pre-order) walk over pyspiel states appends compact per-level records; the
records become the level-ordered arrays of a :class:`games.tree.GameTree` one level (and one
chunk of parents) at a time. The pre-order restricted to one level *is* that level's order
(children contiguous, in parent order), so a node's level position is how many nodes of its
level were visited before it: nothing is sorted and no node object outlives its visit. Per
node the walk records only what the node itself knows -- its player code (every node), its
children count (inner nodes), its first-visit infoset id (decision nodes), its payoffs row
(terminals) and its children's probabilities (chance nodes); parents and action indices
follow from the children counts. Infoset keys go straight into one UTF-8 blob per player.
"""

from __future__ import annotations

import math
import os
import time
from array import array

import numpy as np

from gtlearn.core.errors import GameTooLargeError, GtlearnError

CHANCE = -1
TERMINAL = -2
PROGRESS_EVERY = 1 << 15  # nodes between progress reports while compiling
PROJECTION_AFTER_S = 3.0  # a walk projected over the limit is stopped after this many seconds
PROJECTION_MARGIN = 1.5
PAYOFF_ROWS_SHARED = 1 << 20  # distinct payoff vectors looked up for sharing (bounds the lookup table)
ASSEMBLY_CHUNK = 1 << 20  # parents linked per vectorized step (bounds the temporaries)
MEMORY_FRACTION = 0.8  # of the memory available at the start that a walk may use


def _log_add(a: float, b: float) -> float:
    """log(exp(a) + exp(b)) without underflow."""
    if a < b:
        a, b = b, a
    return a if b == -math.inf else a + math.log1p(math.exp(b - a))


def _rss() -> int:
    """Resident bytes of this process now (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _size(log_n: float) -> str:
    return f"{math.exp(log_n):,.0f}" if log_n < 50 else f"10^{log_n / math.log(10):.0f}"


class TreeWalk:
    """Walk a game (:meth:`run`), then turn the records into arrays (:meth:`arrays`)."""

    def __init__(self, game, game_string: str, max_nodes: int, how: str, progress, available: int | None = None) -> None:
        self.game, self.game_string, self.max_nodes, self.how, self.progress = game, game_string, max_nodes, how, progress
        self.avail = available if available is not None else (1 << 62)  # bytes the walk may grow by (None: unchecked)
        self.n_players = game.num_players()
        try:
            self.perfect_info = not game.get_type().provides_information_state_string
        except AttributeError:
            self.perfect_info = False
        self.player: list = []  # per level: int8 player code of each node
        self.n_children: list = []  # per level: children count of each inner node
        self.infoset: list = []  # per level: first-visit infoset id of each decision node
        self.term_row: list = []  # per level: payoffs row of each terminal
        self.chance_probs: list = []  # per level: probability of each child of a chance node
        self.payoffs = array("d")
        self.ids: dict[str, int] = {}
        self.inf_actions: list[tuple] = []  # legal actions per infoset (shared tuples)
        self.inf_player, self.inf_depth, self.inf_own = array("b"), array("i"), array("i")
        self.rep_level, self.rep_local = array("i"), array("i")
        self.key_blob = [bytearray() for _ in range(self.n_players)]
        self.key_len = [array("i") for _ in range(self.n_players)]
        self.uniform_depth = True
        self._shared: dict[tuple, tuple] = {}

    def _level(self, d: int) -> None:
        while len(self.player) <= d:
            for buf, code in ((self.player, "b"), (self.n_children, "i"), (self.infoset, "i"), (self.term_row, "i"),
                              (self.chance_probs, "d")):
                buf.append(array(code))

    def _infoset_id(self, key: str, legal: list, q: int, d: int, own: tuple) -> int:
        iid = self.ids.get(key)
        if iid is None:
            iid = self.ids[key] = len(self.inf_actions)
            acts = tuple(legal)
            self.inf_actions.append(self._shared.setdefault(acts, acts))
            self.inf_player.append(q)
            self.inf_depth.append(d)
            self.inf_own.append(own[q])
            self.rep_level.append(d)
            self.rep_local.append(len(self.player[d]) - 1)
            encoded = key.encode()
            self.key_blob[q] += encoded
            self.key_len[q].append(len(encoded))
            return iid
        if self.inf_actions[iid] != tuple(legal):
            raise GtlearnError(f"game {self.game_string!r}: infoset {key!r} has inconsistent legal actions")
        if self.inf_depth[iid] != d:
            self.uniform_depth = False
        return iid

    def run(self) -> None:
        """Walk the tree; every PROGRESS_EVERY nodes report progress and check the projection."""
        n_players, perfect, payoffs = self.n_players, self.perfect_info, self.payoffs
        player, n_children, infoset, term_row, chance_probs = (
            self.player, self.n_children, self.infoset, self.term_row, self.chance_probs)
        # mass = probability of reaching a node by uniformly random choices (as a log: deep games
        # underflow). The mass of the leaves walked so far is the finished fraction of the tree
        # (summed directly: 1 - pending mass cancels to 0 on deep games), so nodes / finished
        # projects the total size (Knuth's measure).
        stack = [(self.game.new_initial_state(), 0, (0,) * n_players, 0.0)]
        nodes, started, next_report = 0, time.perf_counter(), PROGRESS_EVERY
        self._log_finished, self._rss0 = -math.inf, _rss()
        outcome_rows: dict[tuple, int] = {}
        self._level(1)
        while stack:
            state, d, own, log_mass = stack.pop()
            nodes += 1
            if nodes >= next_report:
                next_report += PROGRESS_EVERY
                self._report(nodes, time.perf_counter() - started)
                if nodes > self.max_nodes:
                    raise GameTooLargeError(f"game {self.game_string!r} has more than {self.max_nodes:,} nodes ({self.how})")
            if state.is_terminal():
                self._log_finished = _log_add(self._log_finished, log_mass)
                player[d].append(TERMINAL)
                returns = tuple(state.returns())
                row = outcome_rows.get(returns)
                if row is None:
                    row = len(payoffs) // n_players
                    payoffs.extend(returns)
                    if row < PAYOFF_ROWS_SHARED:
                        outcome_rows[returns] = row
                term_row[d].append(row)
                continue
            if len(player) <= d + 1:
                self._level(d + 1)
            if state.is_chance_node():
                outcomes = state.chance_outcomes()
                player[d].append(CHANCE)
                n_children[d].append(len(outcomes))
                chance_probs[d + 1].extend(p for _, p in outcomes)
                child_mass = log_mass - math.log(len(outcomes))
                stack.extend([(state.child(a), d + 1, own, child_mass) for a, _ in reversed(outcomes)])
                continue
            q = state.current_player()
            if q < 0:
                raise GtlearnError(f"game {self.game_string!r} has a simultaneous node after wrapping; cannot compile")
            legal = state.legal_actions()
            player[d].append(q)
            n_children[d].append(len(legal))
            key = state.history_str() if perfect else state.information_state_string(q)
            infoset[d].append(self._infoset_id(key, legal, q, d, own))
            child_own = own[:q] + (own[q] + 1,) + own[q + 1:]
            child_mass = log_mass - math.log(len(legal))
            stack.extend([(state.child(a), d + 1, child_own, child_mass) for a in reversed(legal)])
        if nodes > self.max_nodes:
            raise GameTooLargeError(f"game {self.game_string!r} has {nodes:,} nodes, over the limit of "
                                    f"{self.max_nodes:,} ({self.how})")

    def _report(self, nodes: int, seconds: float) -> None:
        """Progress of the walk; refuse early when the projected size, or the memory the walk
        would need at its measured bytes per node, is clearly over the limit."""
        finished = self._log_finished > -math.inf
        log_projected = math.log(nodes) - self._log_finished
        projected = math.exp(log_projected) if log_projected < 700 else math.inf
        if self.progress is not None:
            self.progress(nodes, projected)
        if seconds <= PROJECTION_AFTER_S:
            return
        where = f"after walking {nodes:,} of them"
        if projected > PROJECTION_MARGIN * self.max_nodes:
            size = _size(log_projected) if finished else f"far more than {nodes:,} (no leaf reached yet)"
            raise GameTooLargeError(f"game {self.game_string!r} is projected at ~{size} nodes {where}, over the limit of "
                                    f"{self.max_nodes:,} ({self.how})")
        # Long information-state strings (e.g. full histories) can cost kilobytes per node, far
        # above the per-node constants the node limit assumes: check the walk's own memory too.
        used = max(_rss() - self._rss0, 0)
        budget = MEMORY_FRACTION * self.avail
        if used > budget or (finished and used / nodes * min(projected, self.max_nodes) > PROJECTION_MARGIN * budget):
            need = used / nodes * min(projected, self.max_nodes)
            raise GameTooLargeError(
                f"game {self.game_string!r} is projected at ~{_size(min(log_projected, math.log(self.max_nodes)))} nodes "
                f"{where}, needing ~{need / 2**30:,.1f} GiB to compile at the {used / nodes:,.0f} B/node measured so far, "
                f"over {MEMORY_FRACTION:.0%} of the {self.avail / 2**30:.1f} GiB available")

    # -- records -> arrays --------------------------------------------------------------------
    def arrays(self) -> dict:
        """The :class:`~games.tree.GameTree` fields. The key lookup is dropped first and each
        level's records as soon as its arrays are written, so the peak stays near the tree."""
        self.ids = self._shared = None
        out = self._infoset_arrays()
        sizes = [len(p) for p in self.player]
        while len(sizes) > 1 and sizes[-1] == 0:
            sizes.pop()
        level_ptr = np.zeros(len(sizes) + 1, dtype=np.int64)
        np.cumsum(sizes, out=level_ptr[1:])
        n = int(level_ptr[-1])
        nodes = {"parent": np.full(n, -1, np.int32), "player": np.empty(n, np.int8), "infoset": np.full(n, -1, np.int32),
                 "action_index": np.zeros(n, np.int16), "edge_slot": np.full(n, -1, np.int32),
                 "chance_prob": np.ones(n, np.float64), "terminal": np.full(n, -1, np.int32)}
        inf_new = out.pop("_inf_new")
        for d in range(len(sizes)):
            s = slice(int(level_ptr[d]), int(level_ptr[d + 1]))
            player = nodes["player"][s]
            player[:] = np.frombuffer(self.player[d], dtype=np.int8)
            nodes["terminal"][s][player == TERMINAL] = np.frombuffer(self.term_row[d], dtype=np.int32)
            if len(self.infoset[d]):
                nodes["infoset"][s][player >= 0] = inf_new[np.frombuffer(self.infoset[d], dtype=np.int32)]
            self.player[d] = self.infoset[d] = self.term_row[d] = None
            if d > 0:
                self._link_level(d, level_ptr, nodes, out["max_actions"])
                self.n_children[d - 1] = self.chance_probs[d] = None
        rep_level = np.frombuffer(self.rep_level, dtype=np.int32)
        rep_local = np.frombuffer(self.rep_local, dtype=np.int32)
        out["rep_node"] = (level_ptr[rep_level] + rep_local)[out.pop("_inf_order")].astype(np.int32)
        out.update(nodes, level_ptr=level_ptr, uniform_depth=self.uniform_depth, num_players=self.n_players,
                   payoffs=np.frombuffer(self.payoffs, dtype=np.float64).reshape(-1, self.n_players))
        return out

    def _infoset_arrays(self) -> dict:
        """Infosets renumbered player by player (first-visit order inside a block)."""
        n_inf = len(self.inf_actions)
        inf_player = np.frombuffer(self.inf_player, dtype=np.int8).astype(np.int32)
        inf_order = np.argsort(inf_player, kind="stable")
        inf_new = np.empty(n_inf, dtype=np.int32)
        inf_new[inf_order] = np.arange(n_inf, dtype=np.int32)
        max_actions = max((len(a) for a in self.inf_actions), default=1)
        legal = np.zeros((n_inf, max_actions), dtype=bool)
        actions = np.full((n_inf, max_actions), -1, dtype=np.int32)
        for old, acts in enumerate(self.inf_actions):
            legal[inf_new[old], : len(acts)] = True
            actions[inf_new[old], : len(acts)] = acts
        self.inf_actions = None
        lengths = np.concatenate([np.frombuffer(k, dtype=np.int32) for k in self.key_len] + [np.zeros(0, np.int32)])
        key_offsets = np.zeros(n_inf + 1, dtype=np.int64)
        np.cumsum(lengths, out=key_offsets[1:])
        key_blob = np.empty(int(key_offsets[-1]), dtype=np.uint8)
        at = 0
        for p in range(self.n_players):
            key_blob[at: at + len(self.key_blob[p])] = np.frombuffer(self.key_blob[p], dtype=np.uint8)
            at += len(self.key_blob[p])
            self.key_blob[p] = None
        self.key_len = None
        own_depth = np.frombuffer(self.inf_own, dtype=np.int32)[inf_order]
        return {"_inf_new": inf_new, "_inf_order": inf_order, "max_actions": int(max_actions),
                "infoset_player": inf_player[inf_order],
                "player_ptr": np.searchsorted(inf_player[inf_order], np.arange(self.n_players + 1)).astype(np.int64),
                "legal": legal, "actions": actions, "key_blob": key_blob, "key_offsets": key_offsets,
                "own_depth": own_depth}

    def _link_level(self, d: int, level_ptr: np.ndarray, nodes: dict, max_actions: int) -> None:
        """Parent, action index, edge slot and chance probability of the nodes of level d, from
        the children counts of level d-1 (chunk by chunk of parents)."""
        up, lo = int(level_ptr[d - 1]), int(level_ptr[d])
        up_player = nodes["player"][up:lo]
        counts = np.zeros(lo - up, dtype=np.int32)
        counts[up_player != TERMINAL] = np.frombuffer(self.n_children[d - 1], dtype=np.int32)
        chance = np.frombuffer(self.chance_probs[d], dtype=np.float64)
        child, used = lo, 0
        for p0 in range(0, counts.size, ASSEMBLY_CHUNK):
            cnt = counts[p0: p0 + ASSEMBLY_CHUNK]
            n_here = int(cnt.sum(dtype=np.int64))
            s = slice(child, child + n_here)
            par = np.repeat(np.arange(up + p0, up + p0 + cnt.size, dtype=np.int32), cnt)
            nodes["parent"][s] = par
            first = np.cumsum(cnt, dtype=np.int64) - cnt
            nodes["action_index"][s] = np.arange(n_here, dtype=np.int64) - np.repeat(first, cnt)
            par_player = nodes["player"][par]
            is_chance = par_player == CHANCE
            n_chance = int(np.count_nonzero(is_chance))
            nodes["chance_prob"][s][is_chance] = chance[used: used + n_chance]
            used += n_chance
            dec = par_player >= 0
            slots = nodes["infoset"][par[dec]].astype(np.int64) * max_actions + nodes["action_index"][s][dec]
            nodes["edge_slot"][s][dec] = slots
            child += n_here
