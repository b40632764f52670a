"""``gtlearn evolve report``: a campaign as one self-contained HTML page (docs/evolve.md,
Outputs, replay and distillation). It reads the database read-only, so it also works while the
campaign runs; ``--watch`` rewrites the page every few seconds until Ctrl-C."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def evolve_report(
    run_dir: Path = typer.Argument(..., help="Run directory of the campaign (holds campaign.db)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="HTML file to write (default RUN_DIR/report.html)."),
    watch: bool = typer.Option(False, "--watch", help="Rewrite the page every --interval seconds until Ctrl-C."),
    interval: float = typer.Option(5.0, "--interval", help="Seconds between rewrites with --watch."),
) -> None:
    """Fitness over time per island, the held-out gate, the champion, the lineage with each
    program's code and diff, failure reasons and the LLM ledger, in one HTML file."""
    from evolve.db.reporting import open_readonly
    from gtlearn.reports.campaign_page import campaign_html
    from gtlearn.reports.watch import check_out, write_report

    open_readonly(run_dir).close()  # a directory that holds no campaign fails here, before anything is written
    out = check_out(out or Path(run_dir) / "report.html")

    def render(refresh_s):
        db = open_readonly(run_dir)
        try:
            return campaign_html(db, refresh_s=refresh_s)
        finally:
            db.close()

    write_report(render, out, watch=watch, interval=interval, echo=lambda s: typer.echo(s, err=True))
    typer.echo(f"report: {out}")
