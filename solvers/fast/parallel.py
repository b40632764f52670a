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
    for n in range(np.uint64(c0), np.uint64(c1)):  # unsigned: see _cfr_up_chunk
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
def _cfr_forward_chunk(c0, c1, parent, parent_player, edge_slot, chance_prob, terminal, payoffs, policy_flat, player,
                       w):
    """The CFR pass's forward sweep over nodes c0..c1-1: w(n) = pi_{-p}(n) at inner nodes, the
    leaf value pi_{-p}(z) u_p(z) at terminals. One array for both (the backward sweep then
    replaces w at inner nodes by u, once their children no longer need the reach): one write
    stream instead of two interleaved ones. The reach step repeats :func:`forward_chunk`'s on
    purpose: sharing it through an inlined helper made the threaded pass 2.4x slower (measured
    on the 2.27M-node battleship game, 2 threads: 14 -> 34 ms per pass pair)."""
    for n in range(np.uint64(c0), np.uint64(c1)):  # unsigned: see _cfr_up_chunk
        pp = parent_player[n]
        x = w[parent[n]]
        if pp == CHANCE:
            x *= chance_prob[n]
        elif pp != player:
            x *= policy_flat[edge_slot[n]]
        z = terminal[n]
        w[n] = x * payoffs[z, player] if z >= 0 else x


@njit(cache=True, nogil=True)
def _cfr_up_chunk(m0, m1, child_start, node_player, node_infoset, policy_flat, n_act, player, u):
    """u(m) for the parents m0..m1-1 from their children, last child first.

    Node indices are unsigned in these loops: with signed bounds read from an array Numba cannot
    prove an index non-negative and guards every access for wrap-around, which made the sweeps
    about 1.5x slower than the one-thread kernel's loops over range(N)."""
    one = np.uint64(1)
    for m in range(np.uint64(m0), np.uint64(m1)):
        pl = node_player[m]
        if pl == TERMINAL:
            continue
        c0 = np.uint64(child_start[m])
        c1 = np.uint64(child_start[m + one])
        acc = 0.0
        if pl == player:
            base = np.uint64(node_infoset[m]) * np.uint64(n_act)
            for k in range(c1 - c0):
                c = c1 - one - k
                acc += policy_flat[base + (c - c0)] * u[c]
        else:
            for k in range(c1 - c0):
                acc += u[c1 - one - k]
        u[m] = acc


@njit(cache=True, nogil=True)
def _regret_part(lo, hi, first_infoset, inf_ptr, inf_child, n_legal, u, sigma, legal, regret):
    """r(I, a) = Q(I, a) - sum_b sigma(I, b) Q(I, b) for the player's infosets lo..hi-1 (local
    ids), with Q(I, a) = sum_{h in I} u(h.a) gathered from the children of I's histories
    (``inf_child``: the first child of each history, in increasing node order), summed last
    history first -- the order in which the one-thread kernel scatters them."""
    n_act = regret.shape[1]
    one = np.uint64(1)
    q = np.empty(n_act)
    for i in range(np.uint64(lo), np.uint64(hi)):
        g = np.uint64(first_infoset) + i
        q[:] = 0.0
        nl = n_legal[g]
        j0 = np.uint64(inf_ptr[g])
        j1 = np.uint64(inf_ptr[g + one])
        for k in range(j1 - j0):
            c0 = np.uint64(inf_child[j1 - one - k])
            for a in range(nl):
                q[a] += u[c0 + np.uint64(a)]
        ev = 0.0
        for a in range(n_act):
            ev += sigma[i, a] * q[a]
        for a in range(n_act):
            regret[i, a] = q[a] - ev if legal[i, a] else 0.0


@njit(cache=True, nogil=True)
def _subtrees(r0, r1, child_start, parent, parent_player, edge_slot, node_player, node_infoset, chance_prob, terminal,
              payoffs, policy_flat, n_act, player, w, n_levels):
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
        _cfr_forward_chunk(lo, hi, parent, parent_player, edge_slot, chance_prob, terminal, payoffs, policy_flat, player,
                           w)
        depth += 1
        los[depth], his[depth] = lo, hi
    for k in range(depth - 1, -1, -1):
        _cfr_up_chunk(los[k], his[k], child_start, node_player, node_infoset, policy_flat, n_act, player, w)


@njit(cache=True, nogil=True, parallel=True)
def cfr_pass(level_ptr, split_level, roots, child_start, parent, parent_player, edge_slot, node_player, node_infoset,
             chance_prob, terminal, payoffs, inf_ptr, inf_child, n_legal, part_inf, policy_flat, n_act, player,
             first_infoset, prev_slot, sigma, legal, w, regret, reach):
    """One exact CFR pass of ``player`` against the profile ``policy_flat``.

    Writes r^t(I, a) of the player's infosets (global ids ``first_infoset`` on) into ``regret``
    (I_p, A) and x_p(I) into ``reach`` (I_p,). ``w`` is node-sized scratch (pi_{-p} on the way
    down, u on the way up: :func:`_cfr_forward_chunk`); ``prev_slot[i]`` is the global policy
    slot of the player's own last action above infoset i (-1 at a first decision). Q and the
    regrets are computed in blocks of infosets of about equal history counts: block k holds the
    infosets ``part_inf[k]:part_inf[k+1]`` (local ids).

    Levels above ``split_level`` are swept here; below it, the subtrees of the split level's
    nodes ``roots[k]:roots[k+1]`` are swept whole, one group per parallel task (one parallel
    region for both sweeps: no barrier per level).

    The backward sweep carries u(h) = pi_{-p}(h) v_p(h) instead of v_p(h): an opponent or
    chance edge passes u up unweighted (its probability is already in pi_{-p}), one of p's
    edges weights it by sigma, and Q(I, a) = sum_{h in I} u(h.a). So pi_{-p} is read at the
    leaves only and the opponents' policy entries are not read again on the way up.
    """
    n_levels = level_ptr.shape[0] - 1
    w[0] = 1.0
    for d in range(split_level):
        _cfr_forward_chunk(child_start[level_ptr[d]], child_start[level_ptr[d + 1]], parent, parent_player, edge_slot,
                           chance_prob, terminal, payoffs, policy_flat, player, w)
    for k in prange(roots.shape[0] - 1):
        _subtrees(roots[k], roots[k + 1], child_start, parent, parent_player, edge_slot, node_player, node_infoset,
                  chance_prob, terminal, payoffs, policy_flat, n_act, player, w, n_levels)
    for d in range(split_level - 1, -1, -1):
        _cfr_up_chunk(level_ptr[d], level_ptr[d + 1], child_start, node_player, node_infoset, policy_flat, n_act,
                      player, w)
    n_inf = regret.shape[0]
    for k in prange(part_inf.shape[0] - 1):
        _regret_part(part_inf[k], part_inf[k + 1], first_infoset, inf_ptr, inf_child, n_legal, w, sigma, legal, regret)
    # Perfect recall: x_p(I) = x_p(I') sigma(I', a') for p's previous decision (I', a'), which
    # has a smaller index (infosets are numbered in first-visit order); a short serial chain.
    slot_start = first_infoset * n_act
    for i in range(n_inf):
        ps = prev_slot[i]
        reach[i] = 1.0 if ps < 0 else reach[(ps - slot_start) // n_act] * policy_flat[ps]


@njit(cache=True, nogil=True)
def _ev_chunk(m0, m1, child_start, node_player, node_infoset, chance_prob, terminal, payoffs, policy_flat, n_act, v):
    n_players = payoffs.shape[1]
    one = np.uint64(1)
    for m in range(np.uint64(m0), np.uint64(m1)):  # unsigned: see _cfr_up_chunk
        pl = node_player[m]
        if pl == TERMINAL:
            continue
        c0 = np.uint64(child_start[m])
        c1 = np.uint64(child_start[m + one])
        base = np.uint64(max(node_infoset[m], 0)) * np.uint64(n_act)  # chance nodes: unused
        for i in range(n_players):
            acc = 0.0
            for k in range(c1 - c0):
                c = c1 - one - k
                pr = chance_prob[c] if pl == CHANCE else policy_flat[base + (c - c0)]
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
