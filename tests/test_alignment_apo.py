"""APO, iterative DPO, online IPO and SPPO (docs/preference_games.md)."""

import numpy as np
import pytest

from alignment.measures import unregularized_exploitability
from alignment.tabular import APO, SPPO, APOConfig, DPOConfig, IPOConfig, IterativeDPO, OnlineIPO, SPPOConfig
from alignment.tabular.dpo import dpo_population_loss, dpo_population_step
from games.preference import bradley_terry, cyclic, make_game, maximal_lottery, regularized_nash
from gtlearn.core.errors import GtlearnError
from gtlearn.core.metrics import kl_divergence


def advance(alg, steps: int):
    """``steps`` more iterations of ``alg``; returns its last iterate."""
    for _ in range(steps):
        alg.step()
    return alg.current_policy()


def _norm(z):
    m = z.max(1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(1, keepdims=True))


@pytest.mark.parametrize("mode", ["exact", "sampled"])
@pytest.mark.parametrize("spec", ["bt:5,contexts=2,seed=1", "random:5,seed=2,ref=1.0"])
def test_apo_alpha_zero_equals_iterative_dpo_step_for_step(mode, spec):
    g = make_game(spec)
    apo = APO(g, APOConfig(beta=0.5, alpha=0.0), mode=mode, samples=32, seed=7)
    dpo = IterativeDPO(g, DPOConfig(beta=0.5), mode=mode, samples=32, seed=7)
    for _ in range(8):
        apo.step()
        dpo.step()
        assert np.array_equal(apo.log_pi, dpo.log_pi)
        assert apo.queries == dpo.queries


def test_apo_alpha_zero_sppo_inner_equals_sppo():
    g = make_game("random:6,seed=3")
    apo = APO(g, APOConfig(alpha=0.0, inner="sppo", sppo_eta=0.7), mode="sampled", samples=16, seed=1)
    sp = SPPO(g, SPPOConfig(eta=0.7), mode="sampled", samples=16, seed=1)
    for _ in range(8):
        apo.step()
        sp.step()
        assert np.array_equal(apo.log_pi, sp.log_pi)


def test_dpo_step_under_bradley_terry_is_closed_form():
    g = bradley_terry(6, contexts=3, seed=4, ref_concentration=1.0)
    beta = 0.3
    rng = np.random.default_rng(0)
    log_t = np.log(rng.dirichlet(np.ones(6), size=3))
    got = _norm(dpo_population_step(log_t, g.P, beta))
    want = _norm(log_t + g.rewards / beta)
    assert np.max(np.abs(got - want)) < 1e-10


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.6])
def test_bradley_terry_acceleration(alpha):
    g = bradley_terry(5, contexts=2, seed=3, scale=0.3)
    beta = 2.0
    alg = APO(g, APOConfig(beta=beta, alpha=alpha))
    r = g.rewards - g.rewards.mean(1, keepdims=True)
    log0 = np.log(g.ref)
    c_prev, d = 0.0, None
    for t in range(1, 7):
        alg.step()
        d = 1 + alpha if t == 1 else 1 + alpha * d
        c = c_prev + d
        shift = alg.log_pi - log0
        shift -= shift.mean(1, keepdims=True)
        assert np.max(np.abs(shift - c * r / beta)) < 1e-10, (t, c)
        c_prev = c
    if alpha == 0.3:
        assert np.isclose(1 + alpha, 1.3) and np.isclose(1.3 + 1.39, 2.69)


def test_z_cancels_in_dpo_loss():
    g = make_game("random:5,contexts=2,seed=1")
    rng = np.random.default_rng(2)
    pi = rng.dirichlet(np.ones(5), size=2)
    W = pi[:, :, None] * pi[:, None, :]
    h = rng.standard_normal((2, 5))
    shift = np.array([[3.0], [-7.5]])
    assert np.allclose(dpo_population_loss(h, W, g.P, 0.4), dpo_population_loss(h + shift, W, g.P, 0.4), rtol=1e-14)


def test_apo_reaches_a_gap_in_fewer_rounds_than_dpo():
    g = bradley_terry(8, seed=5, scale=0.5)
    beta = 1.0

    def rounds(alg):
        while np.max(unregularized_exploitability(g, alg.current_policy())) > 1e-3:
            alg.step()
        return alg.iteration

    base = rounds(IterativeDPO(g, DPOConfig(beta=beta)))
    fast = rounds(APO(g, APOConfig(beta=beta, alpha=0.5)))
    assert fast < base


def test_online_ipo_fixed_point_is_regularized_nash():
    g = make_game("random:6,contexts=2,seed=3,ref=1.0")
    beta = 1.0
    nash = regularized_nash(g, beta)
    ipo = OnlineIPO(g, IPOConfig(beta=beta), init=nash)
    ipo.step()
    assert np.max(np.abs(ipo.log_pi - np.log(nash))) < 1e-12
    ipo = OnlineIPO(g, IPOConfig(beta=beta))
    advance(ipo, 200)
    assert np.max(kl_divergence(nash, ipo.current_policy())) < 1e-10


def test_online_ipo_oscillates_for_small_beta():
    g = cyclic(3, ref_concentration=1.0, seed=2)
    beta = 0.01
    nash = regularized_nash(g, beta)
    ipo = OnlineIPO(g, IPOConfig(beta=beta))
    advance(ipo, 200)
    kls = [kl_divergence(nash, advance(ipo, 1))[0] for _ in range(20)]
    assert min(kls) > 1e-2  # it keeps cycling far from π*


def test_sppo_average_approaches_unregularized_equilibrium_last_iterate_cycles():
    g = cyclic(3)
    alg = SPPO(g, SPPOConfig(eta=0.5), init=np.array([[0.6, 0.3, 0.1]]))
    advance(alg, 4000)
    e_last = unregularized_exploitability(g, alg.current_policy())[0]
    e_avg = unregularized_exploitability(g, alg.average_policy())[0]
    assert e_avg < 0.02 < e_last
    assert np.allclose(maximal_lottery(g), 1 / 3)


def test_bad_config():
    g = make_game("bt:3")
    with pytest.raises(GtlearnError):
        APO(g, APOConfig(alpha=1.0))
    with pytest.raises(GtlearnError):
        APO(g, APOConfig(inner="kto"))
    with pytest.raises(GtlearnError):
        SPPO(g, SPPOConfig(eta=0))
