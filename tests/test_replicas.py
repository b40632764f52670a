"""Replicas of the discovery sweeps (experiments/replicas.py): the relabelled tree is the same
game, the perturbation is 1e-12 relative, the meta-game reordering maps back, verdicts."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))

from replicas import permuted_meta_solver, perturb_payoffs, relabel, verdict  # noqa: E402

from games.matrix import random_game, random_zero_sum  # noqa: E402
from games.tree import compile_game  # noqa: E402
from solvers.best_response import nash_conv  # noqa: E402
from solvers.cfr.engine import CFRSolver  # noqa: E402
from solvers.psro import PSROConfig, PSROSolver  # noqa: E402
from solvers.psro.meta_solvers import make_meta_solver  # noqa: E402


def _check_layout(tree):
    """The layout invariants of games.tree that the solvers rely on."""
    for level in tree.levels()[1:]:
        parents = tree.parent[level]
        assert np.all(np.diff(parents) >= 0)  # parents non-decreasing: children contiguous
        for p in np.unique(parents)[:50]:
            kids = np.flatnonzero(tree.parent == p)
            assert list(tree.action_index[kids]) == list(range(len(kids)))
    dec = tree.edge_slot >= 0
    par = tree.parent[dec]
    assert np.array_equal(tree.edge_slot[dec], tree.infoset[par].astype(np.int64) * tree.max_actions + tree.action_index[dec])
    assert np.all(tree.legal[:, :-1] >= tree.legal[:, 1:])  # legal columns are a prefix
    assert np.array_equal(tree.infoset[tree.rep_node], np.arange(tree.num_infosets))


@pytest.mark.parametrize("game", ["kuhn_poker(players=3)", "leduc_poker"])
@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_relabelled_tree_is_the_same_game(game, backend):
    tree = compile_game(game)
    rel = relabel(tree, seed=3)
    _check_layout(rel.tree)
    assert not np.array_equal(rel.infoset_map, np.arange(tree.num_infosets))  # something moved
    assert sorted(rel.tree.keys.tolist()) == sorted(tree.keys.tolist())
    a, b = CFRSolver(tree, rule="dcfr", backend=backend), CFRSolver(rel.tree, rule="dcfr", backend=backend)
    for _ in range(15):
        a.step()
        b.step()
    np.testing.assert_allclose(rel.to_original(b.average_policy()), a.average_policy(), atol=1e-10)
    np.testing.assert_allclose(rel.to_new(a.current_policy()), b.current_policy(), atol=1e-10)
    assert nash_conv(rel.tree, b.average_policy()) == pytest.approx(nash_conv(tree, a.average_policy()), abs=1e-12)


def test_relabelling_keys_follow_their_infosets():
    tree = compile_game("kuhn_poker(players=3)")
    rel = relabel(tree, seed=1)
    for i in range(tree.num_infosets):
        j = rel.infoset_map[i]
        assert rel.tree.key(int(j)) == tree.key(i)
        legal_actions = tree.actions[i][tree.legal[i]]
        moved = np.empty_like(legal_actions)
        moved[rel.action_map[i][tree.legal[i]]] = legal_actions
        assert np.array_equal(np.sort(moved), np.sort(rel.tree.actions[j][rel.tree.legal[j]]))


def test_perturbation_is_relative_and_seeded():
    tree = compile_game("leduc_poker")
    a, b = perturb_payoffs(tree, 1), perturb_payoffs(tree, 1)
    assert np.array_equal(a.payoffs, b.payoffs)
    rel = np.abs(a.payoffs - tree.payoffs) / np.maximum(np.abs(tree.payoffs), 1e-300)
    assert 0 < rel.max() <= 1e-12 * (1 + 1e-9)
    assert not np.array_equal(a.payoffs, perturb_payoffs(tree, 2).payoffs)


def test_psro_on_a_relabelled_tree_matches():
    tree = compile_game("kuhn_poker(players=3)")
    rel = relabel(tree, seed=2)
    a = PSROSolver(tree, PSROConfig("shor"))
    b = PSROSolver(rel.tree, PSROConfig("shor"))
    for _ in range(6):
        a.step()
        b.step()
    np.testing.assert_allclose([r.exploitability for r in b.history], [r.exploitability for r in a.history], atol=1e-9)


@pytest.mark.parametrize("name", ["prd", "shor", "uniform"])
def test_permuted_meta_solver_maps_back(name):
    game = random_game((6, 5, 4), seed=1)
    slot = "eval"
    plain = make_meta_solver(name, slot, **({"iterations": 300} if name == "prd" else {}))
    wrapped = permuted_meta_solver(make_meta_solver(name, slot, **({"iterations": 300} if name == "prd" else {})), 7)
    for x, y in zip(plain(game), wrapped(game)):
        np.testing.assert_allclose(y, x, atol=1e-10)  # equivariant solvers: same answer up to round-off
    assert "tie_seed=7" in repr(wrapped)


def test_permuted_nash_keeps_the_value():
    from games.matrix import nash_conv as matrix_nash_conv

    game = random_zero_sum(7, 7, seed=4)
    out = permuted_meta_solver(make_meta_solver("nash", "eval"), 3)(game)
    assert matrix_nash_conv(game, out) < 1e-8


def test_verdict():
    assert verdict([0.5, 0.6, 0.55], min_replicas=3) == "holds"
    assert verdict([-0.5, -0.6, -0.55], min_replicas=3) == "does not hold"
    assert verdict([0.2, -0.1, 0.3], min_replicas=3) == "not decided"  # median 0.2 < spread 0.4
    assert verdict([0.1, 0.1, 0.1, 0.1, 0.1]) == "holds"
    assert verdict([0.5, 0.6, 0.55, 0.5]) == "not decided"  # fewer than the 5 replicas the issue asks for
    assert verdict([0.5, 0.6, 2.0, 0.5, 0.55]) == "not decided"  # one replica far off: spread 1.5 > median


@pytest.mark.parametrize("index,nodes,infosets,players", [(0, 813, 2, 2), (1, 3616, 3, 3), (2, 4949, 598, 2)])
def test_extra_games_have_the_documented_sizes(index, nodes, infosets, players):
    """The v3-family variants of experiments/discovery_games.py load and have the sizes its docstring states."""
    from discovery_games import EXTRA_GAMES

    tree = compile_game(EXTRA_GAMES[index])
    assert (tree.num_nodes, tree.num_infosets, tree.num_players) == (nodes, infosets, players)
    assert int(tree.legal.sum(axis=1).max()) == {0: 28, 1: 15, 2: 4}[index]  # allocations / board cells


def test_psro_sweep_in_worker_processes_caches_the_same_cells(tmp_path):
    """``experiments/psro_discovery.py --jobs 2`` runs cells in spawned workers; every cached
    summary equals the one-process sweep's (the cells are independent and deterministic)."""
    import psro_discovery as sweep_module
    from replicas import PSRO_REPLICAS

    replicas = [r for r in PSRO_REPLICAS if r.name in ("base", "tie1")]
    args = (["kuhn_poker"], ["uniform", "prd", "nash"], 3, replicas, 10, None)
    sweep_module.sweep(*args, jobs=1, cache=tmp_path / "serial")
    sweep_module.sweep(*args, jobs=2, cache=tmp_path / "workers")
    serial, workers = sweep_module.load_cells(3, tmp_path / "serial"), sweep_module.load_cells(3, tmp_path / "workers")
    assert sorted(serial["kuhn_poker"]) == ["nash", "prd", "uniform"]
    for solver, by_replica in serial["kuhn_poker"].items():
        assert sorted(by_replica) == ["base", "tie1"]
        for name, cell in by_replica.items():
            assert workers["kuhn_poker"][solver][name]["curve"] == cell["curve"]


def test_psro_sweep_starts_the_dearest_cells_first():
    """With several workers the sweep queues cells dearest first (3-player Leduc's RM, then its
    PRD, ...), so that no core idles at the end behind one long cell; every game of the sweep
    has a place in the cost order (none would silently sort as the cheapest)."""
    import psro_discovery as sweep_module
    from discovery_games import ALL_GAMES
    from replicas import PSRO_REPLICAS

    assert sorted(sweep_module.ORDER) == sorted(ALL_GAMES)
    base, tie = (r for r in PSRO_REPLICAS if r.name in ("base", "tie1"))
    cells = [(g, s, r) for r in (base, tie) for g in ("kuhn_poker(players=3)", "leduc_poker(players=3)")
             for s in ("uniform", "prd", "rm")]
    queue = sweep_module._dearest_first(cells)
    assert [(g, s) for g, s, _ in queue[:2]] == [("leduc_poker(players=3)", "rm")] * 2
    assert [(g, s) for g, s, _ in queue[-2:]] == [("kuhn_poker(players=3)", "uniform")] * 2
    assert sorted(queue, key=repr) == sorted(cells, key=repr)
