"""The ``evaluations`` table (one row per program and cascade stage) and the ``champions`` table
(held-out gated promotions), docs/evolve.md, The database."""

from __future__ import annotations

import json
import time


class EvaluationTable:
    """Methods on ``evaluations`` and ``champions`` (mixed into :class:`evolve.db.DB`)."""

    def insert_evaluation(self, pid: int, stage: int, *, public: dict | None, private: dict | None, valid: bool,
                          usage: dict, seed: int | None) -> None:
        """One stage's result; ``usage`` holds the record's wall_s, cpu_s, peak_rss_mb, exit_code, stderr_tail."""
        self.conn.execute(
            "INSERT INTO evaluations VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (pid, stage, None if public is None else json.dumps(public), None if private is None else json.dumps(private),
             int(bool(valid)), usage.get("wall_s"), usage.get("cpu_s"), usage.get("peak_rss_mb"), usage.get("exit_code"),
             (usage.get("stderr_tail") or "")[-2000:], seed))

    def evaluation(self, pid: int, stage: int) -> dict | None:
        """The metrics of a valid stage: private (held-out) for stage 3, public otherwise."""
        r = self.conn.execute("SELECT public_json, private_json FROM evaluations WHERE program_id=? AND stage=? AND valid=1",
                              (pid, stage)).fetchone()
        if r is None:
            return None
        return json.loads(r[1] if stage == 3 else r[0])

    def has_evaluation(self, pid: int, stage: int) -> bool:
        return self.conn.execute("SELECT 1 FROM evaluations WHERE program_id=? AND stage=?", (pid, stage)).fetchone() is not None

    def eval_cpu_seconds(self) -> float:
        return float(self.conn.execute("SELECT COALESCE(SUM(e.cpu_s),0) FROM evaluations e JOIN programs p ON p.id=e.program_id "
                                       "WHERE p.run_id=?", (self.run_id,)).fetchone()[0])

    def latest_champion(self):
        """The last promoted ``champions`` row, or None."""
        return self.conn.execute("SELECT * FROM champions WHERE run_id=? ORDER BY rowid DESC LIMIT 1", (self.run_id,)).fetchone()

    def add_champion(self, pid: int, private_fitness: float, ci_low: float, ci_high: float) -> None:
        self.conn.execute("INSERT INTO champions VALUES (?,?,?,?,?,?)",
                          (self.run_id, pid, time.time(), private_fitness, ci_low, ci_high))
