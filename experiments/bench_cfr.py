"""Benchmark: CFR+ iteration and exact NashConv time, gtlearn vs OpenSpiel (C++) and LiteEFG.

Times, in one process and interleaved (medians over rounds; the cores may be shared):
- one CFR+ iteration: gtlearn (Numba backend, and the NumPy reference), OpenSpiel's C++
  ``pyspiel.CFRPlusSolver`` and LiteEFG's CFR+ graph;
- NashConv of one fixed policy: gtlearn vs OpenSpiel's C++ ``pyspiel.nash_conv`` (values compared);
on leduc_poker, liars_dice, kuhn_poker(players=4) and leduc_poker(players=3); then 1000 VAD-CFR
iterations on leduc_poker(players=3) with exact exploitability every 10 iterations.

Writes experiments/results/bench_cfr.md and .json. Needs ``pip install liteefg`` for the LiteEFG
column (skipped with a note otherwise). ``gtlearn bench`` runs the same code.

    python experiments/bench_cfr.py                 # full run (~10 minutes on 2 cores)
    python experiments/bench_cfr.py --quick         # leduc_poker only, no VAD-CFR run
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gtlearn.bench import BenchConfig, render_markdown, run_benchmark  # noqa: E402
from gtlearn.core.io import atomic_write_json  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="leduc_poker only, 2 rounds, no VAD-CFR run")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--vad-iterations", type=int, default=1000)
    ap.add_argument("--vad-only", action="store_true", help="only the VAD-CFR timing run")
    ap.add_argument("--out", type=Path, default=RESULTS / "bench_cfr.md")
    args = ap.parse_args(argv)
    cfg = BenchConfig(rounds=args.rounds, vad_iterations=args.vad_iterations)
    if args.vad_only:
        cfg = BenchConfig(games=(), vad_iterations=args.vad_iterations)
    if args.quick:
        cfg = BenchConfig(games=("leduc_poker",), rounds=2, vad_iterations=0)
    report = run_benchmark(cfg, log=lambda msg: print(msg, flush=True))
    text = render_markdown(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    atomic_write_json(args.out.with_suffix(".json"), report)
    print(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
