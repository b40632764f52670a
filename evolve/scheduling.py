"""Evaluation scheduling (docs/evolve.md, The search loop and Evaluation cascade): claim queued
candidates, build their jobs, commit results with their effects on the islands and the model
bandit, queue the public top-k for the held-out stage, and promote champions.

Each commit is one transaction, a conditional transition from ``evaluating`` with the job's
attempt, so a late result of a superseded attempt changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import time

from evolve import population
from evolve.db import DB, EVALUATED_STATES
from evolve.evaluator import evaluator_sha
from evolve.ledger import WallClock
from evolve.llm import bandit
from evolve.tasks import Task

LIMIT_KEYS = ("wall_s", "cpu_s", "mem_mb", "nofile", "nproc", "fsize_mb", "profile", "network", "unsafe")
MAX_LOSSES = 3  # lost workers (died, hung, stopped) an item may cost before it is failed
# Exceptions (by class name) that mean a job's worker was lost, not that the candidate failed:
# the local executor's, and Ray's for a crashed or cancelled worker.
LOST = frozenset({"WorkerLost", "WorkerCrashedError", "TaskCancelledError", "NodeDiedError", "OwnerDiedError"})


class Scheduler:
    def __init__(self, db: DB, cfg: dict, task: Task, stages: list[dict], seed: int, clock: WallClock, echo,
                 hide: tuple[str, ...] = ()):
        self.db, self.cfg, self.task, self.stages, self.seed, self.clock, self.echo = db, cfg, task, stages, seed, clock, echo
        self.hide = hide  # paths no sandbox may see (the campaign directory)

    async def baselines(self, executor) -> None:
        """The task's baselines, computed once per run in trusted code and stored."""
        if self.db.kv_get("baselines") is not None:
            return
        self.echo("computing the baselines (trusted, once per run) ...")
        for attempt in range(1, MAX_LOSSES + 1):
            fut = executor.submit({"kind": "baselines", "task": self.task.name, "stages": self.stages})
            try:
                b = await asyncio.wrap_future(fut)
                break
            except Exception as exc:  # noqa: BLE001 - a lost worker is retried, anything else is a bug
                if type(exc).__name__ not in LOST or attempt == MAX_LOSSES:
                    raise
                self.echo(f"baselines: {exc}; retrying")
        with self.db.tx():
            self.db.kv_set("baselines", b)

    def next_job(self, heldout_inflight: set[int]) -> dict | None:
        """Held-out promotions first (few, and they gate the champion), then cascade items."""
        todo = [p for p in self.db.kv_get("heldout_queue", []) if p not in heldout_inflight]
        if todo:
            return self.job(self.db.program(todo[0]), "heldout")
        return self.claim()

    def claim(self) -> dict | None:
        """Lease the next queued item (``queued`` -> ``evaluating``) and return its cascade job."""
        with self.db.tx():
            row = self.db.next_queued()
            if row is None:
                return None
            lease = time.time() + float(self.cfg["executor"]["lease_s"])
            if not self.db.transition(row["id"], "queued", row["attempt"], "evaluating", lease_owner=f"pid{os.getpid()}", lease_until=lease):
                return None
        return self.job(row, "cascade", lease)

    def job(self, row, kind: str, lease_until: float | None = None) -> dict:
        """The job of an item; ``lease_until`` is when the controller gives up on it (the
        claim's lease for a cascade, now + ``lease_s`` for a held-out evaluation)."""
        sb = self.cfg["sandbox"]
        return {"kind": kind, "task": self.task.name, "program_id": row["id"], "attempt": row["attempt"],
                "code": row["code"], "stages": self.stages, "seed": self.seed * 100003 + row["item_seq"],
                "limits": {k: sb.get(k, False) for k in LIMIT_KEYS}, "baselines": self.db.kv_get("baselines"),
                "evaluator_sha": evaluator_sha(), "gate_ref": None if row["item_seq"] == 0 else self.db.kv_get("gate_ref"),
                "hide": list(self.hide),
                "lease_until": lease_until or time.time() + float(self.cfg["executor"]["lease_s"])}

    def on_lost(self, pid: int, attempt: int, kind: str, why: str) -> None:
        """A job whose worker died, hung or was stopped: requeue the item (attempt + 1) until it
        has cost :data:`MAX_LOSSES` workers, then fail it with the reason."""
        db = self.db
        with db.tx():
            losses = db.kv_get("losses", {})
            n = losses[str(pid)] = losses.get(str(pid), 0) + 1
            db.kv_set("losses", losses)
            db.event("worker_lost", pid, attempt=attempt, job=kind, reason=why, losses=n)
            if n < MAX_LOSSES:
                if kind == "cascade":
                    db.requeue(pid, attempt)
                return  # a held-out item stays in its queue and is asked again
        reason = f"evaluation lost {n} times: {why}"
        res = {"state": "failed", "reason": reason, "stages": [{"stage": 3 if kind == "heldout" else 0, "valid": False,
                                                               "error": reason}]}
        if kind == "heldout":
            self.on_heldout(pid, res)
        else:
            self.on_result(pid, attempt, res)

    def on_result(self, pid: int, attempt: int, res: dict) -> None:
        """Commit a cascade result: the transition, the stage rows, the cell, the island, the bandit."""
        cfg, db = self.cfg, self.db
        with db.tx():
            p = db.program(pid)
            pub = next((s.get("public") for s in res["stages"] if s["stage"] == 2 and s.get("valid")), None)
            fit = None
            if res["state"] == "evaluated" and pub is not None:
                fit = float(pub["fitness"]) - float(cfg["search"]["complexity_penalty"]) * int(p["ast_nodes"] or 0)
            if not db.transition(pid, "evaluating", attempt, res["state"], public_fitness=fit, lease_owner=None,
                                 lease_until=None, reject_reason=res.get("reason")):
                db.event("stale_result", pid, attempt=attempt)
                return
            for s in res["stages"]:
                db.insert_evaluation(pid, s["stage"], public=s.get("public"), private=s.get("private"), valid=s.get("valid"),
                                     usage=s, seed=res.get("seed"))
            key = None
            if fit is not None:
                key = population.cell_key(int(p["ast_nodes"] or 0), [g["fitness"] for g in pub["games"].values()], cfg["search"]["features"])
                db.kv_set(f"cell:{pid}", key)
            if p["item_seq"] == 0:
                s1 = next((s.get("public") for s in res["stages"] if s["stage"] == 1 and s.get("public")), None)
                db.kv_set("gate_ref", s1["fitness"] if s1 else None)
            self._place(p, fit, key)
            self.promotion_check()
            self.clock.tick()
        self._report(p, res, fit)

    def _place(self, p, fit: float | None, key: str | None) -> None:
        """The seed starts every island; a child joins its island and scores its model's arm."""
        cfg, db = self.cfg, self.db
        if p["island"] == -1:
            if fit is not None:
                for i in range(int(cfg["search"]["islands"])):
                    population.add_member(db, i, p["id"], fit, key)
            return
        population.on_evaluated(db, p["island"], p["id"], fit, key, cfg, self.seed)
        pf = db.program(p["parent_id"])["public_fitness"]
        b = db.kv_get("bandit", {})
        arm = json.loads(db.llm_call(p["llm_call_id"])["params_json"])["arm"]
        bandit.update(b, arm, (fit - pf) if (fit is not None and pf is not None) else -1.0, None,
                      float(cfg["llm"]["cost_coef"]), len(cfg["llm"]["models"]))
        db.kv_set("bandit", b)

    def _report(self, p, res: dict, fit: float | None) -> None:
        best = self.db.best_public_fitness()
        n = self.db.count_in(EVALUATED_STATES)
        fs = f"{fit:+.3f}" if fit is not None else "   -  "
        self.echo(f"[{n:4d}] #{p['id']:<4d} island {p['island']:>2} {res['state']:<9} fitness {fs}  best {best if best is None else round(best, 3)}"
                  f"  {res.get('wall_s', 0):.1f}s" + (f"  ({(res.get('reason') or '')[:70]})" if res["state"] != "evaluated" else ""))

    def promotion_check(self) -> None:
        """Queue the public top-k that have no held-out evaluation yet (inside a transaction)."""
        if not any(s["stage"] == 3 for s in self.stages):
            return
        top = self.db.top_evaluated(int(self.cfg["cascade"]["promote_top_k"]))
        # Only programs still in the top-k are worth a held-out evaluation.
        queue = [p for p in self.db.kv_get("heldout_queue", []) if p in top]
        for pid in top:
            if not self.db.has_evaluation(pid, 3) and pid not in queue:
                queue.append(pid)
                self.db.event("promote_candidate", pid)
        self.db.kv_set("heldout_queue", queue)

    def on_heldout(self, pid: int, res: dict) -> None:
        """Commit a held-out result; promote the program if its CI clears the champion's."""
        db = self.db
        with db.tx():
            queue = db.kv_get("heldout_queue", [])
            if pid in queue:
                queue.remove(pid)
            db.kv_set("heldout_queue", queue)
            if db.has_evaluation(pid, 3):
                db.event("stale_result", pid, stage=3)
                return
            rec = next((s for s in res["stages"] if s["stage"] == 3), {"stage": 3, "valid": False})
            priv = rec.get("private") if res["state"] == "evaluated" else None
            db.insert_evaluation(pid, 3, public=None, private=priv or None, valid=priv is not None, usage=rec, seed=res.get("seed"))
            p = db.program(pid)
            if priv is not None and (p["public_fitness"] or -1) >= 0:
                cur = db.latest_champion()
                margin = float(self.cfg["cascade"]["promote_margin"])
                if cur is None or priv["ci_low"] > cur["ci_high"] + margin:
                    db.add_champion(pid, priv["fitness"], priv["ci_low"], priv["ci_high"])
                    db.event("champion", pid, private_fitness=priv["fitness"])
                    self.echo(f"       champion #{pid}: held-out fitness {priv['fitness']:+.3f} (public {p['public_fitness']:+.3f})")
            self.clock.tick()
