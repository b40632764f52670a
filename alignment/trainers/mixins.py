"""Two ``transformers.Trainer`` mixins every alignment trainer uses: per-step metrics flushed
into ``Trainer.log``, and the trainer's own state (frozen anchors, Ẑ estimates, counters)
checkpointed beside the ``Trainer``'s so that ``train(resume_from_checkpoint=True)`` continues
identically (docs/trainers.md, "Checkpoints and resume")."""

from __future__ import annotations

import os
from collections import defaultdict
from typing import Any

import numpy as np
import torch
from transformers import TrainerState
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, get_last_checkpoint

from gtlearn.core.errors import GtlearnError

EXTRA_STATE = "gtlearn_state.pt"


class MetricsMixin:
    """Accumulate per-step scalars with :meth:`_record`; :meth:`log` adds their means to the
    ``Trainer``'s log record and starts over."""

    _metrics: dict[str, list[float]]

    def _record(self, prefix: str, stats: dict[str, Any]) -> None:
        if not hasattr(self, "_metrics"):
            self._metrics = defaultdict(list)
        for k, v in stats.items():
            if isinstance(v, torch.Tensor):
                v = float(v.detach().float().mean().cpu())
            self._metrics[f"{prefix}{k}"].append(float(v))

    def log(self, logs: dict[str, float], *args, **kwargs) -> None:
        for k, vs in getattr(self, "_metrics", {}).items():
            if vs:
                logs[k] = float(np.mean(vs))
        self._metrics = defaultdict(list)
        super().log(logs, *args, **kwargs)


class CheckpointStateMixin:
    """Save :meth:`_extra_state` next to each checkpoint and restore it on resume; a finished
    run resumed stays as it is."""

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
        """If ``path`` is a checkpoint at or past ``max_steps``, load it and return True
        (``Trainer.train`` resumed from a finished run's checkpoint would take one more step)."""
        if path is None or self.args.max_steps <= 0:
            return False
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


__all__ = ["EXTRA_STATE", "MetricsMixin", "CheckpointStateMixin"]
