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
    sampling_rng: str = field(default="keyed", metadata={"help": "'keyed': each sample's randomness is keyed by "
                              "(seed, step, its global index), so a run split over processes draws what one process "
                              "draws; 'global': torch's global generator (one process only)."})
    generation_backend: str = field(default="local", metadata={"help": "'local' (the policy samples, KV cache) or "
                                    "'server' (an OpenAI-compatible /completions endpoint, e.g. vLLM)."})
    server_base_url: str | None = field(default=None, metadata={"help": "Base URL of the server backend "
                                        "(e.g. http://127.0.0.1:8000/v1)."})
    server_model: str = field(default="policy", metadata={"help": "Model name sent to the server backend."})
    server_timeout: float = field(default=120.0, metadata={"help": "Seconds per server request."})
    learning_rate: float = 5e-7
    remove_unused_columns: bool = False
    report_to: Any = "none"
    logging_steps: float = 1
    save_strategy: Any = "no"
    ddp_find_unused_parameters: bool | None = False  # every parameter takes part in every loss

    def __post_init__(self):
        super().__post_init__()
        if self.logprob_reduction not in ("sum", "mean"):
            raise GtlearnError(f"logprob_reduction must be 'sum' or 'mean', got {self.logprob_reduction!r}")
        if self.label_mode not in ("prob", "sample"):
            raise GtlearnError(f"label_mode must be 'prob' or 'sample', got {self.label_mode!r}")
        if self.sampling_rng not in ("keyed", "global"):
            raise GtlearnError(f"sampling_rng must be 'keyed' or 'global', got {self.sampling_rng!r}")
        if self.generation_backend not in ("local", "server"):
            raise GtlearnError(f"generation_backend must be 'local' or 'server', got {self.generation_backend!r}")
        if self.generation_backend == "server" and not self.server_base_url:
            raise GtlearnError("generation_backend='server' needs server_base_url")
        if self.beta < 0:
            raise GtlearnError(f"beta must be >= 0, got {self.beta}")

    def generation_kwargs(self) -> dict[str, Any]:
        """The sampling settings that every ``generate`` call of a trainer passes on."""
        return dict(max_new_tokens=self.max_new_tokens, temperature=self.temperature,
                    max_prompt_length=self.max_prompt_length)


__all__ = ["TrainerConfig"]
