"""External-sampling Monte-Carlo CFR on the LSPO abstraction of Werewolf (numpy + Python).

Algorithm: external-sampling MCCFR (Lanctot, Waugh, Zinkevich, Bowling, "Monte Carlo Sampling
for Regret Minimization in Extensive Games", NeurIPS 2009): for a traverser ``p``, every action
of ``p`` is expanded, every other player's action and every chance event is sampled; regrets of
``p`` are updated with sampled counterfactual values; the average strategy is accumulated at the
sampled (non-traverser) decisions. Regret matching gives the current strategy. It stands in for
the paper's Deep CFR (Xu et al., ICML 2025, arXiv 2502.04686, §4.3), which is not implemented
(docs/lspo.md).

The game is :class:`~alignment.lspo.abstraction.AbstractWerewolf`; the information-state keys
are the role-shared tabular abstraction of :mod:`alignment.lspo.infostates`. The solver is
judged by win rate, not exploitability.

**Built on** :mod:`solvers.mccfr` (the toolkit's sampled CFR): regrets and average-policy sums
live in its :class:`~solvers.mccfr.tables.InfosetTable` (one table of k-action rows for the
discussion keys, one of 1-action rows for the target keys, keyed by ``repr`` of the key tuple),
a traversal only *reads* them and emits :class:`~solvers.mccfr.tables.Updates` applied in visit
order after it (as :class:`solvers.mccfr.MCCFRSolver` does), sampling is its ``sample_index``
and the checkpoint is the tables' compact arrays. What stays here is what the Werewolf
abstraction needs and a pyspiel game does not give: joint target decisions scored per target
key, the depth limit with average-policy rollouts, and the recorded q-values.

**Depth limit** (the paper's manner): a traversal starts at the beginning of a round, expands
to the end of that round, then rolls out to the end of the game with the solver's current
*average* policy (the "previous strategy" of the paper's depth-limited search). Roots are the
starts of rounds 1-3 reached by playing the average policy from a fresh deal (documented
choice: it is how later rounds' information states get updated under a one-round depth limit);
every living player of a root is the traverser once.

**Averaging** (deviation, documented): the average strategy weights traversal ``t`` by ``t``
(linear averaging, as in LCFR -- Brown & Sandholm, AAAI 2019 -- which discounts the uniform
early strategies); ``averaging="uniform"`` gives the plain ES-MCCFR average.

**Utility**: the shaped return of the game's rewards (``utility="shaped"``, default) or
+1/-1/0 by the side's result (``utility="win"``).

**Solver contract**: one :meth:`MCCFRSolver.step` is one (root, traverser) traversal and
``config.traversals`` is the planned total (the q-values are recorded over its last half). The
policies are :class:`~alignment.lspo.cfr_policy.MCCFRPolicy` tables. There is no exact gap for
the abstracted 7-player game: :meth:`MCCFRSolver.gap` reports an *approximate* measure, the
average positive sampled regret per information-state key per traversal
(``gap_name = "avg_regret_per_infoset"``; a discussion key counts ``max_z R(I, z)^+``, a
target key its own ``R^+``), which is not an exploitability.
"""

from __future__ import annotations

import ast
import json
import random
from dataclasses import dataclass

import numpy as np

from alignment.lspo.abstraction import AbstractWerewolf
from alignment.lspo.cfr_policy import MCCFRPolicy
from alignment.lspo.infostates import discussion_key, target_key, view_from_engine
from games.werewolf.engine import PHASE_DISCUSSION, WEREWOLF, WerewolfEngine, replay
from gtlearn.core.errors import GtlearnError
from gtlearn.core.metrics import Metrics
from solvers.mccfr.external import sample_index
from solvers.mccfr.tables import InfosetTable, Updates, regret_matching


@dataclass
class MCCFRConfig:
    traversals: int = 2000  # (root, traverser) traversals planned; q-values from the last half
    utility: str = "shaped"  # shaped | win
    averaging: str = "linear"  # linear | uniform: weight of traversal t in the average policy
    max_root_round: int = 3
    seed: int = 0


def _sample(probs, rng: random.Random) -> int:
    return sample_index(probs, rng.random())


class MCCFRSolver:
    """External-sampling MCCFR with a one-round depth limit (see the module docstring)."""

    gap_name = "avg_regret_per_infoset"

    def __init__(self, game: AbstractWerewolf, config: MCCFRConfig | None = None) -> None:
        self.game = game
        self.config = config or MCCFRConfig()
        if self.config.utility not in ("shaped", "win"):
            raise GtlearnError(f"unknown CFR utility {self.config.utility!r}; use shaped or win")
        if self.config.averaging not in ("linear", "uniform"):
            raise GtlearnError(f"unknown averaging {self.config.averaging!r}; use linear or uniform")
        self.rng = random.Random(self.config.seed)
        self.disc = InfosetTable()  # discussion keys: k-action rows (R and S)
        self.tgt = InfosetTable()  # target keys: one-action rows (R and S of voting / acting on that target)
        self.q: dict[tuple, np.ndarray] = {}
        self.q_count: dict[tuple, float] = {}
        self.iteration = 0
        self.nodes = 0
        self.record_q = False
        self.w = 1.0
        self._updates = Updates()
        self._root: WerewolfEngine | None = None  # the current root and its traversers still to come
        self._pending: list[int] = []

    # -- policies ------------------------------------------------------------------------------
    def _disc_sigma(self, key: tuple, k: int) -> np.ndarray:
        return np.array(self.disc.policy(repr(key), k))

    def _tgt_sigma(self, keys: list[tuple]) -> list[float]:
        regret = [self._tgt_value(self.tgt.regret, k) for k in keys]
        return regret_matching(regret, 0, len(regret))

    def _tgt_value(self, buf, key: tuple) -> float:
        r = self.tgt.find(repr(key))
        return 0.0 if r < 0 else buf[self.tgt.offset[r]]

    def _avg_disc(self, key: tuple, k: int) -> list[float]:
        return self.disc.average_policy(repr(key), k)

    def _avg_tgt(self, keys: list[tuple]) -> list[float]:
        w = [self._tgt_value(self.tgt.average, k) for k in keys]
        s = sum(w)
        return [x / s for x in w] if s > 0 else [1.0 / len(keys)] * len(keys)

    @staticmethod
    def _rows(table: InfosetTable, which: str, scalar: bool) -> dict:
        """{key tuple: row} of a table (``which`` = "regret" or "average"), in row order."""
        buf = getattr(table, which)
        out = {}
        for key, lo, n in zip(table.keys, table.offset, table.n_actions):
            out[ast.literal_eval(key)] = buf[lo] if scalar else np.array(buf[lo: lo + n])
        return out

    @property
    def disc_regret(self) -> dict[tuple, np.ndarray]:
        """Cumulative regrets of the discussion keys (a copy)."""
        return self._rows(self.disc, "regret", False)

    @property
    def tgt_regret(self) -> dict[tuple, float]:
        """Cumulative regrets of the target keys (a copy)."""
        return self._rows(self.tgt, "regret", True)

    def current_policy(self) -> MCCFRPolicy:
        """Regret matching on the current regrets, as a policy table."""
        disc = {k: np.maximum(r, 0.0) for k, r in self.disc_regret.items()}
        tgt = {k: max(float(r), 0.0) for k, r in self.tgt_regret.items()}
        return MCCFRPolicy(dict(self.game.ks), disc, tgt, self.q, self.q_count)

    def average_policy(self) -> MCCFRPolicy:
        """The (linearly or uniformly weighted) average policy and the recorded q-values."""
        return MCCFRPolicy(dict(self.game.ks), self._rows(self.disc, "average", False),
                           self._rows(self.tgt, "average", True), self.q, self.q_count)

    def _utility(self, eng: WerewolfEngine, p: int) -> float:
        if self.config.utility == "shaped":
            return eng.returns[p]
        if eng.winner in (None, "draw"):
            return 0.0
        return 1.0 if (eng.winner == "werewolves") == (eng.roles[p] == WEREWOLF) else -1.0

    # -- play with the average policy (roots and rollouts) -------------------------------------
    def _play_average(self, eng: WerewolfEngine, until_round: int | None = None) -> None:
        rng = self.rng
        while not eng.done and (until_round is None or eng.round < until_round):
            if eng.phase == PHASE_DISCUSSION:
                s = eng.actors()[0]
                v = view_from_engine(eng, s)
                role = v.role
                z = _sample(self._avg_disc(discussion_key(v), self.game.ks[role]), rng)
                eng.step({s: self.game.emit(role, z, rng)}, check=False)
                continue
            joint = {}
            for a in eng.actors():
                legal = eng.legal_actions(a)
                v = view_from_engine(eng, a)
                d = eng.decision(a)
                joint[a] = legal[_sample(self._avg_tgt([target_key(v, d, j) for j in legal]), rng)]
            eng.step(joint, check=False)

    # -- traversal (reads the tables; the increments go to self._updates) ----------------------
    def _traverse(self, eng: WerewolfEngine, p: int, root_round: int) -> float:
        self.nodes += 1
        if eng.done:
            return self._utility(eng, p)
        if eng.round != root_round:
            self._play_average(eng)
            return self._utility(eng, p)
        if eng.phase == PHASE_DISCUSSION:
            return self._traverse_discussion(eng, p, root_round)
        return self._traverse_targets(eng, p, root_round)

    def _traverse_discussion(self, eng: WerewolfEngine, p: int, root_round: int) -> float:
        rng = self.rng
        s = eng.actors()[0]
        v = view_from_engine(eng, s)
        role = v.role
        k = self.game.ks[role]
        key = discussion_key(v)
        name = repr(key)
        sigma = self.disc.policy(name, k)
        if s != p:
            self._updates.average(name, k, [self.w * x for x in sigma])
            z = _sample(sigma, rng)
            eng.step({s: self.game.emit(role, z, rng)}, check=False)
            return self._traverse(eng, p, root_round)
        vals = np.empty(k)
        for z in range(k):
            child = eng.clone()
            child.step({s: self.game.emit(role, z, rng)}, check=False)
            vals[z] = self._traverse(child, p, root_round)
        value = float(np.asarray(sigma) @ vals)
        self._updates.regret(name, k, (vals - value).tolist())
        if self.record_q:
            for qk in (key, key[:5]):
                qs = self.q.get(qk)
                self.q[qk] = vals.copy() if qs is None else qs + vals
                self.q_count[qk] = self.q_count.get(qk, 0.0) + 1.0
        return value

    def _traverse_targets(self, eng: WerewolfEngine, p: int, root_round: int) -> float:
        joint = {}
        mine = None
        for a in eng.actors():
            legal = eng.legal_actions(a)
            v = view_from_engine(eng, a)
            keys = [target_key(v, eng.decision(a), j) for j in legal]
            sigma = self._tgt_sigma(keys)
            if a == p:
                mine = (legal, keys, sigma)
                continue
            for kk, sg in zip(keys, sigma):
                self._updates.average(repr(kk), 1, [self.w * sg])
            joint[a] = legal[_sample(sigma, self.rng)]
        if mine is None:
            eng.step(joint, check=False)
            return self._traverse(eng, p, root_round)
        legal, keys, sigma = mine
        vals = np.empty(len(legal))
        for i, j in enumerate(legal):
            child = eng.clone()
            joint[p] = j
            child.step(dict(joint), check=False)
            vals[i] = self._traverse(child, p, root_round)
        value = float(np.asarray(sigma) @ vals)
        for kk, vv in zip(keys, vals):
            self._updates.regret(repr(kk), 1, [float(vv) - value])
        return value

    # -- the solver contract -----------------------------------------------------------------------
    def _new_root(self) -> None:
        """Deal games and play the average policy to a random round start until one is running."""
        while True:
            eng = WerewolfEngine(self.game.config)
            eng.reset(self.rng.randrange(2**31))
            root_round = self.rng.randint(1, self.config.max_root_round)
            self._play_average(eng, until_round=root_round)
            if not eng.done:
                self._root, self._pending = eng, eng.living()
                return

    def step(self) -> None:
        """One traversal: the next living player of the current root (a new root when none is
        left); its increments are applied after it, in visit order."""
        if not self._pending:
            self._new_root()
        p = self._pending.pop(0)
        self.record_q = self.iteration >= self.config.traversals // 2
        self.w = float(self.iteration + 1) if self.config.averaging == "linear" else 1.0
        self._updates = Updates()
        self._traverse(self._root.clone(), p, self._root.round)
        disc, tgt = Updates(), Updates()
        for record in self._updates.records:  # the two tables take their own records, order kept
            (disc if record[0].startswith("('d'") else tgt).records.append(record)
        disc.apply(self.disc)
        tgt.apply(self.tgt)
        self._updates = Updates()
        self.iteration += 1

    def gap(self) -> Metrics:
        """Approximate: the average positive sampled regret per key per traversal (module docstring)."""
        regret, legal = self.disc.padded("regret")
        disc = np.where(legal, np.maximum(regret, 0.0), 0.0).max(axis=1) if len(self.disc) else np.zeros(0)
        tgt = np.maximum(np.frombuffer(self.tgt.regret, dtype=np.float64) if len(self.tgt) else np.zeros(0), 0.0)
        t = max(self.iteration, 1)

        def mean(values: np.ndarray) -> float:
            return float(values.sum() / (values.size * t)) if values.size else 0.0

        extra = {"discussion_regret": mean(disc), "target_regret": mean(tgt), "discussion_keys": len(self.disc),
                 "target_keys": len(self.tgt), "q_keys": len(self.q), "nodes": self.nodes}
        return Metrics(iteration=self.iteration, gap=mean(np.concatenate([disc, tgt])), gap_name=self.gap_name,
                       extra=extra)

    def state_dict(self) -> dict[str, np.ndarray]:
        root = ""
        if self._root is not None:
            history = [[[p, a] for p, a in joint.items()] for joint in self._root.history]
            root = json.dumps({"seed": self._root.seed, "history": history, "pending": self._pending})
        state = {"iteration": np.array(self.iteration), "nodes": np.array(self.nodes),
                 "rng": np.array(json.dumps(self.rng.getstate())), "root": np.array(root)}
        state.update(self.disc.state_dict("disc/"))
        state.update(self.tgt.state_dict("tgt/"))
        state.update(_pack_vectors("q", self.q))
        state.update(_pack_scalars("q_count", self.q_count))
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.iteration = int(state["iteration"])
        self.nodes = int(state["nodes"])
        version, internal, gauss = json.loads(str(state["rng"]))
        self.rng.setstate((version, tuple(internal), gauss))
        self.disc = InfosetTable.from_state_dict(state, "disc/")
        self.tgt = InfosetTable.from_state_dict(state, "tgt/")
        self.q = _unpack_vectors("q", state)
        self.q_count = _unpack_scalars("q_count", state)
        root = str(state["root"])
        self._root, self._pending = None, []
        if root:
            data = json.loads(root)
            history = [{p: a for p, a in joint} for joint in data["history"]]
            self._root = replay(data["seed"], history, self.game.config)
            self._pending = list(data["pending"])


# Tables keep their insertion order through a checkpoint: the gap sums over them in that order.
def _key_strings(table: dict) -> np.ndarray:
    return np.array([json.dumps(list(k)) for k in table], dtype=str)


def _pack_vectors(name: str, table: dict[tuple, np.ndarray]) -> dict[str, np.ndarray]:
    values = [np.asarray(v, dtype=np.float64) for v in table.values()]
    return {f"{name}_keys": _key_strings(table), f"{name}_lengths": np.array([v.size for v in values], dtype=np.int64),
            f"{name}_values": np.concatenate(values) if values else np.zeros(0)}


def _unpack_vectors(name: str, state: dict[str, np.ndarray]) -> dict[tuple, np.ndarray]:
    keys = [tuple(json.loads(str(k))) for k in state[f"{name}_keys"]]
    values = np.split(np.asarray(state[f"{name}_values"], dtype=np.float64), np.cumsum(state[f"{name}_lengths"])[:-1])
    return {k: v.copy() for k, v in zip(keys, values)}


def _pack_scalars(name: str, table: dict[tuple, float]) -> dict[str, np.ndarray]:
    return {f"{name}_keys": _key_strings(table), f"{name}_values": np.array(list(table.values()), dtype=np.float64)}


def _unpack_scalars(name: str, state: dict[str, np.ndarray]) -> dict[tuple, float]:
    keys = [tuple(json.loads(str(k))) for k in state[f"{name}_keys"]]
    return dict(zip(keys, np.asarray(state[f"{name}_values"], dtype=np.float64)))
