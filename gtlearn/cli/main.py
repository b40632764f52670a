"""The ``gtlearn`` command line.

Each verb lives in its own module of ``gtlearn.cli``. Those modules import only
typer and the gtlearn core at import time; the heavy packages (games, solvers, alignment,
evolve) are imported inside the command functions, so ``gtlearn --help`` stays fast.

Exit statuses: 0 success; 2 a usage or input error (one ``error:`` line); 130 interrupted
(Ctrl-C: ``interrupted`` and, for a resumable run, the ``--resume`` command); 1 an internal error
(one line and the path of the saved traceback). See :mod:`gtlearn.cli.errors`.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="gtlearn",
    help="Game-theoretic multiagent learning and preference learning.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    # One line per verb; keep the list sorted by verb.
    from gtlearn.cli import align as align_cmd
    from gtlearn.cli import bench as bench_cmd
    from gtlearn.cli import compare as compare_cmd
    from gtlearn.cli import evolve as evolve_cmd
    from gtlearn.cli import games as games_cmd
    from gtlearn.cli import psro as psro_cmd
    from gtlearn.cli import report as report_cmd
    from gtlearn.cli import solve as solve_cmd
    from gtlearn.cli import werewolf as werewolf_cmd

    app.add_typer(align_cmd.app, name="align")
    app.command("bench")(bench_cmd.bench)
    app.command("compare")(compare_cmd.compare)
    app.add_typer(evolve_cmd.app, name="evolve")
    app.command("games")(games_cmd.games)
    app.command("psro")(psro_cmd.psro)
    app.command("report")(report_cmd.report)
    app.command("solve")(solve_cmd.solve)
    app.add_typer(werewolf_cmd.app, name="werewolf")


_register()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status (see :mod:`gtlearn.cli.errors`)."""
    from gtlearn.cli.errors import run_cli

    return run_cli(app, argv)
