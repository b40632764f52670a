"""The ``gtlearn`` command line.

Each verb lives in its own module of ``gtlearn.cli``. Those modules import only
typer and the gtlearn core at import time; the heavy packages (games, solvers, alignment,
evolve) are imported inside the command functions, so ``gtlearn --help`` stays fast.

User errors (:class:`gtlearn.core.errors.GtlearnError`) print one line and exit with status 2.
"""

from __future__ import annotations

import typer

from gtlearn.core.errors import GtlearnError

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
    from gtlearn.cli import solve as solve_cmd
    from gtlearn.cli import werewolf as werewolf_cmd

    app.add_typer(align_cmd.app, name="align")
    app.command("bench")(bench_cmd.bench)
    app.command("compare")(compare_cmd.compare)
    app.add_typer(evolve_cmd.app, name="evolve")
    app.command("games")(games_cmd.games)
    app.command("psro")(psro_cmd.psro)
    app.command("solve")(solve_cmd.solve)
    app.add_typer(werewolf_cmd.app, name="werewolf")


_register()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    try:
        app(args=argv, standalone_mode=False)
    except GtlearnError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        return 2
    except KeyboardInterrupt:
        typer.secho("interrupted", err=True)
        return 130
    except Exception as exc:  # click's usage errors and aborts
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            return exc.exit_code if exc.exit_code else 2
        if isinstance(exc, click.exceptions.Abort):
            return 1
        if isinstance(exc, click.exceptions.Exit):
            return exc.exit_code
        raise
    return 0


