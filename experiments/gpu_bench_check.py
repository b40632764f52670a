"""One-shot GPU check: install CuPy if needed, print the card, run the gpu tests, time CFR+.

    python experiments/gpu_bench_check.py            # from the repository root, on a CUDA machine

Steps (each prints one clearly labelled block; the exit status is non-zero if any step fails):
1. ``import cupy``, else ``pip install cupy-cuda12x`` (needs PyPI or a local wheel/mirror);
2. the card name, memory and CUDA runtime version;
3. ``pytest -m gpu tests/test_gpu_backend.py``;
4. CFR+ time per iteration on liars_dice (target <= 1 ms) and leduc_poker(players=3) (target
   <= 10 ms) for backends "cuda" (fused kernels, the default) and "cupy" (reference code on
   CuPy), median of 5 rounds after warm-up, with the compiled CPU path timed in the same run
   for comparison. Writes gpu_bench_check.json into experiments/results/.

Needs the project's CPU dependencies (numpy, open_spiel, numba, pytest) in the running Python.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TARGETS_MS = {"liars_dice": 1.0, "leduc_poker(players=3)": 10.0}


def ensure_cupy():
    try:
        import cupy  # noqa: F401

        return True
    except ImportError:
        print("cupy not importable; installing cupy-cuda12x ...", flush=True)
        rc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "cupy-cuda12x"]).returncode
        if rc != 0:
            print("FAILED: pip install cupy-cuda12x (no network or no wheel); cannot run the GPU checks")
            return False
        return True


def card_info() -> dict:
    import cupy as cp

    dev = cp.cuda.Device(0)
    props = cp.cuda.runtime.getDeviceProperties(0)
    name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    info = {"card": name, "memory_gib": round(dev.mem_info[1] / 2**30, 1),
            "compute_capability": dev.compute_capability, "cuda_runtime": cp.cuda.runtime.runtimeGetVersion(),
            "cupy": cp.__version__}
    print("GPU:", json.dumps(info), flush=True)
    return info


def run_tests() -> int:
    print("== pytest -m gpu tests/test_gpu_backend.py", flush=True)
    return subprocess.run([sys.executable, "-m", "pytest", "-m", "gpu", "-q", "tests/test_gpu_backend.py"],
                          cwd=ROOT).returncode


def time_cfr_plus(game: str, rounds: int = 5) -> dict:
    import cupy as cp

    from games.tree import compile_game
    from solvers.cfr.engine import CFRSolver

    tree = compile_game(game)
    solvers = {"cuda": CFRSolver(tree, rule="cfr+", device="cuda", backend="cuda"),
               "cupy": CFRSolver(tree, rule="cfr+", device="cuda", backend="cupy"),
               "numba (CPU)": CFRSolver(tree, rule="cfr+", backend="numba")}
    ks, samples = {}, {name: [] for name in solvers}
    for name, s in solvers.items():
        for _ in range(2):  # warm-up: kernel compilation, memory pool
            s.step()
        cp.cuda.Device(0).synchronize()
        t0 = time.perf_counter()
        s.step()
        cp.cuda.Device(0).synchronize()
        ks[name] = max(1, min(200, int(0.5 / max(time.perf_counter() - t0, 1e-6))))
    for _ in range(rounds):
        for name, s in solvers.items():
            cp.cuda.Device(0).synchronize()
            t0 = time.perf_counter()
            for _ in range(ks[name]):
                s.step()
            cp.cuda.Device(0).synchronize()
            samples[name].append((time.perf_counter() - t0) / ks[name] * 1e3)
    out = {name: {"ms_per_iteration": statistics.median(v), "min_ms": min(v), "iterations_per_round": ks[name]}
           for name, v in samples.items()}
    target = TARGETS_MS[game]
    for name, row in out.items():
        verdict = "" if name.startswith("numba") else (" target <= %g ms: %s" % (target, "met" if row["ms_per_iteration"] <= target else "NOT met"))
        print(f"{game} [{name}]: {row['ms_per_iteration']:.3f} ms/iteration (min {row['min_ms']:.3f}){verdict}", flush=True)
    return out


def main() -> int:
    if not ensure_cupy():
        return 1
    result = {"card": card_info()}
    result["tests_rc"] = run_tests()
    result["timings"] = {}
    for game in TARGETS_MS:
        try:
            result["timings"][game] = time_cfr_plus(game)
        except Exception as exc:  # report and continue with the next game
            print(f"FAILED timing {game}: {type(exc).__name__}: {exc}", flush=True)
            result["timings"][game] = {"error": f"{type(exc).__name__}: {exc}"}
    out = ROOT / "experiments" / "results" / "gpu_bench_check.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    failed = result["tests_rc"] != 0 or any("error" in v for v in result["timings"].values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
