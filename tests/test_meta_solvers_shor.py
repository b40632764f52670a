"""SHOR meta-solvers (arXiv:2602.16928 v1 appendix; docs/psro.md)."""

import itertools
import math

import numpy as np
import pytest

from games.matrix import random_game
from solvers.psro.meta_solvers import SHOREval, SHORTrain
from solvers.psro.meta_solvers import shor as shor_mod
from solvers.psro.meta_solvers.shor import eval_iterations, shor_inner, train_iterations, train_schedule


def literal_shor(payoffs, iterations, lam, tau, mu, c, norm, avg):
    """The appendix listing transcribed element by element with Python floats and loops."""
    shape = payoffs[0].shape
    n_players = len(shape)
    sigma = [[1.0 / n] * n for n in shape]
    q = [[0.0] * n for n in shape]
    ghat = [[0.0] * n for n in shape]
    acc = [[0.0] * n for n in shape]
    for _ in range(iterations):
        for p in range(n_players):
            n = shape[p]
            u = [0.0] * n
            for prof in itertools.product(*[range(k) for k in shape]):
                w = 1.0
                for r in range(n_players):
                    if r != p:
                        w *= sigma[r][prof[r]]
                u[prof[p]] += payoffs[p][prof] * w
            mean = sum(u) / n
            g = [u[j] - mean for j in range(n)]
            h = [(1 + mu) * g[j] - mu * ghat[p][j] + c * (1 - sigma[p][j]) for j in range(n)]
            hmax = max(abs(v) for v in h)
            if norm and hmax > 1e-8:
                h = [v / hmax for v in h]
            q[p] = [max(q[p][j] + h[j], 0.0) for j in range(n)]
            qs = sum(q[p])
            rho = [v / qs for v in q[p]] if qs > 1e-12 else [1.0 / n] * n
            umax = max(u)
            z = [math.exp((v - umax) / tau) for v in u]
            zs = sum(z)
            b = [v / zs for v in z] if zs > 1e-12 else [1.0 / n] * n
            sigma[p] = [(1 - lam) * rho[j] + lam * b[j] for j in range(n)]
            ghat[p] = g
        if avg:
            for p in range(n_players):
                acc[p] = [acc[p][j] + sigma[p][j] for j in range(shape[p])]
    out = acc if avg else sigma
    return [np.array(v) / (sum(v) if avg else 1.0) for v in out]


def _normalised(out):
    return [np.asarray(v) / np.sum(v) for v in out]


@pytest.mark.parametrize("shape", [(4, 4), (3, 3, 3)])
def test_vectorised_equals_literal_both_slots(shape):
    game = random_game(shape, seed=sum(shape))
    n0 = shape[0]
    # training slot, first call (k = 1), with the slot's own iteration count
    sched = train_schedule(1)
    args = (train_iterations(n0), sched["lam"], sched["tau"], 0.5, sched["c"], True, True)
    expected = literal_shor(game, *args)
    for fast in (True, False):  # the numba kernel and the array (xp) code
        got = _normalised(shor_inner(game, *args, fast=fast))
        for a, b in zip(got, expected):
            np.testing.assert_allclose(a, b, atol=1e-12)
    args = (eval_iterations(n0), 0.01, 0.001, 0.2, 0.0, True, False)
    expected = literal_shor(game, *args)
    for fast in (True, False):
        got = shor_inner(game, *args, fast=fast)
        for a, b in zip(got, expected):
            np.testing.assert_allclose(a, b, atol=1e-12)


def test_solver_objects_equal_literal_at_call_76():
    game = random_game((3, 4), seed=2)
    train = SHORTrain()
    train.state["calls"] = 75  # the next call is k = 76: annealing finished
    got = _normalised(train(game, 76))
    expected = literal_shor(game, train_iterations(3), 0.05, 0.01, 0.5, 0.001, True, True)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, atol=1e-12)
    got = SHOREval()(game)
    expected = literal_shor(game, eval_iterations(3), 0.01, 0.001, 0.2, 0.0, True, False)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, atol=1e-12)


@pytest.mark.parametrize("fast", [True, False])
def test_first_iteration_by_hand(fast):
    """One inner iteration on M_0 = [[2, 0], [0, 1]], M_1 = -M_0 with lambda = 0.25, tau = 0.5,
    mu = 0.5, c = 0.1, computed by hand from the listing."""
    m0 = np.array([[2.0, 0.0], [0.0, 1.0]])
    out = shor_inner([m0, -m0], 1, lam=0.25, tau=0.5, mu=0.5, c=0.1, norm=True, avg=True, fast=fast)
    # Player 0 against sigma_1 = (1/2, 1/2): u = (1, 1/2), g = (1/4, -1/4),
    # h = 1.5 g + 0.1 (1 - 1/2) = (0.425, -0.325) -> /0.425 -> (1, -0.7647...); Q = (1, 0) -> rho = (1, 0);
    # b = softmax((1, 1/2) / 0.5) = (e, 1) / (e + 1); sigma_0 = 0.75 rho + 0.25 b.
    e = math.e
    s0 = np.array([0.75 + 0.25 * e / (e + 1), 0.25 / (e + 1)])
    # Player 1 sees the new sigma_0 (Gauss-Seidel): u = -(2 s0[0], s0[1]); its centred gain is
    # positive on action 1 only and stays so after the bonus 0.05, so Q = (0, 1 / max|h|) -> rho = (0, 1);
    # b = softmax(u / 0.5); sigma_1 = 0.75 rho + 0.25 b.
    u1 = np.array([-2 * s0[0], -s0[1]])
    assert (1.5 * (u1[1] - u1.mean()) + 0.05) > 0 > (1.5 * (u1[0] - u1.mean()) + 0.05)
    b1 = np.exp(u1 / 0.5) / np.exp(u1 / 0.5).sum()
    s1 = 0.75 * np.array([0.0, 1.0]) + 0.25 * b1
    np.testing.assert_allclose(out[0], s0, atol=1e-15)
    np.testing.assert_allclose(out[1], s1, atol=1e-15)
    assert s0[0] == pytest.approx(0.9327646446575012, abs=1e-15)


@pytest.mark.parametrize("k,lam,tau,c", [
    (1, 0.30 - 0.25 / 75, 0.50 - 0.49 / 75, 0.05 - 0.049 / 75),
    (75, 0.05, 0.01, 0.001),
    (76, 0.05, 0.01, 0.001),
])
def test_annealing_schedule(k, lam, tau, c):
    sched = train_schedule(k)
    assert sched["lam"] == pytest.approx(lam, abs=1e-15)
    assert sched["tau"] == pytest.approx(tau, abs=1e-15)
    assert sched["c"] == pytest.approx(c, abs=1e-15)


def test_iteration_counts_and_caps():
    assert [train_iterations(n) for n in (1, 101, 300)] == [1000, 3000, 5000]
    assert [eval_iterations(n) for n in (1, 101, 300)] == [8000, 13000, 15000]


def test_counter_advances_once_per_call_and_ignores_t(monkeypatch):
    seen = []

    def spy(payoffs, iterations, lam, tau, mu, c, norm=True, avg=True, fast=True):
        seen.append((iterations, lam, tau, mu, c, norm, avg))
        return [np.ones(n) for n in payoffs[0].shape]

    monkeypatch.setattr(shor_mod, "shor_inner", spy)
    train = SHORTrain()
    game = random_game((5, 5), seed=0)
    for t in (1, 1, 40):  # the t argument is ignored by the counter
        train(game, t)
    assert train.state["calls"] == 3
    assert [s[1:3] for s in seen] == [tuple(train_schedule(k)[x] for x in ("lam", "tau")) for k in (1, 2, 3)]
    assert all(s[0] == train_iterations(5) and s[3] == 0.5 and s[5] and s[6] for s in seen)
    ev = SHOREval()
    ev(game)
    ev(game)
    assert ev.state == {} and seen[-1] == (eval_iterations(5), 0.01, 0.001, 0.2, 0.0, True, False)


def test_empty_population_returns_empty_vectors():
    out = shor_inner([np.zeros((0, 3)), np.zeros((0, 3))], 5, 0.1, 0.1, 0.1, 0.1)
    assert [o.shape for o in out] == [(0,), (3,)]


@pytest.mark.gpu
def test_array_code_on_cupy_matches_numpy():
    cp = pytest.importorskip("cupy")
    from solvers.psro.meta_solvers.prd import projected_replicator_dynamics
    from solvers.psro.meta_solvers.rm import regret_matching

    game = random_game((5, 4, 3), seed=4)
    dev = [cp.asarray(m) for m in game]
    for fn in (lambda g, **k: shor_inner(g, 300, 0.3, 0.5, 0.5, 0.05, True, True, **k),
               lambda g, **k: shor_inner(g, 300, 0.01, 0.001, 0.2, 0.0, True, False, **k),
               lambda g, **k: projected_replicator_dynamics(g, 300, **k),
               lambda g, **k: regret_matching(g, 300, **k)):
        for a, b in zip(fn(dev), fn(game, fast=False)):
            np.testing.assert_allclose(cp.asnumpy(a), b, atol=1e-10)
