"""Numba kernels, one thread: fused whole-tree loops for the CFR pass, best response and NashConv.

Every kernel walks the compiled tree's flat node arrays in index order. The compiler stores
nodes level by level, so a node's parent always has a smaller index than the node: one loop in
increasing index order is a forward (reach) sweep, one loop in decreasing order is a backward
(value) sweep, and no per-level bookkeeping is needed except where best response must decide
an infoset before its values flow up (there the level pointer is used).

These kernels compute the same quantities as the NumPy reference in :mod:`solvers.sweeps`,
:mod:`solvers.cfr.engine` and :mod:`solvers.best_response`; only the floating-point summation
order differs (tested to 1e-12). Their threaded twins (:mod:`solvers.fast.parallel`,
:mod:`solvers.fast.parallel_br`) sum in exactly these orders, so both give identical bits. This
module imports numba at import time; import it through :mod:`solvers.fast`, which falls back
cleanly when numba is missing.
"""

from __future__ import annotations

import numpy as np
from numba import njit

CHANCE = -1
TERMINAL = -2


@njit(cache=True, nogil=True)
def _opponent_reach(parent, parent_player, chance_prob, edge_slot, policy_flat, player, opp):
    """opp[n] = pi_{-player}(n): chance and every other player's policy along the path."""
    opp[0] = 1.0
    for n in range(1, parent.shape[0]):
        pp = parent_player[n]
        if pp == player:
            opp[n] = opp[parent[n]]
        elif pp == CHANCE:
            opp[n] = opp[parent[n]] * chance_prob[n]
        else:
            opp[n] = opp[parent[n]] * policy_flat[edge_slot[n]]


@njit(cache=True, nogil=True)
def cfr_pass(parent, parent_player, node_player, edge_slot, chance_prob, terminal, payoffs, policy_flat, player,
             slot_start, prev_slot, sigma, legal, opp, u, q, regret, reach):
    """One exact CFR pass of ``player`` against the profile ``policy_flat``.

    Writes r^t(I, a) of the player's infosets into ``regret`` (I_p, A) and x_p(I) into
    ``reach`` (I_p,). ``opp``, ``u`` (node-sized) and ``q`` (I_p * A) are scratch buffers;
    ``slot_start`` = first infoset of the player * A; ``prev_slot[i]`` is the global policy
    slot of the player's own last action above infoset i (-1 at a first decision).

    The backward sweep carries u(h) = pi_{-p}(h) v_p(h) instead of v_p(h): an opponent or
    chance edge passes u up unweighted (its probability is already in pi_{-p}), one of p's
    edges weights it by sigma, and Q(I, a) = sum_{h in I} u(h.a). So pi_{-p} is read at the
    leaves only and the opponents' policy entries are not read again on the way up.
    """
    n_nodes = parent.shape[0]
    _opponent_reach(parent, parent_player, chance_prob, edge_slot, policy_flat, player, opp)
    u[:] = 0.0
    q[:] = 0.0
    for n in range(n_nodes - 1, 0, -1):
        z = terminal[n]
        if z >= 0:
            val = opp[n] * payoffs[z, player]
        else:
            val = u[n]
        if parent_player[n] == player:
            slot = edge_slot[n]
            q[slot - slot_start] += val
            u[parent[n]] += policy_flat[slot] * val
        else:
            u[parent[n]] += val
    n_inf, n_act = regret.shape
    for i in range(n_inf):
        base = i * n_act
        ev = 0.0
        for a in range(n_act):
            ev += sigma[i, a] * q[base + a]
        for a in range(n_act):
            regret[i, a] = q[base + a] - ev if legal[i, a] else 0.0
        # Perfect recall: x_p(I) = x_p(I') sigma(I', a') for p's previous decision (I', a'),
        # which has a smaller index (infosets are numbered in first-visit order).
        ps = prev_slot[i]
        reach[i] = 1.0 if ps < 0 else reach[ps // n_act - slot_start // n_act] * policy_flat[ps]


@njit(cache=True, nogil=True)
def decide(q, legal_flat, row, n_act, tie_uniform, br):
    """Best-response row of infoset ``row`` from Q, written into ``br`` (flat)."""
    base = row * n_act
    best = -np.inf
    arg = 0
    for a in range(n_act):
        if legal_flat[base + a] and q[base + a] > best:
            best = q[base + a]
            arg = a
    if not tie_uniform:
        for a in range(n_act):
            br[base + a] = 1.0 if a == arg else 0.0
        return
    tol = 1e-12 + 1e-9 * abs(best)
    count = 0
    for a in range(n_act):
        if legal_flat[base + a] and q[base + a] >= best - tol:
            count += 1
    for a in range(n_act):
        br[base + a] = 1.0 / count if (legal_flat[base + a] and q[base + a] >= best - tol) else 0.0


@njit(cache=True, nogil=True)
def best_response(parent, parent_player, node_player, node_infoset, edge_slot, chance_prob, terminal, payoffs, level_ptr,
                  policy_flat, legal_flat, player, n_act, uniform_depth, n_sweeps, tie_uniform,
                  opp, u, u_on, q, br, stamp):
    """Exact best response of ``player``: returns (best-response value, on-policy value) and
    writes the best-response rows into ``br`` (flat, all infosets; only the player's rows are
    meaningful). Same decisions as :func:`solvers.best_response.best_response`: with
    uniform-depth infosets each is decided as soon as its level is complete; otherwise
    ``n_sweeps`` full sweeps, deciding every infoset after each. Values are carried as
    u(h) = pi_{-p}(h) v(h), as in :func:`cfr_pass` (u = v at the root).
    """
    n_slots = legal_flat.shape[0]
    n_inf = n_slots // n_act
    _opponent_reach(parent, parent_player, chance_prob, edge_slot, policy_flat, player, opp)
    # Initial decisions from Q = 0 (first legal action, or uniform), as the reference does.
    q[:] = 0.0
    for i in range(n_inf):
        decide(q, legal_flat, i, n_act, tie_uniform, br)
    n_levels = level_ptr.shape[0] - 1
    for sweep in range(n_sweeps):
        u[:] = 0.0
        u_on[:] = 0.0
        q[:] = 0.0
        stamp[:] = -1
        for d in range(n_levels - 1, 0, -1):
            lo = level_ptr[d]
            hi = level_ptr[d + 1]
            if uniform_depth:
                for n in range(lo, hi):
                    if parent_player[n] == player:
                        z = terminal[n]
                        q[edge_slot[n]] += opp[n] * payoffs[z, player] if z >= 0 else u[n]
                # The infosets acting at level d-1 have all their histories' Q complete now.
                for m in range(level_ptr[d - 1], lo):
                    if node_player[m] == player:
                        row = node_infoset[m]
                        if stamp[row] != d:
                            stamp[row] = d
                            decide(q, legal_flat, row, n_act, tie_uniform, br)
            for n in range(lo, hi):
                z = terminal[n]
                if z >= 0:
                    val = opp[n] * payoffs[z, player]
                    val_on = val
                else:
                    val = u[n]
                    val_on = u_on[n]
                par = parent[n]
                if parent_player[n] == player:
                    slot = edge_slot[n]
                    if not uniform_depth:
                        q[slot] += val
                    u[par] += br[slot] * val
                    u_on[par] += policy_flat[slot] * val_on
                else:
                    u[par] += val
                    u_on[par] += val_on
        if not uniform_depth:
            for i in range(n_inf):
                decide(q, legal_flat, i, n_act, tie_uniform, br)
    if terminal[0] >= 0:  # a one-node game
        return payoffs[terminal[0], player], payoffs[terminal[0], player]
    return u[0], u_on[0]


@njit(cache=True, nogil=True)
def expected_values(parent, parent_player, edge_slot, chance_prob, terminal, payoffs, policy_flat, v):
    """u_i(sigma) for every player i; ``v`` is a (num_nodes, N) scratch buffer."""
    n_nodes = parent.shape[0]
    n_players = payoffs.shape[1]
    v[:, :] = 0.0
    for n in range(n_nodes - 1, 0, -1):
        pp = parent_player[n]
        pr = chance_prob[n] if pp == CHANCE else policy_flat[edge_slot[n]]
        par = parent[n]
        z = terminal[n]
        for i in range(n_players):
            val = payoffs[z, i] if z >= 0 else v[n, i]
            v[par, i] += pr * val
    out = np.empty(n_players)
    for i in range(n_players):
        out[i] = payoffs[terminal[0], i] if terminal[0] >= 0 else v[0, i]
    return out


@njit(cache=True, nogil=True)
def check_rule_output(arr, legal, cumulative):
    """0 if ``arr`` satisfies the rule contract (docs/cfr.md), else a code: 1 non-finite,
    2 non-zero on an illegal action, 3 negative probability, 4 a row not summing to 1."""
    n_inf, n_act = arr.shape
    for i in range(n_inf):
        total = 0.0
        for a in range(n_act):
            x = arr[i, a]
            if not np.isfinite(x):
                return 1
            if not legal[i, a] and x != 0.0:
                return 2
            if not cumulative and x < 0.0:
                return 3
            total += x
        if not cumulative and abs(total - 1.0) > 1e-9:
            return 4
    return 0
