"""The fast PSRO paths: the factored meta-game, opt-in early stopping, the Numba oracle.

Defaults are unchanged (tests/test_golden.py checks the numbers); these tests check that the
opt-in paths compute the same thing up to round-off."""

from __future__ import annotations

import numpy as np
import pytest

from games.matrix import FactoredGame, contract_others, utilities
from games.tree import compile_game
from solvers.psro import PSROConfig, PSROSolver
from solvers.psro.meta_solvers import PRD, RM, SHOREval, SHORTrain
from solvers.psro.meta_solvers.prd import projected_replicator_dynamics
from solvers.psro.meta_solvers.rm import regret_matching
from solvers.psro.meta_solvers.shor import shor_inner


def _meta_game(game: str, k: int):
    """A factored and a dense PSRO meta-game of ``game`` after ``k`` iterations."""
    solver = PSROSolver(compile_game(game), PSROConfig("shor", meta_form="factored", oracle_backend="numba"))
    for _ in range(k):
        solver.step()
    factored = solver.meta_game.factored()
    return factored, [np.array(t) for t in factored.dense()]


def test_factored_game_contracts_like_its_dense_tensors():
    rng = np.random.default_rng(0)
    sizes, cols, terms = (3, 4, 5), (6, 2, 7), 40
    game = FactoredGame(rng.normal(size=(terms, 3)), np.stack([rng.integers(0, c, terms) for c in cols], axis=1),
                        [rng.random((n, c)) for n, c in zip(sizes, cols)])
    dense = game.dense()
    expect = np.zeros((3, *sizes))
    for k in range(terms):
        outer = np.einsum("i,j,l->ijl", *(game.factors[q][:, game.index[k, q]] for q in range(3)))
        expect += game.weights[k][:, None, None, None] * outer
    for p in range(3):
        np.testing.assert_allclose(dense[p], expect[p], atol=1e-12)
        np.testing.assert_allclose(game[p], expect[p], atol=1e-12)
    x = [rng.dirichlet(np.ones(n)) for n in sizes]
    for p in range(3):
        np.testing.assert_allclose(utilities(game, x, p), contract_others(dense[p], x, p), atol=1e-12)
    assert game.sizes == sizes and len(game) == 3


@pytest.mark.parametrize("game,k", [("kuhn_poker(players=3)", 8), ("kuhn_poker(players=4)", 4)])
def test_factored_kernels_match_dense(game, k):
    factored, dense = _meta_game(game, k)
    for fn in (lambda p: projected_replicator_dynamics(p, 3000), lambda p: regret_matching(p, 3000),
               lambda p: shor_inner(p, 800, 0.2, 0.1, 0.5, 0.01, True, True),
               lambda p: shor_inner(p, 800, 0.01, 0.001, 0.2, 0.0, True, False)):
        for a, b in zip(fn(factored), fn(dense)):
            np.testing.assert_allclose(a, b, atol=1e-9)
    # The array code on the factored form agrees too (no dense tensor built for it).
    for a, b in zip(shor_inner(factored, 50, 0.2, 0.1, 0.5, 0.01, fast=False), shor_inner(dense, 50, 0.2, 0.1, 0.5, 0.01)):
        np.testing.assert_allclose(a, b, atol=1e-10)
    assert factored._dense is not None  # dense() was called above, by the test itself


def test_psro_factored_and_numba_oracle_match_the_reference():
    tree = compile_game("kuhn_poker(players=3)")
    runs = [PSROSolver(tree, PSROConfig("prd", train_kwargs={"iterations": 2000}, eval_kwargs={"iterations": 2000},
                                        meta_form=form, oracle_backend=backend))
            for form, backend in (("dense", "numpy"), ("factored", "numba"), ("auto", "numba"))]
    assert runs[2].meta_game.dense is False  # 3-player Kuhn: the factored form is far cheaper
    for _ in range(8):
        for r in runs:
            r.step()
    ref = [h.exploitability for h in runs[0].history]
    for r in runs[1:]:
        np.testing.assert_allclose([h.exploitability for h in r.history], ref, atol=1e-9)


def test_auto_keeps_dense_where_it_is_cheaper():
    assert PSROSolver(compile_game("leduc_poker"), PSROConfig("uniform", meta_form="auto")).meta_game.dense


def test_factored_psro_resumes_bit_for_bit():
    tree = compile_game("kuhn_poker(players=3)")
    cfg = PSROConfig("shor", meta_form="factored", oracle_backend="numba")
    a = PSROSolver(tree, cfg)
    for _ in range(4):
        a.step()
    b = PSROSolver(tree, PSROConfig("shor", meta_form="factored", oracle_backend="numba"))
    b.load_state_dict(a.state_dict())
    for _ in range(3):
        a.step()
        b.step()
    assert [h.exploitability for h in a.history] == [h.exploitability for h in b.history]


def test_defaults_keep_their_identity():
    assert repr(SHORTrain()) == "SHORTrain()" and repr(SHOREval()) == "SHOREval()"
    assert "early_stop" not in repr(PRD()) and "early_stop" not in repr(RM())
    assert "early_stop=True" in repr(PRD(early_stop=True)) and "mu=0.0" in repr(SHORTrain(mu=0.0))
    with pytest.raises(ValueError):
        SHORTrain(bogus=1)


def test_early_stop_triggers_on_a_converging_game_and_changes_little():
    # Row 0 strictly dominates for both players: PRD settles on the floor and stops moving.
    m = np.array([[3.0, 2.0, 2.5], [1.0, 0.0, 0.5], [0.5, 0.2, 0.1]])
    game = [m, m.T.copy()]
    full = projected_replicator_dynamics(game, 100_000)
    info: list[int] = []
    early = projected_replicator_dynamics(game, 100_000, early_stop=True, check_every=1000, info=info)
    assert info[0] < 100_000
    for a, b in zip(early, full):
        np.testing.assert_allclose(a, b, atol=1e-9)
    info_rm: list[int] = []
    full_rm = regret_matching(game, 100_000)
    early_rm = regret_matching(game, 100_000, early_stop=True, info=info_rm)
    assert info_rm[0] < 100_000
    for a, b in zip(early_rm, full_rm):
        np.testing.assert_allclose(a, b, atol=1e-9)
    info_shor: list[int] = []
    full_shor = shor_inner(game, 20_000, 0.01, 0.001, 0.2, 0.0, True, True)
    early_shor = shor_inner(game, 20_000, 0.01, 0.001, 0.2, 0.0, True, True, early_stop=True, info=info_shor)
    assert info_shor[0] < 20_000
    for a, b in zip(early_shor, full_shor):
        np.testing.assert_allclose(a, b, rtol=1e-9)


@pytest.mark.parametrize("game", ["kuhn_poker", "leduc_poker"])
@pytest.mark.parametrize("meta", ["prd", "rm", "shor"])
def test_early_stopping_does_not_change_two_player_results(game, meta):
    tree = compile_game(game)
    cut = {"iterations": 20_000} if meta in ("prd", "rm") else {}
    plain = PSROSolver(tree, PSROConfig(meta, train_kwargs=cut, eval_kwargs=cut))
    stop = {**cut, "early_stop": True, "check_every": 100}
    early = PSROSolver(tree, PSROConfig(meta, train_kwargs=stop, eval_kwargs=stop))
    for _ in range(12):
        plain.step()
        early.step()
    np.testing.assert_allclose([h.exploitability for h in early.history], [h.exploitability for h in plain.history],
                               rtol=0, atol=1e-9)


def test_shor_with_every_ablation_switch_off_is_gauss_seidel_rm_plus():
    """The ablation switches do what experiments/ablation_shor.py says: with the blend, the
    optimism, the diversity bonus and the normalisation off, the training solver is RM+ on
    uniform-centred gains, players updated in turn, time-averaged (hand-written loop below)."""
    from games.matrix import random_game

    game = random_game((5, 4, 3), seed=2)
    off = {"lam0": 0.0, "lam1": 0.0, "mu": 0.0, "c0": 0.0, "c1": 0.0, "norm": False}
    out = SHORTrain(**off)(game, 1)
    steps = 1000 + 20 * (game[0].shape[0] - 1)  # train_iterations(n0)
    x = [np.full(n, 1.0 / n) for n in game[0].shape]
    q = [np.zeros(n) for n in game[0].shape]
    acc = [np.zeros(n) for n in game[0].shape]
    for _ in range(steps):
        for p in range(3):
            u = contract_others(game[p], x, p)
            q[p] = np.maximum(q[p] + (u - u.mean()), 0.0)
            x[p] = q[p] / q[p].sum() if q[p].sum() > 1e-12 else np.full(len(u), 1.0 / len(u))
        for p in range(3):
            acc[p] += x[p]
    for a, b in zip(out, acc):
        np.testing.assert_allclose(a / a.sum(), b / b.sum(), atol=1e-10)  # the loop normalises (docs/psro.md)
