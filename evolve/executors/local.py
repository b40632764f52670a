"""Local executor: a pool of worker processes; each job starts its own sandbox child.

Workers are separate processes so that trusted scoring (exact best responses) runs in
parallel and never blocks the controller's event loop. A stuck candidate occupies one slot
until its sandbox deadline, never a proposer.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
import threading
import time

from evolve.evaluator import run_job


def _watch_controller(pid: int) -> None:
    """Worker initializer: exit when the controller is gone (e.g. after a SIGKILL), instead of
    idling forever as an orphan. A sandbox child still running then sees its request pipe close
    and exits; at worst it runs to its own wall limit."""

    def watch():
        while True:
            time.sleep(1.0)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


class LocalExecutor:
    """``processes=False`` scores in threads of the controller process instead (the candidate
    still runs in its own sandbox process); the fault-injection tests use it so that a SIGKILL
    of the controller takes the whole evaluation side down with it."""

    def __init__(self, slots: int, processes: bool = True):
        self.slots = slots
        if processes:
            self.pool = cf.ProcessPoolExecutor(max_workers=slots, mp_context=mp.get_context("forkserver"),
                                               initializer=_watch_controller, initargs=(os.getpid(),))
        else:
            self.pool = cf.ThreadPoolExecutor(max_workers=slots)

    def submit(self, job: dict) -> cf.Future:
        return self.pool.submit(run_job, job)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
