"""Numbers unchanged by the refactor: slices of the committed CFR- and PSRO-discovery results,
recomputed through today's API, equal the values computed by the code before it (to 1e-12).

The golden files and how they were made: tests/golden/README.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from games.tree import compile_game
from gtlearn.core.driver import drive
from solvers.best_response import nash_conv
from solvers.cfr.engine import CFRSolver
from solvers.psro import PSROConfig, PSROSolver

GOLDEN = Path(__file__).resolve().parent / "golden"
CFR = json.loads((GOLDEN / "cfr_discovery.json").read_text())
PSRO = json.loads((GOLDEN / "psro_discovery.json").read_text())
TOL = 1e-12


@pytest.mark.parametrize("game", list(CFR["games"]))
def test_cfr_discovery_slice(game):
    tree = compile_game(game)
    for rule, golden in CFR["games"][game]["runs"].items():
        solver = CFRSolver(tree, rule=rule)
        result = drive(solver, golden["iterations"][-1], eval_at=golden["iterations"])
        assert result.iterations == golden["iterations"], rule
        np.testing.assert_allclose(result.gaps, golden["exploitability"], rtol=0, atol=TOL, err_msg=f"{game} {rule}")
        avg, cur = solver.average_policy(), solver.current_policy()
        assert float(np.sum(avg * avg)) == pytest.approx(golden["average_policy_200"]["sum_sq"], abs=TOL)
        assert float(np.sum(cur * cur)) == pytest.approx(golden["current_policy_200"]["sum_sq"], abs=TOL)
        cur_gap = nash_conv(tree, cur) / tree.num_players
        assert cur_gap == pytest.approx(golden["current_policy_200"]["exploitability"], abs=TOL)


@pytest.mark.parametrize("key", list(PSRO["runs"]))
def test_psro_discovery_slice(key):
    game, meta = key.split("|")
    golden = PSRO["runs"][key]
    solver = PSROSolver(compile_game(game), PSROConfig(meta))
    result = drive(solver, len(golden["exploitability"]) - 1, log_initial=True)
    np.testing.assert_allclose(result.gaps, golden["exploitability"], rtol=0, atol=TOL, err_msg=key)
    np.testing.assert_allclose([r.extra["nash_conv"] for r in result.records], golden["nash_conv"], rtol=0, atol=TOL)
    assert [r.extra["population"] for r in result.records] == golden["population"]
