"""CFR+ iteration and NashConv timings against OpenSpiel (C++) and LiteEFG, in one run.

Used by ``experiments/bench_cfr.py`` and ``gtlearn bench``. Peers:

- OpenSpiel's C++ ``pyspiel.CFRPlusSolver`` (one ``evaluate_and_update_policy()`` call per
  iteration: alternating RM+ passes with linear averaging) and C++ ``pyspiel.nash_conv``,
  timed on **the same policy** as ours (our average policy, converted once, outside the timer);
  the two NashConv values are compared as a correctness check.
- LiteEFG (``pip install liteefg``): its CFR+ baseline graph on its ``OpenSpielEnv`` with
  enumeration, one ``update_graph`` + ``update_strategy`` (linear averaging) per iteration. Its
  stock graph updates players 1 and 2 only; for N > 2 players we subclass it to update all N.

The cores are shared and timings are noisy, so every solver is timed in the same process,
interleaved round by round (the order rotates each round), and the median per-iteration time
over rounds is reported (with the minimum). A solver whose iteration is slow is timed over fewer
iterations per round (at least 1); the report states the counts.
"""

from __future__ import annotations

import contextlib
import io
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass, field

import numpy as np

DEFAULT_GAMES = ("leduc_poker", "liars_dice", "kuhn_poker(players=4)", "leduc_poker(players=3)")
TARGET_GAMES = ("leduc_poker", "liars_dice")


@dataclass
class BenchConfig:
    games: tuple[str, ...] = DEFAULT_GAMES
    rounds: int = 5
    round_budget_s: float = 1.0  # wall time per solver per round; sets the iterations per round
    max_peer_seconds: float = 10.0  # a peer whose single iteration (or NashConv) exceeds this is timed once
    peers: tuple[str, ...] = ("openspiel", "liteefg")
    reference: bool = True  # also time our NumPy reference backend
    vad_game: str = "leduc_poker(players=3)"
    vad_iterations: int = 1000  # 0 skips the VAD-CFR run
    vad_eval_every: int = 10


@dataclass
class Timing:
    per_iter_s: float  # median over rounds (wall clock)
    min_s: float
    iters_per_round: int
    rounds: int
    note: str = ""
    cpu_s: float | None = None  # median over rounds of this process's CPU time (not waiting for a core)


@dataclass
class GameResult:
    game: str
    nodes: int
    infosets: int
    bytes_per_node: float
    cfr: dict[str, Timing] = field(default_factory=dict)
    nash_conv: dict[str, Timing] = field(default_factory=dict)
    nash_conv_values: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def _median_timing(samples: list[float], k: int, note: str = "", cpu: list[float] | None = None) -> Timing:
    return Timing(statistics.median(samples), min(samples), k, len(samples), note,
                  statistics.median(cpu) if cpu else None)


class _Ours:
    def __init__(self, tree, backend):
        from solvers.cfr.engine import CFRSolver

        self.solver = CFRSolver(tree, rule="cfr+", backend=backend)

    def step(self):
        self.solver.step()


class _OpenSpiel:
    def __init__(self, game):
        import pyspiel

        self.solver = pyspiel.CFRPlusSolver(game)

    def step(self):
        self.solver.evaluate_and_update_policy()


class _LiteEFG:
    def __init__(self, game):
        import LiteEFG as leg
        from LiteEFG.baselines.CFRplus import graph as CFRPlusGraph

        n = game.num_players()

        class AllPlayers(CFRPlusGraph):
            def update_graph(self, env):
                for p in range(1, n + 1):  # LiteEFG numbers players from 1
                    env.update(self.strategy, upd_player=p)

        with contextlib.redirect_stdout(io.StringIO()):  # its graph constructors print banners
            self.env = leg.OpenSpielEnv(game, traverse_type="Enumerate", regenerate=False)
            self.graph = CFRPlusGraph() if n == 2 else AllPlayers()
            self.env.set_graph(self.graph)

    def step(self):
        self.graph.update_graph(self.env)
        self.env.update_strategy(self.graph.current_strategy(), update_best=False)

    def exploitability(self):
        return self.env.exploitability(self.graph.current_strategy(), "linear-avg-iterate")


def _time_interleaved(fns: dict, cfg: BenchConfig, log) -> dict[str, Timing]:
    """Warm each solver up, size its per-round iteration count, then interleave rounds."""
    per_iter, ks, samples, once = {}, {}, {name: [] for name in fns}, set()
    cpu = {name: [] for name in fns}
    for name, fn in fns.items():
        fn()  # warm-up (JIT compilation, first-touch allocations)
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        est = time.perf_counter() - t0
        per_iter[name] = est
        ks[name] = int(np.clip(round(cfg.round_budget_s / max(est, 1e-9)), 1, 10_000))
        if est > cfg.max_peer_seconds:
            once.add(name)
            samples[name].append(est)
            cpu[name].append(time.process_time() - c0)
        log(f"    {name}: first timed iteration {est * 1e3:.3f} ms -> {ks[name]} per round")
    names = list(fns)
    for r in range(cfg.rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            if name in once:
                continue
            fn, k = fns[name], ks[name]
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(k):
                fn()
            samples[name].append((time.perf_counter() - t0) / k)
            cpu[name].append((time.process_time() - c0) / k)
    return {
        name: _median_timing(samples[name], 1 if name in once else ks[name],
                             "timed once (too slow to repeat)" if name in once else "", cpu[name])
        for name in names
    }


def bench_game(game_string: str, cfg: BenchConfig, log=print) -> GameResult:
    from games.openspiel import load_game
    from games.tree import compile_game
    from solvers.best_response import nash_conv, to_openspiel_policy
    from solvers.fast import available

    tree = compile_game(game_string)
    res = GameResult(game_string, tree.num_nodes, tree.num_infosets, tree.nbytes() / tree.num_nodes)
    log(f"{game_string}: {tree.num_nodes:,} nodes, {tree.num_infosets:,} infosets, {res.bytes_per_node:.1f} B/node")
    game = load_game(game_string)
    solvers = {}
    if available():
        solvers["ours (numba)"] = _Ours(tree, "numba")
    if cfg.reference or not available():
        solvers["ours (numpy)"] = _Ours(tree, "numpy")
    for peer, cls in (("openspiel", _OpenSpiel), ("liteefg", _LiteEFG)):
        if peer not in cfg.peers:
            continue
        label = "OpenSpiel C++ CFRPlusSolver" if peer == "openspiel" else "LiteEFG CFR+"
        try:
            t0 = time.perf_counter()
            solvers[label] = cls(game)
            log(f"    {label}: set up in {time.perf_counter() - t0:.1f} s")
        except Exception as exc:  # a missing or failing peer is reported, not fatal
            res.errors[label] = f"{type(exc).__name__}: {exc}"
            log(f"    {label}: unavailable ({res.errors[label]})")
    res.cfr = _time_interleaved({name: s.step for name, s in solvers.items()}, cfg, log)

    # NashConv of one fixed policy (our average policy), ours vs OpenSpiel's C++ nash_conv.
    ours = solvers.get("ours (numba)") or solvers["ours (numpy)"]
    policy = ours.solver.average_policy()
    fns = {}
    if available():
        fns["ours (numba)"] = lambda: nash_conv(tree, policy, backend="numba")
    if cfg.reference or not available():
        fns["ours (numpy)"] = lambda: nash_conv(tree, policy, backend="numpy")
    for name, fn in fns.items():
        res.nash_conv_values[name] = fn()
    if "openspiel" in cfg.peers:
        import pyspiel

        os_policy = pyspiel.TabularPolicy(to_openspiel_policy(tree, policy, game).to_dict())
        fns["OpenSpiel C++ nash_conv"] = lambda: pyspiel.nash_conv(game, os_policy)
        res.nash_conv_values["OpenSpiel C++ nash_conv"] = fns["OpenSpiel C++ nash_conv"]()
    res.nash_conv = _time_interleaved(fns, cfg, log)
    lite = solvers.get("LiteEFG CFR+")
    if lite is not None:
        t0 = time.perf_counter()
        lite.exploitability()
        res.nash_conv["LiteEFG exploitability (its own policy)"] = Timing(time.perf_counter() - t0, time.perf_counter() - t0, 1, 1,
                                                                         "for reference; not the same policy")
    return res


def bench_vad(cfg: BenchConfig, log=print) -> dict:
    """``cfg.vad_iterations`` iterations of VAD-CFR with exact
    exploitability every ``cfg.vad_eval_every`` iterations, timed end to end."""
    from games.tree import compile_game
    from gtlearn.core.driver import drive
    from solvers.cfr.engine import CFRSolver

    rule = "vad-cfr"
    t0 = time.perf_counter()
    tree = compile_game(cfg.vad_game)
    compile_s = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    result = drive(CFRSolver(tree, rule), cfg.vad_iterations, eval_every=cfg.vad_eval_every)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    out = {
        "game": cfg.vad_game, "rule": rule, "iterations": cfg.vad_iterations, "eval_every": cfg.vad_eval_every,
        "evaluations": len(result.iterations), "wall_s": wall, "cpu_s": cpu, "iterating_s": result.seconds_stepping,
        "evaluating_s": result.seconds_evaluating, "compile_or_load_s": compile_s,
        "final_exploitability": result.final_gap, "backend": result.solver.backend,
        "bytes_per_node": tree.nbytes() / tree.num_nodes, "nodes": tree.num_nodes,
    }
    log(f"{rule} x{cfg.vad_iterations} on {cfg.vad_game}: {wall:.1f} s wall "
        f"({result.seconds_stepping:.1f} s iterating, {result.seconds_evaluating:.1f} s evaluating), "
        f"final exploitability {result.final_gap:.3e}")
    return out


def machine_info() -> dict:
    import importlib.metadata as md

    info = {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
    try:
        with open("/proc/cpuinfo") as fh:
            info["cpu"] = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), "?")
    except OSError:
        info["cpu"] = platform.processor() or "?"
    for pkg in ("numpy", "numba", "open_spiel", "liteefg"):
        try:
            info[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            info[pkg] = "not installed"
    return info


def run_benchmark(cfg: BenchConfig, log=print) -> dict:
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    games = [bench_game(g, cfg, log) for g in cfg.games]
    vad = bench_vad(cfg, log) if cfg.vad_iterations > 0 else None
    return {
        "config": asdict(cfg), "machine": machine_info(), "load_before": load_before,
        "load_after": os.getloadavg(), "seconds": time.perf_counter() - t0,
        "games": [asdict(g) for g in games], "vad": vad,
    }


# -- report ------------------------------------------------------------------------------------


def _ms(t: dict | None) -> str:
    if t is None:
        return "-"
    s = f"{t['per_iter_s'] * 1e3:.3f}"
    return s + ("*" if t["rounds"] == 1 else "")


def _ours_key(d: dict) -> str:
    return "ours (numba)" if "ours (numba)" in d else "ours (numpy)"


def summary_rows(report: dict) -> list[dict]:
    """Per game: our times, the fastest peer and the ratios the targets are stated in."""
    rows = []
    for g in report["games"]:
        ours = g["cfr"][_ours_key(g["cfr"])]["per_iter_s"]
        peers = {k: v["per_iter_s"] for k, v in g["cfr"].items() if not k.startswith("ours")}
        best_peer = min(peers, key=peers.get) if peers else None
        nc_ours = g["nash_conv"][_ours_key(g["nash_conv"])]["per_iter_s"]
        nc_os = g["nash_conv"].get("OpenSpiel C++ nash_conv", {}).get("per_iter_s")
        ours_cpu = g["cfr"][_ours_key(g["cfr"])].get("cpu_s")
        peer_cpu = g["cfr"][best_peer].get("cpu_s") if best_peer else None
        rows.append({
            "game": g["game"], "cfr_ours_s": ours, "fastest_peer": best_peer,
            "cfr_speedup": peers[best_peer] / ours if best_peer else None,
            "cfr_cpu_speedup": peer_cpu / ours_cpu if (peer_cpu and ours_cpu) else None,
            "nash_conv_ours_s": nc_ours, "nash_conv_os_s": nc_os,
            "nash_conv_speedup": nc_os / nc_ours if nc_os else None,
        })
    return rows


def render_markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        "# CFR+ iteration and NashConv: gtlearn vs OpenSpiel (C++) and LiteEFG",
        "",
        f"Machine: {m['cpus']} CPU cores ({m['cpu']}), {m['platform']}, Python {m['python']}; "
        f"numpy {m['numpy']}, numba {m['numba']}, open_spiel {m['open_spiel']}, LiteEFG {m['liteefg']}. "
        f"No GPU. Load average before/after: {report['load_before'][0]:.2f} / {report['load_after'][0]:.2f} "
        "(the cores are shared with other jobs, so absolute times are noisy; every solver was timed in the "
        "same process, interleaved round by round, and the tables give medians over rounds).",
        "",
        f"Generated by `python experiments/bench_cfr.py` (or `gtlearn bench`) in {report['seconds']:.0f} s.",
        "",
        "## Targets",
        "",
        "Ratios are of wall-clock medians (the stated targets); the CPU-time ratio (this process's CPU time, "
        "which excludes waiting for a shared core) is given in parentheses as a load-insensitive cross-check.",
        "",
        "| game | CFR+ iteration, ours | fastest peer | peer / ours | target >= 10x | NashConv, ours | OpenSpiel C++ nash_conv | OpenSpiel / ours | target >= 10x |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += _summary_table(report) + _game_tables(report) + _vad_section(report)
    lines += [
        "`*` = timed once (a single iteration or evaluation took longer than "
        f"{report['config']['max_peer_seconds']:.0f} s).",
        "",
        "Notes: OpenSpiel's CFRPlusSolver and ours run the same algorithm (alternating RM+ passes, linear "
        "averaging; ours reproduces its trajectories to ~1e-12). LiteEFG's CFR+ graph is its own formulation "
        "(per-iteration averaging inside `update_strategy`); for N > 2 players its stock graph is extended to update "
        "all players. NashConv is timed on one fixed policy for both implementations (the OpenSpiel policy object is "
        "built once, outside the timer) and the values agree. LiteEFG's exploitability call is listed for reference "
        "only: it evaluates its own average policy.",
    ]
    return "\n".join(lines) + "\n"


def _summary_table(report: dict) -> list[str]:
    """One row per game: ours against the fastest peer, with the targets."""
    out: list[str] = []
    for r in summary_rows(report):
        tgt = r["game"] in TARGET_GAMES
        cfr_ok = ("met" if r["cfr_speedup"] >= 10 else "NOT met") if (tgt and r["cfr_speedup"]) else "(no target)"
        nc_ok = ("met" if r["nash_conv_speedup"] >= 10 else "NOT met") if (tgt and r["nash_conv_speedup"]) else "(no target)"
        cfr_ratio = "-" if r["cfr_speedup"] is None else f"{r['cfr_speedup']:.1f}x" + (
            f" ({r['cfr_cpu_speedup']:.1f}x CPU)" if r["cfr_cpu_speedup"] else "")
        nc_peer = (f"{r['nash_conv_os_s'] * 1e3:.1f} ms | {r['nash_conv_speedup']:.0f}x | {nc_ok} |"
                   if r["nash_conv_os_s"] else "- | - | - |")
        out.append(f"| {r['game']} | {r['cfr_ours_s'] * 1e3:.3f} ms | {r['fastest_peer'] or '-'} | {cfr_ratio} | {cfr_ok} | "
                     f"{r['nash_conv_ours_s'] * 1e3:.3f} ms | {nc_peer}")
    return out


def _game_tables(report: dict) -> list[str]:
    """Per game: CFR+ and NashConv timings of every solver."""
    out: list[str] = []
    out += ["", "## CFR+ time per iteration (ms; median over rounds, minimum in parentheses)", ""]
    for g in report["games"]:
        out += [
            f"### {g['game']}: {g['nodes']:,} nodes, {g['infosets']:,} infosets, compiled tree {g['bytes_per_node']:.1f} bytes/node",
            "",
            "| solver | CFR+ ms/iteration (min) | CPU ms/iteration | iterations x rounds | note |",
            "|---|---|---|---|---|",
        ]
        for name, t in g["cfr"].items():
            cpu = f"{t['cpu_s'] * 1e3:.3f}" if t.get("cpu_s") else "-"
            out.append(f"| {name} | {t['per_iter_s'] * 1e3:.3f} ({t['min_s'] * 1e3:.3f}) | {cpu} | "
                         f"{t['iters_per_round']} x {t['rounds']} | {t['note']} |")
        out += ["", "| NashConv of our average policy | ms | value | repetitions x rounds | note |", "|---|---|---|---|---|"]
        for name, t in g["nash_conv"].items():
            val = g["nash_conv_values"].get(name)
            out.append(f"| {name} | {t['per_iter_s'] * 1e3:.3f} ({t['min_s'] * 1e3:.3f}) | "
                         f"{'' if val is None else f'{val:.12g}'} | {t['iters_per_round']} x {t['rounds']} | {t['note']} |")
        for name, err in g["errors"].items():
            out.append(f"\n{name}: not timed ({err})")
        out.append("")
    return out


def _vad_section(report: dict) -> list[str]:
    """The VAD-CFR end-to-end timing, when it ran."""
    out: list[str] = []
    v = report.get("vad")
    if v:
        ok = "met" if v["wall_s"] < 600 else "NOT met"
        out += [
            f"## {v['rule']}: {v['iterations']} iterations on {v['game']}, exact exploitability every {v['eval_every']}",
            "",
            f"- wall time {v['wall_s']:.1f} s (target < 600 s: {ok}): {v['iterating_s']:.1f} s iterating "
            f"({v['iterating_s'] / v['iterations'] * 1e3:.1f} ms/iteration), {v['evaluating_s']:.1f} s in "
            f"{v['evaluations']} exact evaluations ({v['evaluating_s'] / max(v['evaluations'], 1) * 1e3:.0f} ms each); "
            f"tree compile/load {v['compile_or_load_s']:.1f} s (not included); backend {v['backend']}; "
            f"CPU time of this process {v.get('cpu_s', float('nan')):.1f} s (wall minus time spent waiting for the "
            "shared cores).",
            f"- final exploitability (NashConv/N) {v['final_exploitability']:.4e}.",
            f"- compiled tree: {v['nodes']:,} nodes, {v['bytes_per_node']:.1f} bytes/node (goal < 100).",
            "",
        ]
    return out
