"""Alignment trainers for Hugging Face causal LMs (docs/trainers.md).

One module per algorithm, each holding its ``<Algo>TrainerConfig`` dataclass, its loss (a pure
function of log-prob tensors) and its ``<Algo>Trainer`` (TRL style, built on
``transformers.Trainer``):

=============  ==========================================  ==================================
module         classes                                     paper
=============  ==========================================  ==================================
``nash_mp``    NashMPTrainerConfig / NashMPTrainer         Tiapkin et al., arXiv:2505.19731
``inpo``       INPOTrainerConfig / INPOTrainer             Zhang et al., ICLR 2025, arXiv:2407.00617
``apo``        APOTrainerConfig / APOTrainer               He et al., arXiv:2410.06293
``fdpg``       FDPGTrainerConfig / FDPGTrainer             Go et al., ICML 2023, arXiv:2302.08215
``nash_md``    NashMDTrainerConfig / NashMDTrainer         Munos et al., ICML 2024, arXiv:2312.00886
=============  ==========================================  ==================================

Shared machinery, by what it is: ``config`` (the shared fields), ``models`` (LoRA, the frozen
reference and frozen copies), ``logprobs`` (sequence log-probs, tokenization), ``sampling``
(batched KV-cache generation, the geometric-mixture sampler), ``rng`` (keyed randomness),
``draws`` (what a trainer draws — completions, labels — and from where), ``server`` (the
OpenAI-compatible generation backend), ``distributed`` (multi-process helpers), ``online`` (the
generate-in-the-step base), ``rounds`` (the round-based base of INPO and APO), ``pairs`` (pair
construction, pair batches, frozen columns), ``mixins`` (metrics, checkpointed trainer state),
``loading`` (models, datasets and preference models from names). :data:`TRAINERS` maps a name
to its trainer and config classes; ``pipeline`` runs a trainer end to end (a Run directory with
the toolkit's metric records). Importing this package imports torch and transformers.
"""

from alignment.trainers.apo import APOTrainer, APOTrainerConfig
from alignment.trainers.config import TrainerConfig
from alignment.trainers.fdpg import FDPGTrainer, FDPGTrainerConfig
from alignment.trainers.inpo import INPOTrainer, INPOTrainerConfig
from alignment.trainers.nash_md import NashMDTrainer, NashMDTrainerConfig
from alignment.trainers.nash_mp import NashMPTrainer, NashMPTrainerConfig
from alignment.trainers.online import OnlineTrainer
from alignment.trainers.registry import TRAINERS
from alignment.trainers.rounds import RoundTrainer, RoundTrainerConfig

__all__ = [
    "TRAINERS",
    "TrainerConfig",
    "OnlineTrainer",
    "RoundTrainer",
    "RoundTrainerConfig",
    "NashMPTrainerConfig",
    "NashMPTrainer",
    "INPOTrainerConfig",
    "INPOTrainer",
    "APOTrainerConfig",
    "APOTrainer",
    "FDPGTrainerConfig",
    "FDPGTrainer",
    "NashMDTrainerConfig",
    "NashMDTrainer",
]
