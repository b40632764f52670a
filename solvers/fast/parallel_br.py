"""Numba kernels: exact best response of one player, level-parallel with fixed summation orders.

Same decisions as :func:`solvers.best_response.best_response`. With uniform-depth infosets
(every history of an infoset on one level) one bottom-up sweep decides each infoset as soon as
the level below it is complete: first Q(I, .) of the infosets acting on the level (in parallel
over infosets, histories in increasing node order), then the values of the level's nodes (in
parallel over chunks of parents, children in increasing order). Otherwise ``n_sweeps`` full
sweeps, deciding every infoset after each from Q summed level by level from the bottom. Values
are carried as u(h) = pi_{-p}(h) v(h), as in :func:`solvers.fast.kernels.cfr_pass`, so
u = v at the root. The orders are the ones of the index-order sweep, so results do not depend
on the number of threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from solvers.fast.kernels import TERMINAL, decide
from solvers.fast.parallel import forward_chunk


@njit(cache=True, nogil=True)
def _q_uniform(g, n_act, inf_ptr, inf_child, n_legal, u, q):
    base = np.int64(g) * n_act
    for a in range(n_act):
        q[base + a] = 0.0
    k = n_legal[g]
    for j in range(np.uint64(inf_ptr[g]), np.uint64(inf_ptr[g + 1])):  # unsigned: see _br_up_chunk
        c0 = np.uint64(inf_child[j])
        for a in range(k):
            q[base + a] += u[c0 + np.uint64(a)]


@njit(cache=True, nogil=True)
def _q_by_levels(g, n_act, level_ptr, inf_ptr, inf_child, n_legal, u, q):
    """Q of an infoset whose histories span levels: deepest level first, increasing node
    order inside a level (the order in which a bottom-up index sweep meets them)."""
    base = np.int64(g) * n_act
    for a in range(n_act):
        q[base + a] = 0.0
    k = n_legal[g]
    j1 = inf_ptr[g + 1]
    while j1 > inf_ptr[g]:
        lvl = np.searchsorted(level_ptr, inf_child[j1 - 1], side="right") - 1
        lo = level_ptr[lvl]
        j0 = j1 - 1
        while j0 > inf_ptr[g] and inf_child[j0 - 1] >= lo:
            j0 -= 1
        for j in range(j0, j1):
            c0 = inf_child[j]
            for a in range(k):
                q[base + a] += u[c0 + a]
        j1 = j0


@njit(cache=True, nogil=True)
def _br_up_chunk(m0, m1, child_start, node_player, node_infoset, policy_flat, br, n_act, player, u, u_on):
    """Node indices are unsigned (as in solvers.fast.parallel._cfr_up_chunk): signed bounds read
    from an array make Numba guard every access for wrap-around."""
    for m in range(np.uint64(m0), np.uint64(m1)):
        pl = node_player[m]
        if pl == TERMINAL:
            continue
        c0 = np.uint64(child_start[m])
        c1 = np.uint64(child_start[m + np.uint64(1)])
        acc = 0.0
        acc_on = 0.0
        if pl == player:
            base = np.uint64(node_infoset[m]) * np.uint64(n_act)
            for c in range(c0, c1):
                acc += br[base + (c - c0)] * u[c]
                acc_on += policy_flat[base + (c - c0)] * u_on[c]
        else:
            for c in range(c0, c1):
                acc += u[c]
                acc_on += u_on[c]
        u[m] = acc
        u_on[m] = acc_on


@njit(cache=True, nogil=True, parallel=True)
def best_response(bounds, level_ptr, child_start, parent, parent_player, edge_slot, node_player, node_infoset,
                   chance_prob, terminal, payoffs, inf_ptr, inf_child, n_legal, level_inf_ptr, level_infs, policy_flat,
                   legal_flat, player, n_act, first_infoset, n_player_infosets, uniform_depth, n_sweeps, tie_uniform,
                   opp, u, u_on, q, br):
    """Exact best response of ``player``: returns (best-response value, on-policy value) and
    writes the best-response rows into ``br`` (flat, all infosets; only the player's rows are
    meaningful). ``level_infs[level_inf_ptr[d]:level_inf_ptr[d+1]]`` are the player's infosets
    acting on level d (used with uniform depth)."""
    n_inf = legal_flat.shape[0] // n_act
    n_chunks = bounds.shape[1] - 1
    n_levels = bounds.shape[0]
    opp[0] = 1.0
    for d in range(n_levels):
        for k in prange(n_chunks):
            forward_chunk(child_start[bounds[d, k]], child_start[bounds[d, k + 1]], parent, parent_player, edge_slot,
                           chance_prob, terminal, payoffs, policy_flat, player, opp, u, u_on)
    # Initial decisions from Q = 0 (first legal action, or uniform), as the reference does.
    q[:] = 0.0
    for i in range(n_inf):
        decide(q, legal_flat, i, n_act, tie_uniform, br)
    for _ in range(n_sweeps):
        for d in range(n_levels - 1, -1, -1):
            lo = level_inf_ptr[d]
            if uniform_depth:
                for k in prange(level_inf_ptr[d + 1] - lo):
                    g = level_infs[lo + k]
                    _q_uniform(g, n_act, inf_ptr, inf_child, n_legal, u, q)
                    decide(q, legal_flat, g, n_act, tie_uniform, br)
            for k in prange(n_chunks):
                _br_up_chunk(bounds[d, k], bounds[d, k + 1], child_start, node_player, node_infoset, policy_flat, br,
                             n_act, player, u, u_on)
        if not uniform_depth:
            for k in prange(n_player_infosets):
                g = first_infoset + k
                _q_by_levels(g, n_act, level_ptr, inf_ptr, inf_child, n_legal, u, q)
                decide(q, legal_flat, g, n_act, tie_uniform, br)
    if node_player[0] == TERMINAL:  # a one-node game
        return payoffs[terminal[0], player], payoffs[terminal[0], player]
    return u[0], u_on[0]

