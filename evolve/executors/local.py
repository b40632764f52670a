"""Local executor: a pool of worker processes; each job starts its own sandbox child.

Workers are separate processes so that trusted scoring (exact best responses) runs in
parallel and never blocks the controller's event loop. A stuck candidate occupies one slot
until its sandbox deadline, never a proposer.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp

from evolve.evaluator import run_job


class LocalExecutor:
    def __init__(self, slots: int):
        self.slots = slots
        self.pool = cf.ProcessPoolExecutor(max_workers=slots, mp_context=mp.get_context("forkserver"))

    def submit(self, job: dict) -> cf.Future:
        return self.pool.submit(run_job, job)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
