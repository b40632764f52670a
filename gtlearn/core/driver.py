"""The one driver: runs any :class:`~gtlearn.core.solver.Solver` with evaluation cadence,
run-directory logging, atomic checkpoints, exact resume and progress callbacks.

``gtlearn solve``, ``compare``, ``psro``, ``align tabular``, the experiment scripts and the LSPO
loop all run their solvers through :func:`drive`; there is no second loop.

Cadence: the gap is measured after every ``eval_every``-th iteration and always after the last
one (and, with ``log_initial``, once before the first step); the state is checkpointed every
``checkpoint_every`` iterations (default: at every evaluation) and after the last one. A run
directory that holds a checkpoint is resumed from it: the solver loads the state, metric
records logged after the checkpoint are dropped (the resumed run logs them again), so the
finished run's ``metrics.jsonl`` equals that of a run done in one go.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from gtlearn.core.errors import GtlearnError
from gtlearn.core.metrics import Metrics
from gtlearn.core.run import Run
from gtlearn.core.solver import Solver

StepCallback = Callable[[Solver, "Metrics | None"], None]


@dataclass
class DriveResult:
    """What :func:`drive` did: the solver, every gap record of the run (resumed ones included)
    and the seconds spent stepping and measuring in this call."""

    solver: Solver
    records: list[Metrics] = field(default_factory=list)
    seconds_stepping: float = 0.0
    seconds_evaluating: float = 0.0

    @property
    def iterations(self) -> list[int]:
        return [r.iteration for r in self.records]

    @property
    def gaps(self) -> list[float]:
        return [r.gap for r in self.records]

    @property
    def final_gap(self) -> float:
        return self.records[-1].gap if self.records else float("nan")


def eval_points(iterations: int, eval_every: int, start: int = 0) -> set[int]:
    """Iterations after which to measure the gap: every ``eval_every``-th and the last."""
    points = set(range(eval_every, iterations + 1, eval_every)) if eval_every > 0 else set()
    points.add(iterations)
    return {p for p in points if p > start}


def drive(
    solver: Solver,
    iterations: int,
    *,
    run: Run | None = None,
    eval_every: int = 1,
    eval_at: Collection[int] | None = None,
    checkpoint_every: int | None = None,
    log_initial: bool = False,
    on_step: StepCallback | None = None,
) -> DriveResult:
    """Step ``solver`` until ``solver.iteration == iterations``.

    ``run`` (optional) receives every gap record and the checkpoints; if it already holds a
    checkpoint the solver first continues from it. ``on_step(solver, record_or_None)`` is
    called after every iteration, e.g. for a progress bar. ``eval_at`` (a set of iterations,
    e.g. a log-spaced grid) replaces ``eval_every``; the last iteration is always measured.
    """
    if int(iterations) != iterations or iterations < 0:
        raise GtlearnError(f"iterations must be a non-negative integer, not {iterations!r}")
    if checkpoint_every is not None and checkpoint_every < 1:
        raise GtlearnError(f"checkpoint_every must be at least 1, not {checkpoint_every}")
    result = DriveResult(solver)
    if run is not None:
        saved = run.load_checkpoint()
        if saved is not None:
            solver.load_state_dict(saved)
            if solver.iteration > iterations:
                raise GtlearnError(f"{run.dir} is already at iteration {solver.iteration}; ask for more "
                                   f"than that to continue it (asked for {iterations})")
            run.truncate_metrics(solver.iteration)
            result.records = [Metrics.from_dict(row) for row in run.read_metrics()]
        else:  # new, or stopped before its first checkpoint: start over
            run.truncate_metrics(-1)
    if log_initial and solver.iteration == 0 and not result.records:
        _measure(solver, run, result)
        if run is not None:
            run.save_checkpoint(**solver.state_dict())
    checkpoint_every = checkpoint_every or eval_every or iterations
    if eval_at is None:
        points = eval_points(iterations, eval_every, solver.iteration)
    else:
        points = {t for t in eval_at if solver.iteration < t <= iterations} | {iterations}
    while solver.iteration < iterations:
        t0 = time.perf_counter()
        solver.step()
        result.seconds_stepping += time.perf_counter() - t0
        t = solver.iteration
        record = _measure(solver, run, result) if t in points else None
        if run is not None and (t % checkpoint_every == 0 or t == iterations):
            run.save_checkpoint(**solver.state_dict())
        if on_step is not None:
            on_step(solver, record)
    return result


def _measure(solver: Solver, run: Run | None, result: DriveResult) -> Metrics:
    t0 = time.perf_counter()
    record = solver.gap()
    result.seconds_evaluating += time.perf_counter() - t0
    result.records.append(record)
    if run is not None:
        run.log(record)
    return record
