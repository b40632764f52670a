"""Sampling completions from a policy, and from the token-level geometric mixture of two
policies (Nash-MD's opponent, APO's extrapolated sampler), as :class:`Completions`."""

from __future__ import annotations

import contextlib
import inspect

import torch

from alignment.trainers.logprobs import (
    Completions,
    completions_from_ids,
    eval_mode,
    position_ids_from_mask,
    tokenize_prompts,
    unwrap,
)


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
    (Nash-MD, docs/trainers.md; ``c = mixture_coef`` weights the **reference**). Each model keeps its
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


__all__ = ["generate", "generate_mixture"]
