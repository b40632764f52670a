"""Sandbox overhead per evaluation, in CPU seconds, measured in one run (docs/evolve.md, Sandbox).

Variants, each in its own subprocess and cgroup (cgroup-v1 ``cpuacct``, which counts every
descendant, including processes in PID namespaces that ``wait4`` does not see; without it the
subprocess's own and its children's rusage is used):

- ``direct``: the same cascade with the candidate's functions called in-process: no sandbox, no
  IPC (the work an evaluation cannot avoid);
- ``new:<profile>``: this tree's evaluation (``run_job``) under each profile that works here
  (``bwrap``; ``unshare`` and ``none`` with ``unsafe``);
- ``old:<profile>``: the committed tree (``git archive HEAD``, or ``--old-tree``) under its
  ``auto`` profile and under ``unshare`` (what it picks on a host without bubblewrap), through a
  small venv shim so that its sandbox child imports the old code.

Overhead = variant - direct. The seed program (CFR+) is evaluated ``--repeats`` times after
one warm-up evaluation; the median per evaluation is reported, CPU seconds beside wall seconds.

    python experiments/sandbox_overhead.py --cascade small --out experiments/results/evolve_sandbox_overhead.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CGROUP = Path("/sys/fs/cgroup/cpuacct")
CASCADES = {
    "small": {"stage1": {"games": ["kuhn_poker"], "iterations": 100},
              "stage2": {"games": ["kuhn_poker"], "iterations": 300, "checkpoints": [10, 100]}},
    "medium": {"stage1": {"games": ["kuhn_poker", "matrix_brps", "goofspiel_3"], "iterations": 100},
               "stage2": {"games": ["kuhn_poker_3p", "leduc_poker", "goofspiel_4"], "iterations": 1000,
                          "checkpoints": [10, 100]}},
    "default": {},  # the campaign default: stage 2 adds 5-sided Liar's Dice (the largest arrays)
}


# -- inside a measured subprocess -----------------------------------------------------------
def _cpu_now(cgroup: str | None) -> float:
    if cgroup:
        return int(Path(cgroup, "cpuacct.usage").read_text()) / 1e9
    import resource

    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


class _InProcess:
    """A stand-in for the sandbox: the child driver called in this process, arrays copied."""

    def __init__(self, task, code: str):
        module, _, name = task.child_driver.partition(":")
        import importlib

        self.driver = getattr(importlib.import_module(module), name)({})
        ns: dict = {"__name__": "candidate"}
        exec(compile(code, "candidate.py", "exec"), ns)  # noqa: S102 - the trusted seed program
        self.driver.load(ns)

    def request(self, msg, arrays=(), deadline=None):
        head, out = self.driver.handle(msg, [a.copy() for a in arrays])
        return dict(head, ok=True), [o.copy() for o in out]


def _worker(variant: str, cascade: str, repeats: int, cgroup: str | None) -> list[float]:
    if cgroup:
        Path(cgroup, "cgroup.procs").write_text(str(os.getpid()))
    from evolve import config
    from evolve.evaluator import run_job
    from evolve.sandbox.launcher import SandboxLimits
    from evolve.tasks import make_task

    profile = variant.split(":")[1] if ":" in variant else "auto"
    sandbox = {"wall_s": 600, "cpu_s": 600, "profile": profile}
    if profile in ("unshare", "none") and variant.startswith("new:"):
        sandbox["unsafe"] = True
    cfg = config.validate({"cascade": {**CASCADES[cascade], "heldout": {"games": []}}, "sandbox": sandbox})
    task = make_task(cfg)
    stages = task.stages(cfg)
    code = task.seed_program
    baselines = run_job({"kind": "baselines", "task": task.name, "stages": stages})
    limits = {f.name: cfg["sandbox"][f.name] for f in dataclasses.fields(SandboxLimits) if f.name in cfg["sandbox"]}
    job = {"kind": "cascade", "task": task.name, "program_id": 1, "attempt": 0, "code": code, "stages": stages, "seed": 5,
           "limits": limits, "baselines": baselines, "gate_ref": None}
    times = []
    for _ in range(repeats + 1):  # the first one warms caches up
        t0, w0 = _cpu_now(cgroup), time.monotonic()
        if variant == "direct":
            sb = _InProcess(task, code)
            task.check_properties(sb, job["seed"])
            for s in stages:
                if s["stage"] in (1, 2):
                    task.score_stage(sb, s, job)
        else:
            res = run_job(job)
            assert res["state"] == "evaluated", res["reason"]
        times.append((_cpu_now(cgroup) - t0, time.monotonic() - w0))
    return times[1:]


# -- the driver ----------------------------------------------------------------------------
def _old_python(tree: Path) -> str:
    """A venv shim whose site-packages puts ``tree`` first and the current venv's packages
    after it (without this tree's editable-install finder), so that ``python -I`` (the old
    sandbox child) imports the old code too."""
    shim = tree / ".overhead-venv"
    site = shim / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    site.mkdir(parents=True, exist_ok=True)
    (shim / "bin").mkdir(exist_ok=True)
    base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    (shim / "pyvenv.cfg").write_text(f"home = {base.parent}\ninclude-system-site-packages = false\n")
    py = shim / "bin" / "python"
    if not py.exists():
        py.symlink_to(base)
    here = next(p for p in sys.path if p.endswith("site-packages") and p.startswith(sys.prefix))
    (site / "old_tree.pth").write_text(f"{tree}\n{here}\n")
    return str(py)


def _old_tree(arg: str | None) -> Path:
    if arg:
        return Path(arg).resolve()
    sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    # Outside /tmp: the old bwrap profile binds /tmp writable, which would let its child keep a
    # kernel cache that the repository's read-only tree does not allow.
    tree = Path.home() / ".cache" / "gtlearn" / f"overhead-old-{sha}"
    if not (tree / "evolve").is_dir():
        tree.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def _measure(python: str, cwd: Path, variant: str, cascade: str, repeats: int) -> list[list[float]]:
    cg = None
    if os.access(CGROUP, os.W_OK):
        cg = Path(tempfile.mkdtemp(prefix="gtlearn-overhead-", dir=CGROUP))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    try:
        r = subprocess.run([python, str(Path(__file__).resolve()), "--worker", variant, "--cascade", cascade,
                            "--repeats", str(repeats), "--cgroup", str(cg or "")], cwd=cwd, env=env,
                           capture_output=True, text=True)
    finally:
        if cg is not None:
            for _ in range(50):
                try:
                    cg.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)
    if r.returncode != 0:
        raise SystemExit(f"{variant} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cascade", choices=sorted(CASCADES), default="small")
    ap.add_argument("--old-tree", help="the committed code to compare with (default: git archive HEAD)")
    ap.add_argument("--skip-old", action="store_true")
    ap.add_argument("--out", help="write the numbers as JSON here")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--cgroup", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(_worker(a.worker, a.cascade, a.repeats, a.cgroup or None)))
        return
    from evolve.sandbox.profiles import probe

    variants = ["direct"] + [f"new:{p}" for p in ("bwrap", "unshare", "none") if probe(p) is None]
    runs = {v: _measure(sys.executable, ROOT, v, a.cascade, a.repeats) for v in variants}
    if not a.skip_old:
        tree = _old_tree(a.old_tree)
        for prof in ("auto", "unshare"):
            runs[f"old:{prof}"] = _measure(_old_python(tree), tree, f"old:{prof}", a.cascade, a.repeats)
    direct = statistics.median(c for c, _ in runs["direct"])
    rows = {}
    for v, t in runs.items():
        cpu, wall = statistics.median(c for c, _ in t), statistics.median(w for _, w in t)
        rows[v] = {"cpu_s": cpu, "wall_s": wall, "overhead_cpu_s": cpu - direct, "samples_cpu_wall": t}
    print(f"cascade {a.cascade}, {a.repeats} evaluations each after a warm-up; seconds per evaluation "
          f"(CPU: {'cgroup cpuacct' if os.access(CGROUP, os.W_OK) else 'rusage'}; the host is shared, wall is indicative)")
    for v, r in rows.items():
        print(f"  {v:12s} CPU {r['cpu_s']:7.3f}  wall {r['wall_s']:7.3f}  CPU overhead {r['overhead_cpu_s']:+7.3f}")
    best = next((v for v in variants[1:] if v in rows), None)
    for old in (v for v in rows if v.startswith("old:")):
        if best and rows[best]["overhead_cpu_s"] > 0:
            print(f"  {old}/{best} CPU overhead ratio: {rows[old]['overhead_cpu_s'] / rows[best]['overhead_cpu_s']:.2f}x")
    if a.out:  # one entry per cascade, so runs of several cascades share one file
        out = Path(a.out)
        data = json.loads(out.read_text()) if out.exists() else {}
        data[a.cascade] = {"repeats": a.repeats, "cpu_measure": "cgroup cpuacct" if os.access(CGROUP, os.W_OK) else "rusage",
                           "variants": rows}
        out.write_text(json.dumps(data, indent=2) + "\n")


if __name__ == "__main__":
    main()
