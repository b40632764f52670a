"""Running a CFR solver with evaluation, logging and checkpoints.

:func:`solve` is the one loop behind ``gtlearn solve``, ``gtlearn compare`` and the
experiment scripts: it iterates a :class:`CFRSolver`, evaluates the exact exploitability of
the average policy every ``eval_every`` iterations (and at the last one), logs
:class:`~gtlearn.core.metrics.Metrics` to a :class:`~gtlearn.run.Run`, checkpoints atomically, and
resumes from the last checkpoint to identical numbers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from games.tree import GameTree
from gtlearn.core.metrics import Metrics
from gtlearn.core.run import Run
from solvers.best_response import nash_conv
from solvers.cfr.engine import CFRSolver


@dataclass
class SolveResult:
    solver: CFRSolver
    iterations: list[int] = field(default_factory=list)
    exploitability: list[float] = field(default_factory=list)
    seconds_iterating: float = 0.0
    seconds_evaluating: float = 0.0

    @property
    def final_exploitability(self) -> float:
        return self.exploitability[-1] if self.exploitability else float("nan")


def eval_points(iterations: int, eval_every: int, start: int = 0) -> set[int]:
    """Iterations at which to evaluate: every ``eval_every``-th, and always the last."""
    points = set(range(eval_every, iterations + 1, eval_every)) if eval_every > 0 else set()
    points.add(iterations)
    return {p for p in points if p > start}


def solve(
    tree: GameTree,
    rule="cfr",
    iterations: int = 1000,
    *,
    eval_every: int = 10,
    run: Run | None = None,
    checkpoint_every: int | None = None,
    solver: CFRSolver | None = None,
    on_step: Callable[[int, float | None], None] | None = None,
    **solver_kwargs,
) -> SolveResult:
    """Run ``iterations`` CFR iterations (continuing ``solver`` or a resumed ``run``).

    ``on_step(iteration, exploitability_or_None)`` is called after every iteration (progress bars).
    """
    solver = solver or CFRSolver(tree, rule=rule, **solver_kwargs)
    result = SolveResult(solver)
    if run is not None:
        saved = run.load_checkpoint()
        if saved is not None:
            solver.load_state_dict(saved)
            run.truncate_metrics(solver.iteration)
            for row in run.read_metrics():
                result.iterations.append(row["iteration"])
                result.exploitability.append(row["gap"])
    checkpoint_every = checkpoint_every or eval_every or iterations
    points = eval_points(iterations, eval_every, solver.iteration)
    n = tree.num_players
    while solver.iteration < iterations:
        t0 = time.perf_counter()
        solver.iterate()
        result.seconds_iterating += time.perf_counter() - t0
        t = solver.iteration
        gap = None
        if t in points:
            t0 = time.perf_counter()
            nc = nash_conv(tree, solver.average_policy())
            result.seconds_evaluating += time.perf_counter() - t0
            gap = nc / n
            result.iterations.append(t)
            result.exploitability.append(gap)
            if run is not None:
                run.log(Metrics(iteration=t, gap=gap, extra={"nash_conv": nc}))
        if run is not None and (t % checkpoint_every == 0 or t == iterations):
            run.save_checkpoint(**solver.state_dict())
        if on_step is not None:
            on_step(t, gap)
    return result


def final_policy_arrays(solver: CFRSolver) -> dict[str, np.ndarray]:
    return {"average": solver.average_policy(), "current": solver.current_policy()}
