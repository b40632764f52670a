"""The vocabulary of the Werewolf game: roles, phases, sides, the game composition and the
per-round records. Every other module of :mod:`games.werewolf` builds on these.

The rules themselves -- and the choices where the LSPO paper is silent -- are documented in
:mod:`games.werewolf.engine` and docs/lspo.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from games.werewolf.rewards import RewardConfig
from gtlearn.core.errors import GtlearnError

WEREWOLF = "werewolf"
SEER = "seer"
DOCTOR = "doctor"
VILLAGER = "villager"
ROLES = (WEREWOLF, SEER, DOCTOR, VILLAGER)

PHASE_PROPOSE = "night_propose"
PHASE_NIGHT = "night"
PHASE_DISCUSSION = "discussion"
PHASE_VOTE = "vote"
PHASE_DONE = "done"

WOLVES = "werewolves"
VILLAGE = "village"
DRAW = "draw"


@dataclass
class WerewolfConfig:
    """Game composition and the documented rule choices."""

    num_werewolves: int = 2
    num_seers: int = 1
    num_doctors: int = 1
    num_villagers: int = 3
    max_rounds: int = 10
    all_abstain: str = "nobody"  # the only supported choice; kept explicit for the manifest
    rewards: Any = None  # a RewardConfig; None = the paper's rewards

    def __post_init__(self) -> None:
        if self.num_werewolves < 1:
            raise GtlearnError("a Werewolf game needs at least one werewolf")
        if self.num_players - self.num_werewolves <= self.num_werewolves:
            raise GtlearnError("the village side must outnumber the werewolves at the start")
        if self.max_rounds < 1:
            raise GtlearnError("max_rounds must be at least 1")
        if self.all_abstain != "nobody":
            raise GtlearnError(f"unknown all_abstain rule {self.all_abstain!r}; supported: 'nobody'")
        if self.rewards is None:
            self.rewards = RewardConfig()

    @property
    def num_players(self) -> int:
        return self.num_werewolves + self.num_seers + self.num_doctors + self.num_villagers

    def deck(self) -> list[str]:
        return (
            [WEREWOLF] * self.num_werewolves
            + [SEER] * self.num_seers
            + [DOCTOR] * self.num_doctors
            + [VILLAGER] * self.num_villagers
        )


@dataclass
class NightRecord:
    proposal: int | None = None  # the proposing wolf's target (two wolves alive)
    proposer: int | None = None
    target: int | None = None  # the final kill target
    decider: int | None = None
    checks: dict[int, tuple[int, bool]] = field(default_factory=dict)  # seer -> (target, is wolf)
    saves: dict[int, int] = field(default_factory=dict)  # doctor -> protected player
    killed: int | None = None


@dataclass
class DayRecord:
    statements: list[tuple[int, Any]] = field(default_factory=list)  # (speaker, statement)
    votes: dict[int, int | None] = field(default_factory=dict)  # voter -> target (None = abstain)
    eliminated: int | None = None


def player_name(i: int) -> str:
    return f"player_{i}"
