"""Sequence log-probabilities, tokenization and sampling shared by the alignment trainers.

Conventions (spec ``shared/specs/alignment.md`` §0):

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
    spec's convention) or averaged (``"mean"``, only where a config asks for it).

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


@torch.no_grad()
def generate(
    model: torch.nn.Module,
    tokenizer,
    prompts: list,
    *,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_p: float = 1.0,
    num_samples: int = 1,
    max_prompt_length: int | None = None,
) -> Completions:
    """Sample ``num_samples`` completions per prompt with ``transformers``' ``generate``
    (multinomial sampling; rows are grouped by prompt: prompt i owns rows i·K … i·K+K−1)."""
    device = next(unwrap(model).parameters()).device
    rep = [p for p in prompts for _ in range(num_samples)]
    pid, pmask = tokenize_prompts(tokenizer, rep, device, max_prompt_length)
    m = unwrap(model)
    with eval_mode(m):
        out = m.generate(
            input_ids=pid,
            attention_mask=pmask,
            do_sample=True,
            temperature=temperature,
            top_p=top_p,
            top_k=0,
            max_new_tokens=max_new_tokens,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    comp = out[:, pid.shape[1]:]
    if comp.shape[1] == 0:
        comp = torch.full((pid.shape[0], 1), tokenizer.pad_token_id, dtype=torch.long, device=device)
    return completions_from_ids(tokenizer, rep, pid, pmask, comp)


def _cache_kw(model, cache) -> dict:
    """The KV-cache keyword of this transformers version (``cache`` in v5, else
    ``past_key_values``)."""
    import inspect

    m = unwrap(model)
    fwd = m.get_base_model().forward if hasattr(m, "get_base_model") else m.forward
    name = "cache" if "cache" in inspect.signature(fwd).parameters else "past_key_values"
    return {name: cache} if cache is not None else {}


def _cache_of(out):
    return getattr(out, "cache", None) if getattr(out, "cache", None) is not None else getattr(out, "past_key_values", None)


@torch.no_grad()
def generate_mixture(
    model: torch.nn.Module,
    ref_model: torch.nn.Module,
    tokenizer,
    prompts: list,
    *,
    mixture_coef: float,
    max_new_tokens: int,
    temperature: float = 1.0,
    max_prompt_length: int | None = None,
    ref_context=None,
) -> Completions:
    """Sample from the token-level geometric mixture ``softmax((1−c)·logits_θ + c·logits_ref)``
    (Nash-MD, spec §6.1; ``c = mixture_coef`` weights the **reference**). Each model keeps its
    own KV cache. ``ref_context`` is a context manager factory under which ``ref_model`` is
    run (used to disable a PEFT adapter when the reference is the adapter's base)."""
    device = next(unwrap(model).parameters()).device
    pid, pmask = tokenize_prompts(tokenizer, prompts, device, max_prompt_length)
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    ref_ctx = ref_context or contextlib.nullcontext
    m, r = unwrap(model), unwrap(ref_model)
    B = pid.shape[0]
    mask = pmask.clone()
    tokens = []
    finished = torch.zeros(B, dtype=torch.bool, device=device)
    past_m = past_r = None
    inp = pid
    with eval_mode(m), eval_mode(r):
        for _ in range(max_new_tokens):
            pos = position_ids_from_mask(mask)[:, -inp.shape[1]:]
            om = m(input_ids=inp, attention_mask=mask, position_ids=pos, use_cache=True, **_cache_kw(m, past_m))
            with ref_ctx():
                orf = r(input_ids=inp, attention_mask=mask, position_ids=pos, use_cache=True, **_cache_kw(r, past_r))
            past_m, past_r = _cache_of(om), _cache_of(orf)
            logits = (1.0 - mixture_coef) * om.logits[:, -1].float() + mixture_coef * orf.logits[:, -1].float()
            probs = torch.softmax(logits / temperature, dim=-1)
            nxt = torch.multinomial(probs, 1).squeeze(1)
            nxt = torch.where(finished, torch.full_like(nxt, pad), nxt)
            tokens.append(nxt)
            finished |= nxt == eos
            mask = torch.cat([mask, (~finished | (nxt == eos)).long()[:, None]], dim=1)
            inp = nxt[:, None]
            if bool(finished.all()):
                break
    comp = torch.stack(tokens, dim=1) if tokens else torch.full((B, 1), pad, dtype=torch.long, device=device)
    return completions_from_ids(tokenizer, list(prompts), pid, pmask, comp)


def concat_completions(parts: Sequence[Completions], pad_token_id: int) -> Completions:
    """Stack several batches (re-padding prompts on the left, completions on the right)."""
    p_ids = [row[m.bool()].tolist() for c in parts for row, m in zip(c.prompt_ids, c.prompt_mask)]
    c_ids = [row[m.bool()].tolist() for c in parts for row, m in zip(c.completion_ids, c.completion_mask)]
    device = parts[0].prompt_ids.device
    pid, pmask = left_pad(p_ids, pad_token_id, device)
    cid, cmask = right_pad(c_ids, pad_token_id, device)
    return Completions(pid, pmask, cid, cmask, torch.cat([c.has_eos for c in parts]),
                       [p for c in parts for p in c.prompts], [t for c in parts for t in c.texts])


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
    "generate",
    "generate_mixture",
    "concat_completions",
    "unwrap",
]

