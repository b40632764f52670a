"""Local executor: one worker process per slot; each job starts its own sandbox child
(docs/evolve.md, Executors).

Workers are separate processes so that the trusted engine and scoring run in parallel and never
block the controller's event loop. Each slot is watched by a thread of the controller: a worker
that dies (killed, out of memory) fails its job with :class:`WorkerLost` and is replaced, and a
worker whose job outlives its lease (hung, or stopped with SIGSTOP) is killed by
:meth:`LocalExecutor.abandon` and replaced. A sandbox dies with its worker (bubblewrap's
die-with-parent); a weak profile's temp dirs live under this executor's scratch directory
(made only when a weak profile is in force), removed when the executor shuts down.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
import queue
import shutil
import signal
import tempfile
import threading
import time
from multiprocessing.connection import wait

from evolve.evaluator import run_job
from evolve.sandbox import profiles


class WorkerLost(Exception):
    """The worker running a job died or was killed; the job did not finish."""


def _watch_controller(pid: int) -> None:
    """Exit when the controller is gone (e.g. after a SIGKILL) instead of idling as an orphan;
    a sandbox still running dies with this process."""

    def watch():
        while True:
            time.sleep(1.0)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _serve(conn, controller_pid: int) -> None:
    """A worker process: run the jobs it receives, one at a time, and send back each result
    (or the exception it raised)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the controller's to handle
    _watch_controller(controller_pid)
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        try:
            out = ("ok", run_job(job))
        except Exception as exc:  # noqa: BLE001 - reported to the controller as the job's failure
            out = ("error", f"{type(exc).__name__}: {exc}")
        conn.send(out)


class _Slot:
    """One worker process and the thread that feeds it."""

    def __init__(self, ctx, index: int):
        self.ctx, self.index = ctx, index
        self.proc = self.pipe = None
        self.current: cf.Future | None = None
        self.abandoned = False

    def ensure_worker(self) -> None:
        if self.proc is not None and self.proc.is_alive():
            return
        self.stop_worker()
        parent, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=_serve, args=(child, os.getpid()), name=f"gtlearn-evolve-worker-{self.index}",
                                     daemon=True)
        self.proc.start()
        child.close()
        self.pipe = parent

    def stop_worker(self) -> None:
        if self.proc is None:
            return
        if self.proc.is_alive():
            self.proc.kill()  # SIGKILL also ends a stopped process
        self.proc.join(10)
        self.pipe.close()
        self.proc = self.pipe = None

    def abandon(self) -> None:
        """Called from another thread: the feeding thread sees the worker die and replaces it."""
        self.abandoned = True
        proc = self.proc
        if proc is not None and proc.is_alive():
            proc.kill()

    def run(self, job: dict) -> tuple[str, object]:
        """Send one job and wait for its answer, the worker's death, or abandonment."""
        self.ensure_worker()
        self.pipe.send(job)
        while True:
            ready = wait([self.pipe, self.proc.sentinel], timeout=1.0)
            if self.pipe in ready:
                try:
                    return self.pipe.recv()
                except (EOFError, OSError):
                    pass
            if self.proc.sentinel in ready or not self.proc.is_alive() or self.abandoned:
                why = ("abandoned: its lease expired (the worker was hung or stopped)" if self.abandoned
                       else f"the evaluation worker died (exit code {self.proc.exitcode})")
                self.stop_worker()
                return "lost", why


class LocalExecutor:
    """``submit(job) -> Future``. ``processes=False`` scores in threads of the controller process
    instead (the candidate still runs in its own sandbox); the fault-injection tests use it so
    that a SIGKILL of the controller takes the whole evaluation side down with it."""

    def __init__(self, slots: int, processes: bool = True):
        self.slots = slots
        self.processes = processes
        self.scratch: str | None = None  # made on first need only: a strong profile needs none
        if not processes:
            self.pool = cf.ThreadPoolExecutor(max_workers=slots)
            return
        ctx = mp.get_context("forkserver")
        self._queue: queue.Queue = queue.Queue()
        self._slots = [_Slot(ctx, i) for i in range(slots)]
        self._threads = [threading.Thread(target=self._feed, args=(s,), daemon=True) for s in self._slots]
        for t in self._threads:
            t.start()

    def submit(self, job: dict) -> cf.Future:
        if self.scratch is None and _weak(job):
            self.scratch = tempfile.mkdtemp(prefix="gtlearn-evolve-")
        job = dict(job, scratch=self.scratch)
        if not self.processes:
            return self.pool.submit(run_job, job)
        fut: cf.Future = cf.Future()
        self._queue.put((job, fut))
        return fut

    def abandon(self, fut: cf.Future) -> bool:
        """Give up on a running job (its lease expired): kill its worker, which is replaced.
        False when that is impossible here (thread mode: the sandbox's own limits end it)."""
        if not self.processes:
            return False
        for s in self._slots:
            if s.current is fut:
                s.abandon()
                return True
        return False

    def _feed(self, slot: _Slot) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                slot.stop_worker()
                return
            job, fut = item
            if not fut.set_running_or_notify_cancel():
                continue
            slot.current, slot.abandoned = fut, False
            try:
                kind, value = slot.run(job)
            except Exception as exc:  # noqa: BLE001 - e.g. the worker could not be started
                kind, value = "error", f"{type(exc).__name__}: {exc}"
            slot.current = None
            if kind == "ok":
                fut.set_result(value)
            elif kind == "lost":
                fut.set_exception(WorkerLost(value))
            else:
                fut.set_exception(RuntimeError(value))

    def shutdown(self) -> None:
        if not self.processes:
            self.pool.shutdown(wait=False, cancel_futures=True)
        else:
            for s in self._slots:
                if s.current is not None:
                    s.abandon()
            for _ in self._threads:
                self._queue.put(None)
            for t in self._threads:
                t.join(30)
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)


def _weak(job: dict) -> bool:
    """Whether the job's sandbox runs under a weak profile, whose temp dirs live on the host
    (under ``bwrap`` the child's temp dir is a tmpfs of its own, gone with it)."""
    lim = job.get("limits")
    if job.get("kind") == "baselines" or not lim:
        return False
    try:
        return not profiles.choose(lim.get("profile", "auto"), unsafe=bool(lim.get("unsafe")),
                                   network=lim.get("network", "deny")).strong
    except (profiles.SandboxUnavailable, ValueError):
        return False  # the job fails to start its sandbox and needs no temp dir
