"""The ``programs`` table: one row per item of the search, moved through its states by
conditional transitions (docs/evolve.md, The database)."""

from __future__ import annotations

import time

# A program ends in exactly one of these states.
FINISHED_STATES = ("rejected_patch", "rejected_static", "duplicate", "evaluated", "failed", "timeout")
# The finished states reached through an evaluation (what ``run.max_evaluated`` counts).
EVALUATED_STATES = ("evaluated", "failed", "timeout")
# Items in the backlog: waiting for their LLM answer, or for an evaluation slot.
BACKLOG_STATES = ("proposed", "queued")


class ProgramTable:
    """Methods on ``programs`` (mixed into :class:`evolve.db.DB`)."""

    # -- writes (inside a transaction) ---------------------------------------------------------
    def insert_seed(self, code: str, code_norm_sha: str, ast_nodes: int) -> None:
        """Item 0: the seed program, queued for evaluation; its island -1 means "every island"."""
        now = time.time()
        self.conn.execute(
            "INSERT INTO programs(run_id, parent_id, island, generation, item_seq, code, code_norm_sha, patch_kind, state, "
            "attempt, ast_nodes, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (self.run_id, None, -1, 0, 0, code, code_norm_sha, "seed", "queued", 0, ast_nodes, now, now))

    def insert_proposal(self, parent_id: int, island: int, generation: int, item_seq: int) -> int:
        now = time.time()
        cur = self.conn.execute(
            "INSERT INTO programs(run_id, parent_id, island, generation, item_seq, state, attempt, created_at, updated_at) "
            "VALUES (?,?,?,?,?,?,?,?,?)", (self.run_id, parent_id, island, generation, item_seq, "proposed", 0, now, now))
        return cur.lastrowid

    def attach_llm_call(self, pid: int, call_id: int) -> None:
        self.conn.execute("UPDATE programs SET llm_call_id=? WHERE id=?", (call_id, pid))

    def transition(self, pid: int, from_state: str, attempt: int, to_state: str, **cols) -> bool:
        """Conditional state change; False (and no effect) if the row moved on meanwhile."""
        sets = ", ".join(f"{k}=?" for k in cols)
        sql = f"UPDATE programs SET state=?, updated_at=?{', ' + sets if sets else ''} WHERE id=? AND state=? AND attempt=?"
        cur = self.conn.execute(sql, (to_state, time.time(), *cols.values(), pid, from_state, attempt))
        if cur.rowcount == 1:
            self.event("state", pid, frm=from_state, to=to_state, attempt=attempt)
            return True
        return False

    def requeue(self, pid: int, attempt: int) -> bool:
        """One ``evaluating`` row whose worker was lost back to ``queued`` with the next attempt
        (conditional on ``attempt``, like :meth:`transition`)."""
        cur = self.conn.execute(
            "UPDATE programs SET state='queued', attempt=attempt+1, lease_owner=NULL, lease_until=NULL, updated_at=? "
            "WHERE id=? AND state='evaluating' AND attempt=?", (time.time(), pid, attempt))
        if cur.rowcount == 1:
            self.event("state", pid, frm="evaluating", to="queued", attempt=attempt)
            return True
        return False

    def requeue_evaluating(self) -> int:
        """After a crash: every ``evaluating`` row back to ``queued`` with the next attempt."""
        return self.conn.execute(
            "UPDATE programs SET state='queued', attempt=attempt+1, lease_owner=NULL, lease_until=NULL, updated_at=? "
            "WHERE run_id=? AND state='evaluating'", (time.time(), self.run_id)).rowcount

    # -- reads ---------------------------------------------------------------------------------
    def program(self, pid: int):
        return self.conn.execute("SELECT * FROM programs WHERE id=?", (pid,)).fetchone()

    def counts(self) -> dict:
        rows = self.conn.execute("SELECT state, COUNT(*) FROM programs WHERE run_id=? GROUP BY state", (self.run_id,))
        return {r[0]: r[1] for r in rows}

    def count_in(self, states) -> int:
        q = ",".join("?" * len(states))
        return self.conn.execute(f"SELECT COUNT(*) FROM programs WHERE run_id=? AND state IN ({q})",
                                 (self.run_id, *states)).fetchone()[0]

    def count_programs(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM programs WHERE run_id=?", (self.run_id,)).fetchone()[0]

    def next_queued(self):
        """The queued row with the lowest item number, or None."""
        return self.conn.execute("SELECT * FROM programs WHERE run_id=? AND state='queued' ORDER BY item_seq LIMIT 1",
                                 (self.run_id,)).fetchone()

    def program_with_norm_sha(self, code_norm_sha: str):
        """(id, public_fitness) of the program with this normalized code, or None."""
        return self.conn.execute("SELECT id, public_fitness FROM programs WHERE run_id=? AND code_norm_sha=?",
                                 (self.run_id, code_norm_sha)).fetchone()

    def reject_reasons(self, parent_id: int, limit: int = 4) -> list[str]:
        """Why the latest rejected children of ``parent_id`` were rejected, newest first."""
        return [r[0] for r in self.conn.execute(
            "SELECT reject_reason FROM programs WHERE parent_id=? AND reject_reason IS NOT NULL ORDER BY id DESC LIMIT ?",
            (parent_id, limit))]

    def proposed_with_call_status(self) -> list[tuple[int, str | None]]:
        """(id, status of its LLM call) of every ``proposed`` row, by item number."""
        return [(r[0], r[1]) for r in self.conn.execute(
            "SELECT p.id, c.status FROM programs p LEFT JOIN llm_calls c ON c.id=p.llm_call_id "
            "WHERE p.run_id=? AND p.state='proposed' ORDER BY p.item_seq", (self.run_id,)).fetchall()]

    def proposed_with_abandoned_call(self) -> list[int]:
        """Ids of the ``proposed`` rows whose LLM call a crash abandoned, by item number."""
        return [r[0] for r in self.conn.execute(
            "SELECT p.id FROM programs p JOIN llm_calls c ON c.id=p.llm_call_id WHERE p.run_id=? AND p.state='proposed' "
            "AND c.status='abandoned' ORDER BY p.item_seq", (self.run_id,)).fetchall()]

    def children_count(self, pid: int) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM programs WHERE parent_id=?", (pid,)).fetchone()[0]

    def top_evaluated(self, k: int) -> list[int]:
        """Ids of the k evaluated programs of highest public fitness (ties: lower id first)."""
        return [r[0] for r in self.conn.execute(
            "SELECT id FROM programs WHERE run_id=? AND state='evaluated' AND public_fitness IS NOT NULL "
            "ORDER BY public_fitness DESC, id LIMIT ?", (self.run_id, k))]

    def leader(self):
        """The evaluated program of highest public fitness, or None."""
        return self.conn.execute("SELECT * FROM programs WHERE run_id=? AND state='evaluated' AND public_fitness IS NOT NULL "
                                 "ORDER BY public_fitness DESC, id LIMIT 1", (self.run_id,)).fetchone()

    def best_public_fitness(self) -> float | None:
        return self.conn.execute("SELECT MAX(public_fitness) FROM programs WHERE run_id=?", (self.run_id,)).fetchone()[0]

    def seed_program(self):
        return self.conn.execute("SELECT * FROM programs WHERE run_id=? AND item_seq=0", (self.run_id,)).fetchone()

    def score_rows(self, limit: int = 15) -> list:
        """The evaluated programs of highest public fitness, for the score table."""
        return self.conn.execute("SELECT id, parent_id, island, generation, public_fitness, ast_nodes FROM programs WHERE run_id=? AND "
                                 "state='evaluated' ORDER BY public_fitness DESC LIMIT ?", (self.run_id, limit)).fetchall()

    def fitness_points(self) -> list:
        """(id, parent_id, public_fitness) of every evaluated program with a fitness, by id."""
        return self.conn.execute("SELECT id, parent_id, public_fitness FROM programs WHERE run_id=? AND public_fitness IS NOT NULL "
                                 "AND state='evaluated' ORDER BY id", (self.run_id,)).fetchall()
