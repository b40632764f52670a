"""Online training, shared by Nash-MP, Nash-MD and f-DPG (docs/trainers.md, "Online trainers").

The train dataset holds prompts (a ``"prompt"`` column); ``compute_loss`` samples completions,
queries the preference model and returns the surrogate loss. Only ``compute_loss`` is
overridden (never ``training_step``, whose signature upstream changes), and every override
accepts ``**kwargs``.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import Trainer

from alignment.trainers.config import TrainerConfig
from alignment.trainers.logprobs import Completions, sequence_logprobs
from alignment.trainers.mixins import CheckpointStateMixin, MetricsMixin
from alignment.trainers.models import ReferenceMixin, check_tokenizer, is_peft, prepare_models
from gtlearn.core.errors import GtlearnError


def _prompt_collator(features: list[dict]) -> dict:
    return {"prompt": [f["prompt"] for f in features]}


class OnlineTrainer(ReferenceMixin, MetricsMixin, CheckpointStateMixin, Trainer):
    """Base of the generate-in-the-step trainers.

    Args:
        model: the policy (a causal LM, possibly a ``PeftModel``).
        ref_model: frozen reference; ``None`` means a frozen copy of ``model`` — or, for a PEFT
            model, the base with the adapter disabled (no copy).
        args: the trainer's config.
        processing_class: the tokenizer (left padding for prompts is done here).
        train_dataset: a ``datasets.Dataset`` with a ``"prompt"`` column (strings or chat lists).
        preference: a :class:`alignment.preference_models.PreferenceOracle`.
        peft_config: if given, ``model`` is wrapped with ``peft.get_peft_model``.
    """

    def __init__(self, model, ref_model=None, args: TrainerConfig | None = None, processing_class=None,
                 train_dataset=None, preference=None, callbacks=None, peft_config=None, **kwargs) -> None:
        if args is None:
            raise GtlearnError(f"{type(self).__name__} needs a config")
        check_tokenizer(type(self).__name__, processing_class)
        model, ref_model = prepare_models(model, ref_model, peft_config)
        self.is_peft = is_peft(model)
        self.preference = preference
        self.preference_queries = 0
        super().__init__(model=model, args=args, data_collator=_prompt_collator, train_dataset=train_dataset,
                         processing_class=processing_class, callbacks=callbacks, **kwargs)
        self.ref_model = ref_model.to(self.args.device) if ref_model is not None else None
        self._begun_step = -1

    def logprobs(self, model, c: Completions, *, grad: bool, tokens: bool = False):
        """Sequence log-probs of ``c`` under ``model`` (and the per-token ones with ``tokens``)."""
        def fn():
            return sequence_logprobs(model, c.prompt_ids, c.prompt_mask, c.completion_ids, c.completion_mask,
                                     reduction=self.args.logprob_reduction, return_token_logps=tokens)

        if grad:
            return fn()
        with torch.no_grad():
            return fn()

    def ref_logprobs(self, c: Completions, tokens: bool = False):
        with self.ref_context():
            return self.logprobs(self.ref_policy, c, grad=False, tokens=tokens)

    def query(self, prompts, ys, ys2) -> torch.Tensor:
        """P(y ≻ y') per row, or a Bernoulli label with ``label_mode='sample'`` (drawn from torch's
        RNG, whose state the Trainer checkpoints)."""
        p = torch.as_tensor(self.preference.prob(prompts, ys, ys2), dtype=torch.float32, device=self.args.device)
        self.preference_queries += len(ys)
        if self.args.label_mode == "sample":
            p = (torch.rand(p.shape, device="cpu").to(p.device) < p).float()
        return p

    def eos_offset(self, c: Completions) -> torch.Tensor | None:
        """The missing-EOS penalty as an offset to the reward (None when there is none)."""
        if self.args.missing_eos_penalty is None:
            return None
        return -float(self.args.missing_eos_penalty) * (~c.has_eos).float().to(self.args.device)

    def _step_started(self) -> bool:
        """True exactly once per optimizer step (at its first micro-batch)."""
        if self._begun_step == self.state.global_step:
            return False
        self._begun_step = self.state.global_step
        return True

    def _record_completions(self, c: Completions) -> None:
        self._record("completions/", {
            "mean_length": c.completion_mask.sum(-1).float().mean(),
            "eos_rate": c.has_eos.float().mean(),
        })
        self._record("objective/", {"preference_queries": self.preference_queries})

    def _extra_state(self) -> dict[str, Any]:
        return {"preference_queries": self.preference_queries}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self.preference_queries = int(state.get("preference_queries", 0))

    def train(self, resume_from_checkpoint=None, **kwargs):
        path = self._resolve_checkpoint(resume_from_checkpoint)
        self._restore_extra(path)
        if self._finished_checkpoint(path):
            return None
        return super().train(resume_from_checkpoint=path, **kwargs)


__all__ = ["OnlineTrainer"]
