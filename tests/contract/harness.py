"""The solver-contract check: N steps straight equal N/2 steps, a checkpoint, a *fresh process*
that resumes, and N/2 more steps -- bit for bit -- and ``gap()`` returns the shared record."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from gtlearn.core.driver import drive
from gtlearn.core.io import atomic_save_npz
from gtlearn.core.metrics import Metrics
from gtlearn.core.run import Run

ROOT = Path(__file__).resolve().parents[2]
CASE_FILES = sorted(Path(__file__).resolve().parent.glob("cases_*.py"))
DEFAULT_STEPS = 6


def load_cases(path: Path):
    spec = importlib.util.spec_from_file_location(f"contract_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_to(module, case_id: str, run_dir: Path, steps: int, eval_every: int, *, resume: bool):
    """Drive a freshly built solver to ``steps`` in ``run_dir`` (continuing its checkpoint)."""
    solver = module.CASES[case_id]()
    run = Run(run_dir, {"case": case_id}, resume=resume)
    drive(solver, steps, run=run, eval_every=eval_every, log_initial=True)
    atomic_save_npz(run_dir / "final_state.npz", **solver.state_dict())
    return solver


def resume_in_fresh_process(case_file: Path, case_id: str, run_dir: Path, steps: int, eval_every: int) -> None:
    code = (
        "import sys; from pathlib import Path; "
        f"sys.path.insert(0, {str(ROOT)!r}); sys.path.insert(0, {str(ROOT / 'tests')!r}); "
        "from contract.harness import load_cases, run_to; "
        f"run_to(load_cases(Path({str(case_file)!r})), {case_id!r}, Path({str(run_dir)!r}), {steps}, {eval_every}, resume=True)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]


def load_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def comparable_records(run_dir: Path) -> list[dict]:
    """metrics.jsonl without what the wall clock wrote (wall_time, seconds_*)."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [{k: v for k, v in row.items() if k != "wall_time" and not k.startswith("seconds")} for row in rows]


def check_case(case_file: Path, case_id: str, tmp: Path) -> None:
    module = load_cases(case_file)
    steps = getattr(module, "STEPS", {}).get(case_id, DEFAULT_STEPS)
    assert steps % 2 == 0 and steps >= 2
    comparable = getattr(module, "comparable", lambda _id, state: state)

    solver = module.CASES[case_id]()
    assert solver.iteration == 0
    record = solver.gap()
    assert isinstance(record, Metrics) and record.iteration == 0
    assert isinstance(record.gap, float) and isinstance(record.gap_name, str) and record.gap_name
    assert set(record.to_dict()) >= {"iteration", "gap", "gap_name", "wall_time"}

    every = max(1, steps // 4)  # measured before and after the checkpoint
    straight = tmp / "straight"
    run_to(module, case_id, straight, steps, every, resume=False)
    split = tmp / "split"
    half = run_to(module, case_id, split, steps // 2, every, resume=False)
    assert half.iteration == steps // 2
    resume_in_fresh_process(case_file, case_id, split, steps, every)

    a = comparable(case_id, load_npz(straight / "final_state.npz"))
    b = comparable(case_id, load_npz(split / "final_state.npz"))
    assert sorted(a) == sorted(b)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=f"{case_id}: state {key!r} differs after resume")
    records = comparable_records(straight)
    assert records == comparable_records(split), f"{case_id}: metrics.jsonl differs after resume"
    assert records[-1]["iteration"] == steps and len(records) >= 3


def all_cases() -> list[tuple[Path, str]]:
    return [(path, case_id) for path in CASE_FILES for case_id in load_cases(path).CASES]
