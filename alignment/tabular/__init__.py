"""The tabular alignment lab (docs/preference_games.md): every algorithm as an exact update on a
finite preference game (``mode="exact"``) or with sampled Bernoulli preferences and a query
counter (``mode="sampled"``), each a solver (gtlearn.core.solver) built from a preference game
and its config. One module per algorithm; :data:`TABULAR_ALGORITHMS` maps the CLI names to
``Entry(name, cls, config_cls)``.
"""

from alignment.tabular.algorithm import TabularAlgorithm, TabularConfig
from alignment.tabular.apo import APO, APOConfig
from alignment.tabular.dpo import DPOConfig, IPOConfig, IterativeDPO, OnlineIPO
from alignment.tabular.fdpg import FDPG, FDPGConfig
from alignment.tabular.inpo import INPO, INPOConfig
from alignment.tabular.nash_md import NashMD, NashMDConfig
from alignment.tabular.nash_mp import NashMP, NashMPConfig
from alignment.tabular.omd import OMD, OMDConfig
from alignment.tabular.source import PreferenceSource
from alignment.tabular.sppo import SPPO, SPPOConfig
from alignment.tabular.targets import (
    Target,
    base_game,
    distributional_target,
    fdpg_target,
    pointwise_target,
    rlhf_target,
)
from gtlearn.core.registry import Registry

TABULAR_ALGORITHMS = Registry("tabular algorithm")
for _cls in (NashMP, INPO, APO, NashMD, OMD, IterativeDPO, OnlineIPO, SPPO, FDPG):
    TABULAR_ALGORITHMS.add(_cls.name, _cls, _cls.config_class)

__all__ = [
    "APO", "APOConfig", "DPOConfig", "FDPG", "FDPGConfig", "INPO", "INPOConfig", "IPOConfig",
    "IterativeDPO", "NashMD", "NashMDConfig", "NashMP", "NashMPConfig", "OMD", "OMDConfig", "OnlineIPO",
    "PreferenceSource", "SPPO", "SPPOConfig", "TABULAR_ALGORITHMS", "TabularAlgorithm", "TabularConfig", "Target",
    "base_game", "distributional_target", "fdpg_target", "pointwise_target", "rlhf_target",
]
