"""Alignment trainers for Hugging Face causal LMs (spec ``shared/specs/alignment.md`` §2–§7).

One module per algorithm, each with its ``XConfig`` dataclass beside the ``XTrainer``
(TRL style, both built on ``transformers.Trainer``):

=============  ===========================  ==============================
module         classes                      paper
=============  ===========================  ==============================
``nash_mp``    NashMPConfig/NashMPTrainer   Nash Mirror Prox, arXiv:2505.19731
``inpo``       INPOConfig/INPOTrainer       Zhang et al., ICLR 2025, arXiv:2410.23223
``apo``        APOConfig/APOTrainer         He et al., arXiv:2410.06293
``fdpg``       FDPGConfig/FDPGTrainer       Go et al., ICML 2023, arXiv:2302.08215
``nash_md``    NashMDConfig/NashMDTrainer   Munos et al., ICML 2024, arXiv:2312.00886
=============  ===========================  ==============================

``losses`` holds the losses as pure functions of log-prob tensors, ``logprobs`` the sequence
log-probabilities and samplers, ``base`` the shared trainer machinery. Importing this package
imports torch and transformers.
"""

from alignment.trainers.apo import APOConfig, APOTrainer
from alignment.trainers.base import AlignConfig, OnlineTrainer, PairwiseTrainer, RoundTrainer
from alignment.trainers.fdpg import FDPGConfig, FDPGTrainer
from alignment.trainers.inpo import INPOConfig, INPOTrainer
from alignment.trainers.nash_md import NashMDConfig, NashMDTrainer
from alignment.trainers.nash_mp import NashMPConfig, NashMPTrainer

TRAINERS = {
    "nash-mp": (NashMPConfig, NashMPTrainer),
    "inpo": (INPOConfig, INPOTrainer),
    "apo": (APOConfig, APOTrainer),
    "fdpg": (FDPGConfig, FDPGTrainer),
    "nash-md": (NashMDConfig, NashMDTrainer),
}

__all__ = [
    "AlignConfig",
    "OnlineTrainer",
    "PairwiseTrainer",
    "RoundTrainer",
    "NashMPConfig",
    "NashMPTrainer",
    "INPOConfig",
    "INPOTrainer",
    "APOConfig",
    "APOTrainer",
    "FDPGConfig",
    "FDPGTrainer",
    "NashMDConfig",
    "NashMDTrainer",
    "TRAINERS",
]
