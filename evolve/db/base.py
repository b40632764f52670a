"""The connection, the schema, transactions, the event log, the key-value store and the ``runs``
row of a campaign database (docs/evolve.md, The database).

The controller is the only writer. Every state transition commits together with its side
effects (cells, counters, the append-only event row) in one transaction, and is a
conditional ``UPDATE ... WHERE state=? AND attempt=?`` so a late result of a superseded
attempt changes nothing.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from contextlib import contextmanager

from gtlearn.core.errors import GtlearnError

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs(run_id TEXT PRIMARY KEY, created_at REAL, config_json TEXT, config_sha TEXT,
    code_sha TEXT, evaluator_sha TEXT, seed INTEGER, status TEXT);
CREATE TABLE IF NOT EXISTS programs(id INTEGER PRIMARY KEY, run_id TEXT, parent_id INTEGER, island INTEGER,
    generation INTEGER, item_seq INTEGER, code TEXT, code_norm_sha TEXT, patch_kind TEXT, patch_text TEXT,
    llm_call_id INTEGER, state TEXT, attempt INTEGER DEFAULT 0, lease_owner TEXT, lease_until REAL,
    reject_reason TEXT, duplicate_of INTEGER, ast_nodes INTEGER, public_fitness REAL, migrant INTEGER DEFAULT 0,
    created_at REAL, updated_at REAL, UNIQUE(run_id, code_norm_sha), UNIQUE(run_id, item_seq));
CREATE TABLE IF NOT EXISTS evaluations(program_id INTEGER, stage INTEGER, public_json TEXT, private_json TEXT,
    valid INTEGER, wall_s REAL, cpu_s REAL, peak_rss_mb REAL, exit_code INTEGER, stderr_tail TEXT, seed INTEGER,
    PRIMARY KEY(program_id, stage));
CREATE TABLE IF NOT EXISTS llm_calls(id INTEGER PRIMARY KEY, run_id TEXT, backend TEXT, model TEXT, params_json TEXT,
    prompt_sha TEXT, sample_idx INTEGER, prompt TEXT, response TEXT, tokens_in INTEGER, tokens_out INTEGER,
    cost_usd REAL, reserved_usd REAL, priced INTEGER, latency_s REAL, status TEXT, created_at REAL);
CREATE TABLE IF NOT EXISTS cells(run_id TEXT, island INTEGER, cell_key TEXT, program_id INTEGER,
    PRIMARY KEY(run_id, island, cell_key));
CREATE TABLE IF NOT EXISTS champions(run_id TEXT, program_id INTEGER, promoted_at REAL, private_fitness REAL,
    ci_low REAL, ci_high REAL);
CREATE TABLE IF NOT EXISTS events(id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT, ts REAL, kind TEXT,
    program_id INTEGER, details_json TEXT);
CREATE TABLE IF NOT EXISTS members(run_id TEXT, island INTEGER, program_id INTEGER, migrant INTEGER,
    PRIMARY KEY(run_id, island, program_id));
CREATE TABLE IF NOT EXISTS kv(run_id TEXT, key TEXT, value_json TEXT, PRIMARY KEY(run_id, key));
CREATE TRIGGER IF NOT EXISTS events_append_only_u BEFORE UPDATE ON events BEGIN SELECT RAISE(ABORT, 'events is append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_append_only_d BEFORE DELETE ON events BEGIN SELECT RAISE(ABORT, 'events is append-only'); END;
CREATE INDEX IF NOT EXISTS programs_state ON programs(run_id, state);
"""

# Columns of ``programs`` that a replay must reproduce (no timestamps, leases or timings).
COMPARE_PROGRAMS = ("item_seq", "parent_id", "island", "generation", "code", "code_norm_sha", "patch_kind", "patch_text",
                    "state", "reject_reason", "duplicate_of", "ast_nodes", "public_fitness")

_FAULT = {"n": 0}


def _fault_point(where: str) -> None:
    """Fault injection for the resume tests: ``GTLEARN_EVOLVE_CRASH_AT=K:before|after`` makes the
    process SIGKILL itself at its K-th commit, just before or just after COMMIT."""
    spec = os.environ.get("GTLEARN_EVOLVE_CRASH_AT")
    if not spec:
        return
    k, _, when = spec.partition(":")
    if where == (when or "after"):
        _FAULT["n"] += 1
        if _FAULT["n"] == int(k):
            os.kill(os.getpid(), signal.SIGKILL)


class Database:
    """One SQLite connection. ``readonly=True`` opens an existing file without writing to it
    (no schema, no pragmas): replay and cassettes read other runs' databases that way."""

    def __init__(self, path, durable: bool = False, readonly: bool = False):
        self.path = str(path)
        self.run_id: str | None = None
        if readonly:
            self.conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
            self.conn.row_factory = sqlite3.Row
            return
        try:
            self.conn = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
            self.conn.row_factory = sqlite3.Row
            c = self.conn
            c.execute("PRAGMA journal_mode=WAL")
            c.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            c.execute("PRAGMA foreign_keys=ON")
            c.execute("PRAGMA busy_timeout=60000")
            c.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise GtlearnError(f"cannot open the campaign database {self.path}: {exc}") from None

    def close(self):
        self.conn.close()

    @contextmanager
    def tx(self):
        """One write transaction (BEGIN IMMEDIATE ... COMMIT, ROLLBACK on error)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        _fault_point("before")
        self.conn.execute("COMMIT")
        _fault_point("after")

    # -- the event log and the key-value store (inside a transaction) -------------------------
    def event(self, kind: str, program_id=None, **details) -> None:
        self.conn.execute("INSERT INTO events(run_id, ts, kind, program_id, details_json) VALUES (?,?,?,?,?)",
                          (self.run_id, time.time(), kind, program_id, json.dumps(details, sort_keys=True, default=str)))

    def kv_get(self, key: str, default=None):
        row = self.conn.execute("SELECT value_json FROM kv WHERE run_id=? AND key=?", (self.run_id, key)).fetchone()
        return default if row is None else json.loads(row[0])

    def kv_set(self, key: str, value) -> None:
        self.conn.execute("INSERT INTO kv(run_id, key, value_json) VALUES (?,?,?) ON CONFLICT(run_id, key) DO UPDATE SET value_json=excluded.value_json",
                          (self.run_id, key, json.dumps(value, sort_keys=True)))

    # -- the run -----------------------------------------------------------------------------
    def create_run(self, config: dict, config_sha: str, code_sha: str, evaluator_sha: str, seed: int) -> None:
        self.conn.execute("INSERT INTO runs VALUES (?,?,?,?,?,?,?,?)", (
            self.run_id, time.time(), json.dumps(config, sort_keys=True), config_sha, code_sha, evaluator_sha, seed, "running"))

    def run_row(self):
        """The ``runs`` row (a campaign database holds one), or None (also before the schema exists)."""
        try:
            return self.conn.execute("SELECT * FROM runs").fetchone()
        except sqlite3.OperationalError:
            return None

    def run_config(self) -> dict:
        return json.loads(self.run_row()["config_json"])

    def set_run_status(self, status: str) -> None:
        self.conn.execute("UPDATE runs SET status=?", (status,))

    def last_event_time(self) -> float | None:
        return self.conn.execute("SELECT MAX(ts) FROM events WHERE run_id=?", (self.run_id,)).fetchone()[0]

    # -- whole-database views ----------------------------------------------------------------
    def snapshot(self) -> dict:
        """The comparable content of the database (no timestamps, leases or timings)."""
        c = self.conn
        progs = [tuple(r[k] for k in COMPARE_PROGRAMS) for r in c.execute("SELECT * FROM programs ORDER BY item_seq")]
        evals = [(r["program_id"], r["stage"], r["public_json"], r["private_json"], r["valid"])
                 for r in c.execute("SELECT * FROM evaluations ORDER BY program_id, stage")]
        cells = [tuple(r) for r in c.execute("SELECT island, cell_key, program_id FROM cells ORDER BY island, cell_key")]
        champs = [(r["program_id"], r["private_fitness"]) for r in c.execute("SELECT * FROM champions ORDER BY rowid")]
        responses = [(r["sample_idx"], r["prompt_sha"], r["response"]) for r in
                     c.execute("SELECT * FROM llm_calls WHERE status='ok' ORDER BY sample_idx")]
        return {"programs": progs, "evaluations": evals, "cells": cells, "champions": champs, "responses": responses}
