"""Building a CFR solver from a rule id: the vectorized engine for every rule, the per-history
driver for ``vad-cfr-reference``. ``gtlearn solve`` and ``gtlearn compare`` build through here."""

from __future__ import annotations

from games.tree import GameTree
from gtlearn.core.errors import GtlearnError
from solvers.cfr.engine import CFRSolver
from solvers.cfr.vad_cfr_reference import REFERENCE_RULES, VADCFRReference


def make_solver(tree: GameTree, rule, **kwargs) -> CFRSolver | VADCFRReference:
    """``VADCFRReference`` for the id ``vad-cfr-reference`` (rule parameters are its switches),
    else the vectorized :class:`~solvers.cfr.engine.CFRSolver` (``kwargs`` as its own)."""
    if isinstance(rule, str) and rule.strip().lower() in REFERENCE_RULES:
        if kwargs.get("device", "cpu") != "cpu":
            raise GtlearnError("vad-cfr-reference is pure Python and runs on the CPU only")
        if not kwargs.get("alternating", True):
            raise GtlearnError("vad-cfr-reference has alternating updates only")
        try:
            return VADCFRReference(tree, **(kwargs.get("rule_kwargs") or {}))
        except (TypeError, ValueError) as exc:
            raise GtlearnError(f"bad parameters for vad-cfr-reference: {exc}") from exc
    return CFRSolver(tree, rule=rule, **kwargs)
