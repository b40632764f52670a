"""The compiled (Numba) CPU path against the NumPy reference path, and OpenSpiel where cheap."""

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyspiel
import pytest

from games.openspiel import load_game
from games.tree import compile_game
from gtlearn.core.errors import GtlearnError, InvalidRuleOutput
from solvers.best_response import best_response, expected_values, nash_conv, to_openspiel_policy
from solvers.cfr.engine import CFRSolver
from solvers.cfr.rules.base import FunctionRule

pytest.importorskip("numba")

ROOT = Path(__file__).resolve().parents[1]
GOOF4 = "turn_based_simultaneous_game(game=goofspiel(imp_info=True,num_cards=4,points_order=descending))"
GAMES = ["kuhn_poker", "kuhn_poker(players=3)", "leduc_poker", "liars_dice(dice_sides=4)", GOOF4, "matrix_rps"]


def random_policy(tree, seed):
    rng = np.random.default_rng(seed)
    p = rng.random(tree.legal.shape) ** 3 * tree.legal
    return p / p.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("game_string", GAMES)
def test_cfr_pass_matches_reference(game_string):
    tree = compile_game(game_string)
    fast = CFRSolver(tree, rule="cfr+", backend="numba")
    ref = CFRSolver(tree, rule="cfr+", backend="numpy")
    for seed in range(2):
        policy = random_policy(tree, seed)
        for p in range(tree.num_players):
            r_fast, x_fast = fast.instantaneous_regrets(p, policy)
            r_ref, x_ref = ref.instantaneous_regrets(p, policy)
            np.testing.assert_allclose(r_fast, r_ref, rtol=0, atol=1e-12)
            np.testing.assert_allclose(x_fast, x_ref, rtol=0, atol=1e-12)
            assert np.all(r_fast[~tree.legal[tree.infosets_of(p)]] == 0.0)


@pytest.mark.parametrize("rule", ["cfr", "cfr+", "dcfr", "lcfr"])
@pytest.mark.parametrize("alternating", [True, False])
def test_trajectories_match_reference(rule, alternating):
    tree = compile_game("kuhn_poker(players=3)")
    a = CFRSolver(tree, rule=rule, backend="numba", alternating=alternating)
    b = CFRSolver(tree, rule=rule, backend="numpy", alternating=alternating)
    for _ in range(3):
        for _ in range(10):
            a.step()
        for _ in range(10):
            b.step()
        np.testing.assert_allclose(a.average_policy(), b.average_policy(), rtol=0, atol=1e-12)
        np.testing.assert_allclose(a.current_policy(), b.current_policy(), rtol=0, atol=1e-12)
        for ra, rb in zip(a.regrets, b.regrets):
            np.testing.assert_allclose(ra, rb, rtol=0, atol=1e-12)


def test_leduc_cfr_plus_matches_openspiel_on_numba():
    # The compiled path against OpenSpiel's C++ CFR+ directly (not only against our reference).
    tree = compile_game("leduc_poker")
    game = load_game("leduc_poker")
    ours = CFRSolver(tree, rule="cfr+", backend="numba")
    theirs = pyspiel.CFRPlusSolver(game)
    for _ in range(10):
        ours.step()
        theirs.evaluate_and_update_policy()
    ours_nc = nash_conv(tree, ours.average_policy(), backend="numba")
    assert ours_nc == pytest.approx(pyspiel.nash_conv(game, theirs.average_policy()), abs=1e-10)


@pytest.mark.parametrize("game_string", GAMES)
def test_best_response_and_nash_conv_match_reference(game_string):
    tree = compile_game(game_string)
    policy = random_policy(tree, 5)
    np.testing.assert_allclose(expected_values(tree, policy, backend="numba"),
                               expected_values(tree, policy, backend="numpy"), rtol=0, atol=1e-12)
    np.testing.assert_allclose(nash_conv(tree, policy, backend="numba", per_player=True),
                               nash_conv(tree, policy, backend="numpy", per_player=True), rtol=0, atol=1e-12)
    for tie_break in ("first", "uniform"):
        for p in range(tree.num_players):
            v_fast, br_fast = best_response(tree, policy, p, tie_break=tie_break, backend="numba")
            v_ref, br_ref = best_response(tree, policy, p, tie_break=tie_break, backend="numpy")
            assert v_fast == pytest.approx(v_ref, abs=1e-12)
            # Exact ties (Goofspiel, RPS) may break differently under another summation order;
            # any choice must still attain the best-response value.
            assert expected_values(tree, br_fast, backend="numpy")[p] == pytest.approx(v_ref, abs=1e-12)
            if game_string in ("leduc_poker", "kuhn_poker(players=3)"):
                np.testing.assert_array_equal(br_fast, br_ref)


def test_uniform_tie_break_on_numba():
    tree = compile_game("matrix_rps")
    _, br = best_response(tree, tree.uniform_policy(), 0, tie_break="uniform", backend="numba")
    assert np.allclose(br[tree.infosets_of(0)], 1 / 3)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("game_string", ["kuhn_poker", "kuhn_poker(players=3)", "matrix_rps"])
def test_multi_sweep_best_response_equals_openspiel(backend, game_string):
    # The repeated-sweep path (infosets spanning several depths) forced on games where the
    # single sweep also applies, checked against OpenSpiel's C++ nash_conv. Kuhn poker has
    # two own decisions on a path, so an evaluation one sweep too early shows up here.
    tree = dataclasses.replace(compile_game(game_string), uniform_depth=False)
    game = load_game(game_string)
    policy = random_policy(tree, 2)
    theirs = pyspiel.nash_conv(game, to_openspiel_policy(tree, policy, game).to_dict())
    assert nash_conv(tree, policy, backend=backend) == pytest.approx(theirs, abs=1e-10)


def test_default_backend_and_errors(monkeypatch):
    tree = compile_game("kuhn_poker")
    assert CFRSolver(tree).backend == "numba"
    assert CFRSolver(tree, backend="numpy").backend == "numpy"
    with pytest.raises(GtlearnError, match="unknown backend"):
        CFRSolver(tree, backend="fortran")
    with pytest.raises(GtlearnError, match="needs device 'cuda'"):
        CFRSolver(tree, backend="cupy")
    with pytest.raises(GtlearnError, match="unknown backend"):
        nash_conv(tree, tree.uniform_policy(), backend="jax")
    import solvers.fast as fast

    monkeypatch.setattr(fast, "_AVAILABLE", False)
    assert CFRSolver(tree).backend == "numpy"
    with pytest.raises(GtlearnError, match="needs numba"):
        CFRSolver(tree, backend="numba")


def test_falls_back_to_numpy_without_numba():
    code = (
        "import sys; sys.modules['numba'] = None\n"
        "from games.tree import compile_game\nfrom solvers.cfr.engine import CFRSolver\n"
        "s = CFRSolver(compile_game('kuhn_poker'), rule='cfr+'); [s.step() for _ in range(50)]\n"
        "print(s.backend, s.exploitability())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "numpy"
    s = CFRSolver(compile_game("kuhn_poker"), rule="cfr+", backend="numba")
    for _ in range(50):
        s.step()
    assert float(out[1]) == pytest.approx(s.exploitability(), abs=1e-12)


def _bad_rule(kind):
    def update(R, r, legal, t, s):
        out = np.where(legal, R + r, 0.0)
        if kind == "nan":
            out[0, 0] = np.nan
        if kind == "illegal":
            out = out + (~legal) * 1.0
        return out

    def policy(R, legal, t, s):
        p = legal / legal.sum(axis=1, keepdims=True)
        if kind == "negative":
            p = p.copy()
            p[0, 0], p[0, 1] = -0.5, 1.5
        if kind == "rowsum":
            p = p * 0.9
        return p

    def average(S, sigma, x, legal, t, s):
        return S + x[:, None] * sigma

    return FunctionRule(update, policy, average, name=kind)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("kind,message", [
    ("nan", "non-finite"), ("illegal", "illegal"), ("negative", "negative"), ("rowsum", "sum to 1"),
])
def test_invalid_rule_output_is_caught(backend, kind, message):
    tree = compile_game("leduc_poker")  # padded rows (2 or 3 legal actions), so "illegal" can happen
    solver = CFRSolver(tree, rule=_bad_rule(kind), backend=backend)
    with pytest.raises(InvalidRuleOutput, match=message):
        solver.step()


def test_validation_accepts_float32_and_views():
    # Outputs that are not float64 C arrays take the generic check, not the compiled one.
    def update(R, r, legal, t, s):
        return np.where(legal, np.maximum(R + r, 0.0), 0.0).astype(np.float32)

    def policy(R, legal, t, s):
        w = np.where(legal, np.maximum(R, 0.0), 0.0) + legal * 1e-3
        return (w / w.sum(axis=1, keepdims=True)).T.copy().T  # a Fortran-ordered view

    def average(S, sigma, x, legal, t, s):
        return S + x[:, None] * sigma

    solver = CFRSolver(compile_game("kuhn_poker"), rule=FunctionRule(update, policy, average), backend="numba")
    for _ in range(5):
        solver.step()
    assert np.isfinite(solver.exploitability())


def test_state_dict_moves_between_backends():
    tree = compile_game("leduc_poker")
    a = CFRSolver(tree, rule="dcfr", backend="numpy")
    for _ in range(5):
        a.step()
    b = CFRSolver(tree, rule="dcfr", backend="numba")
    b.load_state_dict(a.state_dict())
    for _ in range(5):
        a.step()
    for _ in range(5):
        b.step()
    np.testing.assert_allclose(a.average_policy(), b.average_policy(), rtol=0, atol=1e-12)


def test_cuda_without_cupy_is_one_line_error():
    try:
        import cupy  # noqa: F401

        pytest.skip("CuPy is installed here")
    except ImportError:
        pass
    with pytest.raises(GtlearnError, match="needs CuPy"):
        CFRSolver(compile_game("kuhn_poker"), device="cuda")
    from gtlearn.cli import main

    assert main(["solve", "kuhn_poker", "--device", "cuda", "-n", "1", "--quiet", "--out", "/nonexistent/x"]) == 2
