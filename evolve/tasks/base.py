"""What a program-search task is (docs/evolve.md, Tasks).

A task is a seed program, the cascade stages it compiles from a campaign config, a driver that
answers calls of the candidate's functions inside the sandbox, and trusted code in the
evaluation worker that runs the method (the CFR engine, the PSRO loop) with those calls and
scores the result. The
evaluation skeleton shared by all tasks (stage 0 property screen, stage 1 with its gate against
the seed, stage 2, the held-out stage 3) lives in :mod:`evolve.evaluator`; a task fills in what
each stage asks the sandbox and how it scores the answer. Tasks are registered by name in
:data:`evolve.tasks.TASKS`.

A task object carries no per-job state: a job (a plain dict) names its task and holds the
compiled stages, so any worker rebuilds the same task from the registry.
"""

from __future__ import annotations

from typing import Any, ClassVar


class Task:
    """The interface of a task; subclasses set the class attributes and implement the methods."""

    name: ClassVar[str]
    seed_program: ClassVar[str]
    functions: ClassVar[tuple[str, ...]]  # what every candidate must define (kept by the patcher)
    baseline_name: ClassVar[str]  # what fitness 0 means
    # "module:Class" of the driver built inside the sandbox from the init message: load(ns),
    # handle(msg, arrays) -> (msg, arrays). Its module must import nothing but NumPy and plain
    # code: the sandbox child sees only the interpreter, NumPy and the evolve package.
    child_driver: ClassVar[str]

    def __init__(self, config: Any = None):
        self.config = config

    # -- campaign side ---------------------------------------------------------------------------
    def stages(self, cfg: dict) -> list[dict]:
        """The cascade of a validated campaign config, as jobs carry it (stage 0 first)."""
        raise NotImplementedError

    def system_prompt(self, cfg: dict) -> str:
        """The system message of every proposal: the contract and the fitness."""
        raise NotImplementedError

    def load_hint(self, path) -> str:
        """How to use a program file of this task with the toolkit."""
        raise NotImplementedError

    # -- trusted side (an executor slot) ---------------------------------------------------------
    def baselines(self, stages: list[dict]) -> dict:
        """The baseline each stage's fitness is relative to: ``{str(stage): {game: ...}}``."""
        raise NotImplementedError

    def check_properties(self, sandbox, seed: int) -> None:
        """Stage 0: property tests of the candidate on random inputs; raises InvalidPayload."""
        raise NotImplementedError

    def score_stage(self, sandbox, stage: dict, job: dict) -> dict:
        """Run one stage in the sandbox and score it in trusted code: the stage's metrics
        (``fitness`` first; stage 3 adds ``ci_low``, ``ci_high`` and ``seeds``); raises InvalidPayload."""
        raise NotImplementedError
