"""The tabular alignment lab: every algorithm as an exact update on a finite preference game
(``mode="exact"``) or with sampled Bernoulli preferences and a query counter
(``mode="sampled"``). One module per algorithm; :data:`ALGORITHMS` maps CLI names to
(class, config class).
"""

from alignment.tabular.apo import APO, APOConfig
from alignment.tabular.common import PreferenceSource, TabularAlgorithm, TabularConfig
from alignment.tabular.dpo import DPOConfig, IPOConfig, IterativeDPO, OnlineIPO
from alignment.tabular.fdpg import FDPG, FDPGConfig, Target, distributional_target, pointwise_target, rlhf_target
from alignment.tabular.inpo import INPO, INPOConfig
from alignment.tabular.nash_md import NashMD, NashMDConfig
from alignment.tabular.nash_mp import NashMP, NashMPConfig
from alignment.tabular.omd import OMD, OMDConfig
from alignment.tabular.sppo import SPPO, SPPOConfig

ALGORITHMS = {
    "nash-mp": (NashMP, NashMPConfig),
    "inpo": (INPO, INPOConfig),
    "apo": (APO, APOConfig),
    "nash-md": (NashMD, NashMDConfig),
    "omd": (OMD, OMDConfig),
    "dpo": (IterativeDPO, DPOConfig),
    "ipo": (OnlineIPO, IPOConfig),
    "sppo": (SPPO, SPPOConfig),
}

__all__ = [
    "ALGORITHMS", "APO", "APOConfig", "DPOConfig", "FDPG", "FDPGConfig", "INPO", "INPOConfig", "IPOConfig",
    "IterativeDPO", "NashMD", "NashMDConfig", "NashMP", "NashMPConfig", "OMD", "OMDConfig", "OnlineIPO",
    "PreferenceSource", "SPPO", "SPPOConfig", "TabularAlgorithm", "TabularConfig", "Target",
    "distributional_target", "pointwise_target", "rlhf_target",
]
