"""`gtlearn solve` / `gtlearn games` end to end, including bad input and resume."""

import json
import os
import subprocess
import sys

import numpy as np
import pyspiel
import pytest

from gtlearn.cli import main
from solvers.policy_io import load_openspiel_policy, load_policy


def run_cli(*args, cwd=None):
    env = dict(os.environ, COLUMNS="120")
    return subprocess.run(
        [sys.executable, "-m", "gtlearn.cli", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


def test_solve_writes_metrics_policy_and_plot(tmp_path):
    out = tmp_path / "run"
    assert main(["solve", "kuhn_poker", "--algo", "cfr+", "--iterations", "60", "--eval-every", "20", "--out", str(out), "--quiet"]) == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [20, 40, 60]
    assert rows[-1]["gap"] == pytest.approx(rows[-1]["nash_conv"] / 2)
    assert (out / "plot.png").stat().st_size > 1000
    config = json.loads((out / "config.json").read_text())
    assert config["game"] == "kuhn_poker" and config["iterations"] == 60
    # the saved average policy is loadable as an OpenSpiel policy, and OpenSpiel agrees on its NashConv
    os_policy = load_openspiel_policy(out / "average_policy.npz")
    game = pyspiel.load_game("kuhn_poker")
    assert pyspiel.nash_conv(game, os_policy.to_dict()) == pytest.approx(rows[-1]["nash_conv"], abs=1e-12)


def test_resume_continues_identically(tmp_path):
    straight, split = tmp_path / "a", tmp_path / "b"
    common = ["solve", "kuhn_poker(players=3)", "--algo", "dcfr", "--eval-every", "5", "--quiet"]
    assert main([*common, "--iterations", "30", "--out", str(straight)]) == 0
    assert main([*common, "--iterations", "15", "--out", str(split)]) == 0
    assert main([*common, "--iterations", "30", "--out", str(split), "--resume"]) == 0
    a = [json.loads(x) for x in (straight / "metrics.jsonl").read_text().splitlines()]
    b = [json.loads(x) for x in (split / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in a] == [r["iteration"] for r in b]
    assert [r["gap"] for r in a] == [r["gap"] for r in b]
    _, pa = load_policy(straight / "average_policy.npz")
    _, pb = load_policy(split / "average_policy.npz")
    assert np.array_equal(pa, pb)


def test_existing_run_is_not_overwritten(tmp_path):
    out = tmp_path / "run"
    args = ["solve", "kuhn_poker", "--iterations", "5", "--out", str(out), "--quiet"]
    assert main(args) == 0
    assert main(args) == 2
    assert main([*args, "--overwrite"]) == 0


@pytest.mark.parametrize(
    "args,needle",
    [
        (["solve", "no_such_game", "--iterations", "5"], "unknown game"),
        (["solve", "kuhn_poker", "--algo", "cfr-9000", "--iterations", "5"], "unknown rule"),
        (["solve", "leduc_poker(players=x)", "--iterations", "5"], "cannot load game"),
        (["solve", "leduc_poker", "--max-nodes", "500", "--iterations", "5"], "over the limit"),
        (["solve", "kuhn_poker", "--iterations", "0"], "--iterations must be positive"),
        (["solve", "kuhn_poker", "--param", "alpha", "--iterations", "5"], "name=value"),
        (["solve", "kuhn_poker", "--algo", "dcfr", "--param", "delta=2", "--iterations", "5"], "bad parameters"),
        (["solve", "kuhn_poker", "--rule", "nowhere.py:Rule", "--iterations", "5"], "does not exist"),
        (["solve", "kuhn_poker", "--device", "tpu", "--iterations", "5"], "unknown device"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, args, needle):
    res = run_cli(*args, "--out", str(tmp_path / "r"), cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error:") and needle in lines[0]
    assert "Traceback" not in res.stderr + res.stdout


def test_games_lists_sizes(tmp_path):
    res = run_cli("games", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "9,457" in res.stdout  # leduc_poker's node count
