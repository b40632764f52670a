"""Sampled mode: every algorithm, run on Bernoulli preference labels with fixed seeds, stays
within the statistical error expected for its number of queries.

The yardstick is the exact-mode trajectory of the same algorithm (so the bias of an algorithm,
e.g. Nash-MD's, is not counted as statistical error) and a linear-noise prediction: an update
``log π_{t+1} = a·log π_t + g·P̂(·≻μ_t) + …`` whose estimate P̂ has per-entry variance
σ² ≤ 1/(4m) (m labels per estimate) accumulates log-policy noise of variance
g²σ²·Σ_{k<T} a^{2k} per coordinate, i.e. KL(π_exact‖π_sampled) ≈ ½·g²σ²·Σ_{k<T} a^{2k}. The
prediction ignores the contraction of the preference feedback and the factor (1 − Σπ²), so it
is an upper estimate; we assert the mean over seeds is within 2× of it, and that 16× more
labels cut the error at least 4× (the error is statistical, O(1/m), not bias).
"""

import numpy as np
import pytest

from alignment.measures import unregularized_exploitability
from alignment.tabular import (
    APO,
    FDPG,
    INPO,
    OMD,
    SPPO,
    APOConfig,
    DPOConfig,
    FDPGConfig,
    INPOConfig,
    IPOConfig,
    IterativeDPO,
    NashMD,
    NashMDConfig,
    NashMP,
    NashMPConfig,
    OMDConfig,
    OnlineIPO,
    SPPOConfig,
    base_game,
    rlhf_target,
)
from games.preference import cyclic, make_game, regularized_nash
from gtlearn.core.metrics import kl_divergence


def advance(alg, steps: int):
    """``steps`` more iterations of ``alg``; returns its last iterate."""
    for _ in range(steps):
        alg.step()
    return alg.current_policy()


B = 0.5
LAM = 0.5
REGULARIZED = {
    # name: (class, config, a, g, iterations)
    "nash-mp": (NashMP, NashMPConfig(beta=B, prox_coef=LAM), LAM / (B + LAM), 1 / (B + LAM), 40),
    "inpo": (INPO, INPOConfig(beta=B, schedule="constant", eta=3 * B), 2 / 3, 1 / (3 * B), 40),
    "inpo-loss": (INPO, INPOConfig(beta=B, schedule="constant", eta=3 * B, fit="loss"), 2 / 3, 1 / (3 * B), 20),
    "omd": (OMD, OMDConfig(beta=B, eta=1.0), 1 - B, 1.0, 40),
    "nash-md": (NashMD, NashMDConfig(beta=B, eta=1.0), 1 - B, 1.0, 40),
    "ipo": (OnlineIPO, IPOConfig(beta=B), 0.0, 1 / B, 40),
}


def _pred(a, g, m, T):
    return 0.5 * g**2 / (4 * m) * sum(a ** (2 * k) for k in range(T))


def _errors(game, cls, cfg, T, m, seeds=3):
    exact = advance(cls(game, cfg), T)
    out = []
    for s in range(seeds):
        alg = cls(game, cfg, mode="sampled", samples=m, seed=s)
        advance(alg, T)
        out.append(float(game.rho @ kl_divergence(exact, alg.current_policy())))
    return np.array(out), alg.queries


@pytest.mark.parametrize("name", list(REGULARIZED))
def test_regularized_algorithms_within_statistical_error(name):
    game = make_game("random:5,contexts=2,seed=3,ref=1.0")
    cls, cfg, a, g, T = REGULARIZED[name]
    e_small, q_small = _errors(game, cls, cfg, T, 64)
    e_big, q_big = _errors(game, cls, cfg, T, 1024)
    assert q_big == 16 * q_small
    assert e_small.mean() <= 2 * _pred(a, g, 64, T)
    assert e_big.mean() <= 2 * _pred(a, g, 1024, T)
    assert e_small.mean() / e_big.mean() >= 4
    # and, being π*-convergent, they end within that error of the exact regularized Nash
    if name != "nash-md":
        nash = regularized_nash(game, B)
        alg = cls(game, cfg, mode="sampled", samples=1024, seed=0)
        advance(alg, T)
        assert game.rho @ kl_divergence(nash, alg.current_policy()) <= 4 * _pred(a, g, 1024, T)


UNREGULARIZED = {
    # no KL to π_ref: noise accumulates as a random walk (a = 1) over T rounds
    "sppo": (SPPO, SPPOConfig(beta=1.0, eta=1.0), 1.0),
    "apo-sppo": (APO, APOConfig(beta=1.0, alpha=0.3, inner="sppo", sppo_eta=1.0), 1.0 / 0.7),
    # DPO's step is h = r̂/β, r̂ a regression on n(n−1)/2 pair logits of variance ≈ 4/m each:
    # per-coordinate variance ≈ 4/(m·n·β²), i.e. g² = 4·4/(n β²) in units of σ² = 1/(4m)
    "dpo": (IterativeDPO, DPOConfig(beta=1.0), 4.0 / np.sqrt(5)),
    "apo": (APO, APOConfig(beta=1.0, alpha=0.3), 4.0 / np.sqrt(5) / 0.7),
}


@pytest.mark.parametrize("name", list(UNREGULARIZED))
def test_unregularized_algorithms_within_statistical_error(name):
    game = make_game("bt:5,contexts=2,seed=3,scale=0.5")
    cls, cfg, g = UNREGULARIZED[name]  # momentum amplifies the noise by at most 1/(1−α)
    T = 10
    e_small, _ = _errors(game, cls, cfg, T, 64)
    e_big, _ = _errors(game, cls, cfg, T, 1024)
    assert e_small.mean() <= 2 * _pred(1.0, g, 64, T)
    assert e_big.mean() <= 2 * _pred(1.0, g, 1024, T)
    assert e_small.mean() / e_big.mean() >= 4


def test_sppo_sampled_average_is_unexploitable_within_error():
    # SPPO's target is the unregularized equilibrium (uniform on rock–paper–scissors): the
    # sampled average iterate's e_0 is within three standard errors of one P̂ entry (0.5/√m)
    # of the exact run's.
    g = cyclic(3)
    T, m = 400, 256
    init = np.array([[0.6, 0.3, 0.1]])
    exact = SPPO(g, SPPOConfig(eta=0.3), init=init)
    advance(exact, T)
    for seed in range(3):
        alg = SPPO(g, SPPOConfig(eta=0.3), mode="sampled", samples=m, seed=seed, init=init)
        advance(alg, T)
        assert alg.queries == T * 3 * m
        e_s = unregularized_exploitability(g, alg.average_policy())[0]
        e_x = unregularized_exploitability(g, exact.average_policy())[0]
        assert e_s <= e_x + 3 * 0.5 / np.sqrt(m)


@pytest.mark.parametrize("div", ["kl", "rkl", "js", "chi2", "rchi2"])
def test_fdpg_sampled_tracks_exact_with_error_of_order_one_over_samples(div):
    rng = np.random.default_rng(0)
    a = rng.dirichlet(np.full(6, 2.0), size=2)
    target = rlhf_target(a, rng.standard_normal((2, 6)), 0.5)
    cfg = FDPGConfig(divergence=div, learning_rate=0.5)
    T = 100
    game = base_game(a)
    exact = advance(FDPG(game, cfg, target=target), T)

    def err(m):
        return np.mean([kl_divergence(exact, advance(FDPG(game, cfg, mode="sampled", samples=m, seed=s, target=target),
                                                     T)).mean() for s in range(3)])

    small, big = err(64), err(1024)
    assert small < 1e-4
    assert small / big >= 4
