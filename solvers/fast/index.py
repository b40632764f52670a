"""Index arrays the kernels read, derived once from a compiled tree (Numba, serial).

* ``child_start`` (N + 1): the children of node m are ``child_start[m]:child_start[m+1]``
  (parents are non-decreasing in level order, so one merge pass finds them);
* ``inf_ptr`` / ``inf_child``: for each infoset, the first child of each of its histories, in
  increasing node order (a counting sort over the decision nodes): Q(I, .) reads one
  contiguous run of child values per history;
* ``prev_slot``: per infoset, the global policy slot of its player's previous own action;
  (the threaded kernels of :mod:`solvers.fast.parallel` read the others)
* ``bounds``: per level, chunk boundaries over its parents with about equal work (one unit per
  parent plus one per child), so threads split a level evenly.
"""

from __future__ import annotations

import numpy as np
from numba import njit

TERMINAL = -2


@njit(cache=True, nogil=True)
def child_starts(parent, out):
    n = parent.shape[0]
    j = 1
    for m in range(n + 1):
        while j < n and parent[j] < m:
            j += 1
        out[m] = j


@njit(cache=True, nogil=True)
def infoset_children(node_infoset, child_start, n_inf, inf_ptr, inf_child):
    inf_ptr[:] = 0
    for n in range(node_infoset.shape[0]):
        i = node_infoset[n]
        if i >= 0:
            inf_ptr[i + 1] += 1
    for i in range(n_inf):
        inf_ptr[i + 1] += inf_ptr[i]
    fill = inf_ptr[:-1].copy()
    for n in range(node_infoset.shape[0]):
        i = node_infoset[n]
        if i >= 0:
            inf_child[fill[i]] = child_start[n]
            fill[i] += 1


@njit(cache=True, nogil=True)
def previous_own_slots(parent, parent_player, edge_slot, rep_node, player, last, out, lo, hi):
    """out[i - lo] for the infosets lo..hi-1 of ``player``; ``last`` is node-sized scratch."""
    last[0] = -1
    for n in range(1, parent.shape[0]):
        last[n] = edge_slot[n] if parent_player[n] == player else last[parent[n]]
    for i in range(lo, hi):
        out[i - lo] = last[rep_node[i]]


@njit(cache=True, nogil=True)
def chunk_bounds(level_ptr, child_start, n_chunks, out):
    """out[d, k]: first parent of chunk k on level d (out[d, n_chunks] = end of the level)."""
    for d in range(level_ptr.shape[0] - 1):
        lo = level_ptr[d]
        hi = level_ptr[d + 1]
        w0 = lo + np.int64(child_start[lo])
        total = hi + np.int64(child_start[hi]) - w0
        m = lo
        for k in range(n_chunks + 1):
            target = w0 + (total * k) // n_chunks
            while m < hi and m + np.int64(child_start[m]) < target:
                m += 1
            out[d, k] = m
        out[d, n_chunks] = hi


def index_dtype(n: int):
    """int32 while node and slot ids fit, int64 beyond."""
    return np.int32 if n < 2**31 - 1 else np.int64
