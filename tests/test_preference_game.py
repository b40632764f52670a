"""Preference games: generators, persistence, the exact regularized Nash equilibrium and the
§1.2 measures, checked against independent computations (scipy BFGS on e_β, the damped
fixed-point iteration, the maximal-lottery LP, closed forms)."""

import numpy as np
import pytest
from scipy.optimize import minimize

from alignment.measures import certificate, duality_gap, measures, unregularized_exploitability
from games.preference import (
    PreferenceGame,
    best_response,
    bradley_terry,
    cyclic,
    log_best_response,
    make_game,
    maximal_lottery,
    mixture,
    random_intransitive,
    regularized_exploitability,
    regularized_nash,
    solve_regularized_nash,
    tournament,
)
from gtlearn.core.errors import GtlearnError
from gtlearn.core.metrics import kl_divergence


def _valid(g):
    assert np.allclose(g.P + np.swapaxes(g.P, 1, 2), 1.0, atol=1e-15)
    assert np.allclose(np.diagonal(g.P, axis1=1, axis2=2), 0.5)
    assert np.allclose(g.ref.sum(1), 1) and g.ref.min() > 0
    assert np.isclose(g.rho.sum(), 1)


@pytest.mark.parametrize("spec", ["cyclic:5", "cyclic:4", "random:8,contexts=3,ref=0.3", "tournament:7,seed=2",
                                  "bt:6,contexts=2", "mixture:6,weight=0.3", "rps:3"])
def test_generators_are_valid_games(spec):
    g = make_game(spec)
    _valid(g)
    assert g.name == spec


def test_cyclic_is_rock_paper_scissors():
    P = cyclic(3).P[0]
    assert P[0, 1] == 1 and P[1, 2] == 1 and P[2, 0] == 1 and P[1, 0] == 0
    # odd cycles: uniform is the maximal lottery, and each response beats exactly (n-1)/2 others
    g = cyclic(7)
    assert np.allclose(maximal_lottery(g), 1 / 7)
    assert np.all((g.P[0] == 1).sum(1) == 3)


def test_bradley_terry_matches_sigmoid():
    r = np.array([0.3, -1.0, 2.0])
    g = bradley_terry(rewards=r)
    assert np.isclose(g.P[0, 2, 1], 1 / (1 + np.exp(-3.0)))


def test_mixture_and_validation_errors():
    a, b = cyclic(4), bradley_terry(4, seed=1)
    m = mixture([a, b], [0.25, 0.75])
    assert np.allclose(m.P, 0.25 * a.P + 0.75 * b.P)
    with pytest.raises(GtlearnError):
        PreferenceGame(P=np.full((1, 3, 3), 0.7), ref=np.ones(3) / 3)
    with pytest.raises(GtlearnError):
        PreferenceGame(P=cyclic(3).P, ref=np.array([1.0, 0.0, 0.0]))
    for bad in ["", "nope:3", "cyclic:x", "cyclic:1", "random:5,foo=2", "random:5,seed"]:
        with pytest.raises(GtlearnError):
            make_game(bad)


@pytest.mark.parametrize("suffix", [".npz", ".json"])
def test_save_load_roundtrip(tmp_path, suffix):
    g = random_intransitive(4, contexts=2, ref_concentration=0.5, seed=3)
    g.responses = [["a", "b", "c", "d"], ["e", "f", "g", "h"]]
    g.rho = np.array([0.25, 0.75])
    path = g.save(tmp_path / f"game{suffix}")
    h = PreferenceGame.load(path)
    assert np.array_equal(g.P, h.P) and np.array_equal(g.ref, h.ref) and np.array_equal(g.rho, h.rho)
    assert h.responses == g.responses and h.name == g.name
    assert make_game(str(path)).P.shape == (2, 4, 4)
    # npz must load without pickle
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as d:
            assert set(d.files) >= {"P", "ref", "rho"}


GAMES = [random_intransitive(6, contexts=3, ref_concentration=0.5, seed=1), tournament(5, seed=4),
         bradley_terry(5, seed=2, ref_concentration=2.0), mixture([cyclic(5), bradley_terry(5, seed=7)])]


@pytest.mark.parametrize("gi", range(len(GAMES)))
@pytest.mark.parametrize("beta", [0.01, 0.1, 1.0])
def test_regularized_nash_is_the_fixed_point(gi, beta):
    g = GAMES[gi]
    pi, info = regularized_nash(g, beta, return_info=True)
    floor = 256 * np.finfo(float).eps * (np.abs(np.log(g.ref)).max() + 1 / beta)  # documented float64 floor
    assert np.max(np.abs(np.log(pi) - log_best_response(g, pi, beta))) <= max(1e-12, floor)
    assert np.max(np.abs(regularized_exploitability(g, pi, beta))) <= 1e-14
    # about log(1/tol)/log(1+2β) iterations
    assert info["iterations"] <= 1.2 * np.log(1e12) / np.log1p(2 * beta) + 16


@pytest.mark.parametrize("beta", [0.05, 0.5])
def test_regularized_nash_cross_checked_by_bfgs_and_damped_iteration(beta):
    g = random_intransitive(5, contexts=2, ref_concentration=1.0, seed=11)
    pi = regularized_nash(g, beta)
    for x in range(2):
        sub = PreferenceGame(P=g.P[x:x + 1], ref=g.ref[x:x + 1])

        def e(theta):
            p = np.exp(theta - theta.max())
            return regularized_exploitability(sub, (p / p.sum())[None], beta)[0]

        res = minimize(e, np.zeros(5), method="BFGS", options={"gtol": 1e-12})
        q = np.exp(res.x - res.x.max())
        assert np.max(np.abs(q / q.sum() - pi[x])) < 1e-5
    # damped fixed-point iteration log π ← (1−γ) log π + γ log BR(π)
    log_p = np.log(g.ref)
    for _ in range(20000):
        log_p = 0.9 * log_p + 0.1 * log_best_response(g, np.exp(log_p), beta)
        log_p -= np.log(np.exp(log_p).sum(1, keepdims=True))
    assert np.max(np.abs(np.exp(log_p) - pi)) < 1e-10


def test_solve_regularized_nash_from_arrays():
    g = GAMES[0]
    assert np.allclose(solve_regularized_nash(g.P, g.ref, 0.2), regularized_nash(g, 0.2))


def test_bradley_terry_equilibrium_closed_form():
    # Under BT, P(y ≻ π) = Σ σ(r_y − r_y')π(y') is not linear, but as β grows the equilibrium
    # approaches π_ref; as β → 0 it concentrates on the best response (Condorcet winner).
    g = bradley_terry(rewards=np.array([0.0, 1.0, 3.0]))
    assert np.argmax(regularized_nash(g, 0.01)[0]) == 2
    assert np.allclose(regularized_nash(g, 1e3)[0], g.ref[0], atol=1e-3)


def test_maximal_lottery_is_unexploitable():
    g = random_intransitive(7, contexts=2, seed=5)
    ml = maximal_lottery(g)
    assert np.all(unregularized_exploitability(g, ml) <= 1e-9)
    # and the regularized equilibrium tends to it as β → 0 (unique here: generic random P)
    assert np.max(np.abs(regularized_nash(g, 0.002) - ml)) < 0.05


def test_measures_and_certificate_identity():
    g = GAMES[0]
    beta = 0.3
    nash = regularized_nash(g, beta)
    rng = np.random.default_rng(0)
    for _ in range(20):
        pi = rng.dirichlet(np.ones(6), size=3)
        e = regularized_exploitability(g, pi, beta)
        assert np.all(e > 0)
        assert np.allclose(e, certificate(g, pi, beta, nash), atol=1e-13)  # e_β = β[KL(π‖π*) + KL(π*‖BR)]
        assert np.all(e / beta >= kl_divergence(pi, nash) - 1e-13)
        assert np.allclose(duality_gap(g, pi, beta), 2 * e)
        # e_β is the value of the best response: max_π' J_β(π', π) − ½, by brute force over a grid of π'
        br = best_response(g, pi, beta)
        J = g.preference(br, pi) - beta * kl_divergence(br, g.ref) + beta * kl_divergence(pi, g.ref) - 0.5
        assert np.allclose(J, e, atol=1e-13)
    m = measures(g, nash, beta, nash)
    assert abs(m["exploitability_reg"]) < 1e-14 and abs(m["kl_nash_pi"]) < 1e-14
    assert 0 <= m["win_rate_ref"] <= 1 and m["exploitability"] >= 0
    # win rate of π_ref against itself is ½
    assert np.isclose(measures(g, g.ref, beta, nash)["win_rate_ref"], 0.5)


def test_bad_beta_is_a_user_error():
    for b in [0, -1, float("nan"), "x"]:
        with pytest.raises(GtlearnError):
            regularized_nash(GAMES[0], b)


def test_matrix_preference_oracle_labels_and_counter():
    from games.preference import MatrixPreference

    g = random_intransitive(4, seed=2)
    oracle = MatrixPreference(g.P, rng=np.random.default_rng(0))
    x = np.zeros(20000, dtype=int)
    y = np.full(20000, 1)
    y2 = np.full(20000, 3)
    labels = oracle.sample(x, y, y2)
    assert oracle.queries == 20000
    p = g.P[0, 1, 3]
    assert abs(labels.mean() - p) < 4 * np.sqrt(p * (1 - p) / 20000)
    assert oracle.prob(0, 1, 3) == p
