"""The CUDA path (CuPy): the CFR pass as fused per-level kernels, and a one-pass output check.

Backend ``"cuda"`` of :class:`~solvers.cfr.engine.CFRSolver` (``device="cuda"``). The tree
arrays live on the device; one pass launches one forward kernel per tree level (pi_{-p} and
pi_p together), one backward kernel per level (values and Q(I, a) by ``atomicAdd`` into the
parents' slots: each parent's children all sit on the level below, so the level order is the
only synchronization needed) and one kernel for r^t(I, a) and x_p(I). The rule then runs on the
device as CuPy array code (regret updates included), and its outputs are checked by one
reduction kernel per output whose flags are read back once per iteration (a single host
synchronization per iteration; an invalid output still raises from that ``iterate()`` call).

``atomicAdd`` makes the summation order of the values nondeterministic at the last bit, so the
results equal the CPU paths to ~1e-12, not bitwise (tested on a GPU by ``tests/test_gpu_*.py``).
CuPy is imported lazily; :func:`gtlearn.core.backend.get_xp` gives the one-line error when CuPy or
a CUDA device is missing.
"""

from __future__ import annotations

import numpy as np

from games.tree import TERMINAL, GameTree

_SOURCE = r"""
extern "C" __global__ void forward_level(
    const long long lo, const long long hi, const int* parent, const signed char* parent_player,
    const int* edge_slot, const double* chance_prob, const double* policy, const int player,
    double* opp, double* own)
{
    long long n = lo + (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (n >= hi) return;
    const int par = parent[n];
    const signed char pp = parent_player[n];
    const double pr = (pp == -1) ? chance_prob[n] : policy[edge_slot[n]];
    if (pp == player) { own[n] = own[par] * pr; opp[n] = opp[par]; }
    else { own[n] = own[par]; opp[n] = opp[par] * pr; }
}

extern "C" __global__ void backward_level(
    const long long lo, const long long hi, const int* parent, const signed char* parent_player,
    const int* edge_slot, const double* chance_prob, const int* terminal, const double* payoffs,
    const int n_players, const double* policy, const int player, const long long slot_start,
    const double* opp, double* v, double* q)
{
    long long n = lo + (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (n >= hi) return;
    const int z = terminal[n];
    const double val = (z >= 0) ? payoffs[(long long)z * n_players + player] : v[n];
    const int par = parent[n];
    const signed char pp = parent_player[n];
    if (pp == -1) {
        atomicAdd(&v[par], chance_prob[n] * val);
    } else {
        const int slot = edge_slot[n];
        atomicAdd(&v[par], policy[slot] * val);
        if (pp == player) atomicAdd(&q[slot - slot_start], opp[par] * val);
    }
}

extern "C" __global__ void regrets(
    const long long n_inf, const int n_act, const double* q, const double* sigma, const bool* legal,
    const long long* rep_node, const double* own, double* regret, double* reach)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n_inf) return;
    const long long base = i * n_act;
    double ev = 0.0;
    for (int a = 0; a < n_act; ++a) ev += sigma[base + a] * q[base + a];
    for (int a = 0; a < n_act; ++a) regret[base + a] = legal[base + a] ? q[base + a] - ev : 0.0;
    reach[i] = own[rep_node[i]];
}

extern "C" __global__ void check_output(
    const long long n_inf, const int n_act, const double* arr, const bool* legal, const int cumulative,
    const int slot, int* flags)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n_inf) return;
    const long long base = i * n_act;
    int bad = 0;
    double total = 0.0;
    for (int a = 0; a < n_act; ++a) {
        const double x = arr[base + a];
        if (!isfinite(x)) bad |= 1;
        else if (!legal[base + a] && x != 0.0) bad |= 2;
        if (!cumulative && x < 0.0) bad |= 4;
        total += x;
    }
    if (!cumulative && fabs(total - 1.0) > 1e-9) bad |= 8;
    if (bad) atomicOr(&flags[slot], bad);
}
"""

_THREADS = 256
_MODULE = None


def _module():
    global _MODULE
    if _MODULE is None:
        import cupy  # noqa: PLC0415 - optional dependency

        _MODULE = cupy.RawModule(code=_SOURCE, options=("--std=c++14",))
    return _MODULE


def _blocks(n: int) -> tuple[int]:
    return (max(1, (int(n) + _THREADS - 1) // _THREADS),)


class CudaTree:
    """Device copies of the node arrays the kernels read, plus scratch buffers."""

    def __init__(self, tree: GameTree) -> None:
        import cupy as cp  # noqa: PLC0415

        self.tree = tree
        parent_player = tree.player[np.maximum(tree.parent, 0)].astype(np.int8)
        parent_player[tree.parent < 0] = TERMINAL
        self.parent = cp.asarray(tree.parent.astype(np.int32))
        self.parent_player = cp.asarray(parent_player)
        self.edge_slot = cp.asarray(tree.edge_slot.astype(np.int32))
        self.chance_prob = cp.asarray(tree.chance_prob.astype(np.float64))
        self.terminal = cp.asarray(tree.terminal.astype(np.int32))
        payoffs = tree.payoffs if tree.payoffs.size else np.zeros((1, tree.num_players))
        self.payoffs = cp.asarray(np.ascontiguousarray(payoffs, dtype=np.float64))
        self.levels = [(int(a), int(b)) for a, b in zip(tree.level_ptr[:-1], tree.level_ptr[1:])]
        self.legal = cp.asarray(tree.legal)
        self.rep_node = cp.asarray(tree.rep_node.astype(np.int64))
        n = tree.num_nodes
        self.opp = cp.empty(n)
        self.own = cp.empty(n)
        self.v = cp.empty(n)
        self.q = [cp.empty((b.stop - b.start) * tree.max_actions) for b in (tree.infosets_of(p) for p in range(tree.num_players))]
        self.flags = cp.zeros(3 * tree.num_players, dtype=np.int32)  # one per rule output of a pass
        mod = _module()
        self._forward = mod.get_function("forward_level")
        self._backward = mod.get_function("backward_level")
        self._regrets = mod.get_function("regrets")
        self._check = mod.get_function("check_output")

    def cfr_regrets(self, policy, player: int):
        """r^t(I, a) of ``player``'s infosets and x_p(I) against the device policy (I, A)."""
        import cupy as cp  # noqa: PLC0415

        tree = self.tree
        A = tree.max_actions
        b = tree.infosets_of(player)
        n_inf = b.stop - b.start
        policy = cp.ascontiguousarray(policy, dtype=cp.float64)
        flat = policy.reshape(-1)
        p = np.int32(player)
        self.opp[:1] = 1.0
        self.own[:1] = 1.0
        for lo, hi in self.levels[1:]:
            self._forward(_blocks(hi - lo), (_THREADS,), (
                np.int64(lo), np.int64(hi), self.parent, self.parent_player, self.edge_slot, self.chance_prob,
                flat, p, self.opp, self.own))
        v, q = self.v, self.q[player]
        v.fill(0.0)
        q.fill(0.0)
        n_players = np.int32(self.payoffs.shape[1])
        slot_start = np.int64(b.start * A)
        for lo, hi in reversed(self.levels[1:]):
            self._backward(_blocks(hi - lo), (_THREADS,), (
                np.int64(lo), np.int64(hi), self.parent, self.parent_player, self.edge_slot, self.chance_prob,
                self.terminal, self.payoffs, n_players, flat, p, slot_start, self.opp, v, q))
        regret = cp.empty((n_inf, A))
        reach = cp.empty(n_inf)
        sigma = cp.ascontiguousarray(policy[b])
        self._regrets(_blocks(n_inf), (_THREADS,), (
            np.int64(n_inf), np.int32(A), q, sigma, cp.ascontiguousarray(self.legal[b]), self.rep_node[b], self.own,
            regret, reach))
        return regret, reach

    # -- deferred output checks ----------------------------------------------------------------
    def reset_flags(self) -> None:
        self.flags.fill(0)

    def check(self, arr, legal, cumulative: bool, slot: int) -> None:
        """Queue the contract check of one rule output (``slot`` = 3 * player + output index);
        the result is read by :meth:`read_flags`. Bits: 1 non-finite, 2 non-zero on an illegal
        action, 4 negative probability, 8 a row not summing to 1."""
        self._check(_blocks(arr.shape[0]), (_THREADS,), (
            np.int64(arr.shape[0]), np.int32(arr.shape[1]), arr, legal, np.int32(bool(cumulative)),
            np.int32(slot), self.flags))

    def read_flags(self) -> np.ndarray:
        """The per-output flags (one host synchronization)."""
        return self.flags.get()


def cuda_tree(tree: GameTree) -> CudaTree:
    cached = getattr(tree, "_cuda_tree", None)
    if cached is None or cached.tree is not tree:
        cached = CudaTree(tree)
        tree._cuda_tree = cached  # derived device data; not part of the tree
    return cached
