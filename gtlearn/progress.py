"""Rich progress bars that show the live gap: interface layer only."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def progress(total: int, description: str, *, gap_name: str = "gap", disable: bool = False) -> Iterator[Any]:
    """A rich progress bar that shows the live gap. Yields ``update(advance, gap=None)``."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(f"{gap_name}: " + "{task.fields[gap]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, disable=disable, transient=False) as bar:
        task = bar.add_task(description, total=total, gap="-")

        def update(advance: int = 1, gap: float | None = None) -> None:
            fields = {} if gap is None else {"gap": f"{gap:.4e}"}
            bar.update(task, advance=advance, **fields)

        yield update


@contextmanager
def compiling(game_string: str, *, disable: bool = False) -> Iterator[Any]:
    """A status line while a game tree compiles: nodes so far and the projected total.
    Yields the ``progress(nodes, projected)`` callback of :func:`games.tree.compile_game`."""
    from rich.console import Console

    console = Console(stderr=True)
    if disable:
        yield None
        return
    with console.status(f"compiling {game_string}") as status:

        def update(nodes: int, projected: float) -> None:
            total = f"~{projected:,.0f}" if projected < 1e15 else "far more"
            status.update(f"compiling {game_string}: {nodes:,} nodes of {total} (projected)")

        yield update
