"""The fields every LM trainer shares, on top of ``transformers.TrainingArguments``.

Each algorithm's ``<Algo>TrainerConfig`` subclasses :class:`TrainerConfig` (docs/trainers.md,
"Configs"). Field names follow TRL where the meaning is the same (``beta``, ``max_new_tokens``,
``temperature``, ``missing_eos_penalty``, ``mixture_coef``) and the tabular lab's configs
(``alignment.tabular``) where the concept is the same (``beta``, ``eta``, ``alpha``,
``prox_coef``, ``divergence``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from transformers import TrainingArguments

from gtlearn.core.errors import GtlearnError


@dataclass
class TrainerConfig(TrainingArguments):
    """Fields shared by every alignment trainer.

    Defaults follow TRL's online trainers where the meaning is the same (``beta``,
    ``max_new_tokens``, ``temperature``, ``missing_eos_penalty``).
    """

    beta: float = field(default=0.1, metadata={"help": "KL regularization strength to the reference."})
    max_new_tokens: int = field(default=64, metadata={"help": "Generation length."})
    temperature: float = field(default=0.9, metadata={"help": "Sampling temperature (log-probs are at temperature 1)."})
    max_prompt_length: int | None = field(default=512, metadata={"help": "Prompts keep their last tokens."})
    logprob_reduction: str = field(default="sum", metadata={"help": "'sum' (the papers') or 'mean' over completion tokens."})
    missing_eos_penalty: float | None = field(default=None, metadata={"help": "Subtracted from the reward of completions without EOS."})
    label_mode: str = field(default="prob", metadata={"help": "'prob': use P(y>y') as is; 'sample': one Bernoulli label per query."})
    learning_rate: float = 5e-7
    remove_unused_columns: bool = False
    report_to: Any = "none"
    logging_steps: float = 1
    save_strategy: Any = "no"

    def __post_init__(self):
        super().__post_init__()
        if self.logprob_reduction not in ("sum", "mean"):
            raise GtlearnError(f"logprob_reduction must be 'sum' or 'mean', got {self.logprob_reduction!r}")
        if self.label_mode not in ("prob", "sample"):
            raise GtlearnError(f"label_mode must be 'prob' or 'sample', got {self.label_mode!r}")
        if self.beta < 0:
            raise GtlearnError(f"beta must be >= 0, got {self.beta}")

    def generation_kwargs(self) -> dict[str, Any]:
        """The sampling settings that every ``generate`` call of a trainer passes on."""
        return dict(max_new_tokens=self.max_new_tokens, temperature=self.temperature,
                    max_prompt_length=self.max_prompt_length)


__all__ = ["TrainerConfig"]
