"""Numba kernels on all cores: the CFR pass and the expected-value sweep over the compiled tree.

The compiler stores nodes level by level with the children of a node contiguous, so the tree
is walked *parent-driven*, one level at a time: the forward sweep writes each parent's
children (reach), the backward sweep sets each parent's value from its children. Inside a
level every parent is independent, so a level is cut into ``bounds`` chunks of about equal
work (one row of ``bounds`` per level, built by :mod:`solvers.fast.index`) and the chunks run
under ``prange``. Each parent sums its children in one fixed order (last child first), and
each infoset sums its histories in one fixed order (last node first), so the numbers do not
depend on the number of threads or chunks: one thread and many give identical results (equal
bit for bit to the former index-order kernels, and to the NumPy reference of
:mod:`solvers.sweeps` up to summation order, tested to 1e-12).

This module imports numba at import time; import it through :mod:`solvers.fast`.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

CHANCE = -1
TERMINAL = -2


@njit(cache=True, nogil=True)
def forward_chunk(c0, c1, parent, parent_player, edge_slot, chance_prob, terminal, payoffs, policy_flat, player, opp, u,
                   u_on):
    """Nodes c0..c1-1 (one level): pi_{-p} of inner nodes into ``opp``; at terminals the leaf
    value pi_{-p}(z) u_p(z) straight into ``u`` and ``u_on`` (so the way up never branches).
    Node-driven: every node reads its parent's reach, so any split of a level is race-free."""
    for n in range(c0, c1):
        pp = parent_player[n]
        x = opp[parent[n]]
        if pp == CHANCE:
            x *= chance_prob[n]
        elif pp != player:
            x *= policy_flat[edge_slot[n]]
        z = terminal[n]
        if z >= 0:
            leaf = x * payoffs[z, player]
            u[n] = leaf
            u_on[n] = leaf
        else:
            opp[n] = x


@njit(cache=True, nogil=True)
def _cfr_up_chunk(m0, m1, child_start, node_player, node_infoset, policy_flat, n_act, player, u):
    for m in range(m0, m1):
        pl = node_player[m]
        if pl == TERMINAL:
            continue
        c0 = child_start[m]
        c1 = child_start[m + 1]
        acc = 0.0
        if pl == player:
            base = np.int64(node_infoset[m]) * n_act - c0
            for c in range(c1 - 1, c0 - 1, -1):
                acc += policy_flat[base + c] * u[c]
        else:
            for c in range(c1 - 1, c0 - 1, -1):
                acc += u[c]
        u[m] = acc


@njit(cache=True, nogil=True)
def _q_part(lo, hi, part_nodes, j0, j1, child_start, node_infoset, first_infoset, n_act, u, q):
    """Q(I, a) = sum_{h in I} u(h.a) for the player's infosets lo..hi-1 (local ids), whose
    decision nodes are ``part_nodes[j0:j1]`` in increasing order: scanned from the last to the
    first, so every infoset sums its histories last one first, whatever the partition."""
    for i in range(lo * n_act, hi * n_act):
        q[i] = 0.0
    for j in range(j1 - 1, j0 - 1, -1):
        m = part_nodes[j]
        c0 = child_start[m]
        base = np.int64(node_infoset[m] - first_infoset) * n_act - c0
        for c in range(c0, child_start[m + 1]):
            q[base + c] += u[c]


@njit(cache=True, nogil=True)
def _regret_row(i, sigma, legal, q, regret):
    """r(I, a) = Q(I, a) - sum_b sigma(I, b) Q(I, b) into row i."""
    n_act = regret.shape[1]
    base = i * n_act
    ev = 0.0
    for a in range(n_act):
        ev += sigma[i, a] * q[base + a]
    for a in range(n_act):
        regret[i, a] = q[base + a] - ev if legal[i, a] else 0.0


@njit(cache=True, nogil=True)
def _subtrees(r0, r1, child_start, parent, parent_player, edge_slot, node_player, node_infoset, chance_prob, terminal,
              payoffs, policy_flat, n_act, player, opp, u, n_levels):
    """Both sweeps of the subtrees below the nodes r0..r1-1 of one level (whose reach is known):
    their nodes on every deeper level form one contiguous range, found through child_start."""
    los = np.empty(n_levels + 1, dtype=np.int64)
    his = np.empty(n_levels + 1, dtype=np.int64)
    los[0], his[0] = r0, r1
    depth = 0
    while True:
        lo = np.int64(child_start[los[depth]])
        hi = np.int64(child_start[his[depth]])
        if lo == hi:
            break
        forward_chunk(lo, hi, parent, parent_player, edge_slot, chance_prob, terminal, payoffs, policy_flat, player,
                      opp, u, u)
        depth += 1
        los[depth], his[depth] = lo, hi
    for k in range(depth - 1, -1, -1):
        _cfr_up_chunk(los[k], his[k], child_start, node_player, node_infoset, policy_flat, n_act, player, u)


@njit(cache=True, nogil=True, parallel=True)
def cfr_pass(level_ptr, split_level, roots, child_start, parent, parent_player, edge_slot, node_player, node_infoset,
             chance_prob, terminal, payoffs, part_nodes, part_inf, part_ptr, policy_flat, n_act, player, first_infoset,
             prev_slot, sigma, legal, opp, u, q, regret, reach):
    """One exact CFR pass of ``player`` against the profile ``policy_flat``.

    Writes r^t(I, a) of the player's infosets (global ids ``first_infoset`` on) into ``regret``
    (I_p, A) and x_p(I) into ``reach`` (I_p,). ``opp`` and ``u`` are node-sized scratch, ``q``
    is I_p * A scratch; ``prev_slot[i]`` is the global policy slot of the player's own last
    action above infoset i (-1 at a first decision). Q is summed in blocks of infosets: block k
    holds the infosets ``part_inf[k]:part_inf[k+1]`` (local ids), whose decision nodes are
    ``part_nodes[part_ptr[k]:part_ptr[k+1]]`` in increasing order.

    Levels above ``split_level`` are swept here; below it, the subtrees of the split level's
    nodes ``roots[k]:roots[k+1]`` are swept whole, one group per parallel task (one parallel
    region for both sweeps: no barrier per level).

    The backward sweep carries u(h) = pi_{-p}(h) v_p(h) instead of v_p(h): an opponent or
    chance edge passes u up unweighted (its probability is already in pi_{-p}), one of p's
    edges weights it by sigma, and Q(I, a) = sum_{h in I} u(h.a). So pi_{-p} is read at the
    leaves only and the opponents' policy entries are not read again on the way up.
    """
    n_levels = level_ptr.shape[0] - 1
    opp[0] = 1.0
    for d in range(split_level):
        forward_chunk(child_start[level_ptr[d]], child_start[level_ptr[d + 1]], parent, parent_player, edge_slot,
                      chance_prob, terminal, payoffs, policy_flat, player, opp, u, u)
    for k in prange(roots.shape[0] - 1):
        _subtrees(roots[k], roots[k + 1], child_start, parent, parent_player, edge_slot, node_player, node_infoset,
                  chance_prob, terminal, payoffs, policy_flat, n_act, player, opp, u, n_levels)
    for d in range(split_level - 1, -1, -1):
        _cfr_up_chunk(level_ptr[d], level_ptr[d + 1], child_start, node_player, node_infoset, policy_flat, n_act,
                      player, u)
    n_inf = regret.shape[0]
    for k in prange(part_inf.shape[0] - 1):
        _q_part(part_inf[k], part_inf[k + 1], part_nodes, part_ptr[k], part_ptr[k + 1], child_start, node_infoset,
                first_infoset, n_act, u, q)
    for i in prange(n_inf):
        _regret_row(i, sigma, legal, q, regret)
    # Perfect recall: x_p(I) = x_p(I') sigma(I', a') for p's previous decision (I', a'), which
    # has a smaller index (infosets are numbered in first-visit order); a short serial chain.
    slot_start = first_infoset * n_act
    for i in range(n_inf):
        ps = prev_slot[i]
        reach[i] = 1.0 if ps < 0 else reach[(ps - slot_start) // n_act] * policy_flat[ps]


@njit(cache=True, nogil=True)
def _ev_chunk(m0, m1, child_start, node_player, node_infoset, chance_prob, terminal, payoffs, policy_flat, n_act, v):
    n_players = payoffs.shape[1]
    for m in range(m0, m1):
        pl = node_player[m]
        if pl == TERMINAL:
            continue
        c0 = child_start[m]
        c1 = child_start[m + 1]
        base = np.int64(node_infoset[m]) * n_act - c0
        for i in range(n_players):
            acc = 0.0
            for c in range(c1 - 1, c0 - 1, -1):
                pr = chance_prob[c] if pl == CHANCE else policy_flat[base + c]
                val = payoffs[terminal[c], i] if node_player[c] == TERMINAL else v[c, i]
                acc += pr * val
            v[m, i] = acc


@njit(cache=True, nogil=True, parallel=True)
def expected_values(bounds, child_start, node_player, node_infoset, chance_prob, terminal, payoffs, policy_flat, n_act,
                     v):
    """u_i(sigma) for every player i; ``v`` is a (num_nodes, N) scratch buffer."""
    n_chunks = bounds.shape[1] - 1
    for d in range(bounds.shape[0] - 1, -1, -1):
        for k in prange(n_chunks):
            _ev_chunk(bounds[d, k], bounds[d, k + 1], child_start, node_player, node_infoset, chance_prob, terminal,
                      payoffs, policy_flat, n_act, v)
    n_players = payoffs.shape[1]
    out = np.empty(n_players)
    for i in range(n_players):
        out[i] = payoffs[terminal[0], i] if node_player[0] == TERMINAL else v[0, i]
    return out
