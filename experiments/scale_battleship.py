"""Exact CFR at scale: compile time, memory and CFR+ / NashConv speed from 10^3 to 10^8 nodes.

For each game (the gpugt battleship benchmark games that fit, plus smaller games for the curve)
a fresh child process compiles the tree (no cache) and measures: nodes, compile wall and CPU
time, the process's peak RSS during compilation (and its RSS before), tree bytes per node, CFR+
milliseconds per iteration with 1 and 2 kernel threads (wall and CPU), whether the two give
bit-identical iterates, and the exact NashConv time. OpenSpiel's C++ CFR+ runs on the 2.27M-node
game in the same run. Writes experiments/results/scale_battleship.{json,md,png}.

    python experiments/scale_battleship.py                 # all games, one at a time
    python experiments/scale_battleship.py --games small   # the curve below 10^6 nodes only
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "experiments" / "results"
BS = "battleship(board_height={h},board_width={w},ship_sizes=[{s}],ship_values=[{v}],num_shots={n})"
SMALL = ["goofspiel_4", "leduc_poker", "liars_dice_5", "liars_dice"]
BIG = [BS.format(h=3, w=2, s="2", v="1", n=3), BS.format(h=3, w=3, s="1;2", v="1;1", n=2),
       BS.format(h=3, w=2, s="2", v="1", n=4)]
OPENSPIEL_GAME = BIG[0]


ROUNDS = 5  # interleaved timing rounds per thread count
MIN_TIMED_NODE_ITERATIONS = 5e7  # iterations x nodes per timing: short passes need many iterations


def _timed(fn, repeats: int):
    """(min wall seconds, CPU seconds of that call) over ``repeats`` calls."""
    best = (float("inf"), 0.0)
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        fn()
        best = min(best, (time.perf_counter() - w, time.process_time() - c))
    return best


COMPILE_KEYS = ("compile_wall_s", "compile_cpu_s", "rss_before_gb", "compile_peak_rss_gb", "compile_nodes_per_s",
                "compile_load")


def measure(game: str, iterations: int, keep_dir: str | None = None) -> dict:
    """Everything for one game, in this (fresh) process. With ``keep_dir`` the compiled tree is
    saved there, and loaded from there (not compiled, no compile metrics) when it already is."""
    import numpy as np

    import solvers.fast as fast
    from games.tree import GameTree, compile_game
    from solvers.best_response import nash_conv
    from solvers.cfr.engine import CFRSolver

    kept = Path(keep_dir) / (game.replace("/", "_") + ".npz") if keep_dir else None
    out = {"game": game}
    if kept is not None and kept.exists():
        tree = GameTree.load(kept)
    else:
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        out["compile_load"] = os.getloadavg()[0]
        w, c = time.perf_counter(), time.process_time()
        tree = compile_game(game, use_cache=False, max_nodes=10**9)
        out.update(compile_wall_s=time.perf_counter() - w, compile_cpu_s=time.process_time() - c,
                   rss_before_gb=rss_before, compile_peak_rss_gb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
        out["compile_nodes_per_s"] = tree.num_nodes / out["compile_wall_s"]
        if kept is not None:
            kept.parent.mkdir(parents=True, exist_ok=True)
            tree.save(kept)
    out.update(nodes=tree.num_nodes, infosets=tree.num_infosets, tree_bytes_per_node=tree.nbytes() / tree.num_nodes,
               tree_gb=tree.nbytes() / 2**30, load_before=os.getloadavg()[0])
    # CFR+ timing interleaved over rounds (1 thread, 2 threads, 1, 2, ...) on one solver, so both
    # thread counts see the same load; the minimum per thread count is reported.
    iterations = max(iterations, min(2000, math.ceil(MIN_TIMED_NODE_ITERATIONS / tree.num_nodes)))
    out["timed_iterations"] = iterations
    solver = CFRSolver(tree, rule="cfr+")
    solver.step()  # compiles / warms the kernels and the index arrays
    times = {1: [], 2: []}
    for _ in range(ROUNDS):
        for threads in (1, 2):
            fast.set_threads(threads)
            times[threads].append(_timed(lambda s=solver: [s.step() for _ in range(iterations)], 1))
    for threads in (1, 2):
        wall, cpu = min(times[threads])
        out[f"cfr_plus_ms_{threads}t"] = 1e3 * wall / iterations
        out[f"cfr_plus_cpu_ms_{threads}t"] = 1e3 * cpu / iterations
        out[f"cfr_plus_median_ms_{threads}t"] = 1e3 * float(np.median([w for w, _ in times[threads]])) / iterations
    avg = solver.average_policy()
    del solver
    for threads in (1, 2):
        fast.set_threads(threads)
        wall, cpu = _timed(lambda a=avg, t=threads: out.__setitem__(f"nash_conv_{t}t", nash_conv(tree, a)), 2)
        out[f"nash_conv_s_{threads}t"], out[f"nash_conv_cpu_s_{threads}t"] = wall, cpu
    # Bit-identity: two fresh short runs, one per thread count (digests, not copies: on the
    # largest game each state is ~1 GB).
    digests = {}
    for threads in (1, 2):
        fast.set_threads(threads)
        solver = CFRSolver(tree, rule="cfr+")
        for _ in range(3):
            solver.step()
        digests[threads] = {k: hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()
                            for k, v in solver.state_dict().items()}
        del solver
    out["threads_bit_identical"] = digests[1] == digests[2]
    out["nash_conv_bit_identical"] = out["nash_conv_1t"] == out["nash_conv_2t"]
    out["speedup_2t"] = out["cfr_plus_ms_1t"] / out["cfr_plus_ms_2t"]
    out["nash_conv_speedup_2t"] = out["nash_conv_s_1t"] / out["nash_conv_s_2t"]
    out["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    out["load_after"] = os.getloadavg()[0]
    if game == OPENSPIEL_GAME:
        out.update(openspiel_cfr_plus(game, tree, 2))
    return out


def openspiel_cfr_plus(game: str, tree, iterations: int) -> dict:
    """OpenSpiel's C++ CFRPlusSolver, same game and iterations; NashConv compared with ours."""
    import pyspiel

    import solvers.fast as fast
    from solvers.best_response import nash_conv
    from solvers.cfr.engine import CFRSolver

    os_game = pyspiel.load_game(game)
    w, c = time.perf_counter(), time.process_time()
    theirs = pyspiel.CFRPlusSolver(os_game)
    setup = time.perf_counter() - w
    walls = []
    for _ in range(iterations):
        t = time.perf_counter()
        theirs.evaluate_and_update_policy()
        walls.append(time.perf_counter() - t)
    cpu = time.process_time() - c
    fast.set_threads(1)
    ours = CFRSolver(tree, rule="cfr+")
    for _ in range(iterations):
        ours.step()
    diff = abs(pyspiel.nash_conv(os_game, theirs.average_policy()) - nash_conv(tree, ours.average_policy()))
    return {"openspiel_cfr_plus_ms": 1e3 * sum(walls) / iterations, "openspiel_setup_s": setup,
            "openspiel_cpu_ms": 1e3 * cpu / iterations, "openspiel_nash_conv_abs_diff": diff}


def run_child(game: str, iterations: int, keep_dir: str | None = None) -> dict:
    code = ("import json, sys; sys.path.insert(0, %r); sys.path.insert(0, %r); import scale_battleship as s; "
            "print('RESULT' + json.dumps(s.measure(%r, %d, %r)))" % (str(ROOT), str(ROOT / "experiments"), game,
                                                                     iterations, keep_dir))
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT")), None)
    if line is None:
        return {"game": game, "error": proc.stderr[-2000:]}
    return json.loads(line[len("RESULT"):])


def merged(rows: list[dict], stem: str) -> list[dict]:
    """``rows`` over the results already saved under ``stem`` (a game measured again replaces
    its row; failed measurements never replace a good one), ordered by size."""
    path = RESULTS / f"{stem}.json"
    old = {r["game"]: r for r in json.loads(path.read_text())["rows"]} if path.exists() else {}
    for r in rows:
        prev = old.get(r["game"], {})
        if "error" not in r and "compile_wall_s" not in r and "compile_wall_s" in prev:
            r = {**{k: prev[k] for k in COMPILE_KEYS if k in prev}, **r}  # a kept tree: its compile metrics
        if "error" not in r or r["game"] not in old:
            old[r["game"]] = r
    return sorted(old.values(), key=lambda r: r.get("nodes", float("inf")))


def _median_speedup(r: dict) -> str:
    if "cfr_plus_median_ms_2t" not in r:
        return "-"
    return f"{r['cfr_plus_median_ms_1t'] / r['cfr_plus_median_ms_2t']:.2f}x"


def write_outputs(rows: list[dict], stem: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    rows = merged(rows, stem)
    (RESULTS / f"{stem}.json").write_text(json.dumps({"machine": machine(), "rows": rows}, indent=1))
    lines = [f"# Exact CFR at scale ({machine()['cpus']} cores, {machine()['mem_gb']:.0f} GB, shared machine)", "",
             "| game | nodes | compile s (CPU s) | nodes/s | peak RSS GB (before) | tree B/node | CFR+ ms/it 1t (CPU) "
             "| CFR+ ms/it 2t (CPU) | speed-up (of medians) | 1t == 2t | NashConv s 1t / 2t (speed-up) | load |", "|" + "---|" * 12]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['game']} | failed: {r['error'].splitlines()[-1] if r['error'] else '?'} |")
            continue
        lines.append(
            f"| `{r['game']}` | {r['nodes']:,} | {r['compile_wall_s']:.1f} ({r['compile_cpu_s']:.1f}) | "
            f"{r['compile_nodes_per_s']:,.0f} | {r['compile_peak_rss_gb']:.2f} ({r['rss_before_gb']:.2f}) | "
            f"{r['tree_bytes_per_node']:.1f} | {r['cfr_plus_ms_1t']:.1f} ({r['cfr_plus_cpu_ms_1t']:.1f}) | "
            f"{r['cfr_plus_ms_2t']:.1f} ({r['cfr_plus_cpu_ms_2t']:.1f}) | {r['speedup_2t']:.2f}x ({_median_speedup(r)}) | "
            f"{r['threads_bit_identical'] and r.get('nash_conv_bit_identical', True)} | {r['nash_conv_s_1t']:.2f} / "
            f"{r['nash_conv_s_2t']:.2f} ({r['nash_conv_s_1t'] / r['nash_conv_s_2t']:.2f}x) | "
            f"{r['load_before']:.1f}-{r['load_after']:.1f} |")
    for r in rows:
        if "openspiel_cfr_plus_ms" in r:
            lines += ["", f"OpenSpiel C++ CFRPlusSolver on `{r['game']}`: {r['openspiel_cfr_plus_ms']:.0f} ms/iteration "
                      f"(CPU {r['openspiel_cpu_ms']:.0f} ms, setup {r['openspiel_setup_s']:.1f} s) vs ours "
                      f"{r['cfr_plus_ms_1t']:.1f} ms on 1 thread: {r['openspiel_cfr_plus_ms'] / r['cfr_plus_ms_1t']:.0f}x; "
                      f"NashConv after 2 iterations differs by {r['openspiel_nash_conv_abs_diff']:.1e}: battleship's "
                      "exact ties make regret matching+ depend on the summation order, so the two runs part at "
                      "iteration 2 (docs/cfr.md, 'Scale'); each NashConv is exact for its own policy."]
    lines += ["", f"CFR+ times: minimum over {ROUNDS} rounds that alternate 1 and 2 threads on one solver (each "
              "timing at least 3 iterations and 5e7 node-iterations); CPU "
              "time of the same calls in parentheses. NashConv: exact, of the average policy, 1 and 2 threads. "
              "1t == 2t: CFR+ iterates (regrets, averages, policy after 3 iterations of two fresh runs) and the "
              "NashConv are bit-identical with 1 and 2 threads. Load = 1-minute load average before / after the "
              "game's measurements. The kernel schedules by session (autogroup: "
              f"sched_autogroup_enabled={_autogroup()}), so a 2-thread wall-clock speed-up is only measurable "
              "while no other session is busy: compare the load column."]
    (RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n")
    plot(rows, RESULTS / f"{stem}.png")


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if "error" not in r]
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for key, label in (("cfr_plus_ms_1t", "CFR+ 1 thread"), ("cfr_plus_ms_2t", "CFR+ 2 threads")):
        ax.loglog([r["nodes"] for r in ok], [r[key] for r in ok], "o-", label=label)
    os_rows = [r for r in ok if "openspiel_cfr_plus_ms" in r]
    if os_rows:
        ax.loglog([r["nodes"] for r in os_rows], [r["openspiel_cfr_plus_ms"] for r in os_rows], "s", label="OpenSpiel C++ CFR+")
    ax.set_xlim(1e3, 2e8)
    ax.set_xlabel("tree nodes")
    ax.set_ylabel("ms per CFR+ iteration")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def _autogroup() -> str:
    try:
        return Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip()
    except OSError:
        return "?"


def machine() -> dict:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cpus": os.cpu_count(), "mem_gb": mem, "python": sys.version.split()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", choices=["all", "small", "big"], default="all")
    parser.add_argument("--game", action="append", help="measure only these game strings (repeatable)")
    parser.add_argument("--iterations", type=int, default=3, help="CFR+ iterations per timing")
    parser.add_argument("--stem", default="scale_battleship")
    parser.add_argument("--keep", metavar="DIR", help="save compiled trees in DIR and reuse them on later runs "
                        "(the compile metrics of the run that compiled them are kept)")
    args = parser.parse_args()
    games = args.game or {"all": SMALL + BIG, "small": SMALL, "big": BIG}[args.games]
    rows = []
    for game in games:
        print(f"measuring {game} ...", flush=True)
        rows.append(run_child(game, args.iterations, args.keep))
        print(json.dumps(rows[-1]), flush=True)
        write_outputs(rows, args.stem)


if __name__ == "__main__":
    main()
