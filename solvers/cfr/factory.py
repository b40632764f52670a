"""Building a CFR-family solver from an algorithm id: the vectorized engine for every rule, the
per-history driver for ``vad-cfr-reference``, and the sampled / neural solvers of
:data:`SAMPLED` (``mccfr-es``, ``mccfr-os``, ``deep-cfr``), which run on pyspiel states and use a
compiled tree only to measure the exact gap. ``gtlearn solve`` and ``gtlearn compare`` build
through here.
"""

from __future__ import annotations

import dataclasses
import importlib.util

from games.tree import GameTree
from gtlearn.core.errors import GtlearnError
from gtlearn.core.registry import Registry
from solvers.cfr.engine import CFRSolver
from solvers.cfr.vad_cfr_reference import REFERENCE_RULES, VADCFRReference
from solvers.deep_cfr.config import DeepCFRConfig
from solvers.mccfr import MCCFRConfig, MCCFRSolver


def require_torch() -> None:
    """Deep CFR's networks need PyTorch: one line naming the extra when it is missing."""
    if importlib.util.find_spec("torch") is None:
        raise GtlearnError("deep-cfr needs torch, which is not installed: pip install 'gtlearn[neural]' "
                           "(a CPU build: pip install torch --index-url https://download.pytorch.org/whl/cpu)")


def deep_cfr_solver(game, config: DeepCFRConfig, tree: GameTree | None = None):
    """:class:`solvers.deep_cfr.solver.DeepCFRSolver` (PyTorch is imported on first use)."""
    require_torch()
    from solvers.deep_cfr.solver import DeepCFRSolver

    return DeepCFRSolver(game, config, tree=tree)


SAMPLED = Registry("algorithm")
SAMPLED.add("mccfr-es", MCCFRSolver, MCCFRConfig, aliases=("mccfr", "es-mccfr"))
SAMPLED.add("mccfr-os", MCCFRSolver, MCCFRConfig, aliases=("os-mccfr",))
SAMPLED.add("deep-cfr", deep_cfr_solver, DeepCFRConfig, aliases=("deepcfr",))
_SAMPLER = {"mccfr-es": "external", "mccfr-os": "outcome"}

# Bytes per tree node a solver holds on top of the compiled tree (for the default size guard,
# games.tree.default_max_nodes): the exact engine's node scratch (reach and value, 16 B) and
# index arrays (child starts and infoset histories, <= 8 B), best response's third buffer
# (8 B), and its (I, A) arrays -- policy, regrets, average, rule temporaries -- at about
# 10 float64 per infoset slot (~7 % of the nodes are infosets with ~6 slots in the largest
# benchmark games: ~35 B/node). The sampled solvers keep the tree only for the exact gap.
EXACT_BYTES_PER_NODE = 70.0
SAMPLED_BYTES_PER_NODE = 40.0


def is_sampled(algo: str) -> bool:
    return isinstance(algo, str) and algo in SAMPLED


def solver_bytes_per_node(algo) -> float:
    """What the solver for ``algo`` adds per tree node (see the constants above)."""
    return SAMPLED_BYTES_PER_NODE if is_sampled(algo) else EXACT_BYTES_PER_NODE


def make_sampled_solver(algo: str, game, tree: GameTree | None = None, **params):
    """An MCCFR or Deep CFR solver for ``game`` (a game string or pyspiel game) from its config
    fields; ``tree`` (optional) makes the policies arrays over its infosets and the gap exact."""
    entry = SAMPLED[algo]
    if entry.name in _SAMPLER:
        given = params.setdefault("sampler", _SAMPLER[entry.name])
        if given != _SAMPLER[entry.name]:
            raise GtlearnError(f"{entry.name} samples {_SAMPLER[entry.name]!r}; drop sampler={given!r}")
    config = SAMPLED.make_config(entry.name, **params)
    return entry.cls(game, config, tree=tree)


def sampled_params(algo: str) -> list[str]:
    """The config fields of a sampled algorithm (for help and error messages)."""
    return [f.name for f in dataclasses.fields(SAMPLED[algo].config_cls)]


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
