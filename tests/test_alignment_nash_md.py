"""Nash-MD and OMD (docs/preference_games.md): the constant-step bias shrinks with η, the schedule meets its
bound, OMD's fixed point is π*_β."""

import numpy as np
import pytest

from alignment.tabular import OMD, NashMD, NashMDConfig, OMDConfig
from games.preference import make_game, regularized_nash
from gtlearn.core.errors import GtlearnError
from gtlearn.core.metrics import kl_divergence


def advance(alg, steps: int):
    """``steps`` more iterations of ``alg``; returns its last iterate."""
    for _ in range(steps):
        alg.step()
    return alg.current_policy()


def test_nash_md_bias_shrinks_with_the_step():
    g = make_game("random:6,contexts=3,seed=2,ref=1.0")
    beta = 0.1
    nash = regularized_nash(g, beta)
    biases = []
    for eta in (2.0, 1.0, 0.5, 0.25):
        alg = NashMD(g, NashMDConfig(beta=beta, eta=eta))
        advance(alg, int(60 / (eta * beta)) + 100)  # contraction ≈ 1 − ηβ per step: far past rounding level
        # converged to its own fixed point ...
        before = alg.current_policy()
        alg.step()
        assert np.max(np.abs(alg.current_policy() - before)) < 1e-12
        biases.append(float(g.rho @ kl_divergence(nash, alg.current_policy())))
    # ... which is not π*, and the bias shrinks (about quadratically) as η → 0
    assert biases[-1] > 1e-7
    for a, b in zip(biases, biases[1:]):
        assert b < a / 3


@pytest.mark.parametrize("beta", [0.1, 0.5])
def test_nash_md_schedule_meets_bound(beta):
    g = make_game("random:5,contexts=2,seed=4,ref=0.5")
    nash = regularized_nash(g, beta)
    alg = NashMD(g, NashMDConfig(beta=beta, schedule="decreasing"))
    for T in range(1, 501):
        alg.step()
        assert kl_divergence(nash, alg.current_policy()).max() <= 8 / (beta**2 * (T + 1))
    assert kl_divergence(nash, alg.current_policy()).max() < 1e-5


def test_mixture_coef_zero_is_plain_policy():
    # ηβ → 0 makes the geometric mixture π_t itself: Nash-MD's step becomes SPPO's
    g = make_game("random:4,seed=1")
    alg = NashMD(g, NashMDConfig(beta=1e-12, eta=0.5))
    log0 = alg.log_pi.copy()
    alg.step()
    want = log0 + 0.5 * g.win_prob(np.exp(log0))
    want -= np.log(np.exp(want).sum(1, keepdims=True))
    assert np.allclose(alg.log_pi, want, atol=1e-10)


def test_omd_converges_to_regularized_nash():
    g = make_game("mixture:6,seed=3,ref=1.0")
    beta = 0.2
    nash = regularized_nash(g, beta)
    alg = OMD(g, OMDConfig(beta=beta, eta=1.0))
    advance(alg, 600)
    assert kl_divergence(nash, alg.current_policy()).max() < 1e-10


def test_bad_steps():
    g = make_game("cyclic:3")
    with pytest.raises(GtlearnError):
        NashMD(g, NashMDConfig(beta=1.0, eta=2.0))
    with pytest.raises(GtlearnError):
        OMD(g, OMDConfig(schedule="fast"))
