"""`gtlearn psro --resume`: a stopped run continues to the numbers of a run done in one go."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from games.tree import compile_game
from gtlearn.cli import main
from gtlearn.core.errors import GtlearnError
from solvers.psro import PSROConfig, PSROSolver

# The deterministic part of a metrics row; seconds_* and wall_time are measured times.
TIMED = ("wall_time",)


def _rows(run_dir):
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in TIMED and not k.startswith("seconds_")} for r in rows]


def _npz(path):
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _assert_same_run(a, b):
    ra, rb = _rows(a), _rows(b)
    assert [r["iteration"] for r in ra] == list(range(len(ra)))
    assert ra == rb  # exact equality of every number
    for name in ("policy.npz", "populations.npz"):
        pa, pb = _npz(a / name), _npz(b / name)
        assert pa.keys() == pb.keys()
        for k in pa:
            assert np.array_equal(pa[k], pb[k]), (name, k)


@pytest.mark.parametrize("meta", [["--train-meta", "shor"], ["--train-meta", "prd"]])
def test_resume_matches_straight_run(tmp_path, meta):
    common = ["psro", "kuhn_poker", *meta, "-q"]
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert main([*common, "-n", "6", "--out", str(straight)]) == 0
    assert main([*common, "-n", "3", "--out", str(split)]) == 0
    assert int(_npz(split / "checkpoint.npz")["iteration"]) == 3
    assert main([*common, "-n", "6", "--out", str(split), "--resume"]) == 0
    _assert_same_run(straight, split)
    # The rows really differ between iterations, so the equality above is not vacuous.
    assert len({r["gap"] for r in _rows(straight)}) > 2


def test_metrics_after_the_checkpoint_are_rewritten(tmp_path):
    """A crash after logging iterations 3-4 but before their checkpoint: the resumed run drops
    the rows past the checkpoint at 2 and rewrites them, with SHOR's call counter restored."""
    common = ["psro", "kuhn_poker", "--train-meta", "shor", "-q"]
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert main([*common, "-n", "5", "--out", str(straight)]) == 0
    assert main([*common, "-n", "2", "--out", str(split)]) == 0
    at_two = split / "checkpoint-2.npz"
    shutil.copy(split / "checkpoint.npz", at_two)
    assert main([*common, "-n", "4", "--checkpoint-every", "3", "--out", str(split), "--resume"]) == 0
    assert [r["iteration"] for r in _rows(split)] == [0, 1, 2, 3, 4]
    shutil.copy(at_two, split / "checkpoint.npz")
    at_two.unlink()
    assert main([*common, "-n", "5", "--out", str(split), "--resume"]) == 0
    _assert_same_run(straight, split)


def test_resume_errors_are_one_line(tmp_path, capsys):
    common = ["psro", "kuhn_poker", "--train-meta", "uniform", "-q"]
    assert main([*common, "-n", "2", "--out", str(tmp_path / "none"), "--resume"]) == 2
    assert "holds no run" in capsys.readouterr().err
    run = tmp_path / "run"
    assert main([*common, "-n", "2", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["psro", "kuhn_poker", "--train-meta", "nash", "-n", "3", "--out", str(run), "-q", "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot resume" in err and "config key" in err
    assert main([*common, "-n", "3", "--out", str(run), "--initial-policy", "best_response", "--resume"]) == 2
    assert main([*common, "-n", "3", "--out", str(run), "--resume", "--overwrite"]) == 2
    assert main([*common, "-n", "3", "--out", str(run), "--resume"]) == 0
    assert [r["iteration"] for r in _rows(run)] == [0, 1, 2, 3]


def test_state_dict_round_trip():
    """The solver API without a run directory: state_dict -> npz -> load_state_dict."""
    import io

    tree = compile_game("kuhn_poker")
    straight = PSROSolver(tree, PSROConfig("shor"))
    for _ in range(5):
        straight.step()
    first = PSROSolver(tree, PSROConfig("shor"))
    for _ in range(2):
        first.step()
    buf = io.BytesIO()
    np.savez(buf, **first.state_dict())
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as data:
        state = {k: data[k] for k in data.files}
    resumed = PSROSolver(tree, PSROConfig("shor"))
    resumed.load_state_dict(state)
    assert resumed.train_solver.state == {"calls": 2}
    while resumed.iteration < 5:
        resumed.step()
    assert resumed.train_solver.state == straight.train_solver.state == {"calls": 5}
    assert [r.exploitability for r in resumed.history] == [r.exploitability for r in straight.history]
    assert np.array_equal(resumed.average_policy(), straight.average_policy())
    for p in range(2):
        assert np.array_equal(resumed.meta_game.tensors[p], straight.meta_game.tensors[p])
    with pytest.raises(GtlearnError, match="meta-solvers"):
        PSROSolver(tree, PSROConfig("uniform")).load_state_dict(state)
    with pytest.raises(GtlearnError, match="do not fit"):
        PSROSolver(compile_game("leduc_poker"), PSROConfig("shor")).load_state_dict(state)


def test_meta_solver_state_encoding():
    from solvers.psro.meta_solvers import Uniform

    solver = Uniform()
    solver.state = {"calls": 7, "x": np.arange(3.0), "tag": "a", "nested": {"k": [1, 2.5]}, "n": np.int64(4)}
    copy = Uniform()
    copy.load_state_dict(solver.state_dict())
    assert copy.state["calls"] == 7 and type(copy.state["calls"]) is int
    assert np.array_equal(copy.state["x"], np.arange(3.0))
    assert copy.state["tag"] == "a" and copy.state["nested"] == {"k": [1, 2.5]} and copy.state["n"] == 4
    solver.state = {"bad": object()}
    with pytest.raises(GtlearnError, match="cannot checkpoint"):
        solver.state_dict()
