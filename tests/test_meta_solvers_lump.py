"""Merging payoff-identical strategies (solvers/psro/meta_solvers/_fast.py: ``lump``) is exact.

PRD, RM, SHOR and alpha-Rank run on one representative per class of duplicate strategies with
its multiplicity; these tests check that they return what the unmerged solvers return (up to
summation order) on meta-games with duplicates, and that whole PSRO runs at the full protocol
give the same e_k to 1e-9 with and without the merge."""

from __future__ import annotations

import numpy as np
import pytest

import solvers.psro.meta_solvers._fast as _fast
from games.matrix import FactoredGame, random_game
from games.tree import compile_game
from solvers.psro import PSROConfig, PSROSolver
from solvers.psro.meta_solvers.alpharank import alpharank
from solvers.psro.meta_solvers.prd import projected_replicator_dynamics
from solvers.psro.meta_solvers.rm import regret_matching
from solvers.psro.meta_solvers.shor import shor_inner


def _with_duplicates(game, picks):
    """The dense game with every player's strategies re-indexed by ``picks[p]`` (repeats allowed)."""
    return [np.asarray(m)[np.ix_(*picks)].copy() for m in game]


def test_duplicate_classes_in_first_appearance_order():
    rows = np.array([[1.0, 2.0], [0.0, 1.0], [1.0, 2.0], [3.0, 3.0], [0.0, 1.0]])
    reps, cls, counts = _fast.duplicate_classes(rows)
    assert reps.tolist() == [0, 1, 3] and cls.tolist() == [0, 1, 0, 2, 1] and counts.tolist() == [2, 2, 1]


def _solvers():
    return {
        "prd": lambda g: projected_replicator_dynamics(g, 5000),
        "rm": lambda g: regret_matching(g, 5000),
        "shor-train": lambda g: shor_inner(g, 1500, 0.2, 0.1, 0.5, 0.01, True, True),
        "shor-eval": lambda g: shor_inner(g, 1500, 0.01, 0.001, 0.2, 0.0, True, False),
        "alpharank": lambda g: alpharank(g),
    }


@pytest.mark.parametrize("shape,picks", [
    ((4, 3), ([0, 1, 0, 2, 3, 1, 0], [2, 0, 1, 2, 2])),
    ((3, 4, 2), ([0, 2, 1, 2, 0], [3, 0, 1, 2, 0, 3], [1, 0, 1, 1])),
])
def test_merged_kernels_match_the_unmerged_ones_on_dense_games(monkeypatch, shape, picks):
    game = _with_duplicates(random_game(shape, seed=3), picks)
    lumped, classes, counts = _fast.lump(game)
    assert tuple(len(c) for c in counts) == shape  # the picks cover every strategy
    for name, fn in _solvers().items():
        merged = fn(game)
        monkeypatch.setattr(_fast, "LUMP", False)
        plain = fn(game)
        monkeypatch.setattr(_fast, "LUMP", True)
        for p, (a, b) in enumerate(zip(merged, plain)):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-12, err_msg=f"{name}, player {p}")
            for c in range(len(counts[p])):  # duplicates get equal weights
                assert np.ptp(a[classes[p] == c]) == 0.0


def test_merged_kernels_match_on_a_factored_meta_game(monkeypatch):
    solver = PSROSolver(compile_game("kuhn_poker(players=3)"),
                        PSROConfig("uniform", meta_form="factored", oracle_backend="numba"))
    for _ in range(12):
        solver.step()
    game = solver.meta_game.factored()
    _, _, counts = _fast.lump(game)
    assert sum(len(c) for c in counts) < sum(game.sizes)  # uniform PSRO on 3p Kuhn repeats best responses
    for name, fn in _solvers().items():
        merged = fn(game)
        monkeypatch.setattr(_fast, "LUMP", False)
        plain = fn(FactoredGame(game.weights, game.index, game.factors))
        monkeypatch.setattr(_fast, "LUMP", True)
        for a, b in zip(merged, plain):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-12, err_msg=name)


# Games whose PSRO populations repeat best responses (without repeats the merge is a no-op).
# RM does not merge (round-off chaotic, see _fast): its kernel must see the unmerged game.
CASES = [("kuhn_poker", m) for m in ("prd", "alpharank", "shor")] + \
    [("kuhn_poker(players=3)", m) for m in ("prd", "alpharank", "shor")] + \
    [("turn_based_simultaneous_game(game=blotto(coins=6,fields=3,players=2))", m) for m in ("prd", "alpharank", "shor")]


def test_rm_runs_unmerged(monkeypatch):
    seen = []
    real = _fast.prepare
    monkeypatch.setattr(_fast, "prepare", lambda p, merge=None: seen.append(merge) or real(p, merge))
    regret_matching(_with_duplicates(random_game((3, 2), seed=1), ([0, 1, 0], [1, 0, 1])), 10)
    assert seen == [False]


@pytest.mark.parametrize("game,meta", CASES)
def test_merging_does_not_change_psro_at_the_full_protocol(monkeypatch, game, meta):
    """Default inner steps (PRD / RM 100,000, SHOR's schedule, alpha-Rank's defaults), 15 PSRO
    iterations: e_k equal to 1e-9 with and without the merge."""
    tree = compile_game(game)
    curves = []
    for merge in (True, False):
        monkeypatch.setattr(_fast, "LUMP", merge)
        solver = PSROSolver(tree, PSROConfig(meta, oracle_backend="numba", meta_form="auto"))
        for _ in range(15):
            solver.step()
        curves.append([h.exploitability for h in solver.history])
        if merge:
            sizes = solver.meta_game.sizes
            merged = sum(len(c) for c in _fast.lump(solver._meta_payoffs())[2])
    np.testing.assert_allclose(curves[0], curves[1], rtol=0, atol=1e-9)
    assert merged < sum(sizes)  # the merge did something on this run


def test_one_pass_factored_utilities_are_bit_identical_to_the_per_player_ones():
    """PRD and RM (Jacobi) contract a factored meta-game for all players in one pass over its
    terms; RM is round-off chaotic, so this must equal the per-player contraction exactly."""
    solver = PSROSolver(compile_game("kuhn_poker(players=4)"),
                        PSROConfig("uniform", meta_form="factored", oracle_backend="numba"))
    for _ in range(6):
        solver.step()
    game = solver.meta_game.factored()
    rng = np.random.default_rng(0)
    (form, _, w, idx, bs, sizes, _), _ = _fast.prepare(game, merge=False)
    n = len(sizes)
    smax = max(b.shape[1] for b in bs)
    for _ in range(5):
        x = np.zeros((n, sizes.max()))
        for p in range(n):
            x[p, : sizes[p]] = rng.dirichlet(np.ones(sizes[p]))
        ys = np.zeros((n, smax))
        for p in range(n):
            _fast._column_sums(bs[p], x[p], sizes[p], ys[p])
        one_pass = np.zeros((n, sizes.max()))
        _fast._factored_utilities_all(w, idx, bs, ys, sizes, np.zeros((n, smax)), np.zeros(n), one_pass)
        for p in range(n):
            per_player = np.zeros(sizes.max())
            _fast._factored_utilities(w, idx, bs, ys, sizes, p, np.zeros(smax), per_player)
            assert np.array_equal(one_pass[p, : sizes[p]], per_player[: sizes[p]])
