"""INPO (docs/preference_games.md): fixed point at any η, loss minimizer = closed form, convergence
under the decreasing schedule, linear convergence at η = 3τ, τ = 0 is online IPO."""

import numpy as np
import pytest

from alignment.tabular import INPO, INPOConfig
from alignment.tabular.inpo import fit_inpo_loss, inpo_closed_form, inpo_loss, inpo_pair_weights
from games.preference import make_game, random_intransitive, regularized_nash
from gtlearn.core.errors import GtlearnError
from gtlearn.core.metrics import kl_divergence


def advance(alg, steps: int):
    """``steps`` more iterations of ``alg``; returns its last iterate."""
    for _ in range(steps):
        alg.step()
    return alg.current_policy()


def _norm(z):
    return z - np.log(np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True)) - z.max(1, keepdims=True)


@pytest.mark.parametrize("eta_over_tau", [1.0, 1.5, 3.0, 20.0, 1000.0])
def test_fixed_point_is_regularized_nash_at_any_eta(eta_over_tau):
    g = random_intransitive(6, contexts=2, ref_concentration=0.5, seed=5)
    tau = 0.2
    nash = regularized_nash(g, tau)
    new = _norm(inpo_closed_form(np.log(nash), np.log(g.ref), g.win_prob(nash), tau, tau * eta_over_tau))
    assert np.max(np.abs(new - np.log(nash))) < 1e-12


def test_loss_minimizer_equals_closed_form():
    g = random_intransitive(5, contexts=3, ref_concentration=2.0, seed=1)
    tau, eta = 0.3, 0.9
    rng = np.random.default_rng(0)
    pi_t = rng.dirichlet(np.full(5, 3.0), size=3)
    log_t, log_ref = np.log(pi_t), np.log(g.ref)
    closed = _norm(inpo_closed_form(log_t, log_ref, g.win_prob(pi_t), tau, eta))
    W = inpo_pair_weights(pi_t, g.P)
    base = (tau / eta) * log_ref + (1 - tau / eta) * log_t
    # exact minimizer of the quadratic loss by least squares on the pair differences
    for x in range(3):
        rows, targets, weights = [], [], []
        for i in range(5):
            for j in range(5):
                if i != j:
                    e = np.zeros(5)
                    e[i], e[j] = 1, -1
                    rows.append(e)
                    targets.append(1 / (2 * eta) + base[x, i] - base[x, j])
                    weights.append(np.sqrt(W[x, i, j]))
        A = np.array(rows) * np.array(weights)[:, None]
        b = np.array(targets) * np.array(weights)
        theta = np.linalg.lstsq(A, b, rcond=None)[0]
        assert np.max(np.abs(_norm(theta[None])[0] - closed[x])) < 1e-8
    # gradient descent on the tabular softmax logits reaches it too
    theta, steps = fit_inpo_loss(log_t.copy(), base, W, eta, 50000)
    assert np.max(np.abs(_norm(theta) - closed)) < 1e-8
    assert np.all(inpo_loss(theta, base, W, eta) <= inpo_loss(closed, base, W, eta) + 1e-14)


def test_loss_fit_mode_tracks_closed_form_mode():
    g = make_game("random:5,contexts=2,seed=9,ref=1.0")
    a = INPO(g, INPOConfig(beta=0.5, schedule="constant", eta=1.5))
    b = INPO(g, INPOConfig(beta=0.5, schedule="constant", eta=1.5, fit="loss"))
    for _ in range(10):
        a.step()
        b.step()
        assert np.max(np.abs(a.log_pi - b.log_pi)) < 1e-8


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_decreasing_schedule_meets_its_bound(seed):
    g = make_game(f"random:6,contexts=2,seed={seed},ref=1.0")
    tau = 0.1
    nash = regularized_nash(g, tau)
    alg = INPO(g, INPOConfig(beta=tau))  # η_t = τ(t+2)/2
    B = np.abs(np.log(nash) - np.log(g.ref)).max()
    kls = []
    for T in range(1, 801):
        alg.step()
        assert np.isclose(alg.current_eta(), tau * (T + 2) / 2)
        B = max(B, np.abs(alg.log_pi - np.log(g.ref)).max())
        C = max(B * tau, 1.0)
        kl = np.max(kl_divergence(nash, alg.current_policy()))
        kls.append(kl)
        assert kl <= 32 * C**2 / (tau**2 * (T + 1))
    assert kls[-1] < 1e-7  # and in practice it converges much faster than the bound


@pytest.mark.parametrize("tau", [0.25, 0.5, 1.0])
def test_constant_eta_three_tau_converges_linearly(tau):
    for seed in range(10):
        g = make_game(f"random:6,seed={seed},ref=1.0")
        nash = regularized_nash(g, tau)
        alg = INPO(g, INPOConfig(beta=tau, schedule="constant", eta=3 * tau))
        advance(alg, 40)
        kl40 = kl_divergence(nash, alg.current_policy()).max()
        advance(alg, 40)
        kl80 = kl_divergence(nash, alg.current_policy()).max()
        assert kl80 < 1e-6 and (kl80 < 1e-14 or kl80 < 0.1 * kl40)


def test_tau_zero_is_online_ipo_with_reference_pi_t():
    rng = np.random.default_rng(3)
    n, eta = 5, 0.4
    pi_t = rng.dirichlet(np.ones(n), size=1)
    ref = rng.dirichlet(np.ones(n), size=1)
    P = random_intransitive(n, seed=2).P
    W = inpo_pair_weights(pi_t, P)
    theta = rng.standard_normal((1, n))
    base = 0.0 * np.log(ref) + 1.0 * np.log(pi_t)  # τ/η = 0
    # IPO: E (log π(y_w)/π_t(y_w) − log π(y_l)/π_t(y_l) − 1/(2η))² under the same pair law
    logr = _norm(theta) - np.log(pi_t)
    ipo = sum(W[0, i, j] * (logr[0, i] - logr[0, j] - 1 / (2 * eta)) ** 2 for i in range(n) for j in range(n))
    assert np.isclose(inpo_loss(theta, base, W, eta)[0], ipo, rtol=1e-13)


def test_bad_config():
    g = make_game("cyclic:3")
    with pytest.raises(GtlearnError):
        INPO(g, INPOConfig(schedule="weird"))
    with pytest.raises(GtlearnError):
        INPO(g, INPOConfig(beta=0.5, schedule="constant", eta=0.1))
    with pytest.raises(GtlearnError):
        INPO(g, INPOConfig(fit="magic"))
