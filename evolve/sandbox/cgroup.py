"""A kernel cap on the sandbox's tasks (processes *and* threads): one ``pids`` cgroup per sandbox
(docs/evolve.md, Sandbox).

Why: ``RLIMIT_NPROC`` does not bind a process whose host uid is root -- which is what the
sandbox's uid maps to when the campaign runs as root -- and seccomp can refuse new processes but
cannot count threads. Without a cap a candidate could start threads until the host's
``pid_max`` is spent. The ``pids`` controller counts every task of the group, whatever its uid.

Where: the cgroup-v1 ``pids`` hierarchy, or a cgroup-v2 group of ours that delegates ``pids``
to its children; both must be writable (root, or a delegated subtree). Elsewhere :func:`create`
returns None and the cap is the rlimits' only (the profile line says so).
"""

from __future__ import annotations

import functools
import itertools
import os

PREFIX = "gtlearn-sbx-"
_V1 = "/sys/fs/cgroup/pids"
_counter = itertools.count()


@functools.lru_cache(maxsize=None)
def root() -> str | None:
    """A writable cgroup directory whose children get a ``pids.max``, or None."""
    if os.path.isfile(os.path.join(_V1, "cgroup.procs")) and os.access(_V1, os.W_OK):
        return _V1
    try:
        with open("/proc/self/cgroup") as fh:
            rel = next(ln.split(":", 2)[2].strip() for ln in fh if ln.startswith("0::"))
    except (OSError, StopIteration):
        return None
    for mount in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
        base = os.path.join(mount, rel.lstrip("/"))
        try:
            with open(os.path.join(base, "cgroup.subtree_control")) as fh:
                delegated = "pids" in fh.read().split()
        except OSError:
            continue
        if delegated and os.access(base, os.W_OK):
            return base
    return None


def _sweep(base: str) -> None:
    """Remove empty groups left by a worker that was killed before it could remove its own."""
    for name in os.listdir(base):
        if not name.startswith(PREFIX):
            continue
        try:
            owner = int(name[len(PREFIX):].split("-")[0])
            os.kill(owner, 0)
            continue  # its worker is alive: its own
        except (ValueError, ProcessLookupError):
            pass
        except PermissionError:
            continue
        try:
            os.rmdir(os.path.join(base, name))
        except OSError:
            pass


def create(max_tasks: int) -> str | None:
    """A new group capped at ``max_tasks`` tasks, or None where no cgroup can be made."""
    base = root()
    if base is None:
        return None
    _sweep(base)
    path = os.path.join(base, f"{PREFIX}{os.getpid()}-{next(_counter)}")
    try:
        os.mkdir(path)
        with open(os.path.join(path, "pids.max"), "w") as fh:
            fh.write(str(int(max_tasks)))
    except OSError:
        remove(path)
        return None
    return path


def add(path: str, pid: int) -> None:
    """Move process ``pid`` (all its threads) into the group; raises OSError if it cannot."""
    with open(os.path.join(path, "cgroup.procs"), "w") as fh:
        fh.write(str(int(pid)))


def remove(path: str | None) -> None:
    """Remove the group (once its tasks are gone; best effort)."""
    if path:
        try:
            os.rmdir(path)
        except OSError:
            pass
