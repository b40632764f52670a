"""Task plug-ins of the program search (docs/evolve.md, Tasks): the registry
(:data:`TASKS`, :func:`make_task`) and the task classes.

The names are resolved on first use, so that importing a task's sandbox-side driver
(``evolve.tasks.cfr_child``, ``evolve.tasks.psro_child``) inside the sandbox child imports
NumPy and that module only, never the engines or the toolkit, which the child cannot see.
"""

from __future__ import annotations

import importlib

_WHERE = {"TASKS": "registry", "make_task": "registry", "Task": "base", "CFRTask": "cfr", "PSROTask": "psro",
          "PSROTaskConfig": "psro"}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'evolve.tasks' has no attribute {name!r}")
    return getattr(importlib.import_module(f"evolve.tasks.{_WHERE[name]}"), name)
