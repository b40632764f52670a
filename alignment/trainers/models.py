"""Model preparation: LoRA wrapping, the frozen reference, frozen copies (anchors, half-step
policies, proposals) and weight copies between them (docs/trainers.md, "Reference model").

The reference is a frozen copy of the policy, a given frozen model, or, for a PEFT model with
``ref_model=None``, the base model with the adapter disabled (no copy).
"""

from __future__ import annotations

import contextlib
import copy

import torch

from alignment.trainers.logprobs import unwrap
from gtlearn.core.errors import GtlearnError


def is_peft(model) -> bool:
    try:
        from peft import PeftModel
    except ImportError:  # pragma: no cover - peft is part of the llm extra
        return False
    return isinstance(model, PeftModel)


def frozen_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A deep copy with gradients off, in eval mode (anchors, half-step copies, references)."""
    m = copy.deepcopy(unwrap(model))
    m.requires_grad_(False)
    m.eval()
    return m


def copy_weights_(dst: torch.nn.Module, src: torch.nn.Module) -> None:
    """dst ← src, parameter by parameter (same architecture)."""
    unwrap(dst).load_state_dict(unwrap(src).state_dict())


@torch.no_grad()
def prepare_models(model, ref_model, peft_config):
    """Wrap ``model`` with LoRA when ``peft_config`` is given, and settle the reference: a
    given reference is frozen; without one, a PEFT model uses its base with the adapter
    disabled (``ref_model`` stays None) and any other model gets a frozen copy."""
    if peft_config is not None:
        from peft import get_peft_model

        model = get_peft_model(model, peft_config)
    if ref_model is None and not is_peft(model):
        ref_model = frozen_copy(model)
    elif ref_model is not None:
        ref_model.requires_grad_(False)
        ref_model.eval()
    return model, ref_model


def check_tokenizer(trainer_name: str, tokenizer) -> None:
    """Completions are masked by their pad tokens, so pad must exist and differ from EOS."""
    if tokenizer is None:
        raise GtlearnError(f"{trainer_name} needs a tokenizer (processing_class=)")
    if tokenizer.pad_token_id is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
        raise GtlearnError("the tokenizer needs a pad token distinct from EOS")


class ReferenceMixin:
    """The reference policy of a trainer whose ``ref_model`` is set by :func:`prepare_models`
    (``None`` for a PEFT policy: its base, under :meth:`ref_context`)."""

    ref_model: torch.nn.Module | None

    def ref_context(self):
        """Context under which :attr:`ref_policy` computes reference log-probs."""
        if self.ref_model is None:
            return unwrap(self.model).disable_adapter()
        return contextlib.nullcontext()

    @property
    def ref_policy(self) -> torch.nn.Module:
        return self.ref_model if self.ref_model is not None else unwrap(self.model)


__all__ = ["is_peft", "frozen_copy", "copy_weights_", "prepare_models", "check_tokenizer", "ReferenceMixin"]
