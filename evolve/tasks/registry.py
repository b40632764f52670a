"""Task plug-ins of the program search, by name (docs/evolve.md, Tasks): each is a
:class:`~evolve.tasks.base.Task` (seed program, cascade stages, sandboxed child driver, trusted
scorer) with its config class (or None)."""

from __future__ import annotations

import dataclasses

from evolve.tasks.base import Task
from evolve.tasks.cfr import CFRTask
from evolve.tasks.psro import PSROTask, PSROTaskConfig
from gtlearn.core.registry import Registry

TASKS = Registry("evolve task")
TASKS.add(CFRTask.name, CFRTask)
TASKS.add(PSROTask.name, PSROTask, PSROTaskConfig)


def make_task(cfg: dict) -> Task:
    """The task of a validated campaign config; its config fields come from ``cfg['cascade']``."""
    entry = TASKS[cfg["run"]["task"]]
    if entry.config_cls is None:
        return entry.cls()
    names = {f.name for f in dataclasses.fields(entry.config_cls)}
    return entry.cls(TASKS.make_config(entry.name, **{k: v for k, v in cfg["cascade"].items() if k in names}))
