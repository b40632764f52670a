"""Exactly-once resume (docs/evolve.md, The database): SIGKILL the controller at 20 random points
(just before or just after a commit), resume after each, and compare with an uninterrupted
run of the same script and seeds."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from _evolve_helpers import evaluated, tiny_cfg

SCRIPT = [
    "```python\ndef accumulate_average(avg_acc, policy, reach, legal, t, state):\n    return avg_acc + t ** 2 * reach[:, None] * policy\n```",
    "<<<<<<< SEARCH\n    return _rm(cum_regret, legal)\n=======\n    return _rm(cum_regret, legal, 1.5)\n>>>>>>> REPLACE",
    "<<<<<<< SEARCH\n    return nothing_like_this\n=======\n    return 0\n>>>>>>> REPLACE",  # matches nothing
    "```python\ndef accumulate_average(avg_acc, policy, reach, legal, t, state):\n    return avg_acc + t ** 2 * reach[:, None] * policy\n```",  # duplicate
    "```python\ndef update_regrets(cum_regret, inst_regret, legal, t, state):\n    import os\n    return cum_regret\n```",  # screen
    "<<<<<<< SEARCH\n    return avg_acc + t * reach[:, None] * policy\n=======\n    return avg_acc + t ** 3 * reach[:, None] * policy\n>>>>>>> REPLACE",
    "```python\ndef update_regrets(cum_regret, inst_regret, legal, t, state):\n    r = cum_regret + inst_regret\n    return np.where(legal, np.where(r > 0, r * t ** 1.5 / (t ** 1.5 + 1), r * 0.5), 0.0)\n```",
    "<<<<<<< SEARCH\n    return np.where(legal, np.maximum(cum_regret + inst_regret, 0.0), 0.0)\n=======\n    return np.where(legal, np.maximum(cum_regret * 0.9 + inst_regret, 0.0), 0.0)\n>>>>>>> REPLACE",
]


def cfg():
    return tiny_cfg(run={"max_evaluated": 7}, llm={"backend": "scripted", "script": SCRIPT},
                    executor={"processes": False})


RUNNER = """
import json, sys
from evolve import controller
cfg = json.loads(sys.argv[2])
if sys.argv[3] == 'run':
    controller.run_campaign(cfg, sys.argv[1])
else:
    controller.resume_campaign(sys.argv[1])
"""


def launch(run_dir, mode, crash=None):
    env = dict(os.environ)
    env.pop("GTLEARN_EVOLVE_CRASH_AT", None)
    if crash:
        env["GTLEARN_EVOLVE_CRASH_AT"] = crash
    return subprocess.run([sys.executable, "-c", RUNNER, str(run_dir), json.dumps(cfg()), mode], env=env,
                          cwd=os.getcwd(), capture_output=True, text=True, timeout=300)


def snapshot(path):
    from evolve.replaying import snapshot as snap

    s = snap(path)
    s.pop("responses")
    return s


def check_exactly_once(db_path):
    import sqlite3

    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT COUNT(*) FROM llm_calls WHERE status='pending'").fetchone()[0] == 0
    states = dict(conn.execute("SELECT id, state FROM programs"))
    assert not [p for p, s in states.items() if s in ("proposed", "queued", "evaluating")]
    for pid, state in states.items():
        stages = [r[0] for r in conn.execute("SELECT stage FROM evaluations WHERE program_id=? ORDER BY stage", (pid,))]
        base = [s for s in stages if s < 3]
        if state in ("evaluated", "failed", "timeout"):
            assert base == list(range(len(base))) and base, (pid, state, stages)
        else:
            assert stages == []
        # exactly one committed transition into a terminal state
        terminal = conn.execute("SELECT COUNT(*) FROM events WHERE program_id=? AND kind='state' AND json_extract(details_json,'$.to') "
                                "IN ('evaluated','failed','timeout','rejected_patch','rejected_static','duplicate')", (pid,)).fetchone()[0]
        assert terminal == 1, (pid, terminal)


def test_kill_at_20_points_then_resume_matches_uninterrupted(tmp_path):
    ref = tmp_path / "ref"
    r = launch(ref, "run")
    assert r.returncode == 0, r.stderr[-3000:]
    rng = np.random.default_rng(1234)
    run = tmp_path / "crashy"
    kills = 0
    mode = "run"
    while kills < 20:
        crash = f"{int(rng.integers(1, 7))}:{'before' if rng.random() < 0.5 else 'after'}"
        r = launch(run, mode, crash)
        mode = "resume"
        if r.returncode == -signal.SIGKILL:
            kills += 1
        else:
            assert r.returncode == 0, r.stderr[-3000:]
            break  # finished before the crash point
    r = launch(run, "resume")
    assert r.returncode == 0, r.stderr[-3000:]
    assert kills >= 10
    check_exactly_once(run / "campaign.db")
    check_exactly_once(ref / "campaign.db")
    a, b = snapshot(ref / "campaign.db"), snapshot(run / "campaign.db")
    assert a["programs"] == b["programs"]
    assert a["evaluations"] == b["evaluations"]
    assert a["cells"] == b["cells"]
    assert a["champions"] == b["champions"]


@pytest.mark.slow
def test_cli_kill_minus_9_at_random_times_then_resume(tmp_path):
    """The real thing: `gtlearn evolve run` SIGKILLed from outside at random moments."""
    import yaml

    cfgfile = tmp_path / "c.yaml"
    c = cfg()
    c["executor"]["processes"] = True
    cfgfile.write_text(yaml.safe_dump(c))
    run = tmp_path / "run"
    rng = np.random.default_rng(7)
    cmd = [sys.executable, "-m", "gtlearn.cli", "evolve", "run", str(cfgfile), "--out", str(run), "-q"]
    for i in range(20):
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(float(rng.uniform(0.5, 4.0)))
        if p.poll() is not None:
            break
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        cmd = [sys.executable, "-m", "gtlearn.cli", "evolve", "resume", str(run), "-q"]
    r = subprocess.run([sys.executable, "-m", "gtlearn.cli", "evolve", "resume", str(run), "-q"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    check_exactly_once(run / "campaign.db")


def test_cli_kill_minus_9_mid_run_then_resume_is_bit_identical(tmp_path):
    """`gtlearn evolve run` SIGKILLed (its whole process group) after two evaluations, then
    `gtlearn evolve resume`: the same finished work as an uninterrupted run, bit for bit
    (run.sequential), nothing lost and nothing done twice."""
    import yaml

    c = cfg()
    c["run"]["max_evaluated"] = 4
    c["executor"]["processes"] = True
    c["cascade"]["heldout"]["games"] = []
    cfgfile = tmp_path / "c.yaml"
    cfgfile.write_text(yaml.safe_dump(c))
    cli = [sys.executable, "-m", "gtlearn.cli", "evolve"]
    ref, run = tmp_path / "ref", tmp_path / "run"
    r = subprocess.run(cli + ["run", str(cfgfile), "--out", str(ref), "-q"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    tmp = tmp_path / "tmp"  # the killed run's own temp dir: what it leaves there is its own
    tmp.mkdir()
    p = subprocess.Popen(cli + ["run", str(cfgfile), "--out", str(run), "-q"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True, env={**os.environ, "TMPDIR": str(tmp)})
    deadline = time.time() + 240
    while evaluated(run / "campaign.db") < 2 and p.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert p.poll() is None, "the run finished before it could be killed"
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    assert evaluated(run / "campaign.db") < 4
    from evolve.sandbox.profiles import probe

    if probe("bwrap") is None:  # the strong profile keeps its temp dir in the sandbox: nothing on the host to leave
        time.sleep(0.5)  # the sandbox dies with its worker
        assert [d for d in os.listdir(tmp) if d.startswith("gtlearn-")] == []  # (pymp-*: multiprocessing's own)
    r = subprocess.run(cli + ["resume", str(run), "-q"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    for d in (ref, run):
        check_exactly_once(d / "campaign.db")
    a, b = snapshot(ref / "campaign.db"), snapshot(run / "campaign.db")
    for key in ("programs", "evaluations", "cells", "champions"):
        assert a[key] == b[key], key
