"""The SQLite (WAL) database: the single source of truth of a campaign (specs/evolve.md §5).

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

TERMINAL = ("rejected_patch", "rejected_static", "duplicate", "evaluated", "failed", "timeout")
EVALUATED = ("evaluated", "failed", "timeout")


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


class DB:
    def __init__(self, path, durable: bool = False):
        self.path = str(path)
        self.conn = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        c = self.conn
        c.execute("PRAGMA journal_mode=WAL")
        c.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        c.execute("PRAGMA foreign_keys=ON")
        c.execute("PRAGMA busy_timeout=60000")
        c.executescript(SCHEMA)
        self.run_id: str | None = None

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

    # -- small helpers (inside a transaction) --------------------------------------------
    def event(self, kind: str, program_id=None, **details) -> None:
        self.conn.execute("INSERT INTO events(run_id, ts, kind, program_id, details_json) VALUES (?,?,?,?,?)",
                          (self.run_id, time.time(), kind, program_id, json.dumps(details, sort_keys=True, default=str)))

    def kv_get(self, key: str, default=None):
        row = self.conn.execute("SELECT value_json FROM kv WHERE run_id=? AND key=?", (self.run_id, key)).fetchone()
        return default if row is None else json.loads(row[0])

    def kv_set(self, key: str, value) -> None:
        self.conn.execute("INSERT INTO kv(run_id, key, value_json) VALUES (?,?,?) ON CONFLICT(run_id, key) DO UPDATE SET value_json=excluded.value_json",
                          (self.run_id, key, json.dumps(value, sort_keys=True)))

    def transition(self, pid: int, from_state: str, attempt: int, to_state: str, **cols) -> bool:
        """Conditional state change; False (and no effect) if the row moved on meanwhile."""
        sets = ", ".join(f"{k}=?" for k in cols)
        sql = f"UPDATE programs SET state=?, updated_at=?{', ' + sets if sets else ''} WHERE id=? AND state=? AND attempt=?"
        cur = self.conn.execute(sql, (to_state, time.time(), *cols.values(), pid, from_state, attempt))
        if cur.rowcount == 1:
            self.event("state", pid, frm=from_state, to=to_state, attempt=attempt)
            return True
        return False

    def program(self, pid: int):
        return self.conn.execute("SELECT * FROM programs WHERE id=?", (pid,)).fetchone()

    def counts(self) -> dict:
        rows = self.conn.execute("SELECT state, COUNT(*) FROM programs WHERE run_id=? GROUP BY state", (self.run_id,))
        return {r[0]: r[1] for r in rows}

    def backup(self, dest: str) -> None:
        """A consistent copy (``VACUUM INTO``)."""
        self.conn.execute("VACUUM INTO ?", (dest,))
