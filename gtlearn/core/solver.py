"""The solver contract: what every iterative method in gtlearn is.

Every iterative method -- each CFR rule on the exact engine, the per-history VAD-CFR driver,
MCCFR, PSRO, every tabular preference-game algorithm -- is a :class:`Solver`:

* it is built from a *problem* (a compiled game tree, a preference game, ...) and a *config*;
* :meth:`~Solver.step` advances one iteration and :attr:`~Solver.iteration` counts them
  (0 before the first step);
* :meth:`~Solver.current_policy` is the iterate the method is at and
  :meth:`~Solver.average_policy` its time average (methods, NumPy arrays on the host, the
  same shape for both; a method without a separate average says what it returns);
* :meth:`~Solver.gap` measures the headline equilibrium gap or divergence now and returns a
  :class:`~gtlearn.core.metrics.Metrics` record (``iteration``, ``gap``, ``gap_name``, and
  method-specific fields in ``extra``);
* :meth:`~Solver.state_dict` / :meth:`~Solver.load_state_dict` hold everything the following
  iterations read, as arrays that ``np.savez`` stores without pickle, so that a run resumed
  from a checkpoint -- in a fresh process -- continues to bit-identical numbers.

One driver, :func:`gtlearn.core.driver.drive`, runs any solver; see docs/architecture.md.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from gtlearn.core.metrics import Metrics


@runtime_checkable
class Solver(Protocol):
    """The protocol every iterative method implements (see the module docstring)."""

    iteration: int

    def step(self) -> None:
        """Advance one iteration (``iteration`` grows by one)."""

    def current_policy(self) -> Any:
        """The iterate the method is at."""

    def average_policy(self) -> Any:
        """The time-averaged policy (the output of average-iterate methods)."""

    def gap(self) -> Metrics:
        """The headline gap of the method's output now, as a metric record."""

    def state_dict(self) -> dict[str, np.ndarray]:
        """Everything the following iterations read, as plain arrays."""

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Continue from a :meth:`state_dict` of a solver built from the same problem and config."""
