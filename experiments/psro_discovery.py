"""PSRO meta-solver comparison on the CFR-discovery games (arXiv:2602.16928), over replicas.

Games: the v1 suite (``games.openspiel.TRAINING_GAMES + TEST_GAMES``) plus the Blotto and
Battleship variants of ``experiments/discovery_games.py``. Meta-solvers: uniform, nash
(two-player games only), prd, rm, alpharank (each in both slots) and SHOR (shor-train /
shor-eval). Exact best-response oracle with uniform tie-breaking, exact meta-game payoffs,
metric e_K = NashConv/N of the evaluation solver's profile (docs/psro.md); the paper's protocol
K = 100 on every game.

Speed settings (none changes the algorithm): best responses on the Numba kernels, the meta-game
in the cheaper of the dense and factored forms (``PSROConfig(meta_form="auto")``), PRD / RM /
SHOR on their Numba kernels, PRD / SHOR / alpha-rank on the payoff-identical strategies merged
(exact lumping, docs/psro.md; RM unmerged because round-off steers it). Each summary records
the wall and CPU seconds of its invocation. Every (game, solver) cell runs once per replica
(``experiments/replicas.py``: oracle backend, relabelled tree, payoffs perturbed by 1e-12, the
meta-game's strategy order); the report (``experiments/psro_discovery_report.py``) gives the
median and range per cell and a verdict per claim.

Each cell runs in its own run directory under ``runs/psro_discovery/`` with a checkpoint every
``--checkpoint-every`` iterations, and its summary is cached there as JSON, so an interrupted
sweep resumes where it stopped::

    python experiments/psro_discovery.py --jobs 2                 # every replica, 2 cells at a time (many hours)
    python experiments/psro_discovery.py --replicas base --games kuhn_poker --solvers shor,prd
    python experiments/psro_discovery.py --report-only

The BLAS thread count is part of a cell's arithmetic: NumPy's matrix products (the meta-game
payoffs of ``games.matrix.multilinear`` among them) run on OpenBLAS, which splits a product
differently with a different number of threads and so changes the last bits; RM's 100,000-step trajectories
amplify that (5-sided Liar's Dice, RM, replica perturb1: e_100 = 0.1163 with 2 OpenBLAS threads,
0.1193 with 1, whatever NUMBA_NUM_THREADS is; the Numba kernels sum in fixed orders). Give
``OPENBLAS_NUM_THREADS`` explicitly to reproduce a cell. Workers inherit the environment, so
with ``--jobs N`` on C cores set ``OPENBLAS_NUM_THREADS`` and ``NUMBA_NUM_THREADS`` to C/N to keep
them from oversubscribing the cores. The whole v1 sweep, one replica, on 2 cores::

    NUMBA_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python experiments/psro_discovery.py --games v1 --replicas perturb1 --jobs 2

A meta-solver that refuses a meta-game (alpharank above ``max_transitions``) ends its cell
early; the report shows the K it reached.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "experiments"))

from discovery_games import ALL_GAMES, EXTRA_GAMES, V1_GAMES, short, slug  # noqa: E402
from replicas import PSRO_REPLICAS, Replica, permuted_meta_solver, replica_tree  # noqa: E402

CACHE = ROOT / "runs" / "psro_discovery"
SOLVERS = ["uniform", "nash", "prd", "rm", "alpharank", "shor"]
# Cheapest first, by the CPU seconds one replica of every meta-solver took on a 2-core box
# (runs/psro_discovery/cost_note.md): Battleship 2x2 ~40 s ... 3p Blotto ~370 s, 4p Kuhn
# ~1,300 s, 3-player Leduc ~6,000 s (dense 3-player meta-game, 1.8M-node tree) last. Within a
# game, SOLVER_ORDER is cheapest first too (RM, unmerged, is the dearest everywhere).
ORDER = [EXTRA_GAMES[2], EXTRA_GAMES[0], "leduc_poker", V1_GAMES[6], V1_GAMES[2], "liars_dice(dice_sides=5)",
         "kuhn_poker(players=3)", EXTRA_GAMES[3], "liars_dice(dice_sides=6)", EXTRA_GAMES[1], "kuhn_poker(players=4)",
         "leduc_poker(players=3)"]
SOLVER_ORDER = ["uniform", "nash", "shor", "alpharank", "prd", "rm"]


def cell_path(game: str, solver: str, iterations: int, replica: str, cache: Path = CACHE) -> Path:
    return cache / f"{slug(game)}__{solver}__{iterations}__{replica}.json"


def make_config(solver: str, replica: Replica, meta_kwargs: dict | None = None):
    from solvers.psro import PSROConfig
    from solvers.psro.meta_solvers import make_meta_solver

    kw = dict(meta_kwargs or {})
    train = make_meta_solver(solver, "train", **kw)
    evaluate = make_meta_solver(solver, "eval", **kw)
    if replica.tie_seed is not None:
        train, evaluate = permuted_meta_solver(train, replica.tie_seed), permuted_meta_solver(evaluate, replica.tie_seed)
    return PSROConfig(train, evaluate, oracle_backend="numba" if replica.backend == "numba" else "numpy",
                      meta_form="auto")


def run_cell(tree, game: str, solver: str, iterations: int, replica: Replica, checkpoint_every: int,
             meta_kwargs: dict | None = None, run_dir: Path | None = None) -> dict:
    from gtlearn.core.driver import drive
    from gtlearn.core.errors import GtlearnError
    from gtlearn.core.run import Run
    from solvers.psro import PSROSolver

    tree, _ = replica_tree(tree, replica)
    psro = PSROSolver(tree, make_config(solver, replica, meta_kwargs))
    run_dir = run_dir or CACHE / "runs" / cell_path(game, solver, iterations, replica.name).stem
    config = {"game": game, "solver": solver, "replica": replica.describe(), "train": repr(psro.train_solver),
              "eval": repr(psro.eval_solver), "iterations": iterations, "meta_kwargs": meta_kwargs or {}}
    run = Run(run_dir, config, resume=(run_dir / "config.json").exists(), overwrite=True)
    t0, c0 = time.perf_counter(), time.process_time()
    status = "ok"
    try:
        drive(psro, iterations, run=run, log_initial=True, checkpoint_every=checkpoint_every,
              on_step=lambda s, rec: print(f"    k={s.iteration} e={s.gap().gap:.4e} {time.perf_counter() - t0:.0f}s",
                                           flush=True) if s.iteration % 10 == 0 else None)
    except GtlearnError as exc:  # e.g. alpha-rank refusing a meta-game above max_transitions
        status = f"stopped: {exc}"
    hist = psro.history
    steps = [getattr(s, "inner", s) for s in (psro.train_solver, psro.eval_solver)]
    return {
        "game": game, "solver": solver, "replica": replica.name, "iterations_requested": iterations, "status": status,
        "iterations": hist[-1].iteration, "curve": [r.exploitability for r in hist], "final": hist[-1].exploitability,
        "min_final": float(np.min([r.exploitability for r in hist])),
        "seconds_this_invocation": time.perf_counter() - t0,
        "cpu_seconds_this_invocation": time.process_time() - c0,
        "seconds": float(sum(r.seconds_train_meta + r.seconds_oracle + r.seconds_payoffs + r.seconds_eval_meta
                             + r.seconds_eval for r in hist)),
        "seconds_meta": float(sum(r.seconds_train_meta + r.seconds_eval_meta for r in hist)),
        "seconds_oracle": float(sum(r.seconds_oracle + r.seconds_eval for r in hist)),
        "seconds_payoffs": float(sum(r.seconds_payoffs for r in hist)),
        "meta_form": "dense" if psro.meta_game.dense else "factored", "train_meta": repr(psro.train_solver),
        "eval_meta": repr(psro.eval_solver), "num_players": tree.num_players,
        "inner_steps": [list(getattr(s, "steps_run", [])) for s in steps], "finished_at": time.time(),
    }


def _pending(games, solvers, iterations, replicas, cache: Path = CACHE) -> list[tuple[str, str, Replica]]:
    """The cells not cached yet (Nash only on 2-player games), in sweep order."""
    import pyspiel

    players = {game: pyspiel.load_game(game).num_players() for game in games}
    return [(game, solver, replica) for replica in replicas for game in games for solver in solvers
            if not cell_path(game, solver, iterations, replica.name, cache).exists()
            and not (solver == "nash" and players[game] != 2)]


def _cost_rank(game: str, solver: str = "") -> tuple[int, int]:
    """Expected cost order of a cell: game by ORDER, then solver by SOLVER_ORDER (names not in
    them rank as the cheapest)."""
    return (ORDER.index(game) if game in ORDER else -1, SOLVER_ORDER.index(solver) if solver in SOLVER_ORDER else -1)


def _dearest_first(cells: list[tuple[str, str, Replica]]) -> list[tuple[str, str, Replica]]:
    """Cells in decreasing expected cost: with several workers, the longest cells start first so
    that no core idles at the end while one long cell finishes (longest-processing-time-first
    scheduling)."""
    return sorted(cells, key=lambda cell: _cost_rank(cell[0], cell[1]), reverse=True)


@functools.lru_cache(maxsize=1)  # consecutive cells of one game share its compiled tree
def _tree(game: str):
    from games.tree import compile_game

    return compile_game(game)


def _run_and_cache(game: str, solver: str, iterations: int, replica: Replica, checkpoint_every: int,
                   cache: Path = CACHE) -> dict:
    from gtlearn.core.io import atomic_write_json

    print(f"[{replica.name}] {short(game)} / {solver} / K={iterations}", flush=True)
    path = cell_path(game, solver, iterations, replica.name, cache)
    out = run_cell(_tree(game), game, solver, iterations, replica, checkpoint_every, run_dir=cache / "runs" / path.stem)
    atomic_write_json(path, out)
    print(f"  [{replica.name}] {short(game)} / {solver}: final {out['final']:.4e} ({out['status']}) {out['seconds']:.0f}s "
          f"(meta {out['seconds_meta']:.0f}s, {out['meta_form']})", flush=True)
    return out


def sweep(games: list[str], solvers: list[str], iterations: int, replicas: list[Replica], checkpoint_every: int,
          max_seconds: float | None, jobs: int = 1, cache: Path = CACHE) -> None:
    """Every missing cell, cheapest game first; ``jobs`` > 1 runs cells in that many worker
    processes (each cell is independent and cached atomically, so workers never collide), the
    dearest cells first. Workers inherit the environment and keep its thread counts, so a cell
    gives the same numbers with any ``jobs`` (see the module docstring on OPENBLAS_NUM_THREADS)."""
    start = time.perf_counter()
    pending = _pending(games, solvers, iterations, replicas, cache)
    if jobs <= 1:
        for game, solver, replica in pending:
            if max_seconds is not None and time.perf_counter() - start > max_seconds:
                print("time budget of this invocation used up", flush=True)
                return
            _run_and_cache(game, solver, iterations, replica, checkpoint_every, cache)
        return
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    queue = _dearest_first(pending)
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        running = set()
        while queue or running:
            while queue and len(running) < jobs and (max_seconds is None or time.perf_counter() - start <= max_seconds):
                game, solver, replica = queue.pop(0)
                running.add(pool.submit(_run_and_cache, game, solver, iterations, replica, checkpoint_every, cache))
            if not running:
                print("time budget of this invocation used up", flush=True)
                return
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                future.result()  # a worker's error ends the sweep with its traceback


def load_cells(iterations: int, cache: Path = CACHE) -> dict:
    """cells[game][solver][replica] = cached summary."""
    cells: dict = {}
    for path in sorted(cache.glob(f"*__{iterations}__*.json")):
        run = json.loads(path.read_text())
        cells.setdefault(run["game"], {}).setdefault(run["solver"], {})[run["replica"]] = run
    return cells


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--games", default="all", help="all | v1 | extra | ';'-separated game strings")
    ap.add_argument("--solvers", default=",".join(SOLVER_ORDER))
    ap.add_argument("--replicas", default=",".join(r.name for r in PSRO_REPLICAS))
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--checkpoint-every", type=int, default=10)
    ap.add_argument("--max-hours", type=float, default=None, help="stop starting new cells after this long")
    ap.add_argument("--jobs", type=int, default=1, help="cells run at once, one worker process each")
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--stem", default="psro_discovery", help="report file names: experiments/results/STEM.{json,md,png}")
    ap.add_argument("--scope", default=None, help="one sentence saying what a partial sweep covers (top of the report)")
    ap.add_argument("--cache", type=Path, default=CACHE, help="where cells, run directories and checkpoints live")
    args = ap.parse_args(argv)
    games = {"all": ALL_GAMES, "v1": V1_GAMES, "extra": EXTRA_GAMES}.get(args.games, [g for g in args.games.split(";") if g])
    games = sorted(games, key=_cost_rank)
    by_name = {r.name: r for r in PSRO_REPLICAS}
    if not args.report_only:
        sweep(games, [s for s in args.solvers.split(",") if s], args.iterations,
              [by_name[n] for n in args.replicas.split(",") if n], args.checkpoint_every,
              None if args.max_hours is None else args.max_hours * 3600, args.jobs, args.cache)
    from psro_discovery_report import write_report

    write_report(load_cells(args.iterations, args.cache), args.iterations, args.cache / "runs", args.stem, args.scope)
    print(f"wrote experiments/results/{args.stem}.md")


if __name__ == "__main__":
    main()
