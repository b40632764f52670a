"""``gtlearn bench``: CFR+ iteration and NashConv timings against OpenSpiel (C++) and LiteEFG."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Optional

import typer

from gtlearn.cli.common import check_writable, positive, positive_number
from gtlearn.core.errors import GtlearnError


def bench(
    game: Optional[list[str]] = typer.Option(
        None, "--game", "-g",
        help="Game string (repeatable). Default: leduc_poker, liars_dice, kuhn_poker(players=4), leduc_poker(players=3).",
    ),
    rounds: int = typer.Option(5, "--rounds", help="Interleaved timing rounds (medians are reported)."),
    round_budget: float = typer.Option(1.0, "--round-budget", help="Seconds per solver per round (sets iterations per round)."),
    peer: Optional[list[str]] = typer.Option(None, "--peer", help="Peer to time: openspiel, liteefg (repeatable; default both)."),
    no_peers: bool = typer.Option(False, "--no-peers", help="Time gtlearn only."),
    no_reference: bool = typer.Option(False, "--no-reference", help="Skip timing the NumPy reference backend."),
    vad_iterations: int = typer.Option(0, "--vad-iterations", help="Also time this many VAD-CFR iterations with exact exploitability every 10 (0 = skip; the experiment uses 1000)."),
    vad_game: str = typer.Option("leduc_poker(players=3)", "--vad-game", help="Game of the VAD-CFR timing run."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the Markdown report here (and the raw numbers beside it as .json)."),
) -> None:
    """Time CFR+ iterations and exact NashConv against OpenSpiel's C++ solvers and LiteEFG, in one run."""
    from games.openspiel import resolve_game_string
    from gtlearn.bench import DEFAULT_GAMES, BenchConfig, render_markdown, run_benchmark
    from gtlearn.core.io import atomic_write_bytes, atomic_write_json

    positive("rounds", rounds)
    positive("vad-iterations", vad_iterations, allow_zero=True)
    positive_number("round-budget", round_budget, maximum=3600)
    unknown = set(peer or ()) - {"openspiel", "liteefg"}
    if unknown:
        raise GtlearnError(f"unknown peer {sorted(unknown)[0]!r}; choose openspiel or liteefg")
    if peer and no_peers:
        raise GtlearnError("--peer and --no-peers exclude each other")
    peers = () if no_peers else tuple(peer or ("openspiel", "liteefg"))
    if "liteefg" in peers and importlib.util.find_spec("LiteEFG") is None:
        if peer:  # asked for by name
            raise GtlearnError("peer 'liteefg' needs LiteEFG: pip install 'gtlearn[bench]'")
        peers = tuple(p for p in peers if p != "liteefg")
        typer.echo("LiteEFG is not installed (pip install 'gtlearn[bench]'): timing OpenSpiel only", err=True)
    if out is not None:
        check_writable(out.parent)
    games = tuple(resolve_game_string(g) for g in game) if game else DEFAULT_GAMES
    cfg = BenchConfig(games=games, rounds=rounds, round_budget_s=round_budget, peers=peers,
                      reference=not no_reference, vad_iterations=vad_iterations, vad_game=resolve_game_string(vad_game))
    report = run_benchmark(cfg, log=lambda msg: typer.echo(msg, err=True))
    text = render_markdown(report)
    typer.echo(text)
    if out is not None:
        atomic_write_bytes(out, text.encode())
        atomic_write_json(out.with_suffix(".json"), report)
        typer.echo(f"wrote {out} and {out.with_suffix('.json')}", err=True)
