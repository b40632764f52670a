"""What the trainers need from ``torch.distributed`` when ``accelerate launch`` runs them in
several processes (docs/trainers.md, "Multi-process"): the process's place, gathering Python
objects in process order, averaging metrics, a barrier, and main-process-only writes. In one
process every helper is the identity (no process group is needed).
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.distributed as dist


def world() -> tuple[int, int]:
    """``(process index, number of processes)``."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def gather_objects(obj: Any) -> list[Any]:
    """Every process's ``obj``, in process order (pickled; for small metadata and pair rows)."""
    rank, size = world()
    if size == 1:
        return [obj]
    out: list[Any] = [None] * size
    dist.all_gather_object(out, obj)
    return out


def gather_lists(items: list) -> list:
    """The concatenation of every process's list, in process order."""
    return [x for part in gather_objects(list(items)) for x in part]


def mean_over_processes(values: dict[str, float], device) -> dict[str, float]:
    """The mean over processes of each value (every process must pass the same keys)."""
    _, size = world()
    if size == 1 or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return {k: float(v) / size for k, v in zip(keys, t.tolist())}


def barrier() -> None:
    if world()[1] > 1:
        dist.barrier()


def on_main(fn: Callable[[], Any]) -> None:
    """Run ``fn`` on the main process only, then wait for it everywhere (a file it writes is
    then visible to every process)."""
    if world()[0] == 0:
        fn()
    barrier()


def shard(n: int) -> tuple[int, int]:
    """This process's contiguous block ``[start, stop)`` of ``n`` items (the blocks, in process
    order, tile ``range(n)``)."""
    rank, size = world()
    return rank * n // size, (rank + 1) * n // size


__all__ = ["world", "gather_objects", "gather_lists", "mean_over_processes", "barrier", "on_main", "shard"]
