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
import time
from dataclasses import dataclass, field
from pathlib import Path

from evolve import config as cfgmod
from evolve import ledger, population
from evolve.db import BACKLOG_STATES, DB, EVALUATED_STATES
from evolve.evaluator import evaluator_sha
from evolve.executors import make_executor
from evolve.llm import pricing
from evolve.llm.base import LLMError
from evolve.llm.factory import make_backend
from evolve.normalize import ast_size, code_norm_sha
from evolve.patch import PatchError, check_result
from evolve.proposals import BUDGET_REFUSED, Proposer
from evolve.sandbox import profiles
from evolve.scheduling import LOST, Scheduler
from evolve.screen import ScreenError, screen
from evolve.tasks import make_task
from gtlearn.core.errors import GtlearnError

DB_NAME = "campaign.db"


@dataclass
class _Eval:
    pid: int
    attempt: int
    kind: str
    lease_until: float
    inner: object  # the executor's own future (what ``abandon`` takes)


@dataclass
class _InFlight:
    """What the loop is waiting for: LLM answers (future -> program id) and evaluations
    (future -> _Eval), and why proposing stopped, once it has."""

    props: dict = field(default_factory=dict)
    evals: dict = field(default_factory=dict)
    stop: str | None = None

    def busy(self) -> int:
        return len(self.props) + len(self.evals)


class Controller:
    def __init__(self, run_dir, cfg: dict | None = None, *, resume: bool = False, force_config: bool = False,
                 hard_stop: bool = False, echo=None, executor=None, unsafe: bool = False):
        self.run_dir = Path(run_dir)
        self.echo = echo or (lambda s: None)
        self.hard_stop = hard_stop
        if resume:
            self._open(cfg, force_config, unsafe)
        else:
            self._check_new(cfg)
            self._create(cfg)
        self.seed = int(self.cfg["run"]["seed"])
        self.stages = self.task.stages(self.cfg)
        self._executor = executor
        self.clock = ledger.WallClock(self.db)
        self.proposer = Proposer(self.db, self.cfg, self.task, self.backend, self.seed, self.clock)
        self.scheduler = Scheduler(self.db, self.cfg, self.task, self.stages, self.seed, self.clock, self.echo,
                                   hide=(str(self.run_dir.resolve()),))
        if not resume:
            self._init_run()

    # -- setup -----------------------------------------------------------------------------
    def _open(self, cfg: dict | None, force_config: bool, unsafe: bool) -> None:
        path = self.run_dir / DB_NAME
        if not path.exists():
            raise GtlearnError(f"{self.run_dir} holds no {DB_NAME}; nothing to resume (start one with `gtlearn evolve run "
                               f"CONFIG --out {self.run_dir}`)")
        self.db = DB(path)
        row = self.db.run_row()
        if row is None:
            raise GtlearnError(f"{path} holds no run: the `evolve run` that created it stopped before its first commit; "
                               f"start it again with `gtlearn evolve run CONFIG --out {self.run_dir}`")
        if cfg is not None and cfgmod.sha(cfg) != row["config_sha"] and not force_config:
            raise GtlearnError("the config differs from the run's (config_sha mismatch); pass --force-config to continue anyway")
        self.cfg = cfg if (cfg is not None and force_config) else self.db.run_config()
        self.cfg["sandbox"]["unsafe"] = bool(unsafe or self.cfg["sandbox"].get("unsafe", False))
        self.db.run_id = row["run_id"]
        self.task = make_task(self.cfg)
        self.backend = _backend(self.cfg)
        self.profile = self._sandbox_profile(self.cfg)

    def _check_new(self, cfg: dict) -> None:
        """Everything a new run needs, checked before anything is written: the seed program,
        the LLM backend, a sandbox profile the settings accept."""
        path = self.run_dir / DB_NAME
        if path.exists() and holds_run(path):
            raise GtlearnError(f"{self.run_dir} already holds a campaign; continue it with `gtlearn evolve resume "
                               f"{self.run_dir}` or choose another --out")
        self.cfg = cfg
        self.task = make_task(cfg)
        code = self._seed_code()
        try:
            screen(code)
            check_result(code, code, self.task.functions)
        except (ScreenError, PatchError) as exc:
            raise GtlearnError(f"the seed program is not a valid {self.task.name} program: {exc}") from None
        self.backend = _backend(cfg)
        self.profile = self._sandbox_profile(cfg)

    def _sandbox_profile(self, cfg: dict) -> profiles.Profile:
        sb = cfg["sandbox"]
        try:
            prof = profiles.choose(sb["profile"], unsafe=bool(sb.get("unsafe", False)), network=sb["network"])
        except (profiles.SandboxUnavailable, ValueError) as exc:
            raise GtlearnError(str(exc)) from None
        self.echo(f"sandbox: {prof.name} ({'strong' if prof.strong else 'WEAK, --unsafe-sandbox'}): {prof.summary}; "
                  f"tasks capped by {profiles.task_cap()}")
        return prof

    def _create(self, cfg: dict) -> None:
        path = self.run_dir / DB_NAME
        if path.exists():  # a run that stopped before its first commit left an empty database: start afresh
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.db = DB(path, durable=bool(cfg["run"]["durable"]))
        except OSError as exc:
            raise GtlearnError(f"cannot create the campaign in {self.run_dir}: {exc.strerror or exc}") from None
        self.db.run_id = self.run_dir.name

    def _seed_code(self) -> str:
        sp = self.cfg["run"].get("seed_program")
        if not sp:
            return self.task.seed_program
        try:
            return Path(sp).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise GtlearnError(f"run.seed_program {sp}: cannot be read ({exc})") from None

    def _init_run(self) -> None:
        code = self._seed_code()
        profile = self.profile.name
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
            done, _ = await asyncio.wait(list(fl.props) + list(fl.evals), return_when=asyncio.FIRST_COMPLETED,
                                         timeout=self._until_next_lease(fl))
            for d in done:
                self._collect(d, fl)
            self._expire_leases(executor, fl)
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
            job = self.scheduler.next_job({e.pid for e in fl.evals.values() if e.kind == "heldout"})
            if job is None:
                break
            inner = executor.submit(job)
            fl.evals[asyncio.wrap_future(inner)] = _Eval(job["program_id"], job["attempt"], job["kind"], job["lease_until"], inner)
            busy += 1
        return busy

    @staticmethod
    def _until_next_lease(fl: _InFlight) -> float | None:
        if not fl.evals:
            return None
        return max(0.05, min(e.lease_until for e in fl.evals.values()) - time.time())

    def _expire_leases(self, executor, fl: _InFlight) -> None:
        """Evaluations past their lease (a hung or stopped worker): give up on them, kill the
        worker where the executor can, and requeue the item (or fail it after repeated losses)."""
        now = time.time()
        for fut, e in list(fl.evals.items()):
            if e.lease_until > now:
                continue
            fl.evals.pop(fut)
            fut.add_done_callback(lambda f: f.cancelled() or f.exception())  # a late answer is dropped
            abandon = getattr(executor, "abandon", None)
            killed = bool(abandon and abandon(e.inner))
            self.echo(f"       #{e.pid}: lease expired, evaluation abandoned{' (worker killed)' if killed else ''}")
            self.scheduler.on_lost(e.pid, e.attempt, e.kind, "its lease expired (the worker was hung or stopped)")

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
        e = fl.evals.pop(done)
        pid, attempt, kind = e.pid, e.attempt, e.kind
        try:
            res = done.result()
        except Exception as exc:  # noqa: BLE001 - sorted below
            if type(exc).__name__ in LOST:
                self.echo(f"       #{pid}: {exc}; the evaluation is retried")
                self.scheduler.on_lost(pid, attempt, kind, str(exc)[:500])
                return
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


def _backend(cfg: dict):
    """The campaign's LLM backend; a backend that cannot be built is the user's error."""
    try:
        return make_backend(cfg)
    except LLMError as exc:
        raise GtlearnError(f"llm.backend={cfg['llm']['backend']}: {exc}") from None


def holds_run(path: Path) -> bool:
    """Whether ``path`` is a campaign database with a run in it (read-only look)."""
    if not Path(path).exists():
        return False
    db = DB(path, readonly=True)
    try:
        return db.run_row() is not None
    finally:
        db.close()


def run_campaign(cfg: dict, run_dir, echo=None, executor=None) -> Controller:
    c = Controller(run_dir, cfg, echo=echo, executor=executor)
    asyncio.run(c.run_async())
    return c


def resume_campaign(run_dir, cfg: dict | None = None, force_config: bool = False, echo=None, executor=None,
                    hard_stop: bool = False, unsafe: bool = False) -> Controller:
    c = Controller(run_dir, cfg, resume=True, force_config=force_config, echo=echo, executor=executor, hard_stop=hard_stop,
                   unsafe=unsafe)
    asyncio.run(c.run_async(resume=True))
    return c
