"""f-DPG on finite spaces, against the normalized target computed directly and the closed-form
RLHF optimum; its targets built from a preference game; its gap record."""

import numpy as np
import pytest

from alignment.tabular.divergences import DIVERGENCES, divergence, exact_gradient, f_prime, is_gradient
from alignment.tabular.fdpg import FDPG, FDPGConfig
from alignment.tabular.source import log_normalize
from alignment.tabular.targets import base_game, distributional_target, fdpg_target, pointwise_target, rlhf_target
from games.preference import make_game
from gtlearn.core.errors import GtlearnError
from gtlearn.core.metrics import Metrics

RNG = np.random.default_rng(0)
A = RNG.dirichlet(np.full(6, 2.0), size=2)
R = RNG.standard_normal((2, 6))
BETA = 0.5
LR = {"kl": 4.0, "rkl": 4.0, "js": 16.0, "chi2": 1.0, "rchi2": 2.0}
GAME = base_game(A)


def fdpg(target, config, **kwargs) -> FDPG:
    return FDPG(GAME, config, target=target, **kwargs)


def advance(alg, steps: int):
    for _ in range(steps):
        alg.step()
    return alg.current_policy()


def set_logits(alg: FDPG, theta: np.ndarray) -> None:
    alg.theta = theta
    alg.log_pi = log_normalize(theta)


@pytest.mark.parametrize("div", ["kl", "rkl", "js", "chi2", "rchi2"])
def test_exact_gradient_descent_reaches_target(div):
    target = rlhf_target(A, R, BETA)
    alg = fdpg(target, FDPGConfig(divergence=div, learning_rate=LR[div]))
    advance(alg, 6000)
    assert np.max(np.abs(alg.current_policy() - target.p)) < 1e-8
    assert abs(alg.target_divergence()) < 1e-12


def test_tv_decreases_to_a_small_plateau():
    target = rlhf_target(A, R, BETA)
    alg = fdpg(target, FDPGConfig(divergence="tv", learning_rate=0.05))
    start = alg.target_divergence()
    gaps = []
    for _ in range(3000):
        alg.step()
        gaps.append(alg.target_divergence())
    assert gaps[-1] < 0.1 * start
    assert max(gaps[-500:]) - min(gaps[-500:]) < 0.02  # a plateau, not a limit of 0


def test_reverse_kl_on_rlhf_target_is_kl_regularized_reward_maximization():
    target = rlhf_target(A, R, BETA)
    closed = A * np.exp(R / BETA)
    closed /= closed.sum(1, keepdims=True)
    alg = fdpg(target, FDPGConfig(divergence="rkl", learning_rate=4.0))
    advance(alg, 6000)
    assert np.max(np.abs(alg.current_policy() - closed)) < 1e-8

    def objective(pi):
        return (pi * R).sum(1) - BETA * (pi * np.log(pi / A)).sum(1)

    best = objective(closed)
    for _ in range(200):
        other = RNG.dirichlet(np.ones(6), size=2)
        assert np.all(objective(other) <= best + 1e-12)
    # pseudo-reward −f'(π/p) = r/β − log(π/a) + const (per context)
    pi = RNG.dirichlet(np.ones(6), size=2)
    pseudo = -f_prime("rkl", np.log(pi) - np.log(target.p))
    diff = pseudo - (R / BETA - np.log(pi / A))
    assert np.allclose(diff - diff[:, :1], 0.0, atol=1e-12)


@pytest.mark.parametrize("div", DIVERGENCES)
def test_importance_sampled_gradient_equals_on_policy(div):
    target = rlhf_target(A, R, BETA)
    theta = RNG.standard_normal((2, 6))
    q = RNG.dirichlet(np.ones(6), size=2)
    assert np.allclose(is_gradient(theta, target, div, q), exact_gradient(theta, target, div), atol=1e-12)


def test_gradient_matches_finite_differences():
    target = rlhf_target(A, R, BETA)
    theta = RNG.standard_normal((2, 6))
    for div in DIVERGENCES:
        if div == "tv":
            continue  # not differentiable at t = 1 (fine elsewhere, but skip the kink)
        g = exact_gradient(theta, target, div)
        num = np.zeros_like(theta)
        for x in range(2):
            for i in range(6):
                e = np.zeros_like(theta)
                e[x, i] = 1e-6
                sm = lambda t: np.exp(t - t.max(1, keepdims=True)) / np.exp(t - t.max(1, keepdims=True)).sum(1, keepdims=True)
                num[x, i] = (divergence(div, sm(theta + e), target.p)[x] - divergence(div, sm(theta - e), target.p)[x]) / 2e-6
        assert np.allclose(g, num, atol=1e-6), div


def test_z_hat_is_unbiased_and_constant_baseline_leaves_gradient_unchanged():
    target = rlhf_target(A, R, BETA)
    Z = np.exp(target.log_Z)
    ests = []
    for seed in range(200):
        alg = fdpg(target, FDPGConfig(divergence="js", learning_rate=0.0 + 1e-300), mode="sampled", samples=8, seed=seed)
        alg.sampled_gradient()
        ests.append(alg.z_hat)
    ests = np.array(ests)
    se = ests.std(0) / np.sqrt(len(ests))
    assert np.all(np.abs(ests.mean(0) - Z) < 4 * se)
    # E_π[∇ log π] = 0: adding any constant b to the pseudo-reward changes no exact gradient
    theta = RNG.standard_normal((2, 6))
    pi = np.exp(theta) / np.exp(theta).sum(1, keepdims=True)
    score_mean = sum(pi[:, [x]] * (np.eye(6)[x][None] - pi) for x in range(6))
    assert np.allclose(score_mean, 0.0, atol=1e-15)


def test_zero_support_targets():
    phi = R > 0
    target = pointwise_target(A, phi)
    for div in ("rkl", "rchi2"):
        with pytest.raises(GtlearnError):
            fdpg(target, FDPGConfig(divergence=div))
    # forward KL, JS, TV, χ² stay finite outside the support and put no mass there at the end
    for div in ("kl", "js"):
        alg = fdpg(target, FDPGConfig(divergence=div, learning_rate=LR[div]))
        advance(alg, 4000)
        assert np.all(np.isfinite(alg.current_policy()))
        assert np.max(np.abs(alg.current_policy() - target.p)) < 1e-4


def test_distributional_target_matches_moment():
    phi = R
    m = 0.5 * ((A * phi).sum(1) + phi.max(1))
    target = distributional_target(A, phi, m)
    assert np.allclose((target.p * phi).sum(1), m, atol=1e-12)
    alg = fdpg(target, FDPGConfig(divergence="kl", learning_rate=4.0))
    advance(alg, 4000)
    assert np.allclose((alg.current_policy() * phi).sum(1), m, atol=1e-9)


def test_proposal_is_refreshed_only_when_forward_kl_improves():
    target = rlhf_target(A, R, BETA)
    alg = fdpg(target, FDPGConfig(divergence="kl", proposal="offline"), mode="sampled", samples=4000, seed=1)
    alg.sampled_gradient()  # populates Ẑ
    xs = alg.source.sample_responses(alg.q, 4000)
    rows = np.arange(2)[:, None]
    # π = p: KL(p‖π) = 0 < KL(p‖q) → refresh
    set_logits(alg, np.log(target.p))
    assert alg.maybe_refresh(xs, target.log_P[rows, xs], alg.q[rows, xs])
    assert np.allclose(alg.q, target.p)
    # now π far from p and q = p: KL(p‖π) > KL(p‖q) → no refresh
    set_logits(alg, np.log(np.roll(target.p, 2, axis=1)))
    xs = alg.source.sample_responses(alg.q, 4000)
    assert not alg.maybe_refresh(xs, target.log_P[rows, xs], alg.q[rows, xs])
    assert np.allclose(alg.q, target.p)


def test_bad_config():
    target = rlhf_target(A, R, BETA)
    with pytest.raises(GtlearnError):
        fdpg(target, FDPGConfig(divergence="hellinger"))
    with pytest.raises(GtlearnError):
        fdpg(target, FDPGConfig(learning_rate=0))
    with pytest.raises(GtlearnError, match="unknown f-DPG target"):
        FDPG(GAME, FDPGConfig(target="moment"))
    with pytest.raises(GtlearnError):
        distributional_target(A, R, 100.0)


@pytest.mark.parametrize("kind", ["rlhf", "pointwise", "distributional"])
def test_targets_from_a_preference_game(kind):
    game = make_game("random:6,contexts=2,seed=4,ref=1.0")
    r = game.win_prob(game.ref)
    target = fdpg_target(game, kind, 0.3)
    if kind == "rlhf":
        closed = game.ref * np.exp(r / 0.3)
        assert np.allclose(target.p, closed / closed.sum(1, keepdims=True), atol=1e-14)
    elif kind == "pointwise":
        assert np.array_equal(target.p > 0, r >= np.median(r, axis=1, keepdims=True))
    else:
        assert np.allclose((target.p * r).sum(1), 0.5 * ((game.ref * r).sum(1) + r.max(1)), atol=1e-12)
    alg = FDPG(game, FDPGConfig(beta=0.3, target=kind, divergence="kl", learning_rate=4.0))
    assert np.array_equal(alg.target.log_P, target.log_P)
    advance(alg, 3000)
    # outside a pointwise target's support forward KL's gradient vanishes like the mass there
    assert np.max(np.abs(alg.current_policy() - target.p)) < (1e-4 if kind == "pointwise" else 1e-8)


def test_gap_record_names_the_divergence_and_carries_the_measures():
    target = rlhf_target(A, R, BETA)
    alg = fdpg(target, FDPGConfig(divergence="kl", learning_rate=1.0), mode="sampled", samples=16, seed=3)
    first = alg.gap()
    assert isinstance(first, Metrics) and first.iteration == 0 and first.gap_name == "D_kl"
    assert first.extra["queries"] == 0 and "pseudo_reward_mean" not in first.extra
    alg.step()
    record = alg.gap()
    assert record.iteration == 1 and record.gap == alg.target_divergence() == record.extra["div_kl"]
    assert record.extra["queries"] == 2 * 16 and {"entropy", "z_hat", "baseline", "refreshes"} <= set(record.extra)
    assert set(alg.artifacts()) == {"policy"}
