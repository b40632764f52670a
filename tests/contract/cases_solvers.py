"""Contract cases of solvers/: every CFR rule on the engine (alternating and simultaneous),
the per-history VAD-CFR driver, and PSRO with every built-in meta-solver."""

from __future__ import annotations

import functools

from games.tree import compile_game
from solvers.cfr.engine import CFRSolver
from solvers.cfr.factory import make_solver
from solvers.cfr.rules import RULES
from solvers.psro import PSROConfig, PSROSolver


@functools.cache
def _tree(game: str):
    return compile_game(game)


def _cfr(rule: str, game: str = "kuhn_poker", **kwargs):
    return lambda: CFRSolver(_tree(game), rule=rule, **kwargs)


def _psro(meta: str, game: str = "kuhn_poker"):
    return lambda: PSROSolver(_tree(game), PSROConfig(meta))


CASES = {f"cfr-{rule}": _cfr(rule) for rule in RULES}
CASES.update({
    "cfr-dcfr-simultaneous-leduc": _cfr("dcfr", "leduc_poker", alternating=False),
    "cfr-vad-cfr-no-warmup-3p": _cfr("vad-cfr", "kuhn_poker(players=3)", rule_kwargs={"warmup": 0}),
    "cfr-pcfr+-numpy-backend": _cfr("pcfr+", backend="numpy"),
    "vad-cfr-reference": lambda: make_solver(_tree("kuhn_poker"), "vad-cfr-reference", rule_kwargs={"warmup": 0}),
    "vad-cfr-reference-bridge": lambda: make_solver(
        _tree("kuhn_poker"), "vad-cfr-reference", rule_kwargs={"warmup": 0, "granularity": "infoset", "ewma": "per_infoset"}),
})
CASES.update({f"psro-{meta}": _psro(meta) for meta in ("uniform", "nash", "prd", "rm", "alpharank", "shor")})
STEPS = {"cfr-dcfr-simultaneous-leduc": 4}


def comparable(case_id: str, state: dict) -> dict:
    """PSRO's history rows carry the seconds each phase took: compare all but those columns."""
    if case_id.startswith("psro-"):
        state = dict(state, history=state["history"][:, :4])
    return state
