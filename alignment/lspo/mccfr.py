"""External-sampling Monte-Carlo CFR on the LSPO abstraction of Werewolf (numpy + Python).

Algorithm: external-sampling MCCFR (Lanctot, Waugh, Zinkevich, Bowling, "Monte Carlo Sampling
for Regret Minimization in Extensive Games", NeurIPS 2009): for a traverser ``p``, every action
of ``p`` is expanded, every other player's action and every chance event is sampled; regrets of
``p`` are updated with sampled counterfactual values; the average strategy is accumulated at the
sampled (non-traverser) decisions. Regret matching gives the current strategy. It stands in for
the paper's Deep CFR (Xu et al., ICML 2025, arXiv 2502.04686, §4.3), which is the spec's
``deep_cfr`` option and is not implemented here.

**The abstracted game** (:class:`AbstractWerewolf`) is the Werewolf engine with each discussion
turn replaced by a latent strategy index ``z`` in ``[0, k_role)``; the listeners observe a
*public label* ``c ~ P(c | role, z)`` (see :mod:`alignment.lspo.cluster` for why not ``z``
itself); secret actions, votes, transitions and rewards are unchanged.

**Tabular abstraction** (role-shared, spec §3.4) -- the information-state keys:

* discussion: ``(role, min(round, 3), speaking-position bucket {first, middle, last},
  private-knowledge class, multiset of public labels already spoken today)``; knowledge class:
  Seer -- no wolf found / a found wolf alive; Wolf -- teammate alive or not; Doctor -- last
  night ended with or without a death; Villager -- one class. A coarse key drops the multiset.
* target decisions (propose, kill, see, save, vote): each legal target ``j`` owns the regret
  entry ``(role, decision, min(round, 3), phi(j))`` with ``phi(j)`` = (the actor's check label
  for ``j``, ``j`` is a teammate, ``j``'s public label today -- the previous day's at night --,
  ``j`` voted last day for the actor or a teammate, a bucket 0/1/2+ of votes ``j`` received last
  day, ``j`` is the teammate's proposal). Abstaining has its own key. The policy is regret
  matching over the legal targets' entries.

Sharing keys across targets and players is an abstraction for tractability; it carries no
convergence guarantee (the game is a two-team general-sum 7-player game anyway), and the
solver is judged by win rate, not exploitability.

**Depth limit** (the paper's manner): a traversal starts at the beginning of a round, expands
to the end of that round, then rolls out to the end of the game with the solver's current
*average* policy (the "previous strategy" of the paper's depth-limited search). Roots are the
starts of rounds 1-3 reached by playing the average policy from a fresh deal (documented
choice: it is how later rounds' information states get updated under a one-round depth limit).

**Averaging** (deviation, documented): the average strategy weights traversal ``t`` by ``t``
(linear averaging, as in LCFR -- Brown & Sandholm, AAAI 2019 -- which discounts the uniform
early strategies); ``averaging="uniform"`` gives the plain ES-MCCFR average.

**Utility**: the §2.7 shaped return (``utility="shaped"``, default) or +1/-1/0 by the side's
result (``utility="win"``).

**Output**: per-role average policies over latent indices and targets, and for each discussion
key the counterfactual values ``q(I, z)`` averaged over the last half of the traversals
(:class:`MCCFRPolicy`).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from games.werewolf.engine import (
    DOCTOR,
    PHASE_DISCUSSION,
    PHASE_NIGHT,
    PHASE_PROPOSE,
    SEER,
    WEREWOLF,
    WerewolfConfig,
    WerewolfEngine,
)

# -- information-state keys ----------------------------------------------------------------------


@dataclass
class KeyView:
    """What the key functions read: a player's knowledge, with statements as public labels."""

    player: int
    role: str
    round: int
    alive: list[bool]
    teammates: tuple[int, ...]
    checks: dict[int, bool]
    last_night_death: bool
    labels: dict[int, int]  # speaker -> public label (today's; the previous day's at night)
    spoken: list[int]  # labels spoken so far today (discussion turns)
    position: int  # 0 first speaker, 1 middle, 2 last
    last_votes: dict[int, int | None]
    proposal: int | None = None
    _received: dict | None = None

    def received(self, j: int) -> int:
        if self._received is None:
            counts: dict[int, int] = {}
            for t in self.last_votes.values():
                if t is not None:
                    counts[t] = counts.get(t, 0) + 1
            self._received = counts
        return self._received.get(j, 0)


def view_from_engine(eng: WerewolfEngine, p: int) -> KeyView:
    """The key view of ``p`` read straight from an abstracted engine (statements are labels).
    Reads only what ``p`` may know; :func:`view_from_info` gives the same from an InfoState."""
    r = eng.round
    night = eng.phase in (PHASE_PROPOSE, PHASE_NIGHT)
    resolved = eng.nights[: r - 1] if night else eng.nights[:r]
    stmt_day = (eng.days[r - 2] if r >= 2 else None) if night else eng.days[r - 1]
    labels = {s: c for s, c in stmt_day.statements} if stmt_day is not None else {}
    spoken: list[int] = []
    position = 0
    if eng.phase == PHASE_DISCUSSION:
        spoken = [c for _, c in eng.days[r - 1].statements]
        idx, total = len(spoken), len(spoken) + len(eng.speaker_queue)
        position = 0 if idx == 0 else (2 if idx == total - 1 else 1)
    checks = {}
    role = eng.roles[p]
    if role == SEER:
        for nr in resolved:
            if p in nr.checks:
                t, w = nr.checks[p]
                checks[t] = w
    proposal = None
    if role == WEREWOLF and night and eng.nights[r - 1].proposal is not None:
        proposal = eng.nights[r - 1].proposal
    return KeyView(
        player=p,
        role=role,
        round=r,
        alive=eng.alive,
        teammates=tuple(eng.teammates(p)),
        checks=checks,
        last_night_death=bool(resolved) and resolved[-1].killed is not None,
        labels=labels,
        spoken=spoken,
        position=position,
        last_votes=eng.days[r - 2].votes if r >= 2 else {},
        proposal=proposal,
    )


def view_from_info(state, label_of) -> KeyView:
    """The key view from a :class:`games.werewolf.observations.InfoState`; ``label_of(statement)``
    maps a heard statement to its public label (integers pass through)."""

    def lab(s):
        return int(s) if isinstance(s, (int, np.integer)) else int(label_of(s))

    night = state.phase in (PHASE_PROPOSE, PHASE_NIGHT)
    rounds = state.rounds
    today = rounds[-1]
    resolved = [rv for rv in rounds if rv.night_resolved]
    stmt_round = (rounds[-2] if len(rounds) >= 2 else None) if night else today
    labels = {s: lab(x) for s, x in stmt_round.statements} if stmt_round is not None else {}
    spoken: list[int] = []
    position = 0
    if state.phase == PHASE_DISCUSSION:
        spoken = [lab(x) for _, x in today.statements]
        idx = len(spoken)
        speakers_left = [i for i in state.living() if i not in {s for s, _ in today.statements}]
        total = idx + len(speakers_left)
        position = 0 if idx == 0 else (2 if idx == total - 1 else 1)
    last_votes = rounds[-2].votes if len(rounds) >= 2 and rounds[-2].votes is not None else {}
    return KeyView(
        player=state.player,
        role=state.role,
        round=state.round,
        alive=state.alive,
        teammates=tuple(state.teammates),
        checks=state.checks if state.role == SEER else {},
        last_night_death=bool(resolved) and resolved[-1].killed is not None,
        labels=labels,
        spoken=spoken,
        position=position,
        last_votes=last_votes,
        proposal=today.proposal if (state.role == WEREWOLF and night) else None,
    )


def knowledge_class(v: KeyView) -> int:
    if v.role == SEER:
        return int(any(w and v.alive[j] for j, w in v.checks.items()))
    if v.role == WEREWOLF:
        return int(any(v.alive[j] for j in v.teammates))
    if v.role == DOCTOR:
        return int(v.last_night_death)
    return 0


def discussion_key(v: KeyView) -> tuple:
    spoken = ",".join(str(c) for c in sorted(v.spoken))
    return ("d", v.role, min(v.round, 3), v.position, knowledge_class(v), spoken)


def coarse_discussion_key(v: KeyView) -> tuple:
    return ("d", v.role, min(v.round, 3), v.position, knowledge_class(v))


def target_key(v: KeyView, decision: str, j: int | None) -> tuple:
    r = min(v.round, 3)
    if j is None:
        return ("t", v.role, decision, r, "abstain")
    chk = v.checks.get(j)
    chk = 0 if chk is None else (1 if chk else 2)
    mate = int(j in v.teammates)
    lab = v.labels.get(j, -1)
    voted = v.last_votes.get(j)
    against = int(voted is not None and (voted == v.player or voted in v.teammates))
    recv = min(2, v.received(j))
    prop = int(v.proposal is not None and j == v.proposal)
    return ("t", v.role, decision, r, chk, mate, lab, against, recv, prop)


# -- the abstracted game ---------------------------------------------------------------------


@dataclass
class AbstractWerewolf:
    """Werewolf with latent discussion actions: ``ks[role]`` strategies per role and the
    emission ``P(public label | role, z)`` (rows sum to 1)."""

    ks: dict[str, int]
    emission: dict[str, np.ndarray]
    config: WerewolfConfig = field(default_factory=WerewolfConfig)

    def __post_init__(self) -> None:
        self._cum = {r: np.cumsum(e, axis=1) for r, e in self.emission.items()}

    def emit(self, role: str, z: int, rng: random.Random) -> int:
        cum = self._cum[role][z]
        return int(min(np.searchsorted(cum, rng.random() * cum[-1], side="right"), len(cum) - 1))


def _rm(regrets: np.ndarray) -> np.ndarray:
    pos = np.maximum(regrets, 0.0)
    s = pos.sum()
    return pos / s if s > 0 else np.full(len(regrets), 1.0 / len(regrets))


def _sample(probs, rng: random.Random) -> int:
    u = rng.random()
    acc = 0.0
    for i, p in enumerate(probs):
        acc += p
        if u < acc:
            return i
    return len(probs) - 1


# -- the solver output -----------------------------------------------------------------------


class MCCFRPolicy:
    """Average policies and discussion q-values of a finished MCCFR run."""

    def __init__(self, ks: dict[str, int], disc_avg: dict, tgt_avg: dict, q: dict, q_count: dict) -> None:
        self.ks = ks
        self.disc_avg = disc_avg
        self.tgt_avg = tgt_avg
        self.q = q
        self.q_count = q_count

    def discussion_probs(self, key: tuple, role: str) -> np.ndarray:
        a = self.disc_avg.get(key)
        if a is None or a.sum() <= 0:
            return np.full(self.ks[role], 1.0 / self.ks[role])
        return a / a.sum()

    def target_probs(self, keys: list[tuple]) -> np.ndarray:
        w = np.array([self.tgt_avg.get(k, 0.0) for k in keys])
        s = w.sum()
        return w / s if s > 0 else np.full(len(keys), 1.0 / len(keys))

    def q_values(self, key: tuple) -> np.ndarray | None:
        """``q(I, .)`` for the key, else for its coarse key (the multiset dropped), else None."""
        for k in (key, key[:5]):
            if k in self.q and self.q_count[k] > 0:
                return self.q[k] / self.q_count[k]
        return None

    def act(self, view: KeyView, decision: str, legal: list, rng: random.Random):
        keys = [target_key(view, decision, j) for j in legal]
        return legal[_sample(self.target_probs(keys), rng)]

    def save(self, path: str | Path) -> None:
        from gtlearn.core.io import atomic_save_npz

        def pack(table: dict, width: int | None):
            keys = sorted(table, key=json.dumps)
            vals = [np.asarray(table[k], dtype=np.float64).reshape(-1) for k in keys]
            w = width or max((len(v) for v in vals), default=1)
            arr = np.full((len(keys), w), np.nan)
            for i, v in enumerate(vals):
                arr[i, : len(v)] = v
            return np.array([json.dumps(list(k)) for k in keys], dtype=str), arr

        dk, dv = pack(self.disc_avg, None)
        tk, tv = pack(self.tgt_avg, 1)
        qk, qv = pack(self.q, None)
        qc = np.array([self.q_count[json_key] for json_key in sorted(self.q, key=json.dumps)], dtype=np.float64)
        atomic_save_npz(path, disc_keys=dk, disc_vals=dv, tgt_keys=tk, tgt_vals=tv, q_keys=qk, q_vals=qv, q_counts=qc,
                        ks=np.array(json.dumps(self.ks)))

    @classmethod
    def load(cls, path: str | Path) -> MCCFRPolicy:
        with np.load(path, allow_pickle=False) as d:
            def unpack(keys, vals, scalar=False):
                out = {}
                for k, v in zip(keys, vals):
                    key = tuple(json.loads(str(k)))
                    v = v[~np.isnan(v)]
                    out[key] = float(v[0]) if scalar else v
                return out

            ks = json.loads(str(d["ks"]))
            q = unpack(d["q_keys"], d["q_vals"])
            qc = {tuple(json.loads(str(k))): float(c) for k, c in zip(d["q_keys"], d["q_counts"])}
            return cls(ks, unpack(d["disc_keys"], d["disc_vals"]), unpack(d["tgt_keys"], d["tgt_vals"], True), q, qc)


# -- the solver ------------------------------------------------------------------------------


@dataclass
class MCCFRConfig:
    traversals: int = 2000  # (root, traverser) traversals
    utility: str = "shaped"  # shaped | win
    averaging: str = "linear"  # linear | uniform: weight of traversal t in the average policy
    max_root_round: int = 3
    seed: int = 0


class MCCFRSolver:
    """External-sampling MCCFR with a one-round depth limit (see the module docstring)."""

    def __init__(self, game: AbstractWerewolf, config: MCCFRConfig | None = None) -> None:
        from gtlearn.core.errors import GtlearnError

        self.game = game
        self.config = config or MCCFRConfig()
        if self.config.utility not in ("shaped", "win"):
            raise GtlearnError(f"unknown CFR utility {self.config.utility!r}; use shaped or win")
        if self.config.averaging not in ("linear", "uniform"):
            raise GtlearnError(f"unknown averaging {self.config.averaging!r}; use linear or uniform")
        self.rng = random.Random(self.config.seed)
        self.disc_regret: dict[tuple, np.ndarray] = {}
        self.disc_avg: dict[tuple, np.ndarray] = {}
        self.tgt_regret: dict[tuple, float] = {}
        self.tgt_avg: dict[tuple, float] = {}
        self.q: dict[tuple, np.ndarray] = {}
        self.q_count: dict[tuple, float] = {}
        self.t = 0
        self.record_q = False
        self.w = 1.0
        self.nodes = 0

    # -- policies ------------------------------------------------------------------------------
    def _disc_sigma(self, key: tuple, k: int) -> np.ndarray:
        r = self.disc_regret.get(key)
        return np.full(k, 1.0 / k) if r is None else _rm(r)

    def _tgt_sigma(self, keys: list[tuple]) -> np.ndarray:
        return _rm(np.array([self.tgt_regret.get(k, 0.0) for k in keys]))

    def _avg_disc(self, key: tuple, k: int) -> np.ndarray:
        a = self.disc_avg.get(key)
        return np.full(k, 1.0 / k) if a is None or a.sum() <= 0 else a / a.sum()

    def _avg_tgt(self, keys: list[tuple]) -> np.ndarray:
        w = np.array([self.tgt_avg.get(k, 0.0) for k in keys])
        s = w.sum()
        return w / s if s > 0 else np.full(len(keys), 1.0 / len(keys))

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

    # -- traversal -------------------------------------------------------------------------------
    def _traverse(self, eng: WerewolfEngine, p: int, root_round: int) -> float:
        self.nodes += 1
        if eng.done:
            return self._utility(eng, p)
        if eng.round != root_round:
            self._play_average(eng)
            return self._utility(eng, p)
        rng = self.rng
        if eng.phase == PHASE_DISCUSSION:
            s = eng.actors()[0]
            v = view_from_engine(eng, s)
            role = v.role
            k = self.game.ks[role]
            key = discussion_key(v)
            sigma = self._disc_sigma(key, k)
            if s != p:
                acc = self.disc_avg.get(key)
                self.disc_avg[key] = self.w * sigma if acc is None else acc + self.w * sigma
                z = _sample(sigma, rng)
                eng.step({s: self.game.emit(role, z, rng)}, check=False)
                return self._traverse(eng, p, root_round)
            vals = np.empty(k)
            for z in range(k):
                child = eng.clone()
                child.step({s: self.game.emit(role, z, rng)}, check=False)
                vals[z] = self._traverse(child, p, root_round)
            value = float(sigma @ vals)
            reg = self.disc_regret.get(key)
            self.disc_regret[key] = (vals - value) if reg is None else reg + (vals - value)
            if self.record_q:
                for qk in (key, key[:5]):
                    qs = self.q.get(qk)
                    self.q[qk] = vals.copy() if qs is None else qs + vals
                    self.q_count[qk] = self.q_count.get(qk, 0.0) + 1.0
            return value
        joint = {}
        mine = None
        for a in eng.actors():
            legal = eng.legal_actions(a)
            v = view_from_engine(eng, a)
            d = eng.decision(a)
            keys = [target_key(v, d, j) for j in legal]
            sigma = self._tgt_sigma(keys)
            if a == p:
                mine = (legal, keys, sigma)
                continue
            w = self.w
            for kk, sg in zip(keys, sigma):
                self.tgt_avg[kk] = self.tgt_avg.get(kk, 0.0) + w * sg
            joint[a] = legal[_sample(sigma, rng)]
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
        value = float(sigma @ vals)
        for kk, vv in zip(keys, vals):
            self.tgt_regret[kk] = self.tgt_regret.get(kk, 0.0) + (vv - value)
        return value

    def run(self, progress=None) -> MCCFRPolicy:
        """Run ``config.traversals`` traversals; q-values come from the last half of them."""
        cfg = self.config
        total = cfg.traversals
        done = 0
        deal = 0
        while done < total:
            eng = WerewolfEngine(self.game.config)
            eng.reset(self.rng.randrange(2**31))
            deal += 1
            root_round = self.rng.randint(1, cfg.max_root_round)
            self._play_average(eng, until_round=root_round)
            if eng.done:
                continue
            for p in eng.living():
                if done >= total:
                    break
                self.record_q = done >= total // 2
                self.w = float(done + 1) if cfg.averaging == "linear" else 1.0
                self._traverse(eng.clone(), p, eng.round)
                done += 1
                if progress is not None:
                    progress(1)
        self.t = done
        return MCCFRPolicy(dict(self.game.ks), self.disc_avg, self.tgt_avg, self.q, self.q_count)
