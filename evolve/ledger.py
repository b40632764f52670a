"""Token/cost ledger, wall clock and budgets (docs/evolve.md, LLM backends, ledger and budgets).

Every LLM call is an ``llm_calls`` row. Before a call, its worst-case cost (prompt + max_tokens
at list price) is *reserved*, so concurrent calls cannot overshoot ``max_usd``; the reservation
is settled when usage arrives (abandoned calls keep their reservation). Unknown models are
unpriced (cost NULL); with ``max_usd`` set they are refused unless ``allow_unpriced``.
"""

from __future__ import annotations

import time

from evolve.llm import pricing
from evolve.llm.base import approx_tokens
from gtlearn.core.errors import GtlearnError


class WallClock:
    """The campaign's wall time, summed across resumes in the ``wall_s`` key (``max_wall_hours``)."""

    def __init__(self, db):
        self.db = db
        self._last = time.monotonic()

    def tick(self) -> None:
        """Add the time since the last tick (inside a transaction)."""
        now = time.monotonic()
        self.db.kv_set("wall_s", float(self.db.kv_get("wall_s", 0.0)) + now - self._last)
        self._last = now


def spent(db) -> dict:
    calls, usd, tokens = db.llm_spend()
    return {"llm_calls": calls, "usd": usd, "tokens": tokens, "eval_cpu_hours": db.eval_cpu_seconds() / 3600.0,
            "wall_hours": float(db.kv_get("wall_s", 0.0)) / 3600.0}


def over_budget(db, budget: dict) -> str | None:
    s = spent(db)
    checks = [("max_usd", "usd"), ("max_llm_calls", "llm_calls"), ("max_tokens", "tokens"),
              ("max_eval_cpu_hours", "eval_cpu_hours"), ("max_wall_hours", "wall_hours")]
    for key, field in checks:
        if budget.get(key) is not None and s[field] >= float(budget[key]):
            return f"budget {key}={budget[key]} reached ({s[field]:.4g})"
    return None


def reserve(db, model: dict, messages: list[dict], cfg: dict, prices: dict) -> float | None:
    """Worst-case USD of the call (None = unpriced); raises if it would break ``max_usd``."""
    tin = approx_tokens("".join(m["content"] for m in messages))
    worst = pricing.cost(model["name"], tin, int(model["max_tokens"]), prices)
    budget = cfg["run"]["budget"]
    if worst is None and budget.get("max_usd") is not None and not cfg["llm"]["allow_unpriced"]:
        raise GtlearnError(f"model {model['name']!r} has no price and run.budget.max_usd is set (allow_unpriced: true to accept)")
    if worst is not None and budget.get("max_usd") is not None and spent(db)["usd"] + worst > float(budget["max_usd"]):
        return -1.0
    return worst


def settle(db, call_id: int, completion, model: str, prices: dict) -> None:
    cost = completion.cost_usd if completion.cost_usd is not None else pricing.cost(model, completion.tokens_in, completion.tokens_out, prices)
    db.settle_llm_call(call_id, response=completion.text, tokens_in=completion.tokens_in, tokens_out=completion.tokens_out,
                       cost_usd=cost, latency_s=completion.latency_s)
    db.event("llm_ok", None, call=call_id, tokens_in=completion.tokens_in, tokens_out=completion.tokens_out, cost=cost, t=time.time())
