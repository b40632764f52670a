"""The 7-player Werewolf game of the LSPO paper (arXiv 2502.04686): rules engine, language and
vector observations, rewards. Pure Python + numpy, deterministic given a seed."""

from games.werewolf.engine import (
    DOCTOR,
    DRAW,
    ROLES,
    SEER,
    VILLAGE,
    VILLAGER,
    WEREWOLF,
    WOLVES,
    WerewolfConfig,
    WerewolfEngine,
    replay,
)
from games.werewolf.observations import (
    InfoState,
    Observation,
    info_state,
    vector,
    vector_size,
)
from games.werewolf.rewards import RewardConfig

__all__ = [
    "DOCTOR",
    "DRAW",
    "ROLES",
    "SEER",
    "VILLAGE",
    "VILLAGER",
    "WEREWOLF",
    "WOLVES",
    "InfoState",
    "Observation",
    "RewardConfig",
    "WerewolfConfig",
    "WerewolfEngine",
    "info_state",
    "replay",
    "vector",
    "vector_size",
]
