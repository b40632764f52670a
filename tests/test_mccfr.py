"""External- and outcome-sampling MCCFR straight from pyspiel states: learning, tables, rules,
the tree-less gap, and the CLI with resume."""

import json

import numpy as np
import pyspiel
import pytest

from games.tree import compile_game
from gtlearn.cli import main
from gtlearn.core.driver import drive
from gtlearn.core.errors import GtlearnError
from solvers.cfr.factory import make_sampled_solver
from solvers.mccfr import InfosetTable, MCCFRConfig, MCCFRSolver, Updates


@pytest.mark.parametrize("algo,iters,bound", [("mccfr-es", 1500, 0.03), ("mccfr-os", 4000, 0.08)])
def test_learns_kuhn(algo, iters, bound):
    tree = compile_game("kuhn_poker")
    gaps = [drive(make_sampled_solver(algo, "kuhn_poker", tree, seed=s), iters, eval_every=iters).final_gap
            for s in (0, 1)]
    assert np.mean(gaps) < bound, gaps  # uniform play is at 0.458


def test_es_on_a_chance_free_perfect_information_game():
    # Perfect-information games are keyed by their history (as the compiler keys them); every
    # regret row stays finite and zero on padded actions.
    solver = MCCFRSolver("tic_tac_toe", MCCFRConfig(seed=0))
    solver.step()
    regret, legal = solver.table.padded("regret")
    assert np.all(regret[~legal] == 0) and np.all(np.isfinite(regret))
    assert len(solver.table) > 0


def test_tables_roundtrip_and_updates_order():
    table = InfosetTable()
    u = Updates()
    u.regret("a", 2, [1.0, -2.0])
    u.average("b", 3, [0.2, 0.3, 0.5])
    u.regret("a", 2, [0.5, 0.5])
    u.apply(table)
    assert table.keys == ["a", "b"] and list(table.regret[:2]) == [1.5, -1.5]
    assert table.policy("a", 2) == [1.0, 0.0] and table.policy("zzz", 4) == [0.25] * 4
    assert table.average_policy("b", 3) == pytest.approx([0.2, 0.3, 0.5])
    back = InfosetTable.from_state_dict(table.state_dict("t/"), "t/")
    assert back.keys == table.keys and list(back.regret) == list(table.regret) and list(back.offset) == [0, 2]
    clipped = InfosetTable()
    u.apply(clipped, regret_floor=0.0)
    assert list(clipped.regret[:2]) == [1.5, 0.5]


def test_policies_on_the_tree_and_without():
    tree = compile_game("leduc_poker")
    with_tree = MCCFRSolver("leduc_poker", MCCFRConfig(seed=5), tree=tree)
    without = MCCFRSolver("leduc_poker", MCCFRConfig(seed=5))
    for _ in range(20):
        with_tree.step()
        without.step()
    avg = with_tree.average_policy()
    assert avg.shape == tree.legal.shape and np.allclose(avg.sum(axis=1), 1.0)
    rows = without.average_policy()
    index = tree.infoset_index()
    for row, key in enumerate(without.table.keys):
        n = tree.legal[index[key]].sum()
        assert np.allclose(rows[row, :n], avg[index[key], :n])
    assert with_tree.gap().gap_name == "exploitability"
    rec = without.gap()
    assert rec.gap_name == "regret_bound_estimate" and rec.gap > 0


@pytest.mark.parametrize("rule", ["cfr", "cfr+"])
def test_rules_run_and_improve(rule):
    tree = compile_game("kuhn_poker")
    solver = MCCFRSolver("kuhn_poker", MCCFRConfig(rule=rule, seed=2, traversals=4), tree=tree)
    assert drive(solver, 400, eval_every=400).final_gap < 0.1
    if rule == "cfr+":
        assert min(solver.table.regret) >= 0.0


def test_bad_configs_and_checkpoints():
    with pytest.raises(GtlearnError, match="rule"):
        make_sampled_solver("mccfr-es", "kuhn_poker", rule="pcfr+")
    with pytest.raises(GtlearnError, match="samples 'outcome'"):
        make_sampled_solver("mccfr-os", "kuhn_poker", sampler="external")
    MCCFRSolver("matrix_rps").step()  # game strings are loaded wrapped turn-based
    with pytest.raises(GtlearnError, match="sequential"):
        MCCFRSolver(pyspiel.load_game("matrix_rps"))
    a = MCCFRSolver("kuhn_poker", MCCFRConfig(seed=1))
    b = MCCFRSolver("kuhn_poker", MCCFRConfig(seed=2))
    with pytest.raises(GtlearnError, match="checkpoint was made"):
        b.load_state_dict(a.state_dict())


def test_cli_sampled_solve_and_resume(tmp_path):
    common = ["solve", "kuhn_poker", "--algo", "mccfr-os", "--eval-every", "20", "--quiet", "--seed", "3",
              "-p", "traversals=2", "--threads", "1"]
    a, b = tmp_path / "a", tmp_path / "b"
    assert main([*common, "-n", "60", "--out", str(a)]) == 0
    assert main([*common, "-n", "40", "--out", str(b)]) == 0
    assert main([*common, "-n", "60", "--out", str(b), "--resume"]) == 0
    rows_a = [json.loads(x) for x in (a / "metrics.jsonl").read_text().splitlines()]
    rows_b = [json.loads(x) for x in (b / "metrics.jsonl").read_text().splitlines()]
    assert [r["gap"] for r in rows_a] == [r["gap"] for r in rows_b] and rows_a[-1]["iteration"] == 60
    assert (a / "average_policy.npz").exists() and json.loads((a / "config.json").read_text())["algo"] == "mccfr-os"


def test_cli_sampled_without_tree(tmp_path):
    out = tmp_path / "r"
    assert main(["solve", "leduc_poker", "--algo", "mccfr-es", "-n", "10", "--eval-every", "5", "--quiet",
                 "--max-nodes", "100", "--out", str(out)]) == 0
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["gap_name"] == "regret_bound_estimate" and not (out / "average_policy.npz").exists()


def test_lspo_werewolf_mccfr_is_a_user_of_the_shared_tables():
    """LSPO's Werewolf MCCFR keeps its regrets and averages in solvers.mccfr's InfosetTable and
    applies each traversal's Updates after it: the rows it reports are the tables' rows."""
    from alignment.lspo.abstraction import AbstractWerewolf
    from alignment.lspo.mccfr import MCCFRConfig as WerewolfConfig
    from alignment.lspo.mccfr import MCCFRSolver as WerewolfSolver

    ks = {"werewolf": 3, "seer": 2, "doctor": 2, "villager": 2}
    game = AbstractWerewolf(ks, {r: np.full((k, 3), 1.0 / 3) for r, k in ks.items()})
    solver = WerewolfSolver(game, WerewolfConfig(traversals=8, seed=4))
    for _ in range(8):
        solver.step()
    assert isinstance(solver.disc, InfosetTable) and isinstance(solver.tgt, InfosetTable)
    assert len(solver.disc) == len(solver.disc_regret) > 0 and len(solver.tgt) == len(solver.tgt_regret) > 0
    key = next(iter(solver.disc_regret))
    row = solver.disc.find(repr(key))
    lo = solver.disc.offset[row]
    assert list(solver.disc_regret[key]) == list(solver.disc.regret[lo: lo + ks[key[1]]])
    state = solver.state_dict()
    assert {"disc/regret", "disc/average", "tgt/regret", "tgt/average"} <= set(state)
