"""The campaign controller: one asyncio process, the only database writer (docs/evolve.md, The
search loop and The database).

Proposals (:mod:`evolve.proposals`) are asyncio tasks (LLM calls run in threads); evaluations
(:mod:`evolve.scheduling`) occupy executor slots, so a stuck evaluation never holds a proposer.
The backlog (``proposed`` + ``queued``) is bounded by ``slots + backlog``, so LLM spend never
outruns evaluation capacity.

Exactly-once: every transition is one transaction with its side effects; resume requeues
``evaluating`` rows (attempt + 1), marks ``pending`` LLM calls ``abandoned`` and re-asks them,
processes stored-but-unparsed responses without paying again, and counts progress from finished
states. ``run.sequential: true`` keeps at most one item in flight, which makes a campaign a
deterministic function of (config, script, seeds): the fault-injection and replay tests use it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from evolve import config as cfgmod
from evolve import ledger, population
from evolve.db import BACKLOG_STATES, DB, EVALUATED_STATES
from evolve.evaluator import evaluator_sha
from evolve.executors import make_executor
from evolve.llm import pricing
from evolve.llm.factory import make_backend
from evolve.normalize import ast_size, code_norm_sha
from evolve.proposals import BUDGET_REFUSED, Proposer
from evolve.sandbox.profiles import detect
from evolve.scheduling import Scheduler
from evolve.screen import screen
from evolve.tasks import make_task
from gtlearn.core.errors import GtlearnError

DB_NAME = "campaign.db"


@dataclass
class _InFlight:
    """What the loop is waiting for: LLM answers (future -> program id) and evaluations
    (future -> (program id, attempt, kind)), and why proposing stopped, once it has."""

    props: dict = field(default_factory=dict)
    evals: dict = field(default_factory=dict)
    stop: str | None = None

    def busy(self) -> int:
        return len(self.props) + len(self.evals)


class Controller:
    def __init__(self, run_dir, cfg: dict | None = None, *, resume: bool = False, force_config: bool = False,
                 hard_stop: bool = False, echo=None, executor=None):
        self.run_dir = Path(run_dir)
        self.echo = echo or (lambda s: None)
        self.hard_stop = hard_stop
        if resume:
            self._open(cfg, force_config)
        else:
            self._create(cfg)
        self.task = make_task(self.cfg)
        self.seed = int(self.cfg["run"]["seed"])
        self.stages = self.task.stages(self.cfg)
        self._executor = executor
        self.clock = ledger.WallClock(self.db)
        self.proposer = Proposer(self.db, self.cfg, self.task, make_backend(self.cfg), self.seed, self.clock)
        self.scheduler = Scheduler(self.db, self.cfg, self.task, self.stages, self.seed, self.clock, self.echo)
        if not resume:
            self._init_run()

    # -- setup -----------------------------------------------------------------------------
    def _open(self, cfg: dict | None, force_config: bool) -> None:
        path = self.run_dir / DB_NAME
        if not path.exists():
            raise GtlearnError(f"{self.run_dir} holds no {DB_NAME}; nothing to resume")
        self.db = DB(path)
        row = self.db.run_row()
        if row is None:
            raise GtlearnError(f"{path} holds no run")
        if cfg is not None and cfgmod.sha(cfg) != row["config_sha"] and not force_config:
            raise GtlearnError("the config differs from the run's (config_sha mismatch); pass --force-config to continue anyway")
        self.cfg = cfg if (cfg is not None and force_config) else self.db.run_config()
        self.db.run_id = row["run_id"]

    def _create(self, cfg: dict) -> None:
        path = self.run_dir / DB_NAME
        if path.exists():
            raise GtlearnError(f"{self.run_dir} already holds a campaign; use `gtlearn evolve resume {self.run_dir}`")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.cfg = cfg
        self.db = DB(path, durable=bool(cfg["run"]["durable"]))
        self.db.run_id = self.run_dir.name

    def _seed_code(self) -> str:
        sp = self.cfg["run"].get("seed_program")
        return Path(sp).read_text() if sp else self.task.seed_program

    def _init_run(self) -> None:
        code = self._seed_code()
        screen(code)
        profile, _ = detect(self.cfg["sandbox"]["profile"], as_nobody=False)
        if profile == "weak":
            if self.cfg["sandbox"]["network"] == "require":
                raise GtlearnError("sandbox.network=require, but neither bwrap nor unshare works on this host")
            self.echo("warning: no network isolation available here (sandbox_profile=weak); the audit hook denies sockets")
        db = self.db
        with db.tx():
            db.create_run(self.cfg, cfgmod.sha(self.cfg), code_norm_sha(code), evaluator_sha(), self.seed)
            db.kv_set("prices", pricing.PRICES)
            db.kv_set("next_item_seq", 1)
            db.kv_set("sandbox_profile", profile)
            db.kv_set("heldout_queue", [])
            db.insert_seed(code, code_norm_sha(code), ast_size(code))
            db.event("run_created", None, config_sha=cfgmod.sha(self.cfg), profile=profile)

    def _recover(self) -> None:
        with self.db.tx():
            n_eval = self.db.requeue_evaluating()
            n_llm = self.db.abandon_pending_calls()
            self.db.set_run_status("running")
            self.db.event("resume", None, requeued=n_eval, abandoned_calls=n_llm)

    def stop_reason(self) -> str | None:
        run = self.cfg["run"]
        if self.db.count_in(EVALUATED_STATES) >= int(run["max_evaluated"]):
            return f"{run['max_evaluated']} candidates evaluated"
        if self.db.count_programs() >= int(run["max_programs"]) + 1:
            return f"{run['max_programs']} programs proposed"
        return ledger.over_budget(self.db, run["budget"])

    # -- the loop --------------------------------------------------------------------------
    async def run_async(self, resume: bool = False) -> str:
        if resume:
            self._recover()
            with self.db.tx():
                self.scheduler.promotion_check()
        executor = self._executor or make_executor(self.cfg)
        try:
            await self.scheduler.baselines(executor)
            return await self._loop(executor)
        finally:
            if self._executor is None:
                executor.shutdown()

    async def _loop(self, executor) -> str:
        fl = _InFlight()
        # Resume: proposed rows with a stored answer are processed, the others asked again.
        for pid, status in self.db.proposed_with_call_status():
            if status == "ok":
                self.proposer.process(pid)
        while True:
            if fl.stop is None:
                fl.stop = self.stop_reason()
                if fl.stop:
                    self.echo(f"stopping proposals: {fl.stop}; draining the queue")
            if self.hard_stop and fl.stop and fl.stop.startswith("budget"):
                for f in fl.evals:
                    f.cancel()
                break
            busy = self._submit_evaluations(executor, fl, fl.busy())
            busy = self._reask_abandoned(fl, busy)
            self._propose(fl, busy)
            if not fl.props and not fl.evals:
                if fl.stop is not None or (self.db.count_in(BACKLOG_STATES) == 0 and not self.db.kv_get("heldout_queue", [])
                                           and self._create_blocked()):
                    break
                await asyncio.sleep(0.05)
                continue
            done, _ = await asyncio.wait(list(fl.props) + list(fl.evals), return_when=asyncio.FIRST_COMPLETED)
            for d in done:
                self._collect(d, fl)
        with self.db.tx():
            self.db.set_run_status("finished")
            self.db.event("finished", None, reason=fl.stop)
            self.clock.tick()
        return fl.stop or "nothing left to do"

    def _sequential(self) -> bool:
        return bool(self.cfg["run"]["sequential"])

    def _submit_evaluations(self, executor, fl: _InFlight, busy: int) -> int:
        """Fill the free executor slots; returns the new busy count."""
        slots = int(self.cfg["executor"]["slots"])
        while len(fl.evals) < slots and not (self._sequential() and busy):
            job = self.scheduler.next_job({v[0] for v in fl.evals.values() if v[2] == "heldout"})
            if job is None:
                break
            fut = asyncio.wrap_future(executor.submit(job))
            fl.evals[fut] = (job["program_id"], job["attempt"], job["kind"])
            busy += 1
        return busy

    def _reask_abandoned(self, fl: _InFlight, busy: int) -> int:
        """Re-ask proposed rows whose call a crash abandoned (they are already in the backlog)."""
        proposers = max(1, int(self.cfg["llm"]["proposers"]))
        for pid in self.db.proposed_with_abandoned_call():
            if len(fl.props) >= proposers or (self._sequential() and busy) or pid in fl.props.values():
                break
            self.proposer.reask(pid)
            fl.props[asyncio.ensure_future(self.proposer.ask(pid))] = pid
            busy += 1
        return busy

    def _propose(self, fl: _InFlight, busy: int) -> None:
        """New proposals while the backlog has room (in sequential mode: only when idle)."""
        proposers = max(1, int(self.cfg["llm"]["proposers"]))
        backlog_cap = int(self.cfg["executor"]["slots"]) + int(self.cfg["executor"]["backlog"])
        pending_items = self.db.count_in(BACKLOG_STATES)
        while (fl.stop is None and len(fl.props) < proposers and pending_items < backlog_cap
               and not (self._sequential() and (busy or pending_items or self.db.kv_get("heldout_queue", [])))):
            pid = self.proposer.create()
            if pid is None or pid == BUDGET_REFUSED:
                if pid == BUDGET_REFUSED:
                    fl.stop = "budget max_usd would be exceeded"
                break
            fl.props[asyncio.ensure_future(self.proposer.ask(pid))] = pid
            busy += 1
            pending_items += 1

    def _collect(self, done, fl: _InFlight) -> None:
        """Commit one finished future: an LLM answer or an evaluation result."""
        if done in fl.props:
            fl.props.pop(done)
            self.proposer.on_answer(*done.result())
            return
        pid, attempt, kind = fl.evals.pop(done)
        try:
            res = done.result()
        except Exception as exc:  # noqa: BLE001 - an executor/worker failure is the candidate's failure
            res = {"program_id": pid, "attempt": attempt, "kind": kind, "state": "failed",
                   "reason": f"executor error: {type(exc).__name__}: {exc}"[:2000],
                   "stages": [{"stage": 3 if kind == "heldout" else 0, "valid": False}]}
        if kind == "heldout":
            self.scheduler.on_heldout(pid, res)
        else:
            self.scheduler.on_result(pid, attempt, res)

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
