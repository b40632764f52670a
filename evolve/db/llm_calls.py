"""The ``llm_calls`` table: every LLM call with its prompt, answer, tokens and cost; the ledger
and the replay cassettes read it (docs/evolve.md, LLM backends, ledger and budgets)."""

from __future__ import annotations

import json
import time


class LLMCallTable:
    """Methods on ``llm_calls`` (mixed into :class:`evolve.db.DB`)."""

    def insert_llm_call(self, pid: int, *, backend: str, model: str, params: dict, prompt_sha: str, sample_idx: int,
                        messages: list[dict], reserved_usd: float | None) -> int:
        """A ``pending`` call for the proposed program ``pid`` (and link it to the program)."""
        cur = self.conn.execute(
            "INSERT INTO llm_calls(run_id, backend, model, params_json, prompt_sha, sample_idx, prompt, status, reserved_usd, created_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?)",
            (self.run_id, backend, model, json.dumps(params, sort_keys=True), prompt_sha, sample_idx, json.dumps(messages),
             "pending", reserved_usd, time.time()))
        self.attach_llm_call(pid, cur.lastrowid)
        return cur.lastrowid

    def llm_call(self, call_id: int):
        return self.conn.execute("SELECT * FROM llm_calls WHERE id=?", (call_id,)).fetchone()

    def fail_llm_call(self, call_id: int, message: str) -> None:
        self.conn.execute("UPDATE llm_calls SET status='error', response=? WHERE id=?", (message, call_id))

    def settle_llm_call(self, call_id: int, *, response: str, tokens_in: int, tokens_out: int, cost_usd: float | None,
                        latency_s: float) -> None:
        self.conn.execute("UPDATE llm_calls SET status='ok', response=?, tokens_in=?, tokens_out=?, cost_usd=?, priced=?, latency_s=? WHERE id=?",
                          (response, tokens_in, tokens_out, cost_usd, int(cost_usd is not None), latency_s, call_id))

    def abandon_pending_calls(self) -> int:
        """After a crash: ``pending`` calls become ``abandoned`` (their reservation stays)."""
        return self.conn.execute("UPDATE llm_calls SET status='abandoned' WHERE run_id=? AND status='pending'",
                                 (self.run_id,)).rowcount

    def llm_spend(self) -> tuple[int, float, int]:
        """(calls, USD: settled cost of answered calls + reservations of the others, tokens)."""
        r = self.conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN status='ok' THEN cost_usd ELSE reserved_usd END),0), "
            "COALESCE(SUM(tokens_in),0)+COALESCE(SUM(tokens_out),0) FROM llm_calls WHERE run_id=?", (self.run_id,)).fetchone()
        return r[0], float(r[1]), int(r[2])

    def answered_llm_calls(self) -> list[dict]:
        """Every ``ok`` call of the database (any run), oldest first: a replay cassette."""
        return [dict(r) for r in self.conn.execute("SELECT * FROM llm_calls WHERE status='ok' ORDER BY id")]
