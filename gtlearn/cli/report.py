"""``gtlearn report``: a run directory, a ``compare`` output directory or a results JSON file
(``experiments/results/*.json``) as one self-contained HTML page: config, the gap curve with log
axes and hover values, the metrics table and the artifacts; all curves on one chart per game
for comparisons and results files."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def report(
    path: Path = typer.Argument(..., help="Run directory, compare output directory, or results .json file."),
    out: Optional[Path] = typer.Option(None, "--out", "-o",
                                       help="HTML file to write (default PATH/report.html, or <name>_report.html beside a file)."),
    watch: bool = typer.Option(False, "--watch", help="Rewrite the page every --interval seconds until Ctrl-C."),
    interval: float = typer.Option(5.0, "--interval", help="Seconds between rewrites with --watch."),
) -> None:
    """Write an HTML report of a run, a comparison or a results file."""
    from gtlearn.reports.run_data import kind_of
    from gtlearn.reports.run_page import default_out, run_html
    from gtlearn.reports.watch import check_out, write_report

    kind_of(path)  # a path that is no run fails here, before anything is written
    out = check_out(out or default_out(path))
    write_report(lambda refresh_s: run_html(path, out, refresh_s=refresh_s), out, watch=watch, interval=interval,
                 echo=lambda s: typer.echo(s, err=True))
    typer.echo(f"report: {out}")
