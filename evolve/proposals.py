"""Proposals (docs/evolve.md, The search loop): pick an island, a parent and inspirations, render
the prompt, ask the LLM, and turn its answer into a queued candidate (or a rejected one).

Each step is one transaction: the ``proposed`` row is committed with its ``pending`` LLM call
before the call is made, the answer is stored before it is parsed, so a crash loses nothing
and pays for nothing twice.
"""

from __future__ import annotations

import asyncio
import json

import numpy as np

from evolve import ledger, population
from evolve.db import DB
from evolve.ledger import WallClock
from evolve.llm import bandit
from evolve.llm.base import Backend, LLMError, prompt_sha
from evolve.normalize import ast_size, code_norm_sha
from evolve.patch import PatchError, apply_patch, parse_response
from evolve.prompt import render
from evolve.screen import ScreenError, screen
from evolve.tasks import Task

BUDGET_REFUSED = "budget"  # what create() returns when the call's worst case would break max_usd


class Proposer:
    def __init__(self, db: DB, cfg: dict, task: Task, backend: Backend, seed: int, clock: WallClock):
        self.db, self.cfg, self.task, self.backend, self.seed, self.clock = db, cfg, task, backend, seed, clock

    def create(self) -> int | str | None:
        """Allocate an item, select its parent and inspirations, render the prompt, and commit
        the ``proposed`` row with its ``pending`` LLM call (one transaction). Returns the
        program id, None when no island has a member yet, or :data:`BUDGET_REFUSED`."""
        cfg, db = self.cfg, self.db
        k = int(cfg["search"]["islands"])
        with db.tx():
            seq = int(db.kv_get("next_item_seq", 1))
            rng = np.random.default_rng([self.seed, seq])
            island = next((cand for cand in ((seq + j) % k for j in range(k)) if population.members(db, cand)), None)
            if island is None:
                return None
            parent = population.select_parent(db, island, rng, cfg)
            insp = population.inspirations(db, island, parent, rng, cfg)
            prow = db.program(parent)
            messages = self._messages(prow, insp, rng)
            arm = bandit.pick(db.kv_get("bandit", {}), cfg["llm"]["models"], rng)
            model = cfg["llm"]["models"][arm]
            reserved = ledger.reserve(db, model, messages, cfg, db.kv_get("prices"))
            if reserved is not None and reserved < 0:
                db.event("budget_refused", None, item_seq=seq)
                return BUDGET_REFUSED
            db.kv_set("next_item_seq", seq + 1)
            pid = db.insert_proposal(parent, island, prow["generation"] + 1, seq)
            self._insert_call(pid, seq, messages, model, arm, reserved, insp)
            db.event("proposed", pid, parent=parent, island=island, item_seq=seq, inspirations=insp)
        return pid

    def _messages(self, prow, insp: list[int], rng) -> list[dict]:
        db = self.db
        feedback = db.reject_reasons(prow["id"])
        return render(prow["code"], db.evaluation(prow["id"], 2), [(db.program(i)["code"], db.evaluation(i, 2)) for i in insp],
                      feedback, rng, self.cfg, self.task.system_prompt(self.cfg))

    def _insert_call(self, pid, seq, messages, model, arm, reserved, insp) -> int:
        llm = self.cfg["llm"]
        params = {"temperature": model["temperature"], "max_tokens": model["max_tokens"], "arm": arm, "inspirations": insp}
        backend_name = llm.get("record") if llm["backend"] == "replay" else llm["backend"]
        return self.db.insert_llm_call(pid, backend=backend_name or llm["backend"], model=model["name"], params=params,
                                       prompt_sha=prompt_sha(messages), sample_idx=seq, messages=messages, reserved_usd=reserved)

    async def ask(self, pid: int):
        """The LLM call of a ``proposed`` row (its pending call); returns (pid, call_id, completion|exc)."""
        db = self.db
        p = db.program(pid)
        call = db.llm_call(p["llm_call_id"])
        messages = json.loads(call["prompt"])
        params = json.loads(call["params_json"])
        model = self.cfg["llm"]["models"][params["arm"]]
        ctx = {"parent_code": db.program(p["parent_id"])["code"],
               "inspirations": [db.program(i)["code"] for i in params["inspirations"]], "sample_idx": p["item_seq"]}
        seed = int(np.random.default_rng([self.seed, p["item_seq"], 1]).integers(2**31))
        try:
            comp = await asyncio.to_thread(self.backend.complete, messages, model=model["name"], temperature=model["temperature"],
                                           max_tokens=model["max_tokens"], seed=seed, context=ctx)
        except (LLMError, OSError) as exc:
            return pid, call["id"], exc
        return pid, call["id"], comp

    def on_answer(self, pid: int, call_id: int, comp) -> None:
        db = self.db
        with db.tx():
            if isinstance(comp, Exception):
                db.fail_llm_call(call_id, str(comp)[:2000])
                db.transition(pid, "proposed", 0, "rejected_patch", reject_reason=f"LLM call failed: {comp}"[:2000])
            else:
                ledger.settle(db, call_id, comp, db.llm_call(call_id)["model"], db.kv_get("prices"))
            self.clock.tick()
        if not isinstance(comp, Exception):
            self.process(pid)

    def process(self, pid: int) -> None:
        """Parse + apply the stored response, screen, normalize + dedup (one transaction)."""
        db = self.db
        with db.tx():
            p = db.program(pid)
            if p["state"] != "proposed":
                return
            resp = db.llm_call(p["llm_call_id"])["response"]
            parent = db.program(p["parent_id"])
            try:
                patch = parse_response(resp or "")
                child = apply_patch(parent["code"], patch, self.task.functions)
            except PatchError as exc:
                db.transition(pid, "proposed", 0, "rejected_patch", reject_reason=f"patch rejected: {exc}"[:2000],
                              patch_text=(resp or "")[:20000])
                return
            cols = {"code": child, "patch_kind": patch.kind, "patch_text": resp[:20000], "ast_nodes": ast_size(child)}
            if self.cfg["sandbox"]["screen"]:
                try:
                    screen(child)
                except ScreenError as exc:
                    db.transition(pid, "proposed", 0, "rejected_static", reject_reason=f"static screen: {exc}", **cols)
                    return
            sha = code_norm_sha(child)
            orig = db.program_with_norm_sha(sha)
            if orig is not None:
                db.transition(pid, "proposed", 0, "duplicate", duplicate_of=orig[0], public_fitness=orig[1], **cols)
                return
            db.transition(pid, "proposed", 0, "queued", code_norm_sha=sha, **cols)

    def reask(self, pid: int) -> None:
        """A new LLM call row for a proposed item whose call was abandoned (same prompt, same item)."""
        db = self.db
        with db.tx():
            p = db.program(pid)
            old = db.llm_call(p["llm_call_id"])
            params = json.loads(old["params_json"])
            model = self.cfg["llm"]["models"][params["arm"]]
            self._insert_call(pid, p["item_seq"], json.loads(old["prompt"]), model, params["arm"], old["reserved_usd"],
                              params["inspirations"])
            db.event("reask", pid)
