"""The CFR-rule task's trusted side of the sandbox boundary (docs/evolve.md, Trusted scoring).

The CFR engine runs here, in the evaluation worker, with the candidate as its rule; the
candidate's three functions run in the sandbox child (:mod:`evolve.tasks.cfr_child`) and are
called through a narrow interface -- arrays in, arrays out, one round trip per pass of the
engine -- and their answers are checked for dtype and shape here before the engine sees them,
and validated by the engine as any rule's output. Whatever
the candidate does in its own process, the traversal, the number of iterations, the average
policy and its exploitability are computed by code it cannot reach.

The candidate sees the game through a permutation of infoset rows and of the actions within
each row (a fresh one per evaluation seed), which blocks policies memorized by shape or
position; stage 0 checks that permuted inputs give identically permuted outputs.
"""

from __future__ import annotations

import numpy as np

from evolve.scoring import InvalidPayload, untrusted, validate_policy
from gtlearn.core.errors import InvalidRuleOutput
from solvers.cfr.engine import CFRSolver
from solvers.cfr.rules.base import Rule


class Perm:
    """Per player: a row permutation of its infosets and, per row, a permutation of the A
    action slots. ``fwd(X)[i, j] = X[rows[i], cols[i, j]]``."""

    def __init__(self, tree, seed: int):
        rng = np.random.default_rng([int(seed), 7919])
        A = tree.max_actions
        self.blocks = [tree.infosets_of(p) for p in range(tree.num_players)]
        self.rows, self.cols = [], []
        for b in self.blocks:
            n = b.stop - b.start
            self.rows.append(rng.permutation(n))
            self.cols.append(np.argsort(rng.random((n, A)), axis=1))

    def fwd(self, p, X):
        return X[self.rows[p][:, None], self.cols[p]]

    def inv(self, p, Xp):
        X = np.zeros_like(Xp)
        X[self.rows[p][:, None], self.cols[p]] = Xp
        return X


class RemoteCalls:
    """The candidate's functions, called in its sandbox: ``begin(key, legal, R, S)``, then one
    ``run_pass(key, t, r, sigma, reach)`` per iteration, which returns the candidate's (R, S,
    sigma) as float64 arrays of the key's shape, or raises InvalidPayload."""

    def __init__(self, sandbox):
        self.sb = sandbox
        self.shapes: dict[str, tuple] = {}

    def begin(self, key: str, legal, regrets, avg_acc) -> None:
        self.shapes[key] = tuple(legal.shape)
        self._ask({"op": "begin", "key": key}, [legal, regrets, avg_acc])

    def run_pass(self, key: str, t: int, r, sigma, reach) -> list[np.ndarray]:
        out = self._ask({"op": "pass", "key": key, "t": int(t)}, [r, sigma, reach])
        if len(out) != 3 or any(a.dtype != np.float64 for a in out):
            raise InvalidPayload(f"pass: the child returned {len(out)} arrays, expected 3 float64 arrays")
        for a, name in zip(out, ("update_regrets", "accumulate_average", "policy_from_regrets")):
            if a.shape != self.shapes[key]:
                raise InvalidPayload(f"{name}: rule output has shape {a.shape}, expected {self.shapes[key]}")
        return out

    def _ask(self, msg: dict, arrays) -> list:
        head, out = self.sb.request(msg, arrays)
        if not head.get("ok"):
            raise InvalidPayload(f"{msg['op']}: the candidate raised {untrusted(head.get('error'))}")
        return out


class SandboxedSolver(CFRSolver):
    """The engine, remembering each pass's reach x_p for its :class:`SandboxedRule`, so that
    the rule can ask the sandbox for all three functions in one round trip."""

    def instantaneous_regrets(self, player: int, policy=None, out=None):
        regret, reach = super().instantaneous_regrets(player, policy, out)
        self.rule.reach[player] = reach
        return regret, reach


class SandboxedRule(Rule):
    """The candidate as the rule of a :class:`SandboxedSolver`, seen through a permutation: the
    engine's arrays are permuted before the call and the answers un-permuted after, so the
    engine works in tree order. ``update_regrets`` sends the whole pass -- the instantaneous
    regrets, the policy used (the engine's current one) and the reach -- and keeps the average
    accumulator and the next policy for the two calls the engine makes next; they check that
    the engine passes exactly what was sent. The candidate's ``state`` lives in the child."""

    name = "candidate"

    def __init__(self, calls: RemoteCalls, perm: Perm, tree, tag: str):
        self.calls, self.perm, self.tag = calls, perm, tag
        self.solver = None
        self.reach: dict[int, np.ndarray] = {}
        self.pending: dict[int, tuple] = {}
        for p, b in enumerate(perm.blocks):
            legal = perm.fwd(p, tree.legal[b])
            calls.begin(f"{tag}/{p}", legal, np.zeros(legal.shape), np.zeros(legal.shape))

    def _p(self, state) -> int:
        return next(p for p, s in enumerate(self.solver.states) if s is state)

    def update_regrets(self, cum_regret, inst_regret, legal, t, state):
        p, P = self._p(state), self.perm
        sigma, reach = self.solver.policy[self.solver.blocks[p]].copy(), self.reach.pop(p)
        R, S, policy = self.calls.run_pass(f"{self.tag}/{p}", t, P.fwd(p, inst_regret), P.fwd(p, sigma), reach[P.rows[p]])
        self.pending[p] = (sigma, reach, P.inv(p, S), P.inv(p, policy))
        return P.inv(p, R)

    def accumulate_average(self, avg_acc, policy, reach, legal, t, state):
        sigma, sent_reach, S, _ = self.pending[self._p(state)]
        if reach is not sent_reach or not np.array_equal(policy, sigma):
            raise RuntimeError("the engine's pass differs from the one sent to the sandbox (call order changed?)")
        return S

    def policy_from_regrets(self, cum_regret, legal, t, state):
        return self.pending.pop(self._p(state))[3]


def run_candidate(calls: RemoteCalls, tree, seed: int, checkpoints, tag: str) -> dict[str, np.ndarray]:
    """The trusted engine's average policy at each checkpoint, with the candidate as its rule."""
    rule = SandboxedRule(calls, Perm(tree, seed), tree, tag)
    solver = rule.solver = SandboxedSolver(tree, rule=rule, validate=True)
    cps = sorted(set(int(c) for c in checkpoints))
    out = {}
    try:
        for t in range(1, cps[-1] + 1):
            solver.step()
            if t in cps:
                out[str(t)] = solver.average_policy()
    except InvalidRuleOutput as exc:
        raise InvalidPayload(str(exc)) from None
    return out


# -- stage 0: property tests (trusted inputs, trusted checks) --------------------------------
def make_prop_cases(seed: int, n: int = 7, A: int = 4, steps: int = 3) -> tuple[list[dict], dict]:
    """Random inputs for stage 0; case 1 is case 0 permuted, case 2 repeats case 0."""
    rng = np.random.default_rng([int(seed), 17])
    legal = rng.random((n, A)) < 0.7
    legal[np.arange(n), rng.integers(0, A, n)] = True
    legal[0] = False
    legal[0, 1] = True  # a row with a single legal action
    R = np.where(legal, rng.normal(size=(n, A)), 0.0)
    S = np.where(legal, rng.random((n, A)), 0.0)
    sigma = np.where(legal, rng.random((n, A)) + 0.05, 0.0)
    sigma /= sigma.sum(axis=1, keepdims=True)
    reach = rng.random(n)
    reach[2] = 0.0
    rs = [np.where(legal, rng.normal(size=(n, A)) * 2.0, 0.0) for _ in range(steps)]
    rows = rng.permutation(n)
    cols = np.argsort(rng.random((n, A)), axis=1)

    def P(X):
        return X[rows[:, None], cols]

    base = {"legal": legal, "R": R, "S": S, "sigma": sigma, "reach": reach, "r": rs}
    permuted = {"legal": P(legal), "R": P(R), "S": P(S), "sigma": P(sigma), "reach": reach[rows], "r": [P(x) for x in rs]}
    return [base, permuted, base], {"rows": rows, "cols": cols, "legal": legal}


def run_props(calls: RemoteCalls, cases: list[dict]) -> list[list[dict]]:
    """Each case's steps through the candidate: R = upd, then S = acc (with the policy of the
    step before) and sigma = pol, one fresh state per case."""
    outs = []
    for i, c in enumerate(cases):
        key = f"props/{i}"
        calls.begin(key, c["legal"], c["R"], c["S"])
        sigma, steps = c["sigma"], []
        for t, r in enumerate(c["r"], start=1):
            R, S, sigma = calls.run_pass(key, t, r, sigma, c["reach"])
            steps.append({"R": R, "S": S, "sigma": sigma})
        outs.append(steps)
    return outs


def check_props(outs: list[list[dict]], meta: dict) -> None:
    """Stage-0 property checks on the outputs: finite, zero on illegal actions, deterministic,
    permutation-equivariant, valid policies; raises InvalidPayload."""
    rows, cols, legal = meta["rows"], meta["cols"], meta["legal"]
    for k in range(len(outs[0])):
        a, b, c = outs[0][k], outs[1][k], outs[2][k]
        for name in ("R", "S", "sigma"):
            if not np.all(np.isfinite(a[name])):
                raise InvalidPayload(f"stage 0: {name} not finite at t={k + 1}")
            if np.any(a[name][~legal] != 0):
                raise InvalidPayload(f"stage 0: {name} non-zero on illegal actions at t={k + 1}")
            if not np.array_equal(a[name], c[name]):
                raise InvalidPayload(f"stage 0: {name} is not deterministic (same inputs, different outputs)")
            expect = a[name][rows[:, None], cols]
            if not np.allclose(b[name], expect, rtol=1e-9, atol=1e-12):
                raise InvalidPayload(f"stage 0: {name} is not permutation-equivariant at t={k + 1}")
        validate_policy(a["sigma"], legal, tol=1e-9)
