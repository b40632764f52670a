"""The threaded kernels give the single-thread numbers (bit for bit: fixed summation orders), and
the streaming compiler keeps its size guard and memory promises."""

import dataclasses
import itertools

import numpy as np
import pytest

import games.tree as tree_mod
import games.tree_walk as walk_mod
from games.tree import compile_game, compile_tree, default_max_nodes
from gtlearn.core.driver import drive
from gtlearn.core.errors import GameTooLargeError
from solvers.best_response import expected_values, nash_conv

pytest.importorskip("numba")
import solvers.fast as fast  # noqa: E402
from solvers.cfr.engine import CFRSolver  # noqa: E402

GOOF4 = "turn_based_simultaneous_game(game=goofspiel(imp_info=True,num_cards=4,points_order=descending))"
GAMES = ["kuhn_poker(players=3)", "leduc_poker", "liars_dice(dice_sides=4)", GOOF4]


def random_policy(tree, seed):
    rng = np.random.default_rng(seed)
    p = rng.random(tree.legal.shape) ** 2 * tree.legal
    return p / p.sum(axis=1, keepdims=True)


@pytest.fixture
def threaded(monkeypatch):
    """Run the threaded kernels on any tree (they normally start at PARALLEL_MIN_NODES)."""
    monkeypatch.setattr(fast, "PARALLEL_MIN_NODES", 0)
    before = fast.get_threads()
    yield lambda n: fast.set_threads(n)
    fast.set_threads(before)


@pytest.mark.parametrize("game_string", GAMES)
@pytest.mark.parametrize("uniform", [True, False])
def test_threaded_kernels_equal_serial(game_string, uniform, threaded, monkeypatch):
    tree = compile_game(game_string)
    if not uniform:  # the repeated-sweep best response, forced
        tree = dataclasses.replace(tree, uniform_depth=False)
    policy = random_policy(tree, 1)
    results = []
    for chunked, n in ((False, 1), (True, 1), (True, 2)):
        monkeypatch.setattr(fast, "PARALLEL_MIN_NODES", 0 if chunked else 10**12)
        threaded(n)
        ft = fast.FastTree(tree)
        out = [ft.cfr_regrets(policy, p) for p in range(tree.num_players)]
        out += [ft.best_response(policy, p, tb) for p in range(tree.num_players) for tb in ("first", "uniform")]
        out.append(ft.expected_values(policy))
        results.append(out)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            for x, y in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)):
                assert np.array_equal(x, y)
    # and the reference path agrees to 1e-12
    np.testing.assert_allclose(results[0][-1], expected_values(tree, policy, backend="numpy"), rtol=0, atol=1e-12)
    np.testing.assert_allclose(nash_conv(tree, policy, backend="numba"), nash_conv(tree, policy, backend="numpy"),
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize("rule,alternating", [("dcfr", True), ("cfr+", True), ("cfr+", False), ("pcfr+", True)])
def test_threaded_cfr_trajectory_equals_serial(rule, alternating, threaded, monkeypatch):
    """Threaded kernels (forced on a small game) give the one-thread trajectory bit for bit,
    with the fused rule step (dcfr, cfr+) and with a rule run by NumPy (pcfr+)."""
    tree = compile_game("leduc_poker")
    runs = []
    for chunked, n in ((False, 1), (True, 2)):
        monkeypatch.setattr(fast, "PARALLEL_MIN_NODES", 0 if chunked else 10**12)
        threaded(n)
        tree._fast_tree = None
        solver = CFRSolver(tree, rule=rule, alternating=alternating)
        assert solver._fused() == (rule != "pcfr+")
        runs.append((drive(solver, 20, eval_every=5).gaps, solver.state_dict()))
    assert runs[0][0] == runs[1][0]
    for key in runs[0][1]:
        assert np.array_equal(runs[0][1][key], runs[1][1][key]), key


FUSED = [("cfr", {}), ("cfr+", {}), ("lcfr", {}), ("dcfr", {}), ("dcfr", {"order": "discount_then_add"}),
         ("dcfr", {"alpha": 1.0, "beta": 0.5, "gamma": 3.0})]


@pytest.mark.parametrize("game_string", ["leduc_poker", "liars_dice_5"])  # 3 and 10 actions: both row-sum paths
@pytest.mark.parametrize("rule,kwargs", FUSED)
def test_fused_rule_step_equals_the_numpy_rules(game_string, rule, kwargs, monkeypatch):
    """The fused rule kernel repeats the NumPy rules' operations in their order: the same bits
    (alternating and simultaneous updates, two threads)."""
    import solvers.cfr.engine as engine

    tree = compile_game(game_string)
    fast.set_threads(2)
    known = engine._FUSED_RULES
    for alternating in (True, False):
        states = []
        for fused in (True, False):
            monkeypatch.setattr(engine, "_FUSED_RULES", known if fused else set())
            solver = CFRSolver(tree, rule=rule, rule_kwargs=kwargs, alternating=alternating)
            assert solver._fused() == fused
            for _ in range(12):
                solver.step()
            states.append(solver.state_dict())
        for key in states[0]:
            assert np.array_equal(states[0][key], states[1][key]), (alternating, key)


def test_fused_rule_step_still_validates(monkeypatch):
    import solvers.cfr.engine as engine
    from gtlearn.core.errors import InvalidRuleOutput

    messages, known = [], engine._FUSED_RULES
    for fused in (True, False):
        monkeypatch.setattr(engine, "_FUSED_RULES", known if fused else set())
        solver = CFRSolver(compile_game("leduc_poker"), rule="cfr+")
        solver.step()
        solver.avg_acc[1][3, 0] = np.inf
        with pytest.raises(InvalidRuleOutput) as err:
            solver.step()
        messages.append(str(err.value))
    assert messages[0] == messages[1] == "rule cfr+: accumulate_average returned non-finite values"


def test_size_guard_projects_a_deep_game_and_refuses_early(monkeypatch):
    """oshi_zumo's random probes underestimate it (heavy tail); the walk's own projection
    (leaf mass in log space: it underflows in linear space) refuses it after the first report."""
    monkeypatch.setattr(walk_mod, "PROJECTION_AFTER_S", 0.0)
    monkeypatch.setattr(walk_mod, "PROGRESS_EVERY", 4096)
    with pytest.raises(GameTooLargeError, match=r"projected at ~10\^\d+ nodes after walking 4,096 of them"):
        compile_game("oshi_zumo(coins=4,size=1)", use_cache=False, max_nodes=10**8)


def test_size_guard_watches_the_walks_memory(monkeypatch):
    """Long information-state strings cost far more than the per-node constants: the walk
    measures its own bytes per node and refuses what would not fit in the available memory."""
    monkeypatch.setattr(walk_mod, "PROJECTION_AFTER_S", 0.0)
    monkeypatch.setattr(walk_mod, "PROGRESS_EVERY", 4096)
    monkeypatch.setattr(tree_mod, "available_memory", lambda: 2**20)
    # The process's resident size need not grow in a long test session (the allocator reuses
    # pages earlier tests freed), so the measurement is simulated: 1 MiB more at every reading.
    readings = itertools.count(0, 2**20)
    monkeypatch.setattr(walk_mod, "_rss", lambda: next(readings))
    with pytest.raises(GameTooLargeError, match=r"GiB to compile at the [\d,]+ B/node measured so far"):
        compile_game("liars_dice", use_cache=False, max_nodes=10**8)


def test_set_threads_checks_its_argument():
    with pytest.raises(Exception, match="threads must be between"):
        fast.set_threads(0)


def test_default_limit_comes_from_memory_and_says_so(monkeypatch):
    monkeypatch.delenv("GTLEARN_MAX_NODES", raising=False)
    monkeypatch.setattr(tree_mod, "available_memory", lambda: 2**30)
    limit, how = default_max_nodes(solver_bytes_per_node=100.0)
    assert limit == int(0.8 * 2**30 / 145) and "1.0 GiB available" in how and "solver 100" in how
    with pytest.raises(GameTooLargeError, match=r"estimated at .*Knuth.*1.0 GiB available"):
        compile_game("leduc_poker", use_cache=False, solver_bytes_per_node=2**30 / 1000)
    monkeypatch.setenv("GTLEARN_MAX_NODES", "1234")
    assert default_max_nodes()[0] == 1234


def test_payoff_rows_are_shared_up_to_the_cap(monkeypatch):
    ref = compile_game("leduc_poker", use_cache=False)
    monkeypatch.setattr(walk_mod, "PAYOFF_ROWS_SHARED", 3)
    capped = compile_game("leduc_poker", use_cache=False)
    assert capped.payoffs.shape[0] > ref.payoffs.shape[0]
    term = ref.terminal >= 0
    assert np.array_equal(ref.payoffs[ref.terminal[term]], capped.payoffs[capped.terminal[term]])


def test_small_assembly_chunks_give_the_same_tree(monkeypatch):
    from games.openspiel import load_game

    ref = compile_game("liars_dice(dice_sides=4)", use_cache=False)
    monkeypatch.setattr(walk_mod, "ASSEMBLY_CHUNK", 7)
    other = compile_tree(load_game("liars_dice(dice_sides=4)"), "liars_dice(dice_sides=4)")
    for name in ("parent", "player", "infoset", "action_index", "edge_slot", "chance_prob", "terminal", "rep_node"):
        assert np.array_equal(getattr(ref, name), getattr(other, name)), name


def test_tree_bytes_per_node_and_keys():
    tree = compile_game("liars_dice(dice_sides=4)", use_cache=False)
    assert tree.nbytes() / tree.num_nodes < 45
    assert [tree.key(i) for i in range(3)] == list(tree.keys[:3])
    assert tree.infoset_index()[tree.key(5)] == 5


@pytest.mark.slow
def test_battleship_2m_compiles_compactly(tmp_path):
    """The 2.27M-node gpugt battleship game: at most 45 B/node finished, a compile peak under
    twice the tree (over the interpreter's own footprint), children of a node contiguous."""
    import json
    import subprocess
    import sys

    code = (
        "import json, resource\n"
        "from games.tree import compile_game\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024\n"
        "t = compile_game('battleship(board_height=3,board_width=2,ship_sizes=[2],ship_values=[1],num_shots=3)',"
        " use_cache=False)\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024\n"
        "print(json.dumps([t.num_nodes, t.nbytes(), base, peak]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    nodes, nbytes, base, peak = json.loads(out.splitlines()[-1])
    assert nodes == 2_271_795
    assert nbytes / nodes <= 45
    assert peak - base <= 2 * nbytes
