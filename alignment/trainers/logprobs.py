"""Sequence log-probabilities and tokenization shared by the alignment trainers.

Conventions (docs/trainers.md, "Conventions"):

* a sequence log-probability is ``log π(y|x) = Σ_t log π(y_t | x, y_<t)`` summed over the
  completion tokens up to and including the first EOS; padding is masked; no length
  normalization unless ``reduction="mean"`` is asked for;
* prompts are left-padded (so that generation appends to the right), completions are
  right-padded; position ids are ``cumsum(attention_mask) − 1`` so that a left-padded prompt gets
  the same positions in the scoring pass as in ``generate`` (models such as Qwen2 would
  otherwise number the pad slots).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Sequence

import torch


@dataclass
class Completions:
    """A batch of prompts and sampled completions, as token tensors.

    ``prompt_ids``/``prompt_mask``: ``[B, Lp]`` left-padded. ``completion_ids``/
    ``completion_mask``: ``[B, Lc]`` right-padded; the mask covers the tokens up to and
    including the first EOS. ``has_eos``: ``[B]`` bool. ``prompts``/``texts``: the prompt strings
    and the decoded completions (special tokens stripped).
    """

    prompt_ids: torch.Tensor
    prompt_mask: torch.Tensor
    completion_ids: torch.Tensor
    completion_mask: torch.Tensor
    has_eos: torch.Tensor
    prompts: list[str]
    texts: list[str]

    def __len__(self) -> int:
        return int(self.prompt_ids.shape[0])


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module under DDP/accelerate wrappers (``module`` attribute), else the model."""
    while hasattr(model, "module") and isinstance(getattr(model, "module"), torch.nn.Module):
        model = model.module
    return model


def render_prompt(tokenizer, prompt: Any) -> str:
    """A prompt as text: strings pass through; a list of chat messages goes through the
    tokenizer's chat template with the generation prompt appended."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, (list, tuple)) and prompt and isinstance(prompt[0], dict):
        return tokenizer.apply_chat_template(list(prompt), tokenize=False, add_generation_prompt=True)
    raise TypeError(f"a prompt must be a string or a list of chat messages, got {type(prompt).__name__}")


def tokenize_prompts(tokenizer, prompts: Sequence[Any], device=None, max_length: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded ``(input_ids, attention_mask)`` for a list of prompts. Long prompts keep
    their last ``max_length`` tokens (the end of a prompt is what the answer depends on)."""
    texts = [render_prompt(tokenizer, p) for p in prompts]
    ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    if max_length is not None:
        ids = [x[-max_length:] for x in ids]
    return left_pad(ids, tokenizer.pad_token_id, device)


def left_pad(seqs: Sequence[Sequence[int]], pad_id: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    L = max(1, max(len(s) for s in seqs))
    ids = torch.full((len(seqs), L), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), L), dtype=torch.long)
    for i, s in enumerate(seqs):
        if len(s):
            ids[i, L - len(s):] = torch.as_tensor(list(s), dtype=torch.long)
            mask[i, L - len(s):] = 1
    return ids.to(device), mask.to(device)


def right_pad(seqs: Sequence[Sequence[int]], pad_id: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    L = max(1, max(len(s) for s in seqs))
    ids = torch.full((len(seqs), L), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), L), dtype=torch.long)
    for i, s in enumerate(seqs):
        if len(s):
            ids[i, : len(s)] = torch.as_tensor(list(s), dtype=torch.long)
            mask[i, : len(s)] = 1
    return ids.to(device), mask.to(device)


def truncate_at_eos(completion_ids: torch.Tensor, eos_token_id: int, pad_token_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mask everything after the first EOS (the EOS itself is kept) and overwrite it with pad.
    Returns ``(ids, mask, has_eos)``."""
    is_eos = completion_ids == eos_token_id
    has_eos = is_eos.any(dim=1)
    first = torch.where(has_eos, is_eos.int().argmax(dim=1), torch.full_like(has_eos, completion_ids.shape[1], dtype=torch.long))
    pos = torch.arange(completion_ids.shape[1], device=completion_ids.device)[None, :]
    # pad tokens are never part of a completion (the pad token is distinct from EOS)
    mask = ((pos <= first[:, None]) & (completion_ids != pad_token_id)).long()
    ids = torch.where(mask.bool(), completion_ids, torch.full_like(completion_ids, pad_token_id))
    return ids, mask, has_eos


def completions_from_ids(tokenizer, prompts: list, prompt_ids, prompt_mask, completion_ids: Sequence[Sequence[int]] | torch.Tensor) -> Completions:
    """Build :class:`Completions` from given completion token lists (used for fixed batches in
    tests and for pair datasets)."""
    if not isinstance(completion_ids, torch.Tensor):
        completion_ids, _ = right_pad(completion_ids, tokenizer.pad_token_id, prompt_ids.device)
    ids, mask, has_eos = truncate_at_eos(completion_ids, tokenizer.eos_token_id, tokenizer.pad_token_id)
    texts = tokenizer.batch_decode(ids, skip_special_tokens=True)
    return Completions(prompt_ids, prompt_mask, ids, mask, has_eos, [render_prompt(tokenizer, p) for p in prompts], texts)


def selective_log_softmax(logits: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``log_softmax(logits)[..., index]`` without materializing the full log-softmax twice."""
    logits = logits.float()
    return logits.gather(-1, index.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, dim=-1)


def position_ids_from_mask(mask: torch.Tensor) -> torch.Tensor:
    return (mask.long().cumsum(-1) - 1).clamp(min=0)


def sequence_logprobs(
    model: torch.nn.Module,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    completion_ids: torch.Tensor,
    completion_mask: torch.Tensor,
    *,
    reduction: str = "sum",
    temperature: float = 1.0,
    return_token_logps: bool = False,
):
    """``log π(y|x)`` per row, summed over the completion tokens (``reduction="sum"``, the
    papers' convention) or averaged (``"mean"``, only where a config asks for it).

    Only the logits of the completion positions are computed (``logits_to_keep``), which
    matters for large vocabularies."""
    ids = torch.cat([prompt_ids, completion_ids], dim=1)
    mask = torch.cat([prompt_mask, completion_mask], dim=1)
    Lc = completion_ids.shape[1]
    kwargs: dict[str, Any] = dict(input_ids=ids, attention_mask=mask, position_ids=position_ids_from_mask(mask), use_cache=False)
    try:
        logits = model(**kwargs, logits_to_keep=Lc + 1).logits
    except TypeError:  # models without logits_to_keep
        logits = model(**kwargs).logits
    logits = logits[:, -(Lc + 1):-1, :]
    if temperature != 1.0:
        logits = logits / temperature
    tok = selective_log_softmax(logits, completion_ids) * completion_mask
    out = tok.sum(-1)
    if reduction == "mean":
        out = out / completion_mask.sum(-1).clamp(min=1)
    elif reduction != "sum":
        raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
    return (out, tok) if return_token_logps else out


@contextlib.contextmanager
def eval_mode(model: torch.nn.Module):
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        if was_training:
            model.train()


__all__ = [
    "Completions",
    "render_prompt",
    "tokenize_prompts",
    "left_pad",
    "right_pad",
    "truncate_at_eos",
    "completions_from_ids",
    "selective_log_softmax",
    "sequence_logprobs",
    "eval_mode",
    "position_ids_from_mask",
    "unwrap",
]

