"""The ``gtlearn`` command line: one module per verb (interface layer).

Verb modules import only typer and :mod:`gtlearn.core` at module level; the heavy packages
(games, solvers, alignment, evolve) are imported inside the command functions, so
``gtlearn --help`` stays fast.
"""

from gtlearn.cli.main import app, main

__all__ = ["app", "main"]
