"""``gtlearn games``: example games and their compiled tree sizes."""

from __future__ import annotations

import typer


def games(
    sizes: bool = typer.Option(True, "--sizes/--no-sizes", help="Compile each game (cached) to show its size."),
) -> None:
    """List example games (aliases usable wherever a game string is expected) with their tree sizes."""
    from rich.console import Console
    from rich.table import Table

    from games.openspiel import EXAMPLE_GAMES
    from games.tree import compile_game

    table = Table(title="example games (any OpenSpiel game string also works)")
    for col in ("alias", "game string", "players", "nodes", "infosets", "bytes/node"):
        table.add_column(col, justify="right" if col in ("players", "nodes", "infosets", "bytes/node") else "left")
    for alias, game_string in EXAMPLE_GAMES.items():
        if sizes:
            tree = compile_game(game_string)
            row = (str(tree.num_players), f"{tree.num_nodes:,}", f"{tree.num_infosets:,}", f"{tree.nbytes() / tree.num_nodes:.0f}")
        else:
            row = ("", "", "", "")
        table.add_row(alias, game_string, *row)
    Console().print(table)
