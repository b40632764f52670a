"""The CFR family on one vectorized engine with pluggable rules (docs/cfr.md)."""

from solvers.cfr.engine import CFRSolver
from solvers.cfr.loading import make_rule
from solvers.cfr.rules import RULES, FunctionRule, Rule, regret_matching

__all__ = ["CFRSolver", "RULES", "Rule", "FunctionRule", "make_rule", "regret_matching"]
