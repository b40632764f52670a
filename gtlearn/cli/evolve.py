"""``gtlearn evolve``: LLM-driven program search for CFR rules and PSRO meta-solvers.

Verbs: run | resume | status | best | lineage | replay | distill (docs/evolve.md, Configuration).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(name="evolve", help="Program search (AlphaEvolve-style) for CFR rules and PSRO meta-solvers.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


def _echo(line: str) -> None:
    typer.echo(line, err=True)


@app.command("run")
def run(
    config: Path = typer.Argument(..., help="Campaign YAML (e.g. experiments/campaigns/cfr_rules.yaml)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run directory (default runs/evolve-<config>-<time>)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Override run.seed."),
    max_evaluated: Optional[int] = typer.Option(None, "--max-evaluated", help="Override run.max_evaluated."),
    slots: Optional[int] = typer.Option(None, "--slots", help="Override executor.slots."),
    resume: bool = typer.Option(False, "--resume", help="Continue the campaign in --out if it holds one (else start it)."),
    unsafe_sandbox: bool = typer.Option(False, "--unsafe-sandbox",
                                        help="Run candidates under a weak sandbox profile when no strong one works here."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No per-candidate lines."),
) -> None:
    """Start a campaign; prints one line per evaluated candidate, then the score table."""
    from evolve.controller import DB_NAME, Controller
    from gtlearn.cli.common import check_resume_flags, check_writable, default_out
    from gtlearn.cli.errors import resumable

    cfg = _campaign_config(config, seed, max_evaluated, slots, unsafe_sandbox)
    check_resume_flags(resume, False, out)
    out = check_writable(out or default_out("evolve", Path(config).stem))
    echo = None if quiet else _echo
    resumed = _holds_run(out / DB_NAME) and resume  # read first: an unreadable file is one line, not a traceback
    if resumed:
        _same_config(out / DB_NAME, cfg, config)
    c = Controller(out, cfg, resume=resumed, echo=echo, unsafe=unsafe_sandbox)
    resumable(out)
    _drive(c, resumed)
    _finish(c, out)


def _campaign_config(config: Path, seed, max_evaluated, slots, unsafe: bool) -> dict:
    """The campaign file with the command line's overrides, validated as a whole."""
    from evolve import config as cfgmod
    from gtlearn.cli.common import positive

    if seed is not None:
        positive("seed", seed, allow_zero=True, maximum=2**32 - 1)
    if max_evaluated is not None:
        positive("max-evaluated", max_evaluated)
    if slots is not None:
        positive("slots", slots, maximum=4096)
    raw = cfgmod.load(config)
    overrides = {("run", "seed"): seed, ("run", "max_evaluated"): max_evaluated, ("executor", "slots"): slots}
    for (section, key), value in overrides.items():
        if value is not None:
            raw[section][key] = value
    raw["sandbox"]["unsafe"] = bool(unsafe or raw["sandbox"]["unsafe"])
    return cfgmod.validate(raw)


def _holds_run(db: Path) -> bool:
    """Whether ``db`` holds a campaign; a file that is not a campaign database is the user's to
    move away (one line saying so, not a traceback)."""
    import sqlite3

    from evolve.controller import holds_run
    from gtlearn.core.errors import GtlearnError

    try:
        return holds_run(db)
    except (sqlite3.DatabaseError, GtlearnError) as exc:
        raise GtlearnError(f"{db} is not a readable campaign database ({exc}); move it away or choose another --out") from None


def _same_config(db: Path, cfg: dict, config: Path) -> None:
    """`run --resume` continues only the campaign its config describes; a changed config is
    `evolve resume --force-config`'s decision."""
    import sqlite3

    from evolve import config as cfgmod
    from gtlearn.core.errors import GtlearnError

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        stored = conn.execute("SELECT config_sha FROM runs LIMIT 1").fetchone()[0]
    finally:
        conn.close()
    if stored != cfgmod.sha(cfg):
        raise GtlearnError(f"{db.parent} holds a campaign with another config than {config}; continue it with "
                           f"`gtlearn evolve resume {db.parent}` (add --config {config} --force-config to switch) "
                           "or choose another --out")


def _check_program_id(program_id: int) -> None:
    """Program ids are positive SQLite integers (a larger one would not even reach the query)."""
    from gtlearn.core.errors import GtlearnError

    if not 0 < program_id < 2**63:
        raise GtlearnError(f"no program {program_id}: program ids are positive integers (see `gtlearn evolve status`)")


def _drive(c, resume: bool) -> None:
    import asyncio

    asyncio.run(c.run_async(resume=resume))


@app.command("resume")
def resume(
    run_dir: Path = typer.Argument(..., help="Run directory of the campaign."),
    config: Optional[Path] = typer.Option(None, "--config", help="Check (or with --force-config, replace) the config."),
    force_config: bool = typer.Option(False, "--force-config", help="Continue although the config changed."),
    hard_stop: bool = typer.Option(False, "--hard-stop", help="At a budget cap, abort instead of draining the queue."),
    unsafe_sandbox: bool = typer.Option(False, "--unsafe-sandbox",
                                        help="Run candidates under a weak sandbox profile when no strong one works here."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", hidden=True, help="The run directory again (accepted for symmetry)."),
    _resume: bool = typer.Option(False, "--resume", hidden=True, help="Accepted for symmetry with `evolve run --resume`."),
) -> None:
    """Continue a campaign after a crash or a stop: nothing finished is lost, nothing is evaluated twice."""
    from evolve import config as cfgmod
    from evolve.controller import DB_NAME, Controller
    from gtlearn.cli.errors import resumable
    from gtlearn.core.errors import GtlearnError

    if out is not None and out.resolve() != run_dir.resolve():
        raise GtlearnError(f"--out {out} is not the run directory {run_dir}")
    if (run_dir / DB_NAME).exists():
        _holds_run(run_dir / DB_NAME)  # a file that is not a campaign database: one line saying what to do
    cfg = cfgmod.load(config) if config else None
    if cfg is not None and unsafe_sandbox:
        cfg["sandbox"]["unsafe"] = True
    c = Controller(run_dir, cfg, resume=True, force_config=force_config, echo=None if quiet else _echo,
                   hard_stop=hard_stop, unsafe=unsafe_sandbox)
    resumable(run_dir)
    _drive(c, True)
    _finish(c, run_dir)


def _finish(c, out) -> None:
    from gtlearn.reports import write_campaign_outputs

    s = write_campaign_outputs(c.db, out)
    typer.echo((Path(out) / "scores.md").read_text())
    b = s["best"]
    if b.get("program_id") is not None:
        kind = "champion" if b["is_champion"] else "public leader (no champion promoted)"
        typer.echo(f"best: #{b['program_id']} ({kind}); public {b['public']['fitness']:+.4f}"
                   + (f", held-out {b['private']['fitness']:+.4f}" if b.get("private") else ""))
        f = Path(out) / "best.py"
        typer.echo(f"program: {f} ({c.task.load_hint(f)})")
    typer.echo(f"run directory: {out}")


@app.command("status")
def status(run_dir: Path = typer.Argument(...), as_json: bool = typer.Option(False, "--json")) -> None:
    """Counts by state, budget use, island bests and stagnation, sandbox profile."""
    from evolve.report import open_db
    from evolve.report import status as st

    s = st(open_db(run_dir))
    if as_json:
        typer.echo(json.dumps(s, indent=2))
        return
    typer.echo(f"run {s['run_id']} ({s['status']}), sandbox {s['sandbox_profile']}")
    typer.echo("states: " + ", ".join(f"{k} {v}" for k, v in sorted(s["counts"].items())) + f"; evaluated {s['evaluated']}, finished {s['finished']}")
    b = s["budget_use"]
    typer.echo(f"budget: {b['llm_calls']} LLM calls, {b['tokens']} tokens, ${b['usd']:.4f}, eval CPU {b['eval_cpu_hours']:.3f} h, wall {b['wall_hours']:.3f} h")
    isl = s["islands"]
    for i, (bf, since) in enumerate(zip(isl["best"] or [], isl["since_improvement"] or [])):
        typer.echo(f"island {i}: best {'-' if bf is None else format(bf, '+.4f')}, {since}/{s['stagnation']} children since improvement")
    typer.echo(f"island resets: {isl['resets']}")


@app.command("best")
def best(run_dir: Path = typer.Argument(...), code: bool = typer.Option(False, "--code", help="Print the program.")) -> None:
    """The champion (held-out gated), with public and private metrics and its diff from the seed."""
    from evolve.report import best as b_
    from evolve.report import open_db
    from evolve.tasks import make_task

    db = open_db(run_dir)
    b = b_(db)
    baseline = make_task(db.run_config()).baseline_name
    if b.get("program_id") is None:
        typer.echo("no program has been evaluated yet")
        return
    typer.echo(f"#{b['program_id']} ({'champion' if b['is_champion'] else 'public leader; no champion promoted yet'})")
    for label, m in (("public (training)", b["public"]), ("private (held-out)", b["private"])):
        if m is None:
            typer.echo(f"{label}: -")
            continue
        typer.echo(f"{label}: fitness {m['fitness']:+.4f}")
        games = m.get("games") or (m.get("seeds") or [{}])[0].get("games", {})
        for g, v in games.items():
            typer.echo(f"  {g}: exploitability {v['expl']:.3e} vs {baseline} {v['baseline']:.3e} at T={v['iterations']} ({v['fitness']:+.3f})")
    typer.echo(b["code"] if code else b["diff_from_seed"])


@app.command("lineage")
def lineage(run_dir: Path = typer.Argument(...), program_id: int = typer.Argument(...)) -> None:
    """Ancestry of a program with each step's patch and fitness change."""
    from evolve.report import lineage as lin
    from evolve.report import open_db

    _check_program_id(program_id)
    for step in lin(open_db(run_dir), program_id):
        f = "-" if step["public_fitness"] is None else f"{step['public_fitness']:+.4f}"
        d = "" if step["fitness_change"] is None else f" ({step['fitness_change']:+.4f})"
        typer.echo(f"#{step['id']} gen {step['generation']} {step['state']} fitness {f}{d} [{step['patch_kind']}]")
        if step["diff"]:
            typer.echo(step["diff"])


@app.command("replay")
def replay(
    run_dir: Path = typer.Argument(..., help="A finished campaign whose LLM calls are the cassette."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Where the replayed campaign goes (default RUN_DIR-replay)."),
) -> None:
    """Re-run a campaign from its recorded LLM answers (strict) and compare programs and scores."""
    from evolve.replaying import replay_run
    from gtlearn.cli.common import check_writable

    out = check_writable(out or Path(str(run_dir).rstrip("/") + "-replay"))
    res = replay_run(run_dir, out, echo=_echo)
    typer.echo(json.dumps(res, indent=2))
    if not res["identical"]:
        raise typer.Exit(1)


@app.command("distill")
def distill(
    run_dir: Path = typer.Argument(...),
    program_id: Optional[int] = typer.Argument(None, help="Program to distill (default: the champion / leader)."),
    tol: float = typer.Option(0.05, "--tol", help="Keep an ablation if private fitness drops by at most this much."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Where to write distilled.py and distill.md (default RUN_DIR)."),
    max_evals: Optional[int] = typer.Option(None, "--max-evals", help="Stop after this many ablation evaluations."),
    unsafe_sandbox: bool = typer.Option(False, "--unsafe-sandbox",
                                        help="Run the ablations under a weak sandbox profile when no strong one works here."),
) -> None:
    """Greedy ablation to a minimal core, re-scored on training and held-out games."""
    import math

    from evolve.distill import distill_program
    from gtlearn.cli.common import check_writable, positive
    from gtlearn.core.errors import GtlearnError

    if max_evals is not None:
        positive("max-evals", max_evals)
    if program_id is not None:
        _check_program_id(program_id)
    if out is not None:
        check_writable(out)
    if not (math.isfinite(tol) and tol >= 0):
        raise GtlearnError(f"--tol must be a finite number >= 0, got {tol}")
    res = distill_program(run_dir, program_id, tol=tol, out=out or run_dir, echo=_echo, max_evals=max_evals,
                          unsafe=unsafe_sandbox)
    typer.echo(res["table"])
    typer.echo(f"minimal program: {res['path']}")


from gtlearn.cli.evolve_report import evolve_report  # noqa: E402  (the HTML report, its own module)

app.command("report")(evolve_report)
