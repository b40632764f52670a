"""The RPSLS toy check (docs/lspo.md): LSPO's exploitability falls to ~0 by iteration 3."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linprog

from alignment.lspo.embed import available
from alignment.lspo.rpsls import (
    CARRIERS,
    THROWS,
    RPSLSConfig,
    cfr_plus_matrix,
    exploitability,
    parse_throw,
    payoff_matrix,
    run_rpsls,
)


def test_payoff_matrix_closed_forms():
    a = payoff_matrix()
    assert np.allclose(a, -a.T)  # zero-sum and symmetric
    assert (np.abs(a).sum(1) == 4).all()  # each throw beats two, loses to two
    assert exploitability(np.full(5, 0.2)) == pytest.approx(0.0, abs=1e-12)  # value 0 at uniform
    rock = np.eye(5)[0]
    assert exploitability(rock) == pytest.approx(1.0)
    rps = np.array([1 / 3, 1 / 3, 1 / 3, 0, 0])  # uniform R/P/S is exploited by Spock for 1/3
    assert exploitability(rps) == pytest.approx(1 / 3)


def _lp_value(m):
    """Value of the zero-sum matrix game m (row maximizes) by linear programming."""
    r, c = m.shape
    # variables x (r), v; maximize v s.t. x^T m[:, j] >= v, sum x = 1
    cost = np.zeros(r + 1)
    cost[-1] = -1
    a_ub = np.hstack([-m.T, np.ones((c, 1))])
    res = linprog(cost, A_ub=a_ub, b_ub=np.zeros(c), A_eq=[[1] * r + [0]], b_eq=[1],
                  bounds=[(0, None)] * r + [(None, None)])
    return -res.fun


def test_cfr_plus_matches_linear_programming():
    rng = np.random.default_rng(0)
    for _ in range(5):
        m = rng.normal(size=(4, 3))
        x, y = cfr_plus_matrix(m, 4000)
        # the average strategies are an approximate equilibrium with the LP value
        assert (x @ m).min() == pytest.approx(_lp_value(m), abs=5e-3)
        assert (m @ y).max() == pytest.approx(_lp_value(m), abs=5e-3)
    x, _ = cfr_plus_matrix(payoff_matrix(), 4000)
    assert np.allclose(x, 0.2, atol=1e-3)


def test_parser_is_deterministic():
    for i, t in enumerate(THROWS):
        for c in CARRIERS:
            assert parse_throw(c.format(t=t)) == i
    with pytest.raises(ValueError):
        parse_throw("I have no idea")


@pytest.mark.parametrize("embedder", ["hashing", "tfidf"])
def test_lspo_rpsls_exploitability_near_zero_at_iteration_3(embedder):
    if not available(embedder):
        pytest.skip(f"{embedder} embedder not installed")
    its = run_rpsls(RPSLSConfig(embedder=embedder, seed=0, cfr_iterations=5000))
    assert [r.k for r in its] == [3, 4, 5]
    assert its[-1].purity >= 0.95
    assert its[-1].exploitability <= 0.01
    # iterations 1-2 are far from equilibrium: fewer clusters than throws mix throws together
    assert its[0].exploitability > 0.1
    assert np.allclose(np.sum(its[-1].policy), 1.0)
