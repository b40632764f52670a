"""Kill -9 in the middle of a long-running verb, then ``--resume``: the finished run equals an
uninterrupted one (bit-identical metrics except wall time, identical policies; for ``evolve run``
the same programs, evaluations, cells and champions, each candidate evaluated exactly once)."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from _evolve_helpers import evaluated

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



# -- evolve run ------------------------------------------------------------------------------
# The default (offline, seeded) mutation backend; run.sequential makes the campaign a
# deterministic function of the config, so a resumed campaign must equal an uninterrupted one.
CAMPAIGN = {
    "run": {"seed": 0, "task": "cfr", "max_evaluated": 6, "sequential": True},
    "cascade": {"stage1": {"games": ["kuhn_poker"], "iterations": 20},
                "stage2": {"games": ["kuhn_poker"], "iterations": 60, "checkpoints": [10]},
                "heldout": {"games": []}},
    "search": {"islands": 2, "migration_interval": 3, "stagnation": 4},
    "executor": {"slots": 1, "backlog": 1},
    "llm": {"proposers": 1},
    "sandbox": {"unsafe": True, "wall_s": 20, "cpu_s": 20},  # not a sandbox test: any profile this host has
}


def campaign_content(db: Path) -> dict:
    """What the campaign computed (programs, evaluations, MAP-Elites cells, champions; no timings),
    after checking that nothing is left in flight and each program reached its final state once."""
    import sqlite3

    from evolve.replaying import snapshot

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        assert conn.execute("SELECT COUNT(*) FROM llm_calls WHERE status='pending'").fetchone()[0] == 0
        states = dict(conn.execute("SELECT id, state FROM programs"))
        assert not [p for p, s in states.items() if s in ("proposed", "queued", "evaluating")], states
        for pid in states:
            final = conn.execute("SELECT COUNT(*) FROM events WHERE program_id=? AND kind='state' AND json_extract(details_json,"
                                 "'$.to') IN ('evaluated','failed','timeout','rejected_patch','rejected_static','duplicate')",
                                 (pid,)).fetchone()[0]
            assert final == 1, (pid, states[pid], final)  # nothing done twice, nothing lost
    finally:
        conn.close()
    snap = snapshot(db)
    return {key: snap[key] for key in ("programs", "evaluations", "cells", "champions")}


@pytest.fixture(scope="module")
def evolve_straight(tmp_path_factory) -> tuple[Path, dict]:
    """The campaign file and what an uninterrupted `gtlearn evolve run` of it computes."""
    import yaml

    root = tmp_path_factory.mktemp("evolve")
    cfg = root / "campaign.yaml"
    cfg.write_text(yaml.safe_dump(CAMPAIGN))
    gtlearn(["evolve", "run", str(cfg), "--out", str(root / "straight"), "-q"])
    content = campaign_content(root / "straight" / "campaign.db")
    assert len(content["programs"]) >= CAMPAIGN["run"]["max_evaluated"]
    return cfg, content


def stop_campaign(args: list[str], db: Path, sig: int, after: int = 2) -> subprocess.CompletedProcess:
    """Start `gtlearn evolve ...` in its own process group and send ``sig`` to the whole group
    (the controller and its sandboxed evaluators, as a terminal's Ctrl-C or a `kill -9 -PGID`
    would) once ``after`` candidates are evaluated."""
    proc = subprocess.Popen(GTLEARN + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 300
    while evaluated(db) < after and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the campaign finished before it could be stopped: make it longer"
    os.killpg(proc.pid, sig)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def test_evolve_run_kill_9_then_resume_equals_straight(tmp_path, evolve_straight):
    """`evolve run` killed after 2 evaluations, `evolve resume` killed after 4, `evolve resume`."""
    cfg, straight = evolve_straight
    run = tmp_path / "killed"
    for after, args in ((2, ["evolve", "run", str(cfg), "--out", str(run), "-q"]), (4, ["evolve", "resume", str(run), "-q"])):
        res = stop_campaign(args, run / "campaign.db", signal.SIGKILL, after=after)
        assert res.returncode == -signal.SIGKILL
        assert evaluated(run / "campaign.db") < CAMPAIGN["run"]["max_evaluated"]  # killed mid-campaign
    gtlearn(["evolve", "resume", str(run), "-q"])
    assert campaign_content(run / "campaign.db") == straight


def test_evolve_run_ctrl_c_prints_a_resume_command_that_finishes_it(tmp_path, evolve_straight):
    cfg, straight = evolve_straight
    run = tmp_path / "interrupted"
    args = ["evolve", "run", str(cfg), "--out", str(run), "-q"]
    res = stop_campaign(args, run / "campaign.db", signal.SIGINT)
    assert res.returncode == 130, res.stderr[-3000:]
    lines = res.stderr.strip().splitlines()
    assert "interrupted" in lines and "Traceback" not in res.stderr, res.stderr[-3000:]
    hint = shlex.split(next(line for line in lines if line.startswith("resume with: "))[len("resume with: "):])
    assert hint == ["gtlearn", *args, "--resume"]
    gtlearn(hint[1:])  # `evolve run ... --resume` continues the campaign in --out
    assert campaign_content(run / "campaign.db") == straight
