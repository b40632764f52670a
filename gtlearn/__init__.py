"""gtlearn: game-theoretic multiagent learning and preference learning.

Every method in gtlearn drives a measurable gap (NashConv, exploitability, duality gap) or a
divergence to zero and reports it the same way: through :class:`gtlearn.run.Run`.
This core package imports nothing of ``games``, ``solvers``, ``evolve`` or ``alignment``.
"""

from gtlearn.errors import GtlearnError

__version__ = "0.1.0"
__all__ = ["GtlearnError", "__version__"]
