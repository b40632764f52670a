"""The compiled CPU path (Numba): whole-tree kernels for the CFR pass and exact best response.

Numba is optional (``pip install gtlearn[fast]``). :func:`available` says whether it can be
used; everything else in this package needs it. The kernels (:mod:`solvers.fast.kernels`) are
the fused-loop twins of the NumPy reference sweeps in :mod:`solvers.sweeps` and produce the
same numbers up to floating-point summation order (tested to 1e-12).

Backend names used across the solvers: ``"numba"`` (this package), ``"numpy"`` (the
vectorized reference), ``"cuda"`` (fused CuPy kernels, :mod:`solvers.fast.cuda`) and
``"cupy"`` (the reference code on CuPy arrays). ``None`` means the fastest one available for
the device.
"""

from __future__ import annotations

import os

import numpy as np

from games.tree import TERMINAL, GameTree
from gtlearn.core.errors import GtlearnError

# Idle kernel threads sleep instead of spinning (read when Numba's OpenMP pool starts, on the
# first threaded call or set_threads): on a machine whose cores are shared, spinning threads
# take the CPU from the working ones. Set OMP_WAIT_POLICY=ACTIVE on a dedicated machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

BACKENDS = ("numba", "numpy", "cuda", "cupy")
CPU_BACKENDS = ("numba", "numpy")
CUDA_BACKENDS = ("cuda", "cupy")
_AVAILABLE: bool | None = None


def available() -> bool:
    """True when numba can be imported (checked once, on the first solver that asks)."""
    global _AVAILABLE
    if _AVAILABLE is None:
        try:
            import numba  # noqa: F401, PLC0415 - optional dependency
        except ImportError:
            _AVAILABLE = False
        else:
            _AVAILABLE = True
    return _AVAILABLE


def resolve_backend(backend: str | None, device: str = "cpu") -> str:
    """The backend to use: the one asked for (checked) or the fastest available for ``device``.

    CPU: ``"numba"`` (compiled, default when installed) or ``"numpy"`` (reference). CUDA:
    ``"cuda"`` (fused per-level kernels, :mod:`solvers.fast.cuda`; default) or ``"cupy"`` (the
    NumPy reference code run on CuPy arrays).
    """
    if backend is None:
        if device == "cuda":
            return "cuda"
        return "numba" if available() else "numpy"
    if backend not in BACKENDS:
        raise GtlearnError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if device == "cuda" and backend not in CUDA_BACKENDS:
        raise GtlearnError(f"backend {backend!r} runs on the CPU; device 'cuda' takes backend 'cuda' or 'cupy'")
    if device != "cuda" and backend in CUDA_BACKENDS:
        raise GtlearnError(f"backend {backend!r} needs device 'cuda'")
    if backend == "numba" and not available():
        raise GtlearnError("backend 'numba' needs numba: install it with `pip install gtlearn[fast]`")
    return backend


_KERNELS = None


def _kernels():
    global _KERNELS
    if _KERNELS is None:
        from solvers.fast import index, kernels, parallel, parallel_br, rules  # noqa: PLC0415 - imports numba

        _KERNELS = (kernels, parallel, parallel_br, index, rules)
    return _KERNELS


# -- threads -------------------------------------------------------------------------------
CHUNKS_PER_THREAD = 8  # chunks of a level per thread: evens out uneven subtrees
PARALLEL_MIN_NODES = 100_000  # below this a pass takes microseconds: one thread, no start-up cost
Q_PARTS_PER_THREAD = 8  # infoset blocks per thread in the threaded Q and regret computation
SPLIT_NODES_PER_THREAD = 64  # the threaded CFR pass splits the tree where a level has this many nodes per thread


def set_threads(n: int | None) -> int:
    """Use ``n`` threads in the kernels (``None``: all cores); returns the number set. Results
    do not depend on it (fixed summation orders)."""
    import numba  # noqa: PLC0415 - optional dependency

    n = numba.config.NUMBA_NUM_THREADS if n is None else int(n)
    if not 1 <= n <= numba.config.NUMBA_NUM_THREADS:
        raise GtlearnError(f"threads must be between 1 and {numba.config.NUMBA_NUM_THREADS}, not {n}")
    numba.set_num_threads(n)
    return n


def get_threads() -> int:
    import numba  # noqa: PLC0415 - optional dependency

    return numba.get_num_threads()


class FastTree:
    """The node arrays the kernels read (views of the tree's own arrays where the dtype fits),
    derived index arrays and reusable scratch buffers.

    One thread runs the index-order kernels of :mod:`solvers.fast.kernels`; several threads on a
    tree of at least PARALLEL_MIN_NODES nodes run their level-parallel twins
    (:mod:`solvers.fast.parallel`, :mod:`solvers.fast.parallel_br`), which sum in the same orders:
    the numbers are identical either way. Memory on top of the tree: the parent's player
    (1 B/node) and node-sized float64 scratch built on first use -- two buffers (16 B/node) for a
    CFR pass, three (24 B/node) for best response, N per node for expected values; the threaded
    path adds child starts (4 B/node) and the infosets' history lists (4 B per decision node)."""

    def __init__(self, tree: GameTree) -> None:
        index = _kernels()[3]
        self.tree = tree
        c = np.ascontiguousarray
        self.itype = index.index_dtype(max(tree.num_nodes, tree.num_infosets * tree.max_actions) + 1)
        self.parent = c(tree.parent, dtype=np.int32)
        self.edge_slot = c(tree.edge_slot, dtype=np.int32)
        parent_player = tree.player[np.maximum(tree.parent, 0)].astype(np.int8)
        parent_player[tree.parent < 0] = TERMINAL
        self.parent_player = parent_player
        self.node_player = c(tree.player, dtype=np.int8)
        self.node_infoset = c(tree.infoset, dtype=np.int32)
        self.chance_prob = c(tree.chance_prob, dtype=np.float64)
        self.terminal = c(tree.terminal, dtype=np.int32)
        payoffs = tree.payoffs if tree.payoffs.size else np.zeros((1, tree.num_players))
        self.payoffs = c(payoffs, dtype=np.float64)
        self.level_ptr = c(tree.level_ptr, dtype=np.int64)
        self.legal_flat = c(tree.legal.reshape(-1))
        self.prev_slot = np.full(tree.num_infosets, -1, dtype=self.itype)
        last = np.empty(tree.num_nodes, dtype=self.itype)
        for p in range(tree.num_players):
            b = tree.infosets_of(p)
            index.previous_own_slots(self.parent, self.parent_player, self.edge_slot, c(tree.rep_node), p, last,
                                     self.prev_slot[b], b.start, b.stop)
        self._threaded_index = None
        self._bounds: dict[int, np.ndarray] = {}
        self._scratch: dict = {}

    def threaded_index(self):
        """(child_start, inf_ptr, inf_child, n_legal), built on the first threaded call."""
        if self._threaded_index is None:
            index = _kernels()[3]
            tree = self.tree
            child_start = np.empty(tree.num_nodes + 1, dtype=self.itype)
            index.child_starts(self.parent, child_start)
            inf_ptr = np.empty(tree.num_infosets + 1, dtype=np.int64)
            inf_child = np.empty(int(np.count_nonzero(tree.infoset >= 0)), dtype=self.itype)
            index.infoset_children(self.node_infoset, child_start, tree.num_infosets, inf_ptr, inf_child)
            self._threaded_index = (child_start, inf_ptr, inf_child, tree.legal.sum(axis=1, dtype=np.int32))
        return self._threaded_index

    def bounds(self) -> np.ndarray | None:
        """Chunk boundaries per level for the current thread count, or None for the one-thread
        kernels (one thread, or a tree below PARALLEL_MIN_NODES nodes)."""
        threads = get_threads() if self.tree.num_nodes >= PARALLEL_MIN_NODES else 1
        if threads == 1:
            return None
        n_chunks = CHUNKS_PER_THREAD * threads
        b = self._bounds.get(n_chunks)
        if b is None:
            b = self._bounds[n_chunks] = np.empty((self.tree.num_levels, n_chunks + 1), dtype=np.int64)
            _kernels()[3].chunk_bounds(self.level_ptr, self.threaded_index()[0], n_chunks, b)
        return b

    def subtree_groups(self, threads: int) -> tuple[int, np.ndarray]:
        """(split level, group boundaries): the first level with at least SPLIT_NODES_PER_THREAD
        nodes per thread, its nodes cut into CHUNKS_PER_THREAD groups per thread of about equal
        subtree size (the unit of work of the threaded CFR pass)."""
        key = ("groups", threads)
        cached = self._scratch.get(key)
        if cached is None:
            tree = self.tree
            child_start = self.threaded_index()[0]
            sizes = np.diff(tree.level_ptr)
            split = int(np.argmax(sizes >= SPLIT_NODES_PER_THREAD * threads)) if sizes.max() >= SPLIT_NODES_PER_THREAD * threads else 0
            lo = np.arange(tree.level_ptr[split], tree.level_ptr[split + 1], dtype=np.int64)
            hi = lo + 1
            weight = np.ones(lo.size, dtype=np.int64)
            while lo.size and np.any(hi > lo):
                lo, hi = child_start[lo].astype(np.int64), child_start[hi].astype(np.int64)
                weight += hi - lo
            cum = np.concatenate([[0], np.cumsum(weight)])
            targets = cum[-1] * np.arange(CHUNKS_PER_THREAD * threads + 1) // (CHUNKS_PER_THREAD * threads)
            cuts = np.unique(np.searchsorted(cum, targets))
            cached = self._scratch[key] = (split, (cuts + tree.level_ptr[split]).astype(np.int64))
        return cached

    def infoset_blocks(self, player: int, threads: int) -> np.ndarray:
        """``player``'s infosets (local ids) cut into Q_PARTS_PER_THREAD blocks per thread of
        about equal history counts: the tasks of the threaded Q and regret computation."""
        key = ("blocks", player, threads)
        cached = self._scratch.get(key)
        if cached is None:
            b = self.tree.infosets_of(player)
            n_inf = b.stop - b.start
            inf_ptr = self.threaded_index()[1]
            cum = inf_ptr[b.start:b.stop + 1] - inf_ptr[b.start]
            n_parts = max(1, min(Q_PARTS_PER_THREAD * threads, n_inf))
            cuts = np.searchsorted(cum, cum[-1] * np.arange(n_parts + 1) // n_parts)
            cuts[0], cuts[-1] = 0, n_inf
            cached = self._scratch[key] = np.unique(cuts).astype(np.int64)
        return cached

    def scratch(self, name: str, shape) -> np.ndarray:
        buf = self._scratch.get(name)
        if buf is None or buf.shape != (tuple(shape) if isinstance(shape, tuple) else (shape,)):
            buf = self._scratch[name] = np.empty(shape)
        return buf

    # -- CFR ---------------------------------------------------------------------------------
    def _pass_statics(self, player: int):
        """The per-player kernel arguments that never change, built once (the wrapper's own
        overhead matters on small games, where a whole pass takes microseconds)."""
        statics = self._scratch.get(("pass", player))
        if statics is None:
            tree = self.tree
            b = tree.infosets_of(player)
            A = tree.max_actions
            n_inf = b.stop - b.start
            statics = self._scratch[("pass", player)] = (
                b, n_inf, b.start * A, np.ascontiguousarray(self.prev_slot[b]), np.ascontiguousarray(tree.legal[b]),
                self.scratch("opp", tree.num_nodes), self.scratch("u", tree.num_nodes), np.empty(n_inf * A),
            )
        return statics

    def cfr_regrets(self, policy: np.ndarray, player: int, out=None):
        """r^t(I, a) of ``player``'s infosets and x_p(I) against the full ``policy`` (I, A),
        written into ``out`` = (regret, reach) when given."""
        b, n_inf, slot_start, prev_slot, legal, opp, u, q = self._pass_statics(player)
        if policy.dtype != np.float64 or not policy.flags.c_contiguous:
            policy = np.ascontiguousarray(policy, dtype=np.float64)
        regret, reach = out if out is not None else (np.empty((n_inf, self.tree.max_actions)), np.empty(n_inf))
        bounds = self.bounds()
        if bounds is None:
            _kernels()[0].cfr_pass(
                self.parent, self.parent_player, self.node_player, self.edge_slot, self.chance_prob, self.terminal,
                self.payoffs, policy.reshape(-1), player, slot_start, prev_slot, policy[b], legal, opp, u, q, regret,
                reach,
            )
            return regret, reach
        child_start, inf_ptr, inf_child, n_legal = self.threaded_index()
        split, roots = self.subtree_groups(get_threads())
        _kernels()[1].cfr_pass(
            self.level_ptr, split, roots, child_start, self.parent, self.parent_player, self.edge_slot, self.node_player,
            self.node_infoset, self.chance_prob, self.terminal, self.payoffs, inf_ptr, inf_child, n_legal,
            self.infoset_blocks(player, get_threads()), policy.reshape(-1), self.tree.max_actions, player, b.start,
            prev_slot, policy[b], legal, u, regret, reach,
        )
        return regret, reach

    # -- best response -------------------------------------------------------------------------
    def _level_infosets(self, player: int):
        """The player's infosets grouped by the level they act on (uniform depth only)."""
        key = ("levels", player)
        cached = self._scratch.get(key)
        if cached is None:
            tree = self.tree
            block = tree.infosets_of(player)
            levels = np.searchsorted(tree.level_ptr, tree.rep_node[block], side="right") - 1
            order = np.argsort(levels, kind="stable")
            ptr = np.searchsorted(levels[order], np.arange(tree.num_levels + 1)).astype(np.int64)
            cached = self._scratch[key] = (ptr, (order + block.start).astype(np.int64))
        return cached

    def best_response(self, policy: np.ndarray, player: int, tie_break: str = "first"):
        """(best-response value, on-policy value, best-response rows (I, A) of all infosets)."""
        tree = self.tree
        A = tree.max_actions
        n = tree.num_nodes
        policy = np.ascontiguousarray(policy, dtype=np.float64)
        block = tree.infosets_of(player)
        n_sweeps = 1 if tree.uniform_depth else int(tree.own_depth[block].max(initial=0)) + 2
        br = np.empty(tree.num_infosets * A)
        scratch = (self.scratch("opp", n), self.scratch("u", n), self.scratch("u_on", n),
                   self.scratch("q", tree.num_infosets * A), br)
        bounds = self.bounds()
        if bounds is None:
            value, on_value = _kernels()[0].best_response(
                self.parent, self.parent_player, self.node_player, self.node_infoset, self.edge_slot, self.chance_prob,
                self.terminal, self.payoffs, self.level_ptr, policy.reshape(-1), self.legal_flat, player, A,
                bool(tree.uniform_depth), n_sweeps, tie_break == "uniform", *scratch,
                np.empty(max(tree.num_infosets, 1), dtype=np.int64),
            )
        else:
            child_start, inf_ptr, inf_child, n_legal = self.threaded_index()
            level_inf_ptr, level_infs = self._level_infosets(player)
            value, on_value = _kernels()[2].best_response(
                bounds, self.level_ptr, child_start, self.parent, self.parent_player, self.edge_slot, self.node_player,
                self.node_infoset, self.chance_prob, self.terminal, self.payoffs, inf_ptr, inf_child, n_legal,
                level_inf_ptr, level_infs, policy.reshape(-1), self.legal_flat, player, A, block.start,
                block.stop - block.start, bool(tree.uniform_depth), n_sweeps, tie_break == "uniform", *scratch,
            )
        return float(value), float(on_value), br.reshape(tree.num_infosets, A)

    def expected_values(self, policy: np.ndarray) -> np.ndarray:
        policy = np.ascontiguousarray(policy, dtype=np.float64)
        v = self.scratch("v2", (self.tree.num_nodes, self.tree.num_players))
        bounds = self.bounds()
        if bounds is None:
            return _kernels()[0].expected_values(self.parent, self.parent_player, self.edge_slot, self.chance_prob,
                                                 self.terminal, self.payoffs, policy.reshape(-1), v)
        return _kernels()[1].expected_values(
            bounds, self.threaded_index()[0], self.node_player, self.node_infoset, self.chance_prob, self.terminal,
            self.payoffs, policy.reshape(-1), self.tree.max_actions, v,
        )

    def nash_conv(self, policy: np.ndarray, per_player: bool = False):
        gains = np.empty(self.tree.num_players)
        for i in range(self.tree.num_players):
            value, on_value, _ = self.best_response(policy, i)
            gains[i] = value - on_value
        return gains if per_player else float(gains.sum())


def fast_tree(tree: GameTree) -> FastTree:
    """The :class:`FastTree` of ``tree``, built once and cached on the tree object."""
    cached = getattr(tree, "_fast_tree", None)
    if cached is None or cached.tree is not tree:
        cached = FastTree(tree)
        tree._fast_tree = cached  # derived data, rebuilt on demand; not part of the tree
    return cached


def rule_kernel():
    """:mod:`solvers.fast.rules` (imports numba)."""
    return _kernels()[4]


_CHECK_MESSAGES = {
    1: "returned non-finite values",
    2: "returned non-zero values on illegal actions",
    3: "returned negative probabilities",
    4: "returned rows that do not sum to 1",
}


def check_message(code: int) -> str | None:
    """The reason for a check_rule_output code (None for 0)."""
    return _CHECK_MESSAGES.get(int(code)) if code else None


def check_rule_output(arr, legal: np.ndarray, cumulative: bool) -> str | None:
    """The rule-contract check of docs/cfr.md in one compiled pass: None when ``arr`` is
    valid, else the reason. Only for float64 NumPy arrays of ``legal``'s shape."""
    code = _kernels()[0].check_rule_output(arr, legal, cumulative)
    return _CHECK_MESSAGES.get(int(code)) if code else None
