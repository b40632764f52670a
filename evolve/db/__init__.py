"""The SQLite (WAL) database: the single source of truth of a campaign (docs/evolve.md, The
database). Every module of evolve reaches SQLite through the methods of :class:`DB`, grouped
by table in the modules of this package."""

from __future__ import annotations

from evolve.db.base import Database
from evolve.db.evaluations import EvaluationTable
from evolve.db.islands import IslandTables
from evolve.db.llm_calls import LLMCallTable
from evolve.db.programs import BACKLOG_STATES, EVALUATED_STATES, FINISHED_STATES, ProgramTable


class DB(ProgramTable, EvaluationTable, LLMCallTable, IslandTables, Database):
    """A campaign database: ``DB(path)`` creates or opens one; set ``run_id`` before use."""


__all__ = ["BACKLOG_STATES", "DB", "EVALUATED_STATES", "FINISHED_STATES"]
