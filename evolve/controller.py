"""The campaign controller: one asyncio process, the only database writer (specs/evolve.md §3, §5, §6).

Proposals are asyncio tasks (LLM calls run in threads); evaluations occupy executor slots, so a
stuck evaluation never holds a proposer. The backlog (``proposed`` + ``queued``) is bounded by
``slots + backlog``, so LLM spend never outruns evaluation capacity.

Exactly-once: every transition is one transaction with its side effects; resume requeues
``evaluating`` rows (attempt + 1), marks ``pending`` LLM calls ``abandoned`` and re-asks them,
processes stored-but-unparsed responses without paying again, and counts progress from terminal
states. ``run.sequential: true`` keeps at most one item in flight, which makes a campaign a
deterministic function of (config, script, seeds): the fault-injection and replay tests use it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path

import numpy as np

from evolve import config as cfgmod
from evolve import ledger, population
from evolve.db import DB, EVALUATED
from evolve.llm import bandit
from evolve.llm.base import LLMError, prompt_sha
from evolve.normalize import ast_size, code_norm_sha
from evolve.patch import PatchError, apply_patch, parse_response
from evolve.prompt import render
from evolve.screen import ScreenError, screen
from gtlearn.core.errors import GtlearnError

DB_NAME = "campaign.db"


def task_module(name: str):
    if name == "cfr":
        from evolve.tasks import cfr

        return cfr
    from evolve.tasks import psro

    return psro


def make_backend(cfg: dict, run_dir: Path):
    llm = cfg["llm"]
    kind = llm["backend"]
    if kind == "mutation":
        from evolve.llm.mutation import MutationBackend

        return MutationBackend(cfg["search"]["patch_mix"])
    if kind == "scripted":
        from evolve.llm.scripted import ScriptedBackend

        return ScriptedBackend(llm["script"])
    if kind == "openai_compat":
        from evolve.llm.openai_compat import OpenAICompatBackend

        m = llm["models"][0]
        return OpenAICompatBackend(m["base_url"], m.get("api_key_env"), llm["timeout_s"], llm["retries"])
    if kind == "transformers":
        from evolve.llm.hf_local import HFLocalBackend

        return HFLocalBackend(llm["models"][0].get("path"))
    if kind == "replay":
        from evolve.llm.replay import ReplayBackend

        if not llm["cassette"]:
            raise GtlearnError("llm.backend=replay needs llm.cassette (a campaign.db or an exported .jsonl)")
        return ReplayBackend(llm["cassette"], llm.get("record") or "openai_compat", None, bool(llm["strict"]))
    raise GtlearnError(f"unknown backend {kind!r}")


class Controller:
    def __init__(self, run_dir, cfg: dict | None = None, *, resume: bool = False, force_config: bool = False,
                 hard_stop: bool = False, echo=None, executor=None):
        self.run_dir = Path(run_dir)
        self.echo = echo or (lambda s: None)
        self.hard_stop = hard_stop
        path = self.run_dir / DB_NAME
        if resume:
            if not path.exists():
                raise GtlearnError(f"{self.run_dir} holds no {DB_NAME}; nothing to resume")
            self.db = DB(path)
            row = self.db.conn.execute("SELECT * FROM runs").fetchone()
            if row is None:
                raise GtlearnError(f"{path} holds no run")
            stored = json.loads(row["config_json"])
            if cfg is not None and cfgmod.sha(cfg) != row["config_sha"] and not force_config:
                raise GtlearnError("the config differs from the run's (config_sha mismatch); pass --force-config to continue anyway")
            self.cfg = cfg if (cfg is not None and force_config) else stored
            self.db.run_id = row["run_id"]
        else:
            if path.exists():
                raise GtlearnError(f"{self.run_dir} already holds a campaign; use `gtlearn evolve resume {self.run_dir}`")
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.cfg = cfg
            self.db = DB(path, durable=bool(cfg["run"]["durable"]))
            self.db.run_id = self.run_dir.name
        self.task = task_module(self.cfg["run"]["task"])
        self.seed = int(self.cfg["run"]["seed"])
        self.stages = cfgmod.cfr_stages(self.cfg) if self.cfg["run"]["task"] == "cfr" else self.task.stages(self.cfg)
        self.backend = make_backend(self.cfg, self.run_dir)
        self._executor = executor
        self._t_last = time.monotonic()
        if not resume:
            self._init_run()

    # -- setup -----------------------------------------------------------------------------
    def _seed_code(self) -> str:
        sp = self.cfg["run"].get("seed_program")
        return Path(sp).read_text() if sp else self.task.SEED

    def _init_run(self) -> None:
        from evolve.evaluator import evaluator_sha
        from evolve.llm import pricing
        from evolve.sandbox.profiles import detect

        code = self._seed_code()
        screen(code)
        profile, _ = detect(self.cfg["sandbox"]["profile"], as_nobody=False)
        if profile == "weak":
            if self.cfg["sandbox"]["network"] == "require":
                raise GtlearnError("sandbox.network=require, but neither bwrap nor unshare works on this host")
            self.echo("warning: no network isolation available here (sandbox_profile=weak); the audit hook denies sockets")
        with self.db.tx():
            self.db.conn.execute("INSERT INTO runs VALUES (?,?,?,?,?,?,?,?)", (
                self.db.run_id, time.time(), json.dumps(self.cfg, sort_keys=True), cfgmod.sha(self.cfg),
                code_norm_sha(code), evaluator_sha(), self.seed, "running"))
            self.db.kv_set("prices", pricing.PRICES)
            self.db.kv_set("next_item_seq", 1)
            self.db.kv_set("sandbox_profile", profile)
            self.db.kv_set("heldout_queue", [])
            self.db.conn.execute(
                "INSERT INTO programs(run_id, parent_id, island, generation, item_seq, code, code_norm_sha, patch_kind, state, "
                "attempt, ast_nodes, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (self.db.run_id, None, -1, 0, 0, code, code_norm_sha(code), "seed", "queued", 0, ast_size(code), time.time(), time.time()))
            self.db.event("run_created", None, config_sha=cfgmod.sha(self.cfg), profile=profile)

    def _recover(self) -> None:
        with self.db.tx():
            n_eval = self.db.conn.execute(
                "UPDATE programs SET state='queued', attempt=attempt+1, lease_owner=NULL, lease_until=NULL, updated_at=? "
                "WHERE run_id=? AND state='evaluating'", (time.time(), self.db.run_id)).rowcount
            n_llm = self.db.conn.execute("UPDATE llm_calls SET status='abandoned' WHERE run_id=? AND status='pending'",
                                         (self.db.run_id,)).rowcount
            self.db.conn.execute("UPDATE runs SET status='running'")
            self.db.event("resume", None, requeued=n_eval, abandoned_calls=n_llm)

    # -- helpers ---------------------------------------------------------------------------
    def _tick(self) -> None:
        now = time.monotonic()
        self.db.kv_set("wall_s", float(self.db.kv_get("wall_s", 0.0)) + now - self._t_last)
        self._t_last = now

    def count(self, states) -> int:
        q = ",".join("?" * len(states))
        return self.db.conn.execute(f"SELECT COUNT(*) FROM programs WHERE run_id=? AND state IN ({q})",
                                    (self.db.run_id, *states)).fetchone()[0]

    def public(self, pid: int) -> dict | None:
        r = self.db.conn.execute("SELECT public_json FROM evaluations WHERE program_id=? AND stage=2 AND valid=1", (pid,)).fetchone()
        return json.loads(r[0]) if r else None

    def stop_reason(self) -> str | None:
        run = self.cfg["run"]
        if self.count(EVALUATED) >= int(run["max_evaluated"]):
            return f"{run['max_evaluated']} candidates evaluated"
        n = self.db.conn.execute("SELECT COUNT(*) FROM programs WHERE run_id=?", (self.db.run_id,)).fetchone()[0]
        if n >= int(run["max_programs"]) + 1:
            return f"{run['max_programs']} programs proposed"
        return ledger.over_budget(self.db, run["budget"])

    # -- proposals -------------------------------------------------------------------------
    def _create_proposal(self):
        """Allocate an item, select its parent and inspirations, render the prompt, and commit
        the ``proposed`` row with its ``pending`` LLM call (one transaction)."""
        cfg = self.cfg
        k = int(cfg["search"]["islands"])
        with self.db.tx():
            seq = int(self.db.kv_get("next_item_seq", 1))
            rng = np.random.default_rng([self.seed, seq])
            island = None
            for j in range(k):
                cand = (seq + j) % k
                if population.members(self.db, cand):
                    island = cand
                    break
            if island is None:
                return None
            parent = population.select_parent(self.db, island, rng, cfg)
            insp = population.inspirations(self.db, island, parent, rng, cfg)
            prow = self.db.program(parent)
            messages = self._messages(prow, insp, rng)
            bstate = self.db.kv_get("bandit", {})
            arm = bandit.pick(bstate, cfg["llm"]["models"], rng)
            model = cfg["llm"]["models"][arm]
            reserved = ledger.reserve(self.db, model, messages, cfg, self.db.kv_get("prices"))
            if reserved is not None and reserved < 0:
                self.db.event("budget_refused", None, item_seq=seq)
                return "budget"
            self.db.kv_set("next_item_seq", seq + 1)
            now = time.time()
            cur = self.db.conn.execute(
                "INSERT INTO programs(run_id, parent_id, island, generation, item_seq, state, attempt, created_at, updated_at) "
                "VALUES (?,?,?,?,?,?,?,?,?)", (self.db.run_id, parent, island, prow["generation"] + 1, seq, "proposed", 0, now, now))
            pid = cur.lastrowid
            call_id = self._insert_call(pid, seq, messages, model, arm, reserved, insp)
            self.db.event("proposed", pid, parent=parent, island=island, item_seq=seq, inspirations=insp)
        return pid

    def _messages(self, prow, insp: list[int], rng) -> list[dict]:
        fb = [r[0] for r in self.db.conn.execute(
            "SELECT reject_reason FROM programs WHERE parent_id=? AND reject_reason IS NOT NULL ORDER BY id DESC LIMIT 4", (prow["id"],))]
        horizon = int(self.cfg["cascade"]["stage2"]["iterations"]) if "stage2" in self.cfg["cascade"] else 0
        return render(prow["code"], self.public(prow["id"]), [(self.db.program(i)["code"], self.public(i)) for i in insp], fb, rng,
                      self.cfg, horizon)

    def _insert_call(self, pid, seq, messages, model, arm, reserved, insp) -> int:
        params = {"temperature": model["temperature"], "max_tokens": model["max_tokens"], "arm": arm, "inspirations": insp}
        backend_name = self.cfg["llm"].get("record") if self.cfg["llm"]["backend"] == "replay" else self.cfg["llm"]["backend"]
        cur = self.db.conn.execute(
            "INSERT INTO llm_calls(run_id, backend, model, params_json, prompt_sha, sample_idx, prompt, status, reserved_usd, created_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?)",
            (self.db.run_id, backend_name or self.cfg["llm"]["backend"], model["name"], json.dumps(params, sort_keys=True),
             prompt_sha(messages), seq, json.dumps(messages), "pending", reserved, time.time()))
        self.db.conn.execute("UPDATE programs SET llm_call_id=? WHERE id=?", (cur.lastrowid, pid))
        return cur.lastrowid

    async def _ask(self, pid: int):
        """The LLM call of a ``proposed`` row (its pending call); returns (pid, call_id, completion|exc)."""
        p = self.db.program(pid)
        call = self.db.conn.execute("SELECT * FROM llm_calls WHERE id=?", (p["llm_call_id"],)).fetchone()
        messages = json.loads(call["prompt"])
        params = json.loads(call["params_json"])
        model = self.cfg["llm"]["models"][params["arm"]]
        parent = self.db.program(p["parent_id"])
        ctx = {"parent_code": parent["code"], "inspirations": [self.db.program(i)["code"] for i in params["inspirations"]],
               "sample_idx": p["item_seq"]}
        seed = int(np.random.default_rng([self.seed, p["item_seq"], 1]).integers(2**31))
        try:
            comp = await asyncio.to_thread(self.backend.complete, messages, model=model["name"], temperature=model["temperature"],
                                           max_tokens=model["max_tokens"], seed=seed, context=ctx)
        except (LLMError, OSError) as exc:
            return pid, call["id"], exc
        return pid, call["id"], comp

    def _on_answer(self, pid: int, call_id: int, comp) -> None:
        with self.db.tx():
            if isinstance(comp, Exception):
                self.db.conn.execute("UPDATE llm_calls SET status='error', response=? WHERE id=?", (str(comp)[:2000], call_id))
                self.db.transition(pid, "proposed", 0, "rejected_patch", reject_reason=f"LLM call failed: {comp}"[:2000])
            else:
                ledger.settle(self.db, call_id, comp, self.db.conn.execute("SELECT model FROM llm_calls WHERE id=?", (call_id,)).fetchone()[0],
                              self.db.kv_get("prices"))
            self._tick()
        if not isinstance(comp, Exception):
            self._process(pid)

    def _process(self, pid: int) -> None:
        """Parse + apply the stored response, screen, normalize + dedup (one transaction)."""
        with self.db.tx():
            p = self.db.program(pid)
            if p["state"] != "proposed":
                return
            resp = self.db.conn.execute("SELECT response FROM llm_calls WHERE id=?", (p["llm_call_id"],)).fetchone()[0]
            parent = self.db.program(p["parent_id"])
            try:
                patch = parse_response(resp or "")
                child = apply_patch(parent["code"], patch, self.task.FUNCS)
            except PatchError as exc:
                self.db.transition(pid, "proposed", 0, "rejected_patch", reject_reason=f"patch rejected: {exc}"[:2000],
                                   patch_text=(resp or "")[:20000])
                return
            cols = {"code": child, "patch_kind": patch.kind, "patch_text": resp[:20000], "ast_nodes": ast_size(child)}
            if self.cfg["sandbox"]["screen"]:
                try:
                    screen(child)
                except ScreenError as exc:
                    self.db.transition(pid, "proposed", 0, "rejected_static", reject_reason=f"static screen: {exc}", **cols)
                    return
            sha = code_norm_sha(child)
            orig = self.db.conn.execute("SELECT id, public_fitness FROM programs WHERE run_id=? AND code_norm_sha=?",
                                        (self.db.run_id, sha)).fetchone()
            if orig is not None:
                self.db.transition(pid, "proposed", 0, "duplicate", duplicate_of=orig[0], public_fitness=orig[1], **cols)
                return
            self.db.transition(pid, "proposed", 0, "queued", code_norm_sha=sha, **cols)

    # -- evaluations -----------------------------------------------------------------------
    def _claim(self):
        with self.db.tx():
            row = self.db.conn.execute("SELECT * FROM programs WHERE run_id=? AND state='queued' ORDER BY item_seq LIMIT 1",
                                       (self.db.run_id,)).fetchone()
            if row is None:
                return None
            lease = time.time() + float(self.cfg["executor"]["lease_s"])
            if not self.db.transition(row["id"], "queued", row["attempt"], "evaluating", lease_owner=f"pid{os.getpid()}", lease_until=lease):
                return None
        return self._job(row, "cascade")

    def _job(self, row, kind: str) -> dict:
        from evolve.evaluator import evaluator_sha

        sb = self.cfg["sandbox"]
        limits = {k: sb[k] for k in ("wall_s", "cpu_s", "mem_mb", "nofile", "nproc", "fsize_mb", "profile", "network")}
        return {"kind": kind, "task": self.cfg["run"]["task"], "program_id": row["id"], "attempt": row["attempt"],
                "code": row["code"], "stages": self.stages, "seed": self.seed * 100003 + row["item_seq"], "limits": limits,
                "baselines": self.db.kv_get("baselines"), "evaluator_sha": evaluator_sha(),
                "gate_ref": None if row["item_seq"] == 0 else self.db.kv_get("gate_ref")}

    def _on_result(self, pid: int, attempt: int, res: dict) -> None:
        cfg = self.cfg
        with self.db.tx():
            p = self.db.program(pid)
            pub = next((s.get("public") for s in res["stages"] if s["stage"] == 2 and s.get("valid")), None)
            fit = None
            if res["state"] == "evaluated" and pub is not None:
                fit = float(pub["fitness"]) - float(cfg["search"]["complexity_penalty"]) * int(p["ast_nodes"] or 0)
            if not self.db.transition(pid, "evaluating", attempt, res["state"], public_fitness=fit, lease_owner=None,
                                      lease_until=None, reject_reason=res.get("reason")):
                self.db.event("stale_result", pid, attempt=attempt)
                return
            for s in res["stages"]:
                self.db.conn.execute(
                    "INSERT INTO evaluations VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (pid, s["stage"], json.dumps(s.get("public")) if s.get("public") is not None else None,
                     json.dumps(s.get("private")) if s.get("private") is not None else None, int(bool(s.get("valid"))),
                     s.get("wall_s"), s.get("cpu_s"), s.get("peak_rss_mb"), s.get("exit_code"),
                     (s.get("stderr_tail") or "")[-2000:], res.get("seed")))
            key = None
            if fit is not None:
                key = population.cell_key(int(p["ast_nodes"] or 0), [g["fitness"] for g in pub["games"].values()], cfg["search"]["features"])
                self.db.kv_set(f"cell:{pid}", key)
            if p["item_seq"] == 0:
                s1 = next((s.get("public") for s in res["stages"] if s["stage"] == 1 and s.get("public")), None)
                self.db.kv_set("gate_ref", s1["fitness"] if s1 else None)
            if p["island"] == -1:  # the seed program starts every island
                if fit is not None:
                    for i in range(int(cfg["search"]["islands"])):
                        population.add_member(self.db, i, pid, fit, key)
            else:
                population.on_evaluated(self.db, p["island"], pid, fit, key, cfg, self.seed)
                pf = self.db.program(p["parent_id"])["public_fitness"]
                b = self.db.kv_get("bandit", {})
                arm = json.loads(self.db.conn.execute("SELECT params_json FROM llm_calls WHERE id=?", (p["llm_call_id"],)).fetchone()[0])["arm"]
                bandit.update(b, arm, (fit - pf) if (fit is not None and pf is not None) else -1.0, None,
                              float(cfg["llm"]["cost_coef"]), len(cfg["llm"]["models"]))
                self.db.kv_set("bandit", b)
            self._promotion_check()
            self._tick()
        best = self.db.conn.execute("SELECT MAX(public_fitness) FROM programs WHERE run_id=?", (self.db.run_id,)).fetchone()[0]
        n = self.count(EVALUATED)
        fs = f"{fit:+.3f}" if fit is not None else "   -  "
        self.echo(f"[{n:4d}] #{pid:<4d} island {p['island']:>2} {res['state']:<9} fitness {fs}  best {best if best is None else round(best, 3)}"
                  f"  {res.get('wall_s', 0):.1f}s" + (f"  ({(res.get('reason') or '')[:70]})" if res["state"] != "evaluated" else ""))

    def _promotion_check(self) -> None:
        if not any(s["stage"] == 3 for s in self.stages):
            return
        k = int(self.cfg["cascade"]["promote_top_k"])
        top = [r[0] for r in self.db.conn.execute(
            "SELECT id FROM programs WHERE run_id=? AND state='evaluated' AND public_fitness IS NOT NULL "
            "ORDER BY public_fitness DESC, id LIMIT ?", (self.db.run_id, k))]
        # Only programs still in the top-k are worth a held-out evaluation.
        queue = [p for p in self.db.kv_get("heldout_queue", []) if p in top]
        for pid in top:
            done = self.db.conn.execute("SELECT 1 FROM evaluations WHERE program_id=? AND stage=3", (pid,)).fetchone()
            if not done and pid not in queue:
                queue.append(pid)
                self.db.event("promote_candidate", pid)
        self.db.kv_set("heldout_queue", queue)

    def _on_heldout(self, pid: int, res: dict) -> None:
        with self.db.tx():
            queue = self.db.kv_get("heldout_queue", [])
            if pid in queue:
                queue.remove(pid)
            self.db.kv_set("heldout_queue", queue)
            if self.db.conn.execute("SELECT 1 FROM evaluations WHERE program_id=? AND stage=3", (pid,)).fetchone():
                self.db.event("stale_result", pid, stage=3)
                return
            rec = next((s for s in res["stages"] if s["stage"] == 3), {"stage": 3, "valid": False})
            priv = rec.get("private") if res["state"] == "evaluated" else None
            self.db.conn.execute(
                "INSERT INTO evaluations VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (pid, 3, None, json.dumps(priv) if priv else None, int(priv is not None), rec.get("wall_s"), rec.get("cpu_s"),
                 rec.get("peak_rss_mb"), rec.get("exit_code"), (rec.get("stderr_tail") or "")[-2000:], res.get("seed")))
            p = self.db.program(pid)
            if priv is not None and (p["public_fitness"] or -1) >= 0:
                cur = self.db.conn.execute("SELECT * FROM champions WHERE run_id=? ORDER BY rowid DESC LIMIT 1", (self.db.run_id,)).fetchone()
                margin = float(self.cfg["cascade"]["promote_margin"])
                if cur is None or priv["ci_low"] > cur["ci_high"] + margin:
                    self.db.conn.execute("INSERT INTO champions VALUES (?,?,?,?,?,?)",
                                         (self.db.run_id, pid, time.time(), priv["fitness"], priv["ci_low"], priv["ci_high"]))
                    self.db.event("champion", pid, private_fitness=priv["fitness"])
                    self.echo(f"       champion #{pid}: held-out fitness {priv['fitness']:+.3f} (public {p['public_fitness']:+.3f})")
            self._tick()

    # -- the loop --------------------------------------------------------------------------
    async def _baselines(self, executor) -> None:
        if self.db.kv_get("baselines") is not None:
            return
        self.echo("computing the baselines (trusted, once per run) ...")
        fut = executor.submit({"kind": "baselines", "task": self.cfg["run"]["task"], "stages": self.stages})
        b = await asyncio.wrap_future(fut)
        with self.db.tx():
            self.db.kv_set("baselines", b)

    async def run_async(self, resume: bool = False) -> str:
        from evolve.executors import make_executor

        if resume:
            self._recover()
            with self.db.tx():
                self._promotion_check()
        executor = self._executor or make_executor(self.cfg)
        try:
            await self._baselines(executor)
            return await self._loop(executor)
        finally:
            if self._executor is None:
                executor.shutdown()

    async def _loop(self, executor) -> str:
        cfg = self.cfg
        slots = int(cfg["executor"]["slots"])
        backlog_cap = slots + int(cfg["executor"]["backlog"])
        proposers = max(1, int(cfg["llm"]["proposers"]))
        seq_mode = bool(cfg["run"]["sequential"])
        props: dict = {}
        evals: dict = {}
        # Resume: proposed rows with a stored answer are processed, the others asked again.
        for r in self.db.conn.execute("SELECT p.id, c.status FROM programs p LEFT JOIN llm_calls c ON c.id=p.llm_call_id "
                                      "WHERE p.run_id=? AND p.state='proposed' ORDER BY p.item_seq", (self.db.run_id,)).fetchall():
            if r[1] == "ok":
                self._process(r[0])
        stop = None
        while True:
            if stop is None:
                stop = self.stop_reason()
                if stop:
                    self.echo(f"stopping proposals: {stop}; draining the queue")
            if self.hard_stop and stop and stop.startswith("budget"):
                for f in evals:
                    f.cancel()
                break
            busy = len(props) + len(evals)
            # Held-out promotions first (few, and they gate the champion), then cascade items.
            while len(evals) < slots and not (seq_mode and busy):
                inflight = {v[0] for v in evals.values() if v[2] == "heldout"}
                todo = [p for p in self.db.kv_get("heldout_queue", []) if p not in inflight]
                if todo:
                    job = self._job(self.db.program(todo[0]), "heldout")
                else:
                    job = self._claim()
                    if job is None:
                        break
                fut = asyncio.wrap_future(executor.submit(job))
                evals[fut] = (job["program_id"], job["attempt"], job["kind"])
                busy += 1
            # Re-ask proposed rows whose call a crash abandoned (they are already in the backlog).
            for (pid,) in self.db.conn.execute(
                    "SELECT p.id FROM programs p JOIN llm_calls c ON c.id=p.llm_call_id WHERE p.run_id=? AND p.state='proposed' "
                    "AND c.status='abandoned' ORDER BY p.item_seq", (self.db.run_id,)).fetchall():
                if len(props) >= proposers or (seq_mode and busy) or pid in props.values():
                    break
                self._reask(pid)
                props[asyncio.ensure_future(self._ask(pid))] = pid
                busy += 1
            pending_items = self.count(("proposed", "queued"))
            while (stop is None and len(props) < proposers and pending_items < backlog_cap
                   and not (seq_mode and (busy or pending_items or self.db.kv_get("heldout_queue", [])))):
                pid = self._create_proposal()
                if pid is None or pid == "budget":
                    if pid == "budget":
                        stop = "budget max_usd would be exceeded"
                    break
                t = asyncio.ensure_future(self._ask(pid))
                props[t] = pid
                busy += 1
                pending_items += 1
            if not props and not evals:
                if stop is not None or (self.count(("proposed", "queued")) == 0 and not self.db.kv_get("heldout_queue", [])
                                        and self._create_blocked()):
                    break
                await asyncio.sleep(0.05)
                continue
            done, _ = await asyncio.wait(list(props) + list(evals), return_when=asyncio.FIRST_COMPLETED)
            for d in done:
                if d in props:
                    props.pop(d)
                    pid, call_id, comp = d.result()
                    self._on_answer(pid, call_id, comp)
                else:
                    pid, attempt, kind = evals.pop(d)
                    try:
                        res = d.result()
                    except Exception as exc:  # noqa: BLE001 - an executor/worker failure is the candidate's failure
                        res = {"program_id": pid, "attempt": attempt, "kind": kind, "state": "failed",
                               "reason": f"executor error: {type(exc).__name__}: {exc}"[:2000],
                               "stages": [{"stage": 3 if kind == "heldout" else 0, "valid": False}]}
                    if kind == "heldout":
                        self._on_heldout(pid, res)
                    else:
                        self._on_result(pid, attempt, res)
        with self.db.tx():
            self.db.conn.execute("UPDATE runs SET status=?", ("finished",))
            self.db.event("finished", None, reason=stop)
            self._tick()
        return stop or "nothing left to do"

    def _reask(self, pid: int) -> None:
        """A new LLM call row for a proposed item whose call was abandoned (same prompt, same item)."""
        with self.db.tx():
            p = self.db.program(pid)
            old = self.db.conn.execute("SELECT * FROM llm_calls WHERE id=?", (p["llm_call_id"],)).fetchone()
            params = json.loads(old["params_json"])
            model = self.cfg["llm"]["models"][params["arm"]]
            self._insert_call(pid, p["item_seq"], json.loads(old["prompt"]), model, params["arm"], old["reserved_usd"], params["inspirations"])
            self.db.event("reask", pid)

    def _create_blocked(self) -> bool:
        """True when no proposal can ever be made (no island has a member: the seed failed)."""
        k = int(self.cfg["search"]["islands"])
        return not any(population.members(self.db, i) for i in range(k))


def run_campaign(cfg: dict, run_dir, echo=None, executor=None) -> Controller:
    c = Controller(run_dir, cfg, echo=echo, executor=executor)
    asyncio.run(c.run_async())
    return c


def resume_campaign(run_dir, cfg: dict | None = None, force_config: bool = False, echo=None, executor=None,
                    hard_stop: bool = False) -> Controller:
    c = Controller(run_dir, cfg, resume=True, force_config=force_config, echo=echo, executor=executor, hard_stop=hard_stop)
    asyncio.run(c.run_async(resume=True))
    return c


def _sigterm_to_exit():  # pragma: no cover - CLI nicety
    signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
