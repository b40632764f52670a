"""Read-only queries for reports of a campaign (docs/evolve.md, Outputs, replay and
distillation): the whole ``programs``, ``evaluations``, ``champions`` and ``llm_calls`` tables
in commit order, read through a read-only connection, so a report can be drawn while the
controller is still writing (WAL readers never block the writer)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from evolve.db import DB
from gtlearn.core.errors import GtlearnError

PROGRAM_COLUMNS = ("id", "parent_id", "island", "generation", "item_seq", "state", "patch_kind", "patch_text", "code",
                   "reject_reason", "duplicate_of", "ast_nodes", "public_fitness", "migrant", "llm_call_id",
                   "created_at", "updated_at")


def open_readonly(run_dir) -> DB:
    """The campaign database of ``run_dir`` opened read-only, its ``run_id`` set; a one-line
    GtlearnError when the directory holds no campaign."""
    run_dir = Path(run_dir)
    path = run_dir / "campaign.db"
    if not run_dir.is_dir():
        raise GtlearnError(f"{run_dir} is not a directory")
    if not path.is_file():
        raise GtlearnError(f"{run_dir} is not a campaign directory (no campaign.db)")
    try:
        db = DB(path, readonly=True)
        row = db.run_row()
    except sqlite3.DatabaseError as exc:
        raise GtlearnError(f"{path} is not a readable campaign database ({exc})") from exc
    if row is None:
        raise GtlearnError(f"{path} holds no campaign yet (its runs table is empty)")
    db.run_id = row["run_id"]
    return db


def programs(db: DB) -> list[dict]:
    """Every program of the run, by id."""
    cols = ", ".join(PROGRAM_COLUMNS)
    return [dict(r) for r in db.conn.execute(f"SELECT {cols} FROM programs WHERE run_id=? ORDER BY id", (db.run_id,))]


def evaluations(db: DB) -> list[dict]:
    """Every evaluation row of the run in commit order (``order``), its JSON decoded."""
    rows = db.conn.execute(
        "SELECT e.rowid AS ord, e.* FROM evaluations e JOIN programs p ON p.id=e.program_id WHERE p.run_id=? ORDER BY e.rowid",
        (db.run_id,))
    out = []
    for r in rows:
        d = dict(r)
        d["order"] = d.pop("ord")
        d["public"] = None if d["public_json"] is None else json.loads(d.pop("public_json"))
        d["private"] = None if d["private_json"] is None else json.loads(d.pop("private_json"))
        d.pop("public_json", None)
        d.pop("private_json", None)
        out.append(d)
    return out


def champions(db: DB) -> list[dict]:
    """The promotions in the order they happened."""
    return [dict(r) for r in db.conn.execute("SELECT * FROM champions WHERE run_id=? ORDER BY rowid", (db.run_id,))]


def llm_calls(db: DB) -> list[dict]:
    """The ledger columns of every LLM call (prompts and answers left out)."""
    return [dict(r) for r in db.conn.execute(
        "SELECT id, backend, model, status, tokens_in, tokens_out, cost_usd, reserved_usd, priced, latency_s, created_at "
        "FROM llm_calls WHERE run_id=? ORDER BY id", (db.run_id,))]
