"""Pairs for the round-based trainers (INPO, APO): ordered (chosen, rejected) pairs from each
prompt's K samples, and datasets of them with frozen log-prob columns (docs/trainers.md,
"Pairs").

A pair row holds ``prompt_ids``, ``chosen_ids``, ``rejected_ids`` (token lists, completions
ending in EOS) and float columns (frozen log-probs, win rates) that the losses read.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable

import numpy as np
import torch

from alignment.trainers.logprobs import Completions, left_pad, right_pad, sequence_logprobs, unwrap
from gtlearn.core.errors import GtlearnError


# ------------------------------------------------------------------------------------------
# Construction
# ------------------------------------------------------------------------------------------
def _winner_first(p: float, label_mode: str, generator: torch.Generator | None = None) -> bool:
    if label_mode == "sample":
        return bool(torch.rand((), generator=generator) < p)
    return p >= 0.5  # ties go to the first response


def knockout_tournament(prompt: str, texts: list[str], preference, label_mode: str = "sample",
                        generator: torch.Generator | None = None) -> tuple[int, int, int, bool]:
    """INPO's knockout pairing: first-round pairs, winners play winners and losers play losers
    until one overall winner and one overall loser remain, then a final winner-vs-loser
    comparison; the pair is kept only if the winner wins it. Returns
    ``(winner, loser, comparisons, keep)``; 3K/2 − 1 comparisons for even K = 2^m. Sampled
    labels come from ``generator`` (None: torch's global one)."""
    K = len(texts)
    if K < 2:
        raise GtlearnError("the tournament needs at least 2 samples per prompt")
    count = 0

    def play(i: int, j: int) -> tuple[int, int]:
        nonlocal count
        count += 1
        p = float(preference.prob([prompt], [texts[i]], [texts[j]])[0])
        return (i, j) if _winner_first(p, label_mode, generator) else (j, i)

    winners, losers = [], []
    idx = list(range(K))
    for a in range(0, K - 1, 2):
        w, l = play(idx[a], idx[a + 1])
        winners.append(w)
        losers.append(l)
    if K % 2:  # odd K: the last sample enters both brackets
        winners.append(idx[-1])
        losers.append(idx[-1])

    def bracket(players: list[int], keep_winner: bool) -> int:
        while len(players) > 1:
            nxt = []
            for a in range(0, len(players) - 1, 2):
                w, l = play(players[a], players[a + 1])
                nxt.append(w if keep_winner else l)
            if len(players) % 2:
                nxt.append(players[-1])
            players = nxt
        return players[0]

    top = bracket(winners, True)
    bottom = bracket(losers, False)
    if top == bottom:
        return top, bottom, count, False
    w, _ = play(top, bottom)
    return top, bottom, count, w == top


def build_pairs(prompt: str, texts: list[str], preference, mode: str, label_mode: str,
                generator: torch.Generator | None = None) -> tuple[list[tuple[int, int]], int]:
    """Ordered (chosen, rejected) index pairs for one prompt's K samples, and the number of
    comparisons spent. ``mode``: ``"iid"`` (consecutive samples, one label each),
    ``"best_worst"`` (scalar reward), ``"tournament"``, or ``"auto"`` (best/worst when the
    preference model has a reward, else the tournament). Sampled labels come from
    ``generator`` (None: torch's global one)."""
    if mode == "auto":
        mode = "best_worst" if getattr(preference, "has_reward", False) else "tournament"
    if mode == "iid":
        pairs, n = [], 0
        for a in range(0, len(texts) - 1, 2):
            p = float(preference.prob([prompt], [texts[a]], [texts[a + 1]])[0])
            n += 1
            pairs.append((a, a + 1) if _winner_first(p, label_mode, generator) else (a + 1, a))
        return pairs, n
    if mode == "best_worst":
        if not getattr(preference, "has_reward", False):
            raise GtlearnError("pair_mode='best_worst' needs a reward-model preference; use 'tournament' or 'iid'")
        r = preference.reward([prompt] * len(texts), texts)
        b, w = int(np.argmax(r)), int(np.argmin(r))
        return ([(b, w)] if r[b] > r[w] else []), 0
    if mode == "tournament":
        top, bottom, n, keep = knockout_tournament(prompt, texts, preference, label_mode, generator)
        return ([(top, bottom)] if keep else []), n
    raise GtlearnError(f"pair_mode must be auto, iid, best_worst or tournament, got {mode!r}")


def token_lists(ids: torch.Tensor, mask: torch.Tensor) -> list[list[int]]:
    """The unpadded rows of a padded ``[B, L]`` batch."""
    return [row[m.bool()].tolist() for row, m in zip(ids, mask)]


PairsOf = Callable[[int, str, list[str]], tuple[list[tuple], int]]


def pair_rows(c: Completions, num_samples: int, pairs_of: PairsOf) -> tuple[list[dict[str, Any]], int]:
    """Pair rows of a batch holding ``num_samples`` samples per prompt (rows grouped by
    prompt), and the comparisons spent. ``pairs_of(i, prompt, texts)`` returns the i-th
    prompt's pairs as ``(chosen, rejected)`` or ``(chosen, rejected, columns)`` sample indices,
    and its count."""
    K = num_samples
    prompt_ids, completion_ids = token_lists(c.prompt_ids, c.prompt_mask), token_lists(c.completion_ids, c.completion_mask)
    rows, comparisons = [], 0
    for i, prompt in enumerate(c.prompts[::K]):
        pairs, n = pairs_of(i, prompt, c.texts[i * K:(i + 1) * K])
        comparisons += n
        for a, b, *columns in pairs:
            rows.append({"prompt_ids": prompt_ids[i * K], "chosen_ids": completion_ids[i * K + a],
                         "rejected_ids": completion_ids[i * K + b], **(columns[0] if columns else {})})
    return rows, comparisons


# ------------------------------------------------------------------------------------------
# Batches and frozen columns
# ------------------------------------------------------------------------------------------
def pair_collator(pad_token_id: int) -> Callable[[list[dict]], dict]:
    def collate(features: list[dict]) -> dict:
        out: dict[str, Any] = {}
        out["prompt_ids"], out["prompt_mask"] = left_pad([f["prompt_ids"] for f in features], pad_token_id)
        out["chosen_ids"], out["chosen_mask"] = right_pad([f["chosen_ids"] for f in features], pad_token_id)
        out["rejected_ids"], out["rejected_mask"] = right_pad([f["rejected_ids"] for f in features], pad_token_id)
        for k in features[0]:
            if k not in ("prompt_ids", "chosen_ids", "rejected_ids") and isinstance(features[0][k], (int, float)):
                out[k] = torch.tensor([float(f[k]) for f in features], dtype=torch.float32)
        return out

    return collate


def pair_logprobs(model, batch: dict, reduction: str = "sum") -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probs of chosen and rejected completions in one forward pass (stacked batch)."""
    B = batch["prompt_ids"].shape[0]
    Lc = max(batch["chosen_ids"].shape[1], batch["rejected_ids"].shape[1])

    def pad_to(t, L, v):
        return torch.nn.functional.pad(t, (0, L - t.shape[1]), value=v)

    comp = torch.cat([pad_to(batch["chosen_ids"], Lc, 0), pad_to(batch["rejected_ids"], Lc, 0)])
    cmask = torch.cat([pad_to(batch["chosen_mask"], Lc, 0), pad_to(batch["rejected_mask"], Lc, 0)])
    lp = sequence_logprobs(model, batch["prompt_ids"].repeat(2, 1), batch["prompt_mask"].repeat(2, 1), comp, cmask,
                           reduction=reduction)
    return lp[:B], lp[B:]


@torch.no_grad()
def dataset_logprobs(model, rows: list[dict], pad_token_id: int, *, batch_size: int = 16, reduction: str = "sum",
                     context=None) -> tuple[np.ndarray, np.ndarray]:
    """Frozen chosen/rejected log-probs of pair rows (for the precomputed columns);
    ``context`` is a context-manager factory the forward passes run under."""
    device = next(unwrap(model).parameters()).device
    collate = pair_collator(pad_token_id)
    ch, rj = [], []
    ctx = context or contextlib.nullcontext
    m = unwrap(model)
    was = m.training
    m.eval()
    try:
        for i in range(0, len(rows), batch_size):
            b = collate([{k: r[k] for k in ("prompt_ids", "chosen_ids", "rejected_ids")} for r in rows[i:i + batch_size]])
            b = {k: v.to(device) for k, v in b.items()}
            with ctx():
                c, r = pair_logprobs(m, b, reduction)
            ch.append(c.float().cpu().numpy())
            rj.append(r.float().cpu().numpy())
    finally:
        if was:
            m.train()
    return (np.concatenate(ch), np.concatenate(rj)) if ch else (np.zeros(0), np.zeros(0))


__all__ = [
    "knockout_tournament",
    "build_pairs",
    "token_lists",
    "pair_rows",
    "pair_collator",
    "pair_logprobs",
    "dataset_logprobs",
]
