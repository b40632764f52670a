"""Sampled CFR straight from pyspiel states: external- and outcome-sampling MCCFR
(docs/cfr.md, "Sampled CFR (MCCFR)").

- :mod:`.tables` -- regret / average storage keyed by infoset string, in compact arrays;
- :mod:`.external`, :mod:`.outcome` -- the two traversals (read a table, emit increments);
- :mod:`.solver` -- :class:`MCCFRSolver`, the solver contract around them (local or Ray).
"""

from solvers.mccfr.solver import MCCFRConfig, MCCFRSolver
from solvers.mccfr.tables import InfosetTable, Updates, regret_matching

__all__ = ["MCCFRConfig", "MCCFRSolver", "InfosetTable", "Updates", "regret_matching"]
