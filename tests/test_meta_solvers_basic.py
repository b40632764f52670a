"""Uniform, Nash (LP), PRD, RM and alpha-Rank meta-solvers against closed forms and OpenSpiel."""

import numpy as np
import pytest

from games.matrix import contract_others, nash_conv, random_game, random_zero_sum, rock_paper_scissors
from gtlearn.core.errors import GtlearnError
from solvers.psro.meta_solvers import AlphaRank, Nash, Uniform, make_meta_solver, normalise
from solvers.psro.meta_solvers.alpharank import alpharank, fixation_probability
from solvers.psro.meta_solvers.prd import projected_replicator_dynamics
from solvers.psro.meta_solvers.rm import regret_matching


def _saddle_gap(m, x, y):
    """max_i (M y)_i - min_j (x^T M)_j: zero exactly at a saddle point of the zero-sum game."""
    return float((m @ y).max() - (x @ m).min())


def test_uniform():
    out = Uniform()(random_game((3, 5, 2)))
    assert [o.tolist() for o in out] == [[1 / 3] * 3, [0.2] * 5, [0.5] * 2]


def test_nash_rps_is_uniform_with_value_zero():
    x, y = Nash()(rock_paper_scissors())
    np.testing.assert_allclose(x, 1 / 3, atol=1e-9)
    np.testing.assert_allclose(y, 1 / 3, atol=1e-9)
    assert abs(x @ rock_paper_scissors()[0] @ y) < 1e-12


@pytest.mark.parametrize("seed,shape", [(0, (5, 5)), (1, (7, 4)), (2, (12, 15)), (3, (30, 30))])
def test_nash_is_the_lp_value_on_random_zero_sum_games(seed, shape):
    m0, m1 = random_zero_sum(*shape, seed=seed)
    x, y = Nash()([m0, m1])
    assert x.min() >= 0 and y.min() >= 0 and abs(x.sum() - 1) < 1e-12 and abs(y.sum() - 1) < 1e-12
    # Saddle point: the row's guaranteed payoff equals the column's guaranteed loss equals x^T M y.
    value = x @ m0 @ y
    assert abs((x @ m0).min() - value) < 1e-8
    assert abs((m0 @ y).max() - value) < 1e-8
    assert _saddle_gap(m0, x, y) < 1e-8


def test_nash_constant_sum_and_rejections():
    m0, _ = random_zero_sum(4, 4, seed=5)
    x, y = Nash()([m0, 1.0 - m0])  # constant-sum (c = 1) is accepted
    assert _saddle_gap(m0, x, y) < 1e-8
    with pytest.raises(GtlearnError, match="constant-sum"):
        Nash()(random_game((3, 3), seed=1))
    with pytest.raises(GtlearnError, match="two-player"):
        Nash()(random_game((2, 2, 2), seed=1))


def _biased_rps():
    # Equilibrium of [[0,-1,2],[1,0,-1],[-2,1,0]] is (1/4, 1/2, 1/4) for both players (symmetric).
    m = np.array([[0.0, -1.0, 2.0], [1.0, 0.0, -1.0], [-2.0, 1.0, 0.0]])
    return [m, -m]


@pytest.mark.parametrize("game,eq", [(rock_paper_scissors(), [1 / 3] * 3), (_biased_rps(), [0.25, 0.5, 0.25])])
@pytest.mark.parametrize("method", ["prd", "rm"])
def test_prd_and_rm_approach_the_equilibrium(game, eq, method):
    x, y = Nash()(game)
    np.testing.assert_allclose(x, eq, atol=1e-9)
    np.testing.assert_allclose(y, eq, atol=1e-9)
    fn = projected_replicator_dynamics if method == "prd" else regret_matching
    out = fn(game, iterations=100_000)
    assert nash_conv(game, out) < 2e-2
    np.testing.assert_allclose(out[0], eq, atol=2e-2)
    np.testing.assert_allclose(out[1], eq, atol=2e-2)


def _openspiel_mean_without_start(os_avg, iterations, shape):
    # OpenSpiel's averager includes the uniform starting point; ours averages only the steps.
    return [((iterations + 1) * a - 1.0 / n) / iterations for a, n in zip(os_avg, shape)]


@pytest.mark.parametrize("shape", [(4, 6), (3, 4, 2)])
@pytest.mark.parametrize("fast", [True, False])
def test_prd_matches_openspiel(shape, fast):
    prd_os = pytest.importorskip("open_spiel.python.algorithms.projected_replicator_dynamics")
    game = random_game(shape, seed=7)
    ours = projected_replicator_dynamics(game, iterations=1000, fast=fast)
    theirs = prd_os.projected_replicator_dynamics([g.copy() for g in game], prd_iterations=1000, use_approx=True)
    for a, b in zip(ours, _openspiel_mean_without_start(theirs, 1000, shape)):
        np.testing.assert_allclose(a, b, atol=1e-12)


def test_prd_l2_projection_matches_openspiel_default():
    prd_os = pytest.importorskip("open_spiel.python.algorithms.projected_replicator_dynamics")
    game = random_game((3, 4), seed=8)
    ours = projected_replicator_dynamics(game, iterations=300, projection="l2")
    theirs = prd_os.projected_replicator_dynamics([g.copy() for g in game], prd_iterations=300)
    for a, b in zip(ours, _openspiel_mean_without_start(theirs, 300, (3, 4))):
        np.testing.assert_allclose(a, b, atol=1e-12)


@pytest.mark.parametrize("shape", [(4, 6), (3, 4, 2)])
@pytest.mark.parametrize("fast", [True, False])
def test_rm_matches_openspiel(shape, fast):
    rm_os = pytest.importorskip("open_spiel.python.algorithms.regret_matching")
    game = random_game(shape, seed=9)
    ours = regret_matching(game, iterations=1000, fast=fast)
    theirs = rm_os.regret_matching([g.copy() for g in game], iterations=1000)
    for a, b in zip(ours, _openspiel_mean_without_start(theirs, 1000, shape)):
        np.testing.assert_allclose(a, b, atol=1e-12)


def test_contract_others_matches_einsum():
    game = random_game((3, 4, 5), seed=3)
    rng = np.random.default_rng(0)
    x = [rng.dirichlet(np.ones(n)) for n in (3, 4, 5)]
    np.testing.assert_allclose(contract_others(game[0], x, 0), np.einsum("ijk,j,k->i", game[0], x[1], x[2]))
    np.testing.assert_allclose(contract_others(game[1], x, 1), np.einsum("ijk,i,k->j", game[1], x[0], x[2]))
    np.testing.assert_allclose(contract_others(game[2], x, 2), np.einsum("ijk,i,j->k", game[2], x[0], x[1]))


def test_fixation_probability_closed_form_and_limits():
    d = np.array([-0.3, -1e-9, 0.0, 1e-9, 0.2, -50.0, 50.0])
    rho = fixation_probability(d, alpha=2.0, m=5)
    for di, r in zip(d, rho):
        if di == 0:
            assert r == pytest.approx(1 / 5)
        elif abs(di) < 1:
            x = 2.0 * di
            assert r == pytest.approx((1 - np.exp(-x)) / (1 - np.exp(-5 * x)), rel=1e-6)
    # x = -100: rho = e^{(m-1)x} (e^x - 1)/(e^{mx} - 1) ~ e^{-400}, no overflow; x = 100: ~1
    assert rho[-2] == pytest.approx(np.exp(-400.0), rel=1e-9) and rho[-1] == pytest.approx(1.0)


def test_alpharank_rps_and_dominance():
    np.testing.assert_allclose(alpharank(rock_paper_scissors())[0], 1 / 3, atol=1e-9)
    # Prisoner's dilemma: defection (index 1) strictly dominates, so all mass goes to (D, D).
    pd = [np.array([[3.0, 0.0], [5.0, 1.0]]), np.array([[3.0, 5.0], [0.0, 1.0]])]
    out = AlphaRank()(pd)
    assert out[0][1] > 0.999 and out[1][1] > 0.999


def test_alpharank_matches_openspiel():
    ar_os = pytest.importorskip("open_spiel.python.egt.alpharank")
    game = random_game((3, 4), seed=11)
    game = [g / max(np.abs(h).max() for h in game) for g in game]  # ours normalises by max |payoff|
    ours = alpharank(game, alpha=2.0, m=10, eps=0.0)
    _, _, pi, _, _ = ar_os.compute(game, m=10, alpha=2.0)
    pi = np.asarray(pi).reshape(3, 4)
    np.testing.assert_allclose(ours[0], pi.sum(axis=1), atol=1e-9)
    np.testing.assert_allclose(ours[1], pi.sum(axis=0), atol=1e-9)


def test_normalise_and_loader(tmp_path):
    assert [w.tolist() for w in normalise([np.array([0.0, 2.0]), np.zeros(2)], (2, 2))] == [[0.0, 1.0], [0.5, 0.5]]
    with pytest.raises(GtlearnError):
        normalise([np.array([-1.0, 2.0]), np.ones(2)], (2, 2))
    with pytest.raises(GtlearnError):
        normalise([np.array([np.nan, 2.0]), np.ones(2)], (2, 2))
    with pytest.raises(GtlearnError):
        normalise([np.ones(3), np.ones(2)], (2, 2))
    path = tmp_path / "mine.py"
    path.write_text(
        "import numpy as np\n"
        "def first(payoffs, t, state):\n"
        "    state['seen'] = t\n"
        "    return [np.eye(n)[0] for n in payoffs[0].shape]\n"
        "def last(payoffs, state):\n"
        "    return [np.eye(n)[-1] for n in payoffs[0].shape]\n"
    )
    train = make_meta_solver(f"{path}:first", "train")
    out = train(random_game((3, 2)), 4)
    assert out[0].tolist() == [1, 0, 0] and train.state["seen"] == 4
    ev = make_meta_solver(f"{path}:last", "eval")
    assert ev(random_game((3, 2)))[1].tolist() == [0, 1]
    for bad in ("nope", f"{path}:missing", "missing.py:x"):
        with pytest.raises(GtlearnError):
            make_meta_solver(bad, "train")
    with pytest.raises(GtlearnError, match="slot"):
        make_meta_solver("shor-train", "eval")
    assert make_meta_solver("shor", "eval").name == "shor-eval"
    assert make_meta_solver("alpha-rank", "eval").name == "alpharank"
