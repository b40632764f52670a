"""Sampling completions from a policy, and from the token-level geometric mixture of two
policies (Nash-MD's opponent, APO's extrapolated sampler), as :class:`Completions`
(docs/trainers.md, "Generation").

Both are batched and use the KV cache. With ``seeds`` (keyed sampling, the trainers' default)
each completion is drawn by inverse-CDF sampling from uniforms keyed by its own seed
(:mod:`alignment.trainers.rng`), so it does not depend on which other prompts share the batch or
the process; without, ``generate`` calls ``transformers``' ``generate`` and the mixture sampler
``torch.multinomial``, both on torch's global generator.
"""

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
from alignment.trainers.rng import derive_seed, keyed_uniform


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
    seeds: list[int] | None = None,
    synced: bool = False,
) -> Completions:
    """Sample ``num_samples`` completions per prompt (rows are grouped by prompt: prompt i owns
    rows i·K … i·K+K−1).

    ``seeds`` (one per prompt): sample j of prompt i is keyed by ``(seeds[i], j)``, and sampling
    is exactly from softmax(logits/temperature) restricted to the top-p nucleus (no other logits
    processor of the model's generation config applies). ``None``: ``transformers``' ``generate``
    with torch's global generator. ``synced`` runs all ``max_new_tokens`` steps even when every
    row has finished (needed when parameters are sharded across processes)."""
    device = next(unwrap(model).parameters()).device
    rep = [p for p in prompts for _ in range(num_samples)]
    pid, pmask = tokenize_prompts(tokenizer, rep, device, max_prompt_length)
    m = unwrap(model)
    if seeds is not None:
        if len(seeds) != len(prompts):
            raise ValueError(f"generate needs one seed per prompt, got {len(seeds)} for {len(prompts)} prompts")
        uniforms = keyed_uniform([derive_seed(s, j) for s in seeds for j in range(num_samples)], max_new_tokens)
        with eval_mode(m):
            comp = decode(_policy_step(m, last_only=True), pid, pmask, tokenizer, max_new_tokens=max_new_tokens,
                          temperature=temperature, top_p=top_p, uniforms=uniforms, synced=synced)
        return completions_from_ids(tokenizer, rep, pid, pmask, comp)
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


def inverse_cdf(probs: torch.Tensor, u: torch.Tensor, top_p: float = 1.0) -> torch.Tensor:
    """One token per row of ``probs`` ``[B, V]`` from uniforms ``u`` ``[B]``: the first token
    whose cumulative probability exceeds u·total (zero-probability tokens are never drawn).
    With ``top_p < 1`` only the smallest set of most likely tokens whose mass reaches
    ``top_p`` is kept, as in nucleus sampling."""
    p = probs.double()
    order = None
    if top_p < 1.0:
        p, order = torch.sort(p, dim=-1, descending=True)
        p = torch.where(p.cumsum(-1) - p < top_p, p, torch.zeros_like(p))
    c = p.cumsum(-1)
    k = torch.searchsorted(c, (u.to(c.device) * c[:, -1])[:, None], right=True).clamp(max=p.shape[-1] - 1)
    return (order.gather(-1, k) if order is not None else k).squeeze(-1)


def decode(step, pid: torch.Tensor, pmask: torch.Tensor, tokenizer, *, max_new_tokens: int, temperature: float,
           top_p: float = 1.0, uniforms: torch.Tensor | None = None, synced: bool = False) -> torch.Tensor:
    """The sampling loop: ``step(input_ids, attention_mask, position_ids)`` returns the
    next-token logits ``[B, V]`` (the models keep their KV caches in ``step``). Tokens come from
    ``uniforms[:, t]`` by :func:`inverse_cdf`, or from ``torch.multinomial`` without; after a
    row's EOS it gets pad tokens. Returns the ``[B, T]`` completion tokens."""
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    B, device = pid.shape[0], pid.device
    mask = pmask.clone()
    tokens = []
    finished = torch.zeros(B, dtype=torch.bool, device=device)
    inp = pid
    for t in range(max_new_tokens):
        pos = position_ids_from_mask(mask)[:, -inp.shape[1]:]
        probs = torch.softmax(step(inp, mask, pos) / temperature, dim=-1)
        if uniforms is None:
            nxt = torch.multinomial(probs, 1).squeeze(1)
        else:
            nxt = inverse_cdf(probs, uniforms[:, t], top_p).to(device)
        nxt = torch.where(finished, torch.full_like(nxt, pad), nxt)
        tokens.append(nxt)
        finished |= nxt == eos
        mask = torch.cat([mask, (~finished | (nxt == eos)).long()[:, None]], dim=1)
        inp = nxt[:, None]
        if bool(finished.all()) and not synced:
            break
    return torch.stack(tokens, dim=1) if tokens else torch.full((B, 1), pad, dtype=torch.long, device=device)


def _cache_kw(model, cache) -> dict:
    """The KV-cache keyword of this transformers version (``cache`` in v5, else
    ``past_key_values``)."""
    m = unwrap(model)
    fwd = m.get_base_model().forward if hasattr(m, "get_base_model") else m.forward
    name = "cache" if "cache" in inspect.signature(fwd).parameters else "past_key_values"
    return {name: cache} if cache is not None else {}


def _cache_of(out):
    return getattr(out, "cache", None) if getattr(out, "cache", None) is not None else getattr(out, "past_key_values", None)


def _policy_step(model, *, last_only: bool = False, context=None):
    """A :func:`decode` step of one model with its own KV cache (``context``: a context-manager
    factory its forward passes run under). ``last_only`` computes only the last position's
    logits (``logits_to_keep=1``)."""
    state = {"past": None}
    ctx = context or contextlib.nullcontext
    extra = {"logits_to_keep": 1} if last_only else {}

    def step(inp, mask, pos):
        with ctx():
            out = model(input_ids=inp, attention_mask=mask, position_ids=pos, use_cache=True,
                        **_cache_kw(model, state["past"]), **extra)
        state["past"] = _cache_of(out)
        return out.logits[:, -1].float()

    return step


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
    seeds: list[int] | None = None,
    synced: bool = False,
) -> Completions:
    """Sample from the token-level geometric mixture ``softmax((1−c)·logits_θ + c·logits_ref)``
    (Nash-MD, docs/trainers.md; ``c = mixture_coef`` weights the **reference**), one completion
    per prompt. Each model keeps its own KV cache. ``ref_context`` is a context manager factory
    under which ``ref_model`` is run (used to disable a PEFT adapter when the reference is the
    adapter's base). ``seeds`` (one per prompt) keys the sampling as in :func:`generate`;
    ``None`` draws with ``torch.multinomial``."""
    device = next(unwrap(model).parameters()).device
    pid, pmask = tokenize_prompts(tokenizer, prompts, device, max_prompt_length)
    m, r = unwrap(model), unwrap(ref_model)
    keyed = seeds is not None
    pol, ref = _policy_step(m, last_only=keyed), _policy_step(r, last_only=keyed, context=ref_context)

    def step(inp, mask, pos):
        return (1.0 - mixture_coef) * pol(inp, mask, pos) + mixture_coef * ref(inp, mask, pos)

    uniforms = keyed_uniform(seeds, max_new_tokens) if keyed else None
    with eval_mode(m), eval_mode(r):
        comp = decode(step, pid, pmask, tokenizer, max_new_tokens=max_new_tokens, temperature=temperature,
                      uniforms=uniforms, synced=synced)
    return completions_from_ids(tokenizer, list(prompts), pid, pmask, comp)


__all__ = ["generate", "generate_mixture", "decode", "inverse_cdf"]
