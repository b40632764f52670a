"""gtlearn: game-theoretic multiagent learning and preference learning.

Two layers live in this package:

* :mod:`gtlearn.core` -- errors, the array backend, atomic I/O, the metric record, run
  directories, the solver contract and the one driver. Every other package may import it; it
  imports none of them.
* the interface -- :mod:`gtlearn.cli` (the ``gtlearn`` command), :mod:`gtlearn.progress`,
  :mod:`gtlearn.plots` and :mod:`gtlearn.reports`. Nothing below it imports it.

Every method drives a measurable gap (NashConv, exploitability, duality gap) or a divergence
to zero and reports it the same way, as :class:`gtlearn.core.metrics.Metrics` records in a
:class:`gtlearn.core.run.Run` directory.
"""

from gtlearn.core.errors import GtlearnError

__version__ = "0.1.0"
__all__ = ["GtlearnError", "__version__"]
