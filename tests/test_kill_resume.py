"""Kill -9 in the middle of a long-running verb, then ``--resume``: the finished run equals an
uninterrupted one (bit-identical metrics except wall time, identical policies)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

GTLEARN = [sys.executable, "-m", "gtlearn.cli"]


def gtlearn(args: list[str]) -> None:
    res = subprocess.run(GTLEARN + args, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]


def kill_mid_run(args: list[str], checkpoint: Path) -> None:
    """Start the command, SIGKILL it once it has checkpointed at least twice."""
    proc = subprocess.Popen(GTLEARN + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline, seen = time.time() + 300, set()
    while time.time() < deadline and proc.poll() is None and len(seen) < 2:
        if checkpoint.exists():
            seen.add(checkpoint.stat().st_mtime_ns)
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed: make it longer"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL


def metrics(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [{k: v for k, v in r.items() if k != "wall_time" and not k.startswith("seconds")} for r in rows]


def same_npz(a: Path, b: Path) -> None:
    with np.load(a) as x, np.load(b) as y:
        assert sorted(x.files) == sorted(y.files)
        for key in x.files:
            np.testing.assert_array_equal(x[key], y[key], err_msg=key)


def test_solve(tmp_path):
    args = ["solve", "leduc_poker", "--algo", "dcfr", "-n", "6000", "--eval-every", "200", "-q"]
    gtlearn(args + ["--out", str(tmp_path / "straight")])
    kill_mid_run(args + ["--out", str(tmp_path / "killed")], tmp_path / "killed" / "checkpoint.npz")
    gtlearn(args + ["--out", str(tmp_path / "killed"), "--resume"])
    assert metrics(tmp_path / "killed" / "metrics.jsonl") == metrics(tmp_path / "straight" / "metrics.jsonl")
    same_npz(tmp_path / "killed" / "average_policy.npz", tmp_path / "straight" / "average_policy.npz")


def test_compare(tmp_path):
    args = ["compare", "leduc_poker", "--algos", "cfr+,pcfr+", "-n", "3000", "--points", "20", "-q"]
    gtlearn(args + ["--out", str(tmp_path / "straight")])
    kill_mid_run(args + ["--out", str(tmp_path / "killed")], tmp_path / "killed" / "runs" / "cfr+" / "checkpoint.npz")
    gtlearn(args + ["--out", str(tmp_path / "killed"), "--resume"])
    a = json.loads((tmp_path / "killed" / "results.json").read_text())["results"]
    b = json.loads((tmp_path / "straight" / "results.json").read_text())["results"]
    for rule in ("cfr+", "pcfr+"):
        assert a[rule]["iterations"] == b[rule]["iterations"]
        assert a[rule]["exploitability"] == b[rule]["exploitability"]


def test_psro(tmp_path):
    args = ["psro", "leduc_poker", "--train-meta", "prd", "--train-param", "iterations=20000", "-n", "12", "-q"]
    gtlearn(args + ["--out", str(tmp_path / "straight")])
    kill_mid_run(args + ["--out", str(tmp_path / "killed")], tmp_path / "killed" / "checkpoint.npz")
    gtlearn(args + ["--out", str(tmp_path / "killed"), "--resume"])
    assert metrics(tmp_path / "killed" / "metrics.jsonl") == metrics(tmp_path / "straight" / "metrics.jsonl")
    same_npz(tmp_path / "killed" / "policy.npz", tmp_path / "straight" / "policy.npz")

