"""PSRO with exact oracles, exact meta-game payoffs and pluggable meta-solvers (docs/psro.md)."""

from solvers.psro.loop import IterationRecord, PSROConfig, PSROSolver
from solvers.psro.meta_solvers import META_SOLVERS, MetaSolver, make_meta_solver

__all__ = ["META_SOLVERS", "IterationRecord", "MetaSolver", "PSROConfig", "PSROSolver", "make_meta_solver"]
