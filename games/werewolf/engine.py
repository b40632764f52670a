"""The 7-player Werewolf rules engine of the LSPO paper.

Xu, Gu, Yu, Wu, Wang, "Learning Strategic Language Agents in the Werewolf Game with Iterative
Latent Space Policy Optimization", ICML 2025 (arXiv 2502.04686), Section 3 / Appendix A; the
rules are written down in docs/lspo.md.

The engine is pure Python, deterministic given the seed (role deal and vote tie-breaks draw
from one ``random.Random(seed)``), and knows nothing of language models: a discussion action is
any object (a string in the language game, a latent-strategy index in the abstracted game).

Phases of a round (``round`` starts at 1)::

    night_propose  the smaller-ID wolf proposes a kill target (only while two wolves live);
                   the proposal is visible to its teammate
    night          the deciding wolf (the other wolf, or the lone wolf) picks the final target,
                   every living Seer checks a player, every living Doctor protects a player
                   (itself allowed) -- one joint step, none of them observes the others
    discussion     each living player makes exactly one statement, ascending ID order
    vote           simultaneous: every living player votes for another living player or
                   abstains (``None``); most votes is eliminated, ties uniformly at random
    done           a side won, or the round cap was hit (draw)

Choices where the paper is silent (docs/lspo.md), each a field of :class:`WerewolfConfig`:

* all players abstaining eliminates nobody (``all_abstain="nobody"``);
* a game still running after the day of round ``max_rounds`` (default 10) is a draw and
  neither side gets the win/loss reward;
* a night kill of the protected player is prevented by any living Doctor's protection.

Roles are never revealed on death; the wolves know each other from the start.
"""

from __future__ import annotations

import random
from typing import Any

from games.werewolf.observations import Observation, info_state
from games.werewolf.rewards import end_of_day_rewards, night_kill_rewards, terminal_rewards
from games.werewolf.rules import (  # noqa: F401  (the engine's vocabulary, re-exported)
    DOCTOR,
    DRAW,
    PHASE_DISCUSSION,
    PHASE_DONE,
    PHASE_NIGHT,
    PHASE_PROPOSE,
    PHASE_VOTE,
    ROLES,
    SEER,
    VILLAGE,
    VILLAGER,
    WEREWOLF,
    WOLVES,
    DayRecord,
    NightRecord,
    WerewolfConfig,
    player_name,
)
from gtlearn.core.errors import GtlearnError


class WerewolfEngine:
    """``reset(seed)``, ``actors()``, ``legal_actions(player)``, ``step(joint_action)``.

    ``step`` takes ``{player: action}`` for exactly the current actors and returns the rewards
    of that step per player. Observations are built on demand by
    :mod:`games.werewolf.observations` from :meth:`info_state`, which holds only what a player
    may know.
    """

    def __init__(self, config: WerewolfConfig | None = None) -> None:
        self.config = config or WerewolfConfig()
        self.n = self.config.num_players
        self.seed: int | None = None
        self.history: list[dict[int, Any]] = []

    # -- setup -----------------------------------------------------------------------------
    def reset(self, seed: int, roles: list[str] | None = None) -> dict[int, Any]:
        """Deal roles from ``seed`` (or use ``roles``, for scripted tests) and start night 1.

        Returns the observations of the players who act first.
        """
        self.seed = seed
        self.rng = random.Random(seed)
        if roles is None:
            roles = self.config.deck()
            self.rng.shuffle(roles)
        elif sorted(roles) != sorted(self.config.deck()):
            raise GtlearnError(f"roles {roles} do not match the configured composition")
        self.roles: list[str] = list(roles)
        self.alive: list[bool] = [True] * self.n
        self.round = 1
        self.phase = PHASE_PROPOSE
        self.nights: list[NightRecord] = [NightRecord()]
        self.days: list[DayRecord] = [DayRecord()]
        self.speaker_queue: list[int] = []
        self.winner: str | None = None
        self.returns = [0.0] * self.n
        self.history = []
        self._enter_night()
        return {p: Observation(self, p) for p in self.actors()}

    def clone(self) -> WerewolfEngine:
        """A deep copy cheap enough for tree search (records are copied, the RNG state too)."""
        new = WerewolfEngine.__new__(WerewolfEngine)
        new.config = self.config
        new.n = self.n
        new.seed = self.seed
        new.rng = random.Random.__new__(random.Random)  # skips seeding from the OS
        new.rng.setstate(self.rng.getstate())
        new.roles = self.roles
        new.alive = list(self.alive)
        new.round = self.round
        new.phase = self.phase
        new.nights = [
            NightRecord(r.proposal, r.proposer, r.target, r.decider, dict(r.checks), dict(r.saves), r.killed)
            for r in self.nights
        ]
        new.days = [DayRecord(list(d.statements), dict(d.votes), d.eliminated) for d in self.days]
        new.speaker_queue = list(self.speaker_queue)
        new.winner = self.winner
        new.returns = list(self.returns)
        new.history = list(self.history)
        return new

    # -- queries ---------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self.phase == PHASE_DONE

    def living(self) -> list[int]:
        return [i for i in range(self.n) if self.alive[i]]

    def living_wolves(self) -> list[int]:
        return [i for i in range(self.n) if self.alive[i] and self.roles[i] == WEREWOLF]

    def is_wolf(self, i: int) -> bool:
        return self.roles[i] == WEREWOLF

    def side(self, i: int) -> str:
        return WOLVES if self.roles[i] == WEREWOLF else VILLAGE

    def teammates(self, i: int) -> list[int]:
        """The wolves a wolf knows (alive or dead); empty for the village side."""
        if self.roles[i] != WEREWOLF:
            return []
        return [j for j in range(self.n) if j != i and self.roles[j] == WEREWOLF]

    def actors(self) -> list[int]:
        """Players whose actions the next :meth:`step` needs."""
        if self.phase == PHASE_PROPOSE:
            return [self.nights[-1].proposer]
        if self.phase == PHASE_NIGHT:
            night = self.nights[-1]
            out = [] if night.decider is None else [night.decider]
            out += [i for i in self.living() if self.roles[i] in (SEER, DOCTOR)]
            return sorted(out)
        if self.phase == PHASE_DISCUSSION:
            return [self.speaker_queue[0]]
        if self.phase == PHASE_VOTE:
            return self.living()
        return []

    def decision(self, player: int) -> str:
        """What ``player`` decides now: propose, kill, see, save, speak or vote."""
        if self.phase == PHASE_PROPOSE:
            return "propose"
        if self.phase == PHASE_NIGHT:
            role = self.roles[player]
            return {WEREWOLF: "kill", SEER: "see", DOCTOR: "save"}[role]
        if self.phase == PHASE_DISCUSSION:
            return "speak"
        if self.phase == PHASE_VOTE:
            return "vote"
        raise ValueError("the game is over")

    def legal_actions(self, player: int) -> list[Any]:
        """Legal targets (player ids; ``None`` = abstain in a vote). A discussion turn accepts any
        statement and returns ``["<statement>"]`` as a marker."""
        if player not in self.actors():
            return []
        kind = self.decision(player)
        living = self.living()
        if kind in ("propose", "kill"):
            return [j for j in living if self.roles[j] != WEREWOLF]
        if kind == "see":
            return [j for j in living if j != player]
        if kind == "save":
            return list(living)
        if kind == "vote":
            return [j for j in living if j != player] + [None]
        return ["<statement>"]

    # -- dynamics --------------------------------------------------------------------------
    def step(self, joint_action: dict[int, Any], check: bool = True) -> dict[int, float]:
        """Apply the current actors' actions; returns the rewards earned in this step.

        ``check=False`` skips the legality checks (for search code that only ever picks from
        :meth:`legal_actions`)."""
        actors = self.actors()
        if set(joint_action) != set(actors):
            raise ValueError(f"phase {self.phase}: expected actions of {actors}, got {sorted(joint_action)}")
        if check and self.phase != PHASE_DISCUSSION:
            for p, a in joint_action.items():
                if a not in self.legal_actions(p):
                    raise ValueError(f"illegal action {a!r} for player_{p} ({self.decision(p)})")
        self.history.append(dict(joint_action))
        before = list(self.returns)
        if self.phase == PHASE_PROPOSE:
            self.nights[-1].proposal = joint_action[actors[0]]
            self.phase = PHASE_NIGHT
        elif self.phase == PHASE_NIGHT:
            self._resolve_night(joint_action)
        elif self.phase == PHASE_DISCUSSION:
            speaker = self.speaker_queue.pop(0)
            self.days[-1].statements.append((speaker, joint_action[speaker]))
            if not self.speaker_queue:
                self.phase = PHASE_VOTE
        elif self.phase == PHASE_VOTE:
            self._resolve_vote(joint_action)
        else:
            raise ValueError("the game is over")
        return {i: self.returns[i] - before[i] for i in range(self.n)}

    def _enter_night(self) -> None:
        wolves = self.living_wolves()
        night = self.nights[-1]
        if len(wolves) >= 2:
            night.proposer, night.decider = wolves[0], wolves[1]
            self.phase = PHASE_PROPOSE
        else:
            night.decider = wolves[0]
            self.phase = PHASE_NIGHT

    def _resolve_night(self, joint_action: dict[int, Any]) -> None:
        night = self.nights[-1]
        for p, a in joint_action.items():
            role = self.roles[p]
            if role == WEREWOLF:
                night.target = a
            elif role == SEER:
                night.checks[p] = (a, self.roles[a] == WEREWOLF)
            elif role == DOCTOR:
                night.saves[p] = a
        if night.target not in night.saves.values():
            night.killed = night.target
            self.alive[night.target] = False
            night_kill_rewards(self, night.target)
        # Dawn: everyone hears who died (never the role); then the win check.
        if self._check_winner():
            return
        self.phase = PHASE_DISCUSSION
        self.speaker_queue = self.living()

    def _resolve_vote(self, votes: dict[int, Any]) -> None:
        day = self.days[-1]
        day.votes = dict(votes)
        tally: dict[int, int] = {}
        for target in votes.values():
            if target is not None:
                tally[target] = tally.get(target, 0) + 1
        eliminated = None
        if tally:  # all abstaining eliminates nobody (documented choice)
            top = max(tally.values())
            tied = sorted(j for j, c in tally.items() if c == top)
            eliminated = tied[0] if len(tied) == 1 else tied[self.rng.randrange(len(tied))]
            self.alive[eliminated] = False
        day.eliminated = eliminated
        end_of_day_rewards(self, votes, eliminated)
        if self._check_winner():
            return
        if self.round >= self.config.max_rounds:
            self.winner = DRAW
            self.phase = PHASE_DONE
            return
        self.round += 1
        self.nights.append(NightRecord())
        self.days.append(DayRecord())
        self._enter_night()

    def _check_winner(self) -> bool:
        wolves = sum(1 for i in range(self.n) if self.alive[i] and self.roles[i] == WEREWOLF)
        others = sum(1 for i in range(self.n) if self.alive[i] and self.roles[i] != WEREWOLF)
        if wolves == 0:
            self.winner = VILLAGE
        elif wolves >= others:
            self.winner = WOLVES
        else:
            return False
        self.phase = PHASE_DONE
        terminal_rewards(self)
        return True

    # -- information ---------------------------------------------------------------------
    def info_state(self, player: int):
        """Everything ``player`` may know now (see :class:`games.werewolf.observations.InfoState`)."""
        return info_state(self, player)

    def observation(self, player: int):
        return Observation(self, player)


def replay(seed: int, history: list[dict[int, Any]], config: WerewolfConfig | None = None) -> WerewolfEngine:
    """Rebuild a game from its seed and recorded joint actions (``engine.history``)."""
    engine = WerewolfEngine(config)
    engine.reset(seed)
    for joint in history:
        engine.step(joint)
    return engine
