"""Kill -9 in the middle of ``gtlearn align tabular`` (sampled mode, so the RNG state matters) and
``gtlearn werewolf train``, then ``--resume``: the finished run equals an uninterrupted one (metrics
except wall time, saved policies and artifacts, bit for bit). Ctrl-C prints ``interrupted`` and
the exact command that resumes the run, and exits 130."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

GTLEARN = [sys.executable, "-m", "gtlearn.cli"]



def restore_sigint() -> None:
    """Children of a background job start with SIGINT ignored, and Python then installs no
    KeyboardInterrupt handler: give the child the default disposition, as a terminal would."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)

def gtlearn(args: list[str]) -> None:
    res = subprocess.run(GTLEARN + args, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]


def start(args: list[str], ready, sig: int = signal.SIGKILL) -> subprocess.CompletedProcess:
    """Start the command and send ``sig`` as soon as ``ready()`` holds (polled)."""
    proc = subprocess.Popen(GTLEARN + args, preexec_fn=restore_sigint, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not ready():
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be stopped: make it longer"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def metrics(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [{k: v for k, v in r.items() if k != "wall_time"} for r in rows]


def npz_bytes_equal(a: Path, b: Path) -> None:
    import numpy as np

    with np.load(a) as x, np.load(b) as y:
        assert sorted(x.files) == sorted(y.files)
        for key in x.files:
            np.testing.assert_array_equal(x[key], y[key], err_msg=key)


TABULAR = {
    "nash-mp": ["--algo", "nash-mp", "--samples", "256"],
    "fdpg-offline": ["--algo", "fdpg", "--samples", "64", "-p", "proposal=offline", "-p", "proposal_interval=7"],
}


@pytest.mark.parametrize("algo", sorted(TABULAR))
def test_align_tabular_kill_then_resume_equals_straight(tmp_path, algo):
    args = ["align", "tabular", "--game", "random:6,contexts=3", "--mode", "sampled", "-n", "2000", "-q",
            *TABULAR[algo]]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    gtlearn(args + ["--out", str(straight)])
    res = start(args + ["--out", str(killed)], lambda: lines(killed / "metrics.jsonl") >= 600)
    assert res.returncode == -signal.SIGKILL
    assert not (killed / "policy.npz").exists()  # it really stopped mid-run
    gtlearn(args + ["--out", str(killed), "--resume"])
    assert metrics(killed / "metrics.jsonl") == metrics(straight / "metrics.jsonl")
    npz_bytes_equal(killed / "policy.npz", straight / "policy.npz")


def lspo_artifacts(run: Path) -> dict:
    """Every file of every iteration, with the timing fields of summary.json dropped."""
    out: dict = {}
    for path in sorted(run.glob("iter_*/*")):
        if path.is_file():
            data = path.read_bytes()
            if path.name == "summary.json":
                summary = json.loads(data)
                summary.pop("seconds"), summary.pop("cpu_seconds")
                data = json.dumps(summary, sort_keys=True).encode()
            out[str(path.relative_to(run))] = data
    return out


def train_kill_resume(tmp_path: Path, args: list[str], kill_points: list[tuple[int, str]]) -> None:
    """Train straight; train again, kill -9 when ``iter_<k>/<file>`` appears (for each point, each
    time resuming); resume to the end; compare."""
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    gtlearn(args + ["--out", str(straight)])
    for n, (it, name) in enumerate(kill_points):
        more = ["--resume"] if n else []
        marker = killed / f"iter_{it}" / name
        res = start(args + ["--out", str(killed), *more], marker.exists)
        assert res.returncode == -signal.SIGKILL
        assert not (killed / f"iter_{it}" / "done.json").exists()  # killed inside the iteration
    gtlearn(args + ["--out", str(killed), "--resume"])
    assert metrics(killed / "metrics.jsonl") == metrics(straight / "metrics.jsonl")
    assert lspo_artifacts(killed) == lspo_artifacts(straight)
    assert len(metrics(straight / "metrics.jsonl")) == int(args[args.index("-n") + 1])


def test_werewolf_train_kill_then_resume_equals_straight(tmp_path):
    # killed in iteration 2 after self-play, during the MCCFR stage
    args = ["werewolf", "train", "--preset", "ci", "-n", "2", "--games", "6", "--traversals", "400", "--seed", "3"]
    train_kill_resume(tmp_path, args, [(2, "emb_werewolf.npy")])


@pytest.mark.slow
def test_werewolf_train_killed_twice_then_resumed_equals_straight(tmp_path):
    # killed in iteration 1 (before any metric exists) and again in iteration 3
    args = ["werewolf", "train", "--preset", "ci", "-n", "3", "--games", "20", "--traversals", "1500"]
    train_kill_resume(tmp_path, args, [(1, "emb_werewolf.npy"), (3, "selfplay.jsonl")])


# The offline synthetic task, short: 8 optimizer steps, a checkpoint every 2 (HF Trainer's own).
ALIGN_TRAIN = ["align", "train", "--algo", "nash-md", "--steps", "8", "--eval-every", "2", "--save-every", "2",
               "--batch-size", "4", "-q", "-p", "max_new_tokens=3", "--pretrain-steps", "50"]


@pytest.mark.parametrize("algo, kill_points", [
    ("nash-md", ["config.json", "trainer/checkpoint-4"]),
    pytest.param("inpo", ["config.json", "trainer/round-1/checkpoint-2"], marks=pytest.mark.slow),
])
def test_align_train_kill_then_resume_equals_straight(tmp_path, algo, kill_points):
    """kill -9 before the first checkpoint (the run starts over), then again while a checkpoint
    is being written (resume skips the partial one), then ``--resume`` to the end: the metrics
    (but wall time) and the final model's weights are bit-identical to an uninterrupted run
    (CPU, same seed)."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    args = ALIGN_TRAIN[:3] + [algo] + ALIGN_TRAIN[4:] + (["--rounds", "2"] if algo == "inpo" else [])
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    gtlearn(args + ["--out", str(straight)])
    for n, point in enumerate(kill_points):
        res = start(args + ["--out", str(killed)] + (["--resume"] if n else []), (killed / point).exists)
        assert res.returncode == -signal.SIGKILL
        assert not (killed / "model").exists()  # it really stopped mid-run
    gtlearn(args + ["--out", str(killed), "--resume"])
    assert metrics(killed / "metrics.jsonl") == metrics(straight / "metrics.jsonl")
    assert len(metrics(straight / "metrics.jsonl")) == 5  # steps 0, 2, 4, 6, 8
    assert (killed / "model" / "model.safetensors").read_bytes() == (straight / "model" / "model.safetensors").read_bytes()


@pytest.mark.parametrize("args, ready", [
    (["align", "tabular", "--game", "random:6,contexts=3", "--mode", "sampled", "-n", "1000000", "-q"],
     lambda out: lines(out / "metrics.jsonl") >= 50),
    (["werewolf", "train", "--preset", "ci", "-n", "2", "--games", "6", "--traversals", "100000"],
     lambda out: (out / "iter_1" / "emb_werewolf.npy").exists()),
    ([*ALIGN_TRAIN[:4], "--steps", "100000", *ALIGN_TRAIN[6:]],
     lambda out: (out / "trainer" / "checkpoint-2").exists()),
], ids=["align-tabular", "werewolf-train", "align-train"])
def test_ctrl_c_exits_130_and_says_how_to_resume(tmp_path, args, ready):
    out = tmp_path / "run"
    res = start(args + ["--out", str(out)], lambda: ready(out), sig=signal.SIGINT)
    assert res.returncode == 130, res.stderr[-3000:]
    err = res.stderr.strip().splitlines()
    assert "interrupted" in err and "Traceback" not in res.stderr
    hint = next(line for line in err if line.startswith("resume with: "))
    resume = shlex.split(hint[len("resume with: "):])
    assert resume[0] == "gtlearn" and resume[-1] == "--resume" and str(out) in resume
    assert resume[1:-3] == args and (out / "config.json").exists()
