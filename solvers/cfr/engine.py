"""The CFR engine: one vectorized implementation of tabular CFR, many rules.

The engine owns the traversal; an algorithm is a :class:`~solvers.cfr.rules.base.Rule`
(docs/cfr.md). Each pass for player p is exact (chance enumerated) and vectorized over the
compiled tree, level by level:

1. edge probabilities from the current profile, then two forward sweeps: pi_{-p}(h) (chance
   included) and p's own reach pi_p(h);
2. a backward sweep of v_p(h);
3. Q(I, a) = sum_{h in I} pi_{-p}(h) v_p(h.a) by one bincount over p's edges, and the
   instantaneous regret r^t(I, a) = Q(I, a) - sum_b sigma^t(I, b) Q(I, b);
4. the rule: update_regrets -> accumulate_average (with sigma^t, the policy used in the pass,
   and x_p(I)) -> policy_from_regrets, every output validated.

Backends (``backend=``): ``"numba"`` runs steps 1-3 as one fused compiled kernel over the flat
tree (:mod:`solvers.fast`; the default on the CPU when numba is installed), ``"numpy"`` is the
level-by-level vectorized reference above. On ``device="cuda"``, ``"cuda"`` (the default) runs
steps 1-3 as fused per-level CUDA kernels (:mod:`solvers.fast.cuda`) and ``"cupy"`` runs the
reference code on CuPy arrays; in both the rule's array code (regret updates included) runs on
the device. All backends give the same numbers up to floating-point summation order (tested to
1e-12 per pass; trajectories of chaotic rules such as DCFR drift apart at the reference's rate).
With numba, the rule step of the built-in cfr, cfr+, lcfr and dcfr is one fused threaded kernel
(:mod:`solvers.fast.rules`) repeating the NumPy rules' operations in their order: same bits.
Every rule output is validated: with numba by one compiled pass over the array; on CUDA by one
check kernel per output whose flags are read once per iteration (so an invalid output raises
at the end of the ``iterate()`` call that produced it, not before the remaining passes).

Alternating updates (Gauss-Seidel, OpenSpiel's default) are the default; ``alternating=False``
evaluates every player against sigma^t before any update. With the rules cfr, cfr+, lcfr and
dcfr this reproduces OpenSpiel's CFRSolver, CFRPlusSolver, LCFRSolver and DCFRSolver up to
floating-point summation order (tested).
"""

from __future__ import annotations

import numpy as np

from games.tree import GameTree
from gtlearn.core.backend import get_xp, to_numpy
from gtlearn.core.errors import InvalidRuleOutput
from gtlearn.core.metrics import Metrics
from solvers.best_response import exploitability, exploitability_record, nash_conv
from solvers.cfr.loading import make_rule
from solvers.cfr.rules.base import Rule
from solvers.fast import check_rule_output, fast_tree, resolve_backend
from solvers.rule_output import ILLEGAL_NONZERO, NEGATIVE, NON_FINITE, NOT_NORMALISED, describe
from solvers.sweeps import Sweeps

_OUTPUTS = ("update_regrets", "accumulate_average", "policy_from_regrets")
# Built-in rules whose three functions act on each infoset's row alone and never touch
# ``state``: on the compiled CPU path their whole rule step (and its validation) is one fused,
# threaded pass (solvers/fast/rules.py) with the NumPy code's operations in the NumPy code's
# order, so the iterates are the same bits.
_FUSED_RULES = {("solvers.cfr.rules.cfr", "CFR"), ("solvers.cfr.rules.cfr_plus", "CFRPlus"),
                ("solvers.cfr.rules.dcfr", "DCFR"), ("solvers.cfr.rules.dcfr", "LCFR")}
FUSED_MAX_ACTIONS = 128  # = solvers.fast.rules.MAX_ACTIONS (NumPy sums wider rows recursively)


class CFRSolver:
    """Tabular CFR with a pluggable rule over a compiled game tree.

    >>> tree = compile_game("kuhn_poker")
    >>> solver = CFRSolver(tree, rule="cfr+")
    >>> drive(solver, 100)         # gtlearn.core.driver
    >>> solver.gap().gap           # exploitability of the average policy
    """

    def __init__(
        self,
        tree: GameTree,
        rule: str | Rule = "cfr",
        *,
        alternating: bool = True,
        device: str = "cpu",
        validate: bool = True,
        rule_kwargs: dict | None = None,
        backend: str | None = None,
    ) -> None:
        self.tree = tree
        self.rule = make_rule(rule, **(rule_kwargs or {}))
        self.alternating = alternating
        self.device = device
        self.validate = validate
        self.xp = xp = get_xp(device)
        self.backend = resolve_backend(backend, device)
        # The compiled path reads the tree's own arrays; the reference path keeps per-level
        # index arrays (and, on CUDA, device copies), built only when used.
        self._fast = fast_tree(tree) if self.backend == "numba" else None
        self._cuda = None
        if self.backend == "cuda":
            from solvers.fast.cuda import cuda_tree

            self._cuda = cuda_tree(tree)
        self._sweeps = None
        self.iteration = 0  # t of the last completed iteration
        A = tree.max_actions
        self.legal = xp.asarray(tree.legal)
        self.policy = xp.asarray(tree.uniform_policy())  # sigma^t, all players
        self.blocks = [tree.infosets_of(p) for p in range(tree.num_players)]
        self.regrets = [xp.zeros((b.stop - b.start, A)) for b in self.blocks]
        self.avg_acc = [xp.zeros((b.stop - b.start, A)) for b in self.blocks]
        self.states: list[dict] = [{} for _ in self.blocks]
        self._legal_blocks = [self.legal[b] for b in self.blocks]
        self._illegal_blocks = [~lb for lb in self._legal_blocks]
        self._rep = [xp.asarray(tree.rep_node[b]) for b in self.blocks]
        self._own_edge = self._edges = None
        self._spare: dict[int, tuple] = {}  # fused rule step: last iteration's R and S arrays, reused
        self._pass_out: dict[int, tuple] = {}  # fused rule step: the pass's regret and reach arrays, reused
        if self.backend in ("numpy", "cupy"):
            self._build_reference_index()

    @property
    def sweeps(self) -> Sweeps:
        """The level-by-level reference sweeps on this solver's array module (built on first use)."""
        if self._sweeps is None:
            self._sweeps = Sweeps(self.tree, self.xp)
        return self._sweeps

    def _build_reference_index(self) -> None:
        # Per-player static index data of the reference path.
        xp, tree, A = self.xp, self.tree, self.tree.max_actions
        parent_player = self.sweeps.parent_player_np
        self._own_edge = [xp.asarray(parent_player == p) for p in range(tree.num_players)]
        self._edges = []
        for p, b in enumerate(self.blocks):
            nodes = np.flatnonzero(parent_player == p)
            slots = tree.edge_slot[nodes].astype(np.int64) - b.start * A
            self._edges.append((xp.asarray(nodes), xp.asarray(tree.parent[nodes].astype(np.int64)), xp.asarray(slots)))

    # -- one pass ------------------------------------------------------------------------
    def instantaneous_regrets(self, player: int, policy=None, out=None):
        """r^t(I, a) for ``player``'s infosets and x_p(I), against ``policy`` (default sigma^t).
        ``out``: (regret, reach) buffers for the compiled kernels to write into."""
        policy = self.policy if policy is None else policy
        if self._fast is not None:
            return self._fast.cfr_regrets(policy, player, out=out)
        if self._cuda is not None:
            return self._cuda.cfr_regrets(self.xp.asarray(policy), player)
        if self._edges is None:
            self._build_reference_index()
        xp, sw = self.xp, self.sweeps
        b = self.blocks[player]
        A = self.tree.max_actions
        probs = sw.edge_probs(policy)
        own = self._own_edge[player]
        opp_reach = sw.forward(xp.where(own, 1.0, probs))
        own_reach = sw.forward(xp.where(own, probs, 1.0))
        values = sw.backward(probs, sw.leaf_values(player))
        nodes, parents, slots = self._edges[player]
        n_inf = b.stop - b.start
        q = xp.bincount(slots, weights=opp_reach[parents] * values[nodes], minlength=n_inf * A).reshape(n_inf, A)
        sigma = policy[b]
        regret = xp.where(self.legal[b], q - (sigma * q).sum(axis=1, keepdims=True), 0.0)
        return regret, own_reach[self._rep[player]]

    def _apply_rule(self, player: int, regret, reach, t: int, sigma_used):
        legal = self._legal_blocks[player]
        state = self.states[player]
        rule = self.rule
        new_r = rule.update_regrets(self.regrets[player], regret, legal, t, state)
        self._check(new_r, player, "update_regrets", cumulative=True)
        new_s = rule.accumulate_average(self.avg_acc[player], sigma_used, reach, legal, t, state)
        self._check(new_s, player, "accumulate_average", cumulative=True)
        new_sigma = rule.policy_from_regrets(new_r, legal, t, state)
        self._check(new_sigma, player, "policy_from_regrets", cumulative=False)
        self.regrets[player], self.avg_acc[player] = new_r, new_s
        return new_sigma

    def _fused(self) -> bool:
        """Whether the rule step runs as one fused kernel (see _FUSED_RULES)."""
        rule = self.rule
        return (self._fast is not None and self.tree.max_actions <= FUSED_MAX_ACTIONS
                and (type(rule).__module__, type(rule).__name__) in _FUSED_RULES)

    def _fused_args(self, t: int):
        """(kind, positive factor, negative factor, average weight) of the fused rule at t."""
        from solvers.cfr.rules.dcfr import discount
        from solvers.fast import rules as k

        name = type(self.rule).__name__
        if name == "CFR":
            return k.CFR, 0.0, 0.0, 1.0
        if name == "CFRPlus":
            return k.CFR_PLUS, 0.0, 0.0, float(t)
        if name == "LCFR":
            return k.LCFR, t / (t + 1.0), 0.0, float(t)
        rule = self.rule
        weight = float(t) ** rule.gamma
        if rule.order == "add_then_discount":
            return k.DCFR_ADD_THEN_DISCOUNT, discount(t, rule.alpha), discount(t, rule.beta), weight
        if t == 1:  # R^1 = r^1
            return k.DCFR_DISCOUNT_THEN_ADD, 0.0, 0.0, weight
        return k.DCFR_DISCOUNT_THEN_ADD, discount(t - 1, rule.alpha), discount(t - 1, rule.beta), weight

    def _update_player(self, player: int, regret, reach, t: int, policy_out) -> None:
        """The rule step of one player: sigma^t is read from ``self.policy`` and sigma^{t+1}
        written into ``policy_out`` (the same array for alternating updates)."""
        b = self.blocks[player]
        if not self._fused():
            sigma_used = self.policy[b].copy()
            policy_out[b] = self._apply_rule(player, regret, reach, t, sigma_used)
            return
        from solvers.fast import PARALLEL_MIN_NODES, check_message, rule_kernel

        kind, pos, neg, weight = self._fused_args(t)
        legal = self._legal_blocks[player]
        # Double buffers: the arrays replaced at the previous iteration take the new values (fresh
        # arrays of this size cost page faults comparable to the whole pass).
        spare = self._spare.get(player)
        if spare is None or spare[0].shape != self.regrets[player].shape:
            spare = (np.empty_like(self.regrets[player]), np.empty_like(self.avg_acc[player]))
        new_r, new_s = spare
        codes = np.zeros((3, legal.shape[0]), dtype=np.int8)
        kernels = rule_kernel()
        step = kernels.rule_step if self.tree.num_nodes >= PARALLEL_MIN_NODES else kernels.rule_step_serial
        step(kind, float(t), pos, neg, weight, self.regrets[player], np.ascontiguousarray(regret), self.avg_acc[player],
             self.policy[b], np.ascontiguousarray(reach), legal, self.validate, new_r, new_s, policy_out[b], codes)
        if self.validate and codes.any():  # R and S stay as they were; sigma^{t+1} is already written
            what = int(np.flatnonzero(codes.any(axis=1))[0])
            code = codes[what][np.flatnonzero(codes[what])[0]]
            name = getattr(self.rule, "name", None) or type(self.rule).__name__
            raise InvalidRuleOutput(f"rule {name}: {_OUTPUTS[what]} {check_message(code)}")
        self._spare[player] = (self.regrets[player], self.avg_acc[player])
        self.regrets[player], self.avg_acc[player] = new_r, new_s

    def _pass_buffers(self, player: int):
        """Reused (regret, reach) arrays for the compiled pass when the fused rule step consumes
        them within the step (fresh arrays of this size cost page faults comparable to a
        pass); None otherwise: a rule may keep the arrays it is given."""
        if not self._fused():
            return None
        bufs = self._pass_out.get(player)
        if bufs is None:
            n_inf = self.blocks[player].stop - self.blocks[player].start
            bufs = self._pass_out[player] = (np.empty((n_inf, self.tree.max_actions)), np.empty(n_inf))
        return bufs

    def step(self) -> None:
        """Run iteration t = self.iteration + 1: one pass per player, in order 0..N-1."""
        t = self.iteration + 1
        deferred = self._cuda is not None and self.validate
        if deferred:
            self._cuda.reset_flags()
        if self.alternating:
            for p in range(len(self.blocks)):
                regret, reach = self.instantaneous_regrets(p, out=self._pass_buffers(p))
                self._update_player(p, regret, reach, t, self.policy)
        else:
            passes = [self.instantaneous_regrets(p, out=self._pass_buffers(p)) for p in range(len(self.blocks))]
            new_policy = self.xp.empty_like(self.policy)
            for p, (regret, reach) in enumerate(passes):
                self._update_player(p, regret, reach, t, new_policy)
            self.policy = new_policy
        if deferred:
            self._raise_deferred()
        self.iteration = t

    # -- outputs ---------------------------------------------------------------------------
    def average_policy(self) -> np.ndarray:
        """sigma-bar: S normalized per infoset, uniform over legal actions on all-zero rows."""
        legal = self.tree.legal
        s = np.concatenate([to_numpy(a) for a in self.avg_acc], axis=0) if self.avg_acc else np.zeros(legal.shape)
        total = s.sum(axis=1, keepdims=True)
        uniform = legal / legal.sum(axis=1, keepdims=True)
        return np.where(total > 0, s / np.where(total > 0, total, 1.0), uniform)

    def current_policy(self) -> np.ndarray:
        return to_numpy(self.policy).copy()

    def gap(self) -> Metrics:
        """Exact exploitability (NashConv / players) of the average policy, with the NashConv."""
        return exploitability_record(self.tree, self.average_policy(), self.iteration)

    def exploitability(self, average: bool = True) -> float:
        return exploitability(self.tree, self.average_policy() if average else self.current_policy(),
                              backend=self._br_backend())

    def nash_conv(self, average: bool = True) -> float:
        return nash_conv(self.tree, self.average_policy() if average else self.current_policy(),
                         backend=self._br_backend())

    def _br_backend(self) -> str | None:
        # Best response runs on host arrays: the compiled path unless the reference was asked for.
        return "numpy" if self.backend == "numpy" else None

    # -- checkpointing -------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Everything needed to continue identically: t, sigma^t, R, S and the rule states."""
        # Copies: the policy is updated in place, and a rule may update its state in place.
        out: dict[str, np.ndarray] = {"iteration": np.array(self.iteration), "policy": np.array(to_numpy(self.policy))}
        for p in range(len(self.blocks)):
            out[f"regrets/{p}"] = np.array(to_numpy(self.regrets[p]))
            out[f"avg_acc/{p}"] = np.array(to_numpy(self.avg_acc[p]))
            for key, value in self.states[p].items():
                out[f"state/{p}/{key}"] = np.array(to_numpy(value)) if hasattr(value, "shape") else np.asarray(value)
        return out

    def load_state_dict(self, data: dict[str, np.ndarray]) -> None:
        xp = self.xp
        self.iteration = int(data["iteration"])
        self.policy = xp.array(data["policy"], dtype=np.float64)  # a copy: it is updated in place
        self._spare = {}
        for p in range(len(self.blocks)):
            # copies: the fused rule step reuses these arrays as buffers two iterations later
            self.regrets[p] = xp.array(data[f"regrets/{p}"], dtype=np.float64)
            self.avg_acc[p] = xp.array(data[f"avg_acc/{p}"], dtype=np.float64)
            prefix = f"state/{p}/"
            self.states[p] = {
                k[len(prefix):]: (v.item() if v.ndim == 0 else xp.asarray(v)) for k, v in data.items() if k.startswith(prefix)
            }

    # -- validation --------------------------------------------------------------------------
    def _check(self, arr, player: int, what: str, *, cumulative: bool) -> None:
        if not self.validate:
            return
        legal = self._legal_blocks[player]
        name = getattr(self.rule, "name", None) or type(self.rule).__name__
        if getattr(arr, "shape", None) != legal.shape:
            raise InvalidRuleOutput(f"rule {name}: {what} returned shape {getattr(arr, 'shape', None)}, expected {legal.shape}")
        if (self._fast is not None and isinstance(arr, np.ndarray) and arr.dtype == np.float64
                and arr.flags.c_contiguous):
            problem = check_rule_output(arr, legal, cumulative)
            if problem is not None:
                raise InvalidRuleOutput(f"rule {name}: {what} {problem}")
            return
        if (self._cuda is not None and arr.dtype == np.float64 and arr.flags.c_contiguous
                and type(arr).__module__.startswith("cupy")):
            self._cuda.check(arr, legal, cumulative, 3 * player + _OUTPUTS.index(what))
            return
        # One fused reduction and a single host synchronization when the output is valid;
        # the individual tests run only to name the problem.
        xp = self.xp
        illegal = self._illegal_blocks[player]
        bad = ~xp.all(xp.isfinite(arr)) | xp.any(illegal & (arr != 0))
        if not cumulative:
            bad = bad | xp.any(arr < 0) | xp.any(xp.abs(arr.sum(axis=1) - 1.0) > 1e-9)
        if not bool(bad):
            return
        code = (NON_FINITE if not bool(xp.all(xp.isfinite(arr))) else
                ILLEGAL_NONZERO if bool(xp.any(illegal & (arr != 0))) else
                NEGATIVE if bool(xp.any(arr < 0)) else NOT_NORMALISED)
        raise InvalidRuleOutput(f"rule {name}: {what} {describe(code)}")

    def _raise_deferred(self) -> None:
        flags = self._cuda.read_flags()
        if not flags.any():
            return
        slot = int(np.flatnonzero(flags)[0])
        bits = int(flags[slot])
        name = getattr(self.rule, "name", type(self.rule).__name__)
        what = _OUTPUTS[slot % 3]
        raise InvalidRuleOutput(f"rule {name}: {what} {describe(bits)} (player {slot // 3})")
