"""Information-state keys of the tabular LSPO abstraction of Werewolf (role-shared; docs/lspo.md).

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
convergence guarantee (the game is a two-team general-sum 7-player game anyway).

The keys are read from a :class:`KeyView`: :func:`view_from_engine` (the solver's fast path,
straight from an abstracted engine) and :func:`view_from_info` (the agent's path, from an
:class:`~games.werewolf.observations.InfoState`) give identical keys (tested).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from games.werewolf.engine import WerewolfEngine
from games.werewolf.rules import DOCTOR, PHASE_DISCUSSION, PHASE_NIGHT, PHASE_PROPOSE, SEER, WEREWOLF


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
