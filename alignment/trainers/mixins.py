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
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from alignment.trainers.distributed import mean_over_processes
from gtlearn.core.errors import GtlearnError

EXTRA_STATE = "gtlearn_state.pt"
# Written last into each checkpoint: a kill -9 while the Trainer writes one leaves a directory
# without it, which resume skips (the Trainer's checkpoints are not written atomically).
COMPLETE = "gtlearn_complete"


def last_checkpoint(folder) -> str | None:
    """The newest complete ``checkpoint-N`` directory in ``folder`` (None if there is none)."""
    if not os.path.isdir(folder):
        return None
    prefix = f"{PREFIX_CHECKPOINT_DIR}-"
    done = [d for d in os.listdir(folder) if d.startswith(prefix) and d[len(prefix):].isdigit()
            and os.path.isfile(os.path.join(folder, d, COMPLETE))]
    return os.path.join(folder, max(done, key=lambda d: int(d[len(prefix):]))) if done else None


def check_processes(args) -> None:
    """Refuse a multi-process run whose draws are not keyed (they would differ by process)."""
    if args.sampling_rng != "keyed" and args.world_size > 1:
        raise GtlearnError("sampling_rng='global' is for one process; use 'keyed' (the default) with several")


class MetricsMixin:
    """Accumulate per-step scalars with :meth:`_record`; :meth:`log` adds their means — averaged
    over processes — to the ``Trainer``'s log record and starts over."""

    _metrics: dict[str, list[float]]

    def _record(self, prefix: str, stats: dict[str, Any]) -> None:
        if not hasattr(self, "_metrics"):
            self._metrics = defaultdict(list)
        for k, v in stats.items():
            if isinstance(v, torch.Tensor):
                v = float(v.detach().float().mean().cpu())
            self._metrics[f"{prefix}{k}"].append(float(v))

    def log(self, logs: dict[str, float], *args, **kwargs) -> None:
        means = {k: float(np.mean(vs)) for k, vs in getattr(self, "_metrics", {}).items() if vs}
        logs.update(mean_over_processes(means, self.args.device))
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
        if self.args.should_save:
            ckpt = os.path.join(self._get_output_dir(trial=trial), f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}")
            if state:
                torch.save(state, os.path.join(ckpt, EXTRA_STATE))
            open(os.path.join(ckpt, COMPLETE), "w").close()

    def _resolve_checkpoint(self, resume_from_checkpoint) -> str | None:
        if resume_from_checkpoint in (None, False):
            return None
        if resume_from_checkpoint is True:
            path = last_checkpoint(self.args.output_dir)
            if path is None:
                raise GtlearnError(f"cannot resume: no checkpoint in {self.args.output_dir} yet; start over with --overwrite")
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


__all__ = ["EXTRA_STATE", "COMPLETE", "last_checkpoint", "check_processes", "MetricsMixin", "CheckpointStateMixin"]
