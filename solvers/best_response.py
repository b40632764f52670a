"""Exact best response, NashConv and exploitability on compiled game trees.

For a profile sigma of an N-player game,

    NashConv(sigma)       = sum_i [ max_{sigma'_i} u_i(sigma'_i, sigma_-i) - u_i(sigma) ]
    exploitability(sigma) = NashConv(sigma) / N

(the convention of arXiv:2602.16928; for two-player zero-sum games it equals OpenSpiel's
``exploitability``). Everything is exact: chance is enumerated, u_i is a full-tree expectation,
and each best-response value is computed by backward induction over player i's infosets
against sigma_-i (Johanson et al. 2011, "Accelerating best response calculation in large
extensive games", in vectorized form).

Best response at an infoset I of player i picks argmax_a sum_{h in I} pi_-i(h) v_i(h.a). When
every infoset's histories share one tree depth (true of all the benchmark games; checked at
compile time) one bottom-up sweep decides each infoset when its level is reached. Otherwise
the sweep is repeated, each time re-deciding every infoset from the values of the previous
sweep; decisions of own-depth k are final after (D - k + 1) sweeps, D the largest own-depth,
so all decisions are final after D + 1 sweeps and sweep D + 2 evaluates them exactly.

Policies are arrays of shape (num_infosets, max_actions) over the tree's global infosets
(see :mod:`games.tree`), rows summing to 1 over legal actions.

Backends: ``backend="numba"`` runs the fused compiled kernels of :mod:`solvers.fast` (the
default when numba is installed), ``"numpy"`` the vectorized level-by-level reference below.
``"cupy"`` (or ``"cuda"``) runs the reference on CuPy arrays, and passing ``sweeps`` (e.g.
CuPy-resident :class:`~solvers.sweeps.Sweeps`) selects the reference code on that array module. Both give the same numbers up to summation order (tested to 1e-12).
"""

from __future__ import annotations

import numpy as np

from games.tree import GameTree
from gtlearn.core.errors import GtlearnError
from gtlearn.core.metrics import Metrics
from solvers.fast import fast_tree, resolve_backend
from solvers.sweeps import Sweeps


def _use_fast(sweeps: Sweeps | None, backend: str | None) -> bool:
    if sweeps is not None or backend in ("cupy", "cuda"):
        return False
    return resolve_backend(backend, "cpu") == "numba"


def _sweeps(tree: GameTree, sweeps: Sweeps | None, backend: str | None = None) -> Sweeps:
    if sweeps is not None:
        return sweeps
    on_device = backend in ("cupy", "cuda")
    attr = "_cupy_sweeps" if on_device else "_numpy_sweeps"
    cached = getattr(tree, attr, None)
    if cached is None:
        from gtlearn.core.backend import get_xp

        cached = Sweeps(tree, get_xp("cuda" if on_device else "cpu"))
        setattr(tree, attr, cached)  # derived data, rebuilt on demand; not part of the tree
    return cached


def check_policy(tree: GameTree, policy: np.ndarray, atol: float = 1e-9) -> np.ndarray:
    """Validate a policy array: right shape, finite, non-negative, rows summing to 1 on legal
    actions and 0 elsewhere. Returns it as float64."""
    policy = np.asarray(policy, dtype=np.float64)
    if policy.shape != tree.legal.shape:
        raise GtlearnError(f"policy has shape {policy.shape}, the game needs {tree.legal.shape}")
    if not np.all(np.isfinite(policy)):
        raise GtlearnError("policy has non-finite entries")
    if np.any(policy < -atol) or np.any(np.abs(policy[~tree.legal]) > atol):
        raise GtlearnError("policy has negative entries or mass on illegal actions")
    sums = policy.sum(axis=1)
    if np.any(np.abs(sums - 1.0) > 1e-6):
        raise GtlearnError(f"policy rows do not sum to 1 (worst row sums to {sums[np.argmax(np.abs(sums - 1))]:.6g})")
    return policy


def expected_values(tree: GameTree, policy: np.ndarray, sweeps: Sweeps | None = None, *,
                    backend: str | None = None) -> np.ndarray:
    """u_i(sigma) for every player i, shape (N,)."""
    if _use_fast(sweeps, backend):
        return fast_tree(tree).expected_values(policy)
    sw = _sweeps(tree, sweeps, backend)
    xp = sw.xp
    probs = sw.edge_probs(xp.asarray(policy))
    return np.array([float(sw.backward(probs, sw.leaf_values(i))[0]) for i in range(tree.num_players)])


def best_response(
    tree: GameTree,
    policy: np.ndarray,
    player: int,
    sweeps: Sweeps | None = None,
    *,
    tie_break: str = "first",
    backend: str | None = None,
):
    """Exact best response of ``player`` to ``policy``.

    Returns ``(value, br)``: the best-response value max_{sigma'} u_player(sigma', sigma_-player)
    and a best-response policy (rows of ``player``'s infosets; other rows copy ``policy``).
    ``tie_break="first"`` plays the lowest-index optimal action; ``"uniform"`` mixes uniformly
    over A*(I) = {a : Q(I,a) >= max_b Q(I,b) - tol}, tol = 1e-12 + 1e-9 |max_b Q(I,b)|
    (the PSRO oracle of docs/psro.md). The value does not depend on the tie-break; an
    infoset no opponent reaches has Q = 0 and so gets uniform over its legal actions.
    """
    if tie_break not in ("first", "uniform"):
        raise GtlearnError(f"tie_break must be 'first' or 'uniform', not {tie_break!r}")
    if _use_fast(sweeps, backend):
        policy = np.asarray(policy, dtype=np.float64)
        value, _, br_rows = fast_tree(tree).best_response(policy, player, tie_break)
        block = tree.infosets_of(player)
        br = policy.copy()
        br[block] = br_rows[block]
        return value, br
    sw = _sweeps(tree, sweeps, backend)
    xp = sw.xp
    policy = xp.asarray(policy)
    A = tree.max_actions
    probs = sw.edge_probs(policy)
    own_edge = xp.asarray(sw.parent_player_np == player)
    opp_reach = sw.forward(xp.where(own_edge, 1.0, probs))
    legal = xp.asarray(tree.legal)
    block = tree.infosets_of(player)
    leaf = sw.leaf_values(player)
    n_inf = tree.num_infosets

    def decide(q_flat):
        q = xp.where(legal, q_flat.reshape(n_inf, A), -np.inf)
        best_q = q.max(axis=1, keepdims=True)
        if tie_break == "first":
            return (xp.arange(A)[None, :] == xp.argmax(q, axis=1)[:, None]).astype(np.float64)
        tied = legal & (q >= best_q - (1e-12 + 1e-9 * xp.abs(best_q)))
        return tied / tied.sum(axis=1, keepdims=True)

    br_rows = decide(xp.zeros(n_inf * A))
    sweeps_needed = 1 if tree.uniform_depth else int(tree.own_depth[block].max(initial=0)) + 2
    for _ in range(sweeps_needed):
        v = leaf.copy()
        q_all = xp.zeros(n_inf * A)
        for d in range(len(sw.level_slices) - 1, 0, -1):
            s = sw.level_slices[d]
            up = sw.level_slices[d - 1]
            own = own_edge[s]
            child_v = v[s]
            slot = sw.edge_slot[s]
            q_all += xp.bincount(slot, weights=xp.where(own, opp_reach[sw.parent[s]] * child_v, 0.0), minlength=n_inf * A)
            if tree.uniform_depth:
                br_rows = decide(q_all)  # the infosets of this level are complete now
            weight = xp.where(own, br_rows.reshape(-1)[slot], probs[s])
            v[up] += xp.bincount(sw.local_parent[d], weights=weight * child_v, minlength=sw.level_sizes[d - 1])
        if not tree.uniform_depth:
            br_rows = decide(q_all)
    value = float(v[0])
    br = np.array(policy.get() if hasattr(policy, "get") else policy, dtype=np.float64, copy=True)
    br[block] = (br_rows.get() if hasattr(br_rows, "get") else np.asarray(br_rows))[block]
    return value, br


def nash_conv(tree: GameTree, policy: np.ndarray, sweeps: Sweeps | None = None, *, per_player: bool = False,
              backend: str | None = None):
    """NashConv = sum_i (best-response value_i - u_i(sigma)). Exact.

    With ``per_player=True`` returns the array of per-player improvements instead of the sum.
    """
    if _use_fast(sweeps, backend):
        return fast_tree(tree).nash_conv(np.asarray(policy, dtype=np.float64), per_player=per_player)
    sw = _sweeps(tree, sweeps, backend)
    on_values = expected_values(tree, policy, sw)
    gains = np.array([best_response(tree, policy, i, sw)[0] for i in range(tree.num_players)]) - on_values
    return gains if per_player else float(gains.sum())


def exploitability(tree: GameTree, policy: np.ndarray, sweeps: Sweeps | None = None, *,
                   backend: str | None = None) -> float:
    """NashConv / number of players."""
    return nash_conv(tree, policy, sweeps, backend=backend) / tree.num_players


# -- OpenSpiel interop -------------------------------------------------------------------


def exploitability_record(tree: GameTree, policy: np.ndarray, iteration: int) -> Metrics:
    """The shared gap record of a policy on a compiled tree: exploitability (NashConv / players)
    as the headline ``gap``, the NashConv beside it."""
    nc = nash_conv(tree, policy)
    return Metrics(iteration=iteration, gap=nc / tree.num_players, extra={"nash_conv": nc})


def from_openspiel_policy(tree: GameTree, os_policy) -> np.ndarray:
    """Array policy from an OpenSpiel ``TabularPolicy`` (or any policy whose
    ``action_probabilities`` can be queried by state; tabular is fast)."""
    out = np.zeros(tree.legal.shape)
    lookup = getattr(os_policy, "state_lookup", None)
    table = getattr(os_policy, "action_probability_array", None)
    if lookup is None or table is None:
        raise GtlearnError("expected an OpenSpiel TabularPolicy (state_lookup / action_probability_array)")
    for i, key in enumerate(tree.keys):
        row = lookup.get(str(key))
        if row is None:
            raise GtlearnError(f"OpenSpiel policy has no entry for infoset {key!r}")
        acts = tree.actions[i, tree.legal[i]]
        out[i, : acts.size] = table[row, acts]
    return out


def to_openspiel_policy(tree: GameTree, policy: np.ndarray, game=None):
    """An OpenSpiel ``TabularPolicy`` holding ``policy`` (for ``nash_conv`` and OpenSpiel tools)."""
    from open_spiel.python import policy as os_policy_lib

    from games.openspiel import load_game

    game = game or load_game(tree.game_string)
    tab = os_policy_lib.TabularPolicy(game)
    for i, key in enumerate(tree.keys):
        row = tab.state_lookup.get(str(key))
        if row is None:
            raise GtlearnError(f"OpenSpiel's tabular policy has no infoset {key!r}")
        acts = tree.actions[i, tree.legal[i]]
        tab.action_probability_array[row, :] = 0.0
        tab.action_probability_array[row, acts] = policy[i, : acts.size]
    return tab
