"""Traversals on Ray actors: the sampled solvers' work spread over processes or machines.

A :class:`TraversalPool` holds ``workers`` Ray actors, each an instance of a worker class the
solver names (:class:`solvers.mccfr.solver.MCCFRWorker`, :class:`solvers.deep_cfr.DeepCFRWorker`).
:meth:`TraversalPool.scatter` cuts a list of traversal indices into contiguous slices, one per
actor, and returns the results concatenated in index order; the solver then applies them in
that order. Every traversal draws from its own counter-seeded generator and reads only state
that all actors hold identically (the driver broadcasts every change, in order, with
:meth:`TraversalPool.broadcast`), so the result does not depend on the number of workers: two
workers give the numbers of one local process (tested).

Ray is started on first use: locally with one CPU per worker, or -- when the environment
variable ``RAY_ADDRESS`` is set (e.g. ``RAY_ADDRESS=auto`` on a node of a running cluster) --
by joining that cluster, whose actors may sit on any node. Multi-node setup: ``ray start --head``
on one machine, ``ray start --address=<head>:6379`` on the others, the project installed at
the same path on all of them, then run ``gtlearn solve GAME --algo mccfr-es --workers 64``
with ``RAY_ADDRESS=auto`` on the head node (docs/cfr.md, "Sampled CFR (MCCFR)").
"""

from __future__ import annotations

import os

from gtlearn.core.errors import GtlearnError


def _ray(workers: int):
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - ray is a declared dependency here
        raise GtlearnError("workers > 0 needs ray, which is not installed: pip install 'gtlearn[distributed]'") from exc
    if not ray.is_initialized():
        address = os.environ.get("RAY_ADDRESS")
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            # One logical CPU per actor even beyond the cores: traversals then share them.
            ray.init(num_cpus=max(workers, os.cpu_count() or 1), include_dashboard=False, log_to_driver=False)
    return ray


class TraversalPool:
    """``workers`` Ray actors, each ``worker_cls(*args)`` (see the module docstring)."""

    def __init__(self, workers: int, worker_cls: type, *args) -> None:
        if workers < 1:
            raise GtlearnError(f"a traversal pool needs at least one worker, not {workers}")
        ray = _ray(workers)
        remote = ray.remote(num_cpus=1)(worker_cls)
        self._ray = ray
        self.actors = [remote.remote(*args) for _ in range(workers)]

    def scatter(self, method: str, items: list, *args) -> list:
        """``getattr(worker, method)(slice, *args)`` on contiguous slices of ``items``, one per
        actor; the results (lists) concatenated in the order of ``items``."""
        n = len(self.actors)
        bounds = [len(items) * i // n for i in range(n + 1)]
        refs = [self._ray.put(a) for a in args]
        futures = [getattr(actor, method).remote(items[lo:hi], *refs)
                   for actor, lo, hi in zip(self.actors, bounds[:-1], bounds[1:]) if hi > lo]
        out: list = []
        for part in self._ray.get(futures):
            out.extend(part)
        return out

    def broadcast(self, method: str, *args, wait: bool = False) -> None:
        """``getattr(worker, method)(*args)`` on every actor. An actor runs its calls in the
        order they were made, so a broadcast is seen by every later :meth:`scatter`."""
        refs = [self._ray.put(a) for a in args]
        futures = [getattr(actor, method).remote(*refs) for actor in self.actors]
        if wait:
            self._ray.get(futures)

    def close(self) -> None:
        """Release the actors (and their CPUs); also done when the pool is garbage-collected."""
        for actor in self.actors:
            self._ray.kill(actor)
        self.actors = []

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: Ray may be gone already
            pass
