"""Shared machinery of the alignment trainers, built on ``transformers.Trainer``.

Two families (spec ``shared/specs/alignment.md`` §7.4):

* :class:`OnlineTrainer` — generates inside the step (Nash-MP, Nash-MD, f-DPG). The train
  dataset holds prompts (a ``"prompt"`` column); ``compute_loss`` samples completions, queries
  the preference model and returns the surrogate loss. Only ``compute_loss`` is overridden
  (never ``training_step``), and every override accepts ``**kwargs``.
* :class:`RoundTrainer` — iterative methods whose round t trains on pairs sampled from the
  frozen round-start policy (INPO, APO). Each round builds a pair dataset with the frozen
  sequence log-probs precomputed as columns, then runs an ordinary ``Trainer.train`` on it
  (a fresh optimizer and learning-rate schedule per round, like the papers' per-iteration
  training runs). During a round only π_θ runs.

Common conventions: sequence log-probs summed over completion tokens (``logprob_reduction``);
the reference is a frozen copy (``ref_model``) or, for a PEFT model with ``ref_model=None``,
the base model with the adapter disabled; LoRA through ``peft_config``; gradient accumulation,
bf16 and multi-GPU through ``TrainingArguments``/accelerate
(``accelerate launch --num_processes 8 experiments/align_inpo.py --model ...``); checkpoints
carry the trainer's own state (frozen anchors, Ẑ estimates, round data) beside the
``Trainer``'s, so that ``train(resume_from_checkpoint=True)`` continues identically.
"""

from __future__ import annotations

import copy
import json
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from transformers import Trainer, TrainingArguments
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, get_last_checkpoint

from alignment.trainers.logprobs import (
    Completions,
    left_pad,
    right_pad,
    sequence_logprobs,
    unwrap,
)
from gtlearn.core.errors import GtlearnError

EXTRA_STATE = "gtlearn_state.pt"


@dataclass
class AlignConfig(TrainingArguments):
    """Fields shared by every alignment trainer (on top of ``TrainingArguments``).

    Defaults follow TRL's online trainers where the meaning is the same (``beta``,
    ``max_new_tokens``, ``temperature``, ``missing_eos_penalty``).
    """

    beta: float = field(default=0.1, metadata={"help": "KL regularization strength to the reference."})
    max_new_tokens: int = field(default=64, metadata={"help": "Generation length."})
    temperature: float = field(default=0.9, metadata={"help": "Sampling temperature (log-probs are at temperature 1)."})
    max_prompt_length: int | None = field(default=512, metadata={"help": "Prompts keep their last tokens."})
    logprob_reduction: str = field(default="sum", metadata={"help": "'sum' (spec) or 'mean' over completion tokens."})
    missing_eos_penalty: float | None = field(default=None, metadata={"help": "Subtracted from the reward of completions without EOS."})
    label_mode: str = field(default="prob", metadata={"help": "'prob': use P(y>y') as is; 'sample': one Bernoulli label per query."})
    learning_rate: float = 5e-7
    remove_unused_columns: bool = False
    report_to: Any = "none"
    logging_steps: float = 1
    save_strategy: Any = "no"

    def __post_init__(self):
        super().__post_init__()
        if self.logprob_reduction not in ("sum", "mean"):
            raise GtlearnError(f"logprob_reduction must be 'sum' or 'mean', got {self.logprob_reduction!r}")
        if self.label_mode not in ("prob", "sample"):
            raise GtlearnError(f"label_mode must be 'prob' or 'sample', got {self.label_mode!r}")
        if self.beta < 0:
            raise GtlearnError(f"beta must be >= 0, got {self.beta}")


def frozen_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A deep copy with gradients off, in eval mode (anchors, half-step copies, references)."""
    m = copy.deepcopy(unwrap(model))
    m.requires_grad_(False)
    m.eval()
    return m


@torch.no_grad()
def prepare_models(model, ref_model, peft_config):
    """Wrap ``model`` with LoRA when ``peft_config`` is given, and settle the reference: a
    given reference is frozen; without one, a PEFT model uses its base with the adapter
    disabled (``ref_model`` stays None) and any other model gets a frozen copy."""
    if peft_config is not None:
        from peft import get_peft_model

        model = get_peft_model(model, peft_config)
    if ref_model is None and not _is_peft(model):
        ref_model = frozen_copy(model)
    elif ref_model is not None:
        ref_model.requires_grad_(False)
        ref_model.eval()
    return model, ref_model


def copy_weights_(dst: torch.nn.Module, src: torch.nn.Module) -> None:
    """dst ← src, parameter by parameter (same architecture)."""
    sd = unwrap(src).state_dict()
    unwrap(dst).load_state_dict(sd)


def _prompt_collator(features: list[dict]) -> dict:
    return {"prompt": [f["prompt"] for f in features]}


class _MetricsMixin:
    """Accumulate per-step scalars and flush them, averaged, into ``Trainer.log``."""

    def _record(self, prefix: str, stats: dict[str, Any]) -> None:
        for k, v in stats.items():
            if isinstance(v, torch.Tensor):
                v = float(v.detach().float().mean().cpu())
            self._metrics[f"{prefix}{k}"].append(float(v))

    def log(self, logs: dict[str, float], *args, **kwargs) -> None:
        for k, vs in self._metrics.items():
            if vs:
                logs[k] = float(np.mean(vs))
        self._metrics = defaultdict(list)
        super().log(logs, *args, **kwargs)


class _ExtraStateMixin:
    """Save the trainer's own state next to each checkpoint and restore it on resume."""

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    def _save_checkpoint(self, model, trial, *args, **kwargs):
        super()._save_checkpoint(model, trial, *args, **kwargs)
        state = self._extra_state()
        if state and self.args.should_save:
            ckpt = os.path.join(self._get_output_dir(trial=trial), f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}")
            torch.save(state, os.path.join(ckpt, EXTRA_STATE))

    def _resolve_checkpoint(self, resume_from_checkpoint) -> str | None:
        if resume_from_checkpoint in (None, False):
            return None
        if resume_from_checkpoint is True:
            path = get_last_checkpoint(self.args.output_dir) if os.path.isdir(self.args.output_dir) else None
            if path is None:
                raise GtlearnError(f"cannot resume: no checkpoint in {self.args.output_dir}")
            return path
        return str(resume_from_checkpoint)

    def _finished_checkpoint(self, path: str | None) -> bool:
        """If ``path`` is a checkpoint at or past ``max_steps``, load it and return True.

        (``Trainer.train`` resumed from a checkpoint of a finished run would take one more
        step; a finished run must stay as it is.)"""
        if path is None or self.args.max_steps <= 0:
            return False
        from transformers import TrainerState
        f = os.path.join(path, "trainer_state.json")
        if not os.path.exists(f):
            return False
        state = TrainerState.load_from_json(f)
        if state.global_step < self.args.max_steps:
            return False
        self._load_from_checkpoint(path)
        self.state = state
        return True

    def _restore_extra(self, path: str | None) -> None:
        if path is None:
            return
        f = os.path.join(path, EXTRA_STATE)
        if os.path.exists(f):
            self._load_extra_state(torch.load(f, map_location="cpu", weights_only=False))


class OnlineTrainer(_MetricsMixin, _ExtraStateMixin, Trainer):
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

    _tag = "online"

    def __init__(self, model, ref_model=None, args: AlignConfig | None = None, processing_class=None,
                 train_dataset=None, preference=None, callbacks=None, peft_config=None, **kwargs) -> None:
        if args is None:
            raise GtlearnError(f"{type(self).__name__} needs a config")
        if processing_class is None:
            raise GtlearnError(f"{type(self).__name__} needs a tokenizer (processing_class=)")
        if processing_class.pad_token_id is None or processing_class.pad_token_id == processing_class.eos_token_id:
            raise GtlearnError("the tokenizer needs a pad token distinct from EOS (spec §7.1)")
        model, ref_model = prepare_models(model, ref_model, peft_config)
        self.is_peft = _is_peft(model)
        self.preference = preference
        self._metrics: dict[str, list[float]] = defaultdict(list)
        self.preference_queries = 0
        super().__init__(model=model, args=args, data_collator=_prompt_collator, train_dataset=train_dataset,
                         processing_class=processing_class, callbacks=callbacks, **kwargs)
        self.ref_model = ref_model.to(self.args.device) if ref_model is not None else None
        self._begun_step = -1

    # -- helpers -----------------------------------------------------------------------------
    def ref_context(self):
        """Context under which ``self.ref_policy`` computes reference log-probs."""
        import contextlib

        if self.ref_model is None:
            return unwrap(self.model).disable_adapter()
        return contextlib.nullcontext()

    @property
    def ref_policy(self) -> torch.nn.Module:
        return self.ref_model if self.ref_model is not None else unwrap(self.model)

    def logprobs(self, model, c: Completions, *, grad: bool, tokens: bool = False):
        fn = lambda: sequence_logprobs(model, c.prompt_ids, c.prompt_mask, c.completion_ids, c.completion_mask,
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


def _is_peft(model) -> bool:
    try:
        from peft import PeftModel
    except ImportError:  # pragma: no cover - peft is part of the llm extra
        return False
    return isinstance(model, PeftModel)


# ------------------------------------------------------------------------------------------
# Pairs: datasets of (prompt, chosen, rejected) with frozen log-prob columns
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

    pad = 0
    comp = torch.cat([pad_to(batch["chosen_ids"], Lc, pad), pad_to(batch["rejected_ids"], Lc, pad)])
    cmask = torch.cat([pad_to(batch["chosen_mask"], Lc, 0), pad_to(batch["rejected_mask"], Lc, 0)])
    lp = sequence_logprobs(model, batch["prompt_ids"].repeat(2, 1), batch["prompt_mask"].repeat(2, 1), comp, cmask,
                           reduction=reduction)
    return lp[:B], lp[B:]


@torch.no_grad()
def dataset_logprobs(model, rows: list[dict], pad_token_id: int, *, batch_size: int = 16, reduction: str = "sum",
                     context=None) -> tuple[np.ndarray, np.ndarray]:
    """Frozen chosen/rejected log-probs of pair rows (for the precomputed columns)."""
    import contextlib

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


class PairwiseTrainer(_MetricsMixin, _ExtraStateMixin, Trainer):
    """A ``Trainer`` whose loss reads frozen per-pair columns (``PairwiseRegressionTrainer`` of
    spec §7.4): the dataset holds ``prompt_ids``, ``chosen_ids``, ``rejected_ids`` (token lists,
    completions ending in EOS) and float columns; subclasses implement :meth:`pair_loss`. This
    avoids TRL ``DPOTrainer``'s length-normalized IPO, which INPO must not use (spec §7.2)."""

    def __init__(self, model, args: AlignConfig, processing_class, train_dataset=None, callbacks=None, **kwargs):
        self._metrics: dict[str, list[float]] = defaultdict(list)
        super().__init__(model=model, args=args, data_collator=pair_collator(processing_class.pad_token_id),
                         train_dataset=train_dataset, processing_class=processing_class, callbacks=callbacks, **kwargs)

    def pair_loss(self, chosen_logp, rejected_logp, inputs) -> tuple[torch.Tensor, dict]:
        raise NotImplementedError

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None, **kwargs):
        c, r = pair_logprobs(model, inputs, self.args.logprob_reduction)
        loss, stats = self.pair_loss(c, r, inputs)
        self._record("", stats)
        return (loss, None) if return_outputs else loss


class RoundTrainer(PairwiseTrainer):
    """Iterative trainer: ``num_iterations`` rounds, each = build pairs from the round-start
    policy, precompute frozen columns, train one ``Trainer`` run on them.

    Per round t the run directory ``<output_dir>/round-t/`` holds the pair dataset
    (``data/``), the inner ``Trainer``'s checkpoints, the final policy (``policy.pt``) and a
    ``done.json`` marker; ``train(resume_from_checkpoint=True)`` skips finished rounds,
    reloads the last finished policy and resumes the unfinished round from its last checkpoint.
    ``max_steps``/``num_train_epochs`` of the config apply to each round.
    """

    def __init__(self, model, ref_model=None, args: AlignConfig | None = None, processing_class=None,
                 train_dataset=None, preference=None, callbacks=None, peft_config=None, **kwargs):
        if args is None or processing_class is None:
            raise GtlearnError(f"{type(self).__name__} needs a config and a tokenizer")
        if processing_class.pad_token_id is None or processing_class.pad_token_id == processing_class.eos_token_id:
            raise GtlearnError("the tokenizer needs a pad token distinct from EOS (spec §7.1)")
        if train_dataset is None or "prompt" not in train_dataset.column_names:
            raise GtlearnError(f"{type(self).__name__} needs a prompt dataset with a 'prompt' column")
        model, ref_model = prepare_models(model, ref_model, peft_config)
        self.is_peft = _is_peft(model)
        self.prompts_dataset = train_dataset
        self.preference = preference
        self.round = 0
        self.steps_before_round = 0
        self.root_dir = args.output_dir
        super().__init__(model, args, processing_class, train_dataset=None, callbacks=callbacks, **kwargs)
        self.ref_model = ref_model.to(self.args.device) if ref_model is not None else None

    # -- to be provided by INPO / APO --------------------------------------------------------
    def build_round(self, t: int) -> list[dict]:
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------------------
    def ref_context(self):
        import contextlib

        if self.ref_model is None:
            return unwrap(self.model).disable_adapter()
        return contextlib.nullcontext()

    @property
    def ref_policy(self):
        return self.ref_model if self.ref_model is not None else unwrap(self.model)

    def round_prompts(self, t: int) -> list:
        """A fresh slice of prompts per round (cycling through the dataset)."""
        n = len(self.prompts_dataset)
        m = int(getattr(self.args, "prompts_per_round", 0) or n)
        idx = [(t * m + i) % n for i in range(m)]
        return [self.prompts_dataset[i]["prompt"] for i in idx]

    def round_dir(self, t: int) -> Path:
        return Path(self.root_dir) / f"round-{t}"

    def policy_state(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().cpu().clone() for k, v in unwrap(self.model).state_dict().items()}

    def load_policy(self, path: Path) -> None:
        unwrap(self.model).load_state_dict(torch.load(path, map_location="cpu", weights_only=True))

    def frozen_from(self, path: Path) -> torch.nn.Module:
        """A frozen copy of the policy architecture loaded with saved weights."""
        m = frozen_copy(self.model)
        m.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return m.to(self.args.device)

    def train(self, resume_from_checkpoint=None, **kwargs):
        from datasets import Dataset, load_from_disk

        resume = resume_from_checkpoint not in (None, False)
        root = Path(self.root_dir)
        root.mkdir(parents=True, exist_ok=True)
        init = root / "policy-init.pt"
        if not (resume and init.exists()):
            torch.save(self.policy_state(), init)
        start = 0
        if resume:
            while (self.round_dir(start) / "done.json").exists():
                start += 1
            if start > 0:
                self.load_policy(self.round_dir(start - 1) / "policy.pt")
            self.steps_before_round = sum(
                json.loads((self.round_dir(t) / "done.json").read_text())["steps"] for t in range(start))
        output = None
        for t in range(start, int(self.args.num_iterations)):
            self.round = t
            rdir = self.round_dir(t)
            data_dir = rdir / "data"
            from transformers import set_seed

            if (data_dir / "dataset_info.json").exists():
                data = load_from_disk(str(data_dir))
            else:
                # Each round's sampling is seeded by (seed, round) so that a resumed run rebuilds
                # the same data as an uninterrupted one.
                set_seed(int(self.args.seed) + 7919 * (t + 1))
                rows = self.build_round(t)
                if not rows:
                    raise GtlearnError(f"round {t} produced no training pairs (every pair was dropped)")
                data = Dataset.from_list(rows)
                from datasets.utils.logging import disable_progress_bar

                disable_progress_bar()
                data.save_to_disk(str(data_dir))
            self.train_dataset = data
            self.optimizer, self.lr_scheduler = None, None
            # The shuffling sampler takes its seed from torch's initial seed: fix it per round so
            # that a fresh process (resume) and a continuing one shuffle alike.
            set_seed(int(self.args.seed) + 104729 * (t + 1))
            self.args.output_dir = str(rdir)
            ckpt = get_last_checkpoint(str(rdir)) if (resume and rdir.exists()) else None
            self._restore_extra(ckpt)
            if not self._finished_checkpoint(ckpt):
                output = Trainer.train(self, resume_from_checkpoint=ckpt, **kwargs)
            torch.save(self.policy_state(), rdir / "policy.pt")
            from gtlearn.core.io import atomic_write_json

            atomic_write_json(rdir / "done.json", {"round": t, "steps": int(self.state.global_step),
                                                   "pairs": len(data)})
            self.steps_before_round += int(self.state.global_step)
        self.args.output_dir = str(root)
        return output


# ------------------------------------------------------------------------------------------
# Pair construction (spec §3.2)
# ------------------------------------------------------------------------------------------
def _winner_first(p: float, label_mode: str) -> bool:
    if label_mode == "sample":
        return bool(torch.rand(()) < p)
    return p >= 0.5  # ties go to the first response


def knockout_tournament(prompt: str, texts: list[str], preference, label_mode: str = "sample") -> tuple[int, int, int, bool]:
    """INPO's knockout pairing (spec §3.2): first-round pairs, winners play winners and losers
    play losers until one overall winner and one overall loser remain, then a final
    winner-vs-loser comparison; the pair is kept only if the winner wins it. Returns
    ``(winner, loser, comparisons, keep)``; 3K/2 − 1 comparisons for even K = 2^m."""
    K = len(texts)
    if K < 2:
        raise GtlearnError("the tournament needs at least 2 samples per prompt")
    count = 0

    def play(i: int, j: int) -> tuple[int, int]:
        nonlocal count
        count += 1
        p = float(preference.prob([prompt], [texts[i]], [texts[j]])[0])
        return (i, j) if _winner_first(p, label_mode) else (j, i)

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


def build_pairs(prompt: str, texts: list[str], preference, mode: str, label_mode: str) -> tuple[list[tuple[int, int]], int]:
    """Ordered (chosen, rejected) index pairs for one prompt's K samples, and the number of
    comparisons spent. ``mode``: ``"iid"`` (consecutive samples, one label each),
    ``"best_worst"`` (scalar reward), ``"tournament"``, or ``"auto"`` (best/worst when the
    preference model has a reward, else the tournament)."""
    if mode == "auto":
        mode = "best_worst" if getattr(preference, "has_reward", False) else "tournament"
    if mode == "iid":
        pairs, n = [], 0
        for a in range(0, len(texts) - 1, 2):
            p = float(preference.prob([prompt], [texts[a]], [texts[a + 1]])[0])
            n += 1
            pairs.append((a, a + 1) if _winner_first(p, label_mode) else (a + 1, a))
        return pairs, n
    if mode == "best_worst":
        if not getattr(preference, "has_reward", False):
            raise GtlearnError("pair_mode='best_worst' needs a reward-model preference; use 'tournament' or 'iid'")
        r = preference.reward([prompt] * len(texts), texts)
        b, w = int(np.argmax(r)), int(np.argmin(r))
        return ([(b, w)] if r[b] > r[w] else []), 0
    if mode == "tournament":
        top, bottom, n, keep = knockout_tournament(prompt, texts, preference, label_mode)
        return ([(top, bottom)] if keep else []), n
    raise GtlearnError(f"pair_mode must be auto, iid, best_worst or tournament, got {mode!r}")


def completion_token_lists(c: Completions) -> list[list[int]]:
    return [row[m.bool()].tolist() for row, m in zip(c.completion_ids, c.completion_mask)]


def prompt_token_lists(c: Completions) -> list[list[int]]:
    return [row[m.bool()].tolist() for row, m in zip(c.prompt_ids, c.prompt_mask)]


__all__ = [
    "AlignConfig",
    "OnlineTrainer",
    "PairwiseTrainer",
    "RoundTrainer",
    "frozen_copy",
    "copy_weights_",
    "pair_collator",
    "pair_logprobs",
    "dataset_logprobs",
    "knockout_tournament",
    "build_pairs",
]
