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


def is_sharded(model: torch.nn.Module) -> bool:
    """Whether the parameters are sharded across processes (DeepSpeed ZeRO-3 or FSDP), so that
    a process does not hold the full weights."""
    for p in unwrap(model).parameters():
        return hasattr(p, "ds_id") or getattr(p, "_is_flat_param", False) or type(p).__name__ == "DTensor"
    return False


def copy_weights_(dst: torch.nn.Module, src: torch.nn.Module) -> None:
    """dst ← src, parameter by parameter (same architecture, full weights in this process)."""
    if is_sharded(dst) or is_sharded(src):
        raise GtlearnError("copying weights between policy copies needs full weights in every process; "
                           "ZeRO-3 and FSDP shard them (use DDP, ZeRO-1 or ZeRO-2; docs/trainers.md, Multi-process)")
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


def shards_parameters(trainer) -> bool:
    """Whether a ``Trainer`` runs under FSDP or DeepSpeed ZeRO-3 (parameters sharded)."""
    if getattr(trainer, "is_fsdp_enabled", False):
        return True
    plugin = getattr(getattr(trainer.accelerator, "state", None), "deepspeed_plugin", None)
    return bool(getattr(trainer, "is_deepspeed_enabled", False) and plugin is not None and plugin.zero_stage == 3)


def check_sharding(trainer, needs_full_weights: bool) -> None:
    """Refuse FSDP / ZeRO-3 for a trainer that copies or saves the policy's full weights."""
    if needs_full_weights and shards_parameters(trainer):
        raise GtlearnError(f"{type(trainer).__name__} copies the policy's full weights, which FSDP and ZeRO-3 shard "
                           "across processes; use DDP, ZeRO-1 or ZeRO-2 (docs/trainers.md, Multi-process)")


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


__all__ = ["is_peft", "is_sharded", "shards_parameters", "check_sharding", "frozen_copy", "copy_weights_", "prepare_models", "check_tokenizer", "ReferenceMixin"]
