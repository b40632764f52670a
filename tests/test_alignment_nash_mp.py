"""Nash-MP (docs/preference_games.md) against the exact regularized Nash equilibrium."""

import numpy as np
import pytest

from alignment.tabular import NashMD, NashMDConfig, NashMP, NashMPConfig
from alignment.tabular.nash_mp import nash_mp_prior, prox_step
from games.preference import bradley_terry, make_game, random_intransitive, regularized_exploitability, regularized_nash
from gtlearn.core.errors import GtlearnError
from gtlearn.core.metrics import kl_divergence


def advance(alg, steps: int):
    """``steps`` more iterations of ``alg``; returns its last iterate."""
    for _ in range(steps):
        alg.step()
    return alg.current_policy()


def _kl(g, nash, pi):
    return float(g.rho @ kl_divergence(nash, pi))


@pytest.mark.parametrize("beta", [0.01, 0.1, 1.0])
def test_nash_is_a_fixed_point_of_both_half_steps(beta):
    g = random_intransitive(6, contexts=2, ref_concentration=0.7, seed=3)
    nash = regularized_nash(g, beta)
    lam = 0.5
    prior = nash_mp_prior(np.log(nash), np.log(g.ref), beta, lam)
    half = prox_step(prior, g.win_prob(nash), beta, lam)
    full = prox_step(prior, g.win_prob(np.exp(half)), beta, lam)
    assert np.max(np.abs(half - np.log(nash))) < 1e-12
    assert np.max(np.abs(full - np.log(nash))) < 1e-12


def test_contraction_on_many_random_games():
    rng = np.random.default_rng(0)
    worst = 0.0
    for i in range(120):
        beta = float(np.exp(rng.uniform(np.log(0.003), np.log(3.0))))
        g = random_intransitive(int(rng.integers(2, 9)), ref_concentration=float(rng.choice([0.3, 1.0, 5.0])), seed=i)
        nash = regularized_nash(g, beta)
        alg = NashMP(g, NashMPConfig(beta=beta, prox_coef=0.5))
        for _ in range(5):
            before = _kl(g, nash, alg.current_policy())
            alg.step()
            after = _kl(g, nash, alg.current_policy())
            if before > 1e-10:  # below that the ratio is rounding noise
                ratio = after / (before / (1 + 2 * beta))
                worst = max(worst, ratio)
                assert ratio <= 1 + 1e-9, (i, beta, before, after)
    assert worst > 0.5  # the bound is not vacuous: some steps come close to it


@pytest.mark.parametrize("beta", [0.05, 0.3])
def test_query_count_rate_and_exact_convergence(beta):
    g = make_game("random:7,contexts=3,seed=2,ref=0.5")
    nash = regularized_nash(g, beta)
    alg = NashMP(g, NashMPConfig(beta=beta))
    kl0 = _kl(g, nash, alg.current_policy())
    while True:
        alg.step()
        N = alg.queries
        assert N == 2 * alg.iteration  # two rounds of preference queries per iteration
        kl = _kl(g, nash, alg.current_policy())
        assert kl <= (1 + 2 * beta) ** (-N / 2) * kl0 * (1 + 1e-9) + 1e-15
        if kl < 1e-10:
            break
    assert kl < 1e-8  # the Must-show: KL to the exact regularized Nash below 1e-8


def test_both_half_steps_share_the_prior():
    g = make_game("mixture:5,seed=4")
    beta, lam = 0.2, 0.7
    alg = NashMP(g, NashMPConfig(beta=beta, prox_coef=lam))
    for _ in range(3):
        log_pi = alg.log_pi.copy()
        alg.step()
        prior = lam * log_pi + beta * np.log(g.ref)
        assert np.array_equal(alg.last_prior, prior)
        # the half step is the prox step of that prior against π_k, the full step against π_{k+½}
        assert np.allclose(alg.log_half, prox_step(prior, g.win_prob(np.exp(log_pi)), beta, lam), atol=1e-14)
        assert np.allclose(alg.log_pi, prox_step(prior, g.win_prob(np.exp(alg.log_half)), beta, lam), atol=1e-14)


def test_larger_prox_coef_is_slower_but_converges():
    g = random_intransitive(6, seed=8)
    beta = 0.1
    nash = regularized_nash(g, beta)
    kls = {}
    for lam in (0.5, 2.0):
        alg = NashMP(g, NashMPConfig(beta=beta, prox_coef=lam))
        advance(alg, 100)
        kls[lam] = _kl(g, nash, alg.current_policy())
    assert kls[2.0] > kls[0.5]
    assert kls[2.0] < 1e-3


def test_fewer_queries_than_nash_md_for_a_tight_target():
    g = make_game("random:6,contexts=2,seed=1,ref=1.0")
    beta = 0.1
    nash = regularized_nash(g, beta)

    def queries_to_target(alg, cap=200000):
        while np.max(regularized_exploitability(g, alg.current_policy(), beta)) > 1e-8:
            alg.step()
            if alg.queries > cap:
                return np.inf
        return alg.queries

    mp = queries_to_target(NashMP(g, NashMPConfig(beta=beta)))
    # Nash-MD with a constant step is biased; use its convergent schedule
    md = queries_to_target(NashMD(g, NashMDConfig(beta=beta, schedule="decreasing")))
    assert mp < md
    assert _kl(g, nash, advance(NashMP(g, NashMPConfig(beta=beta)), mp // 2)) < 1e-7


def test_bad_config_is_a_user_error():
    g = bradley_terry(3)
    with pytest.raises(GtlearnError):
        NashMP(g, NashMPConfig(beta=0.0))
    with pytest.raises(GtlearnError):
        NashMP(g, NashMPConfig(prox_coef=-1))
    with pytest.raises(GtlearnError):
        NashMP(g, mode="bogus")


def test_small_prox_coef_can_fail_to_contract_at_small_beta():
    # λ = 0.1 with β = 0.01 increases KL(π*‖π) on some steps (λ = ½ never does)
    increased = 0
    for seed in range(10):
        g = random_intransitive(6, seed=seed, ref_concentration=1.0)
        beta = 0.01
        nash = regularized_nash(g, beta)
        for lam, expect_monotone in ((0.1, False), (0.5, True)):
            alg = NashMP(g, NashMPConfig(beta=beta, prox_coef=lam))
            prev, up = _kl(g, nash, alg.current_policy()), False
            for _ in range(50):
                alg.step()
                kl = _kl(g, nash, alg.current_policy())
                up |= prev > 1e-12 and kl > prev * (1 + 1e-9)
                prev = kl
            if expect_monotone:
                assert not up
            else:
                increased += up
    assert increased >= 3
