"""Online training, shared by Nash-MP, Nash-MD and f-DPG (docs/trainers.md, "Online trainers").

The train dataset holds prompts (a ``"prompt"`` column); ``compute_loss`` samples completions,
queries the preference model and returns the surrogate loss of the micro-batch
(:meth:`OnlineTrainer.online_loss`). Only ``compute_loss`` is overridden (never
``training_step``, whose signature upstream changes), and every override accepts ``**kwargs``.
Draws are keyed by (step, micro-batch, role) and the row's place in the global batch
(:mod:`alignment.trainers.draws`).
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import Trainer

from alignment.trainers.config import TrainerConfig
from alignment.trainers.distributed import world
from alignment.trainers.draws import LABELS, DrawsMixin
from alignment.trainers.logprobs import Completions, sequence_logprobs
from alignment.trainers.mixins import CheckpointStateMixin, MetricsMixin, check_processes
from alignment.trainers.models import ReferenceMixin, check_sharding, check_tokenizer, is_peft, prepare_models
from gtlearn.core.errors import GtlearnError


def _prompt_collator(features: list[dict]) -> dict:
    return {"prompt": [f["prompt"] for f in features]}


class OnlineTrainer(ReferenceMixin, DrawsMixin, MetricsMixin, CheckpointStateMixin, Trainer):
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
        check_processes(self.args)
        check_sharding(self, self.needs_full_weights)
        self._begun_step = -1
        self._micro = 0

    @property
    def needs_full_weights(self) -> bool:
        """Whether the trainer copies the policy's full weights (it then refuses FSDP / ZeRO-3)."""
        return False

    def online_loss(self, model, prompts: list, first_micro: bool) -> torch.Tensor:
        """The loss of one micro-batch of prompts (``first_micro``: the first of its optimizer
        step); subclasses implement it."""
        raise NotImplementedError

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None, **kwargs):
        first = self._begun_step != self.state.global_step
        self._micro = 0 if first else self._micro + 1
        self._begun_step = self.state.global_step
        loss = self.online_loss(model, list(inputs["prompt"]), first)
        return (loss, None) if return_outputs else loss

    def draw_key(self, role: int) -> tuple[int, int, int]:
        """The key of this micro-batch's draws of ``role``."""
        return int(self.state.global_step), self._micro, role

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
        """P(y ≻ y') per row, or a Bernoulli label with ``label_mode='sample'`` (keyed, or from
        torch's global generator, whose state the Trainer checkpoints). ``preference_queries``
        counts the queries of all processes."""
        p = torch.as_tensor(self.preference.prob(prompts, ys, ys2), dtype=torch.float32, device=self.args.device)
        self.preference_queries += len(ys) * world()[1]
        if self.args.label_mode == "sample":
            p = self.draw_labels(p, self.draw_key(LABELS))
        return p

    def opponent_preference(self, y: Completions, y2: Completions, all_pairs: bool) -> torch.Tensor:
        """P(y_i ≻ y'_i) per row; with ``all_pairs`` the mean of P(y_i ≻ y'_j) over every opponent
        sample j of the row's prompt (rows hold ``num_generations`` consecutive samples per
        prompt): G² queries per prompt instead of G, an estimate of P(y ≻ μ) with less variance."""
        if not all_pairs:
            return self.query(y.prompts, y.texts, y2.texts)
        G = self.args.num_generations
        idx = [(g * G + i, g * G + j) for g in range(len(y) // G) for i in range(G) for j in range(G)]
        p = self.query([y.prompts[a] for a, _ in idx], [y.texts[a] for a, _ in idx], [y2.texts[b] for _, b in idx])
        return p.view(-1, G).mean(-1)

    def eos_offset(self, c: Completions) -> torch.Tensor | None:
        """The missing-EOS penalty as an offset to the reward (None when there is none)."""
        if self.args.missing_eos_penalty is None:
            return None
        return -float(self.args.missing_eos_penalty) * (~c.has_eos).float().to(self.args.device)

    def generation_groups(self, n: int) -> torch.Tensor:
        """Group ids of ``n`` rows holding ``num_generations`` consecutive samples per prompt."""
        return torch.arange(n, device=self.args.device) // self.args.num_generations

    def _record_pairwise(self, pref, lp, ref_lp, stats) -> None:
        self._record("rewards/", {"probabilities": pref.mean(), "accuracies": (pref > 0.5).float().mean(),
                                  "mean": stats["reward"]})
        self._record("logps/", {"policy": lp.detach().mean(), "ref": ref_lp.mean()})
        self._record("kl/", {"ref": stats["kl_ref"]})

    def _record_completions(self, c: Completions) -> None:
        self._record("completions/", {
            "mean_length": c.completion_mask.sum(-1).float().mean(),
            "clipped_ratio": (~c.has_eos).float().mean(),
        })
        self._record("preference/", {"queries": self.preference_queries})

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
