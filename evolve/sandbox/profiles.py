"""Which OS isolation the sandbox runs under, best first (docs/evolve.md, Sandbox).

``bwrap`` (strong, the only profile that runs candidates without ``--unsafe-sandbox``):
bubblewrap with fresh user, mount, PID, network, IPC, UTS and cgroup namespaces. The child sees
only the interpreter (and its standard library), NumPy and the ``evolve`` package, read-only; a
private size-capped tmpfs as ``/tmp`` (its working directory and home); a minimal ``/dev``
without the host's ``/dev/shm``; its own ``/proc``. It runs as uid 65534 with no capabilities,
no new user namespaces, ``no_new_privs``, in a new session, killed with its parent, and under a
seccomp filter that refuses new processes (:mod:`evolve.sandbox.seccomp`).

``unshare`` (weak): ``unshare -rn``, fresh user and network namespaces only: the file system,
the processes and the campaign of the host stay reachable. ``none`` (weak): rlimits and the
audit hook only. A weak profile runs candidates only when the user passes ``--unsafe-sandbox``
(``sandbox.unsafe: true``).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass

from evolve.sandbox import cgroup, seccomp

NOBODY = 65534
ORDER = ("bwrap", "unshare", "none")


class SandboxUnavailable(Exception):
    """No profile that the campaign's settings accept works on this host."""


@dataclass(frozen=True)
class Profile:
    name: str
    strong: bool
    network_isolated: bool
    summary: str


PROFILES = {
    "bwrap": Profile("bwrap", True, True, "bubblewrap: user/mount/PID/network/IPC namespaces, read-only interpreter, "
                                          "private tmpfs, uid 65534, seccomp (no new processes)"),
    "unshare": Profile("unshare", False, True, "unshare -rn: network and user namespaces only (host files and processes reachable)"),
    "none": Profile("none", False, False, "no OS isolation: rlimits and the audit hook only"),
}
ALIASES = {"weak": "none"}


@dataclass(frozen=True)
class ChildView:
    """What the child process needs from the host: its interpreter, the read-only paths it sees
    and the import path it starts with."""

    interpreter: str
    read_only: tuple[str, ...]
    import_path: tuple[str, ...]


@functools.lru_cache(maxsize=None)
def child_view() -> ChildView:
    """The real interpreter (not a venv shim, so no site-packages), its prefix, NumPy with its
    bundled libraries, and the directory of the ``evolve`` package."""
    import numpy

    import evolve

    interp = os.path.realpath(sys.executable)
    np_dir = os.path.dirname(os.path.realpath(numpy.__file__))
    site = os.path.dirname(np_dir)
    ev_dir = os.path.dirname(os.path.realpath(evolve.__file__))
    ro = [os.path.realpath(sys.base_prefix), np_dir, ev_dir]
    libs = os.path.join(site, "numpy.libs")
    if os.path.isdir(libs):
        ro.append(libs)
    if not interp.startswith(ro[0] + os.sep):
        ro.append(os.path.dirname(interp))
    return ChildView(interp, tuple(dict.fromkeys(ro)), tuple(dict.fromkeys([os.path.dirname(ev_dir), site])))


def child_command(view: ChildView, *fds: int) -> list[str]:
    """``python -I -S`` with the import path set explicitly, running the child's main."""
    boot = f"import sys; sys.path[:0] = {list(view.import_path)!r}; from evolve.sandbox.child import main; sys.exit(main())"
    return [view.interpreter, "-I", "-S", "-c", boot, *map(str, fds)]


def bwrap_prefix(view: ChildView, *, tmp_mb: int, seccomp_fd: int | None, info_fd: int | None,
                 hide: tuple[str, ...] = ()) -> list[str]:
    cmd = ["bwrap", "--unshare-all", "--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY), "--disable-userns",
           "--die-with-parent", "--as-pid-1", "--new-session", "--cap-drop", "ALL", "--hostname", "sandbox", "--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            cmd += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            cmd += ["--ro-bind", top, top]
    # The private /tmp first, so that a read-only path inside the host's /tmp (a checkout or a
    # venv there) is bound on top of it rather than hidden by it.
    cmd += ["--size", str(int(tmp_mb) << 20), "--tmpfs", "/tmp"]
    for path in view.read_only:
        cmd += ["--ro-bind", path, path]
    cmd += ["--dev", "/dev", "--remount-ro", "/dev", "--proc", "/proc"]
    for path in hide:  # e.g. a campaign directory that lies inside a bound directory
        if any(path == p or path.startswith(p + os.sep) for p in view.read_only):
            cmd += ["--tmpfs", path]
    cmd += ["--remount-ro", "/", "--chdir", "/tmp"]
    if info_fd is not None:
        cmd += ["--info-fd", str(info_fd)]
    if seccomp_fd is not None:
        cmd += ["--seccomp", str(seccomp_fd)]
    return cmd


_PROBED: dict[str, tuple[str | None, float]] = {}
RETRY_S = 60.0  # a failed probe is repeated after this long (it may have been transient: EAGAIN, ENOMEM)


def probe(name: str) -> str | None:
    """None if profile ``name`` runs the child's imports on this host, else why not. A success
    is remembered for the process's life, a failure for :data:`RETRY_S` seconds."""
    if name in _PROBED:
        why, when = _PROBED[name]
        if why is None or time.monotonic() - when < RETRY_S:
            return why
    why = _probe(name)
    _PROBED[name] = (why, time.monotonic())
    return why


def _probe(name: str) -> str | None:
    view = child_view()
    check = [view.interpreter, "-I", "-S", "-c",
             f"import sys; sys.path[:0] = {list(view.import_path)!r}; import numpy, evolve.sandbox.child"]
    if name == "none":
        return None
    if name == "unshare":
        if not shutil.which("unshare"):
            return "unshare is not installed"
        cmd = ["unshare", "-rn", *check]
    elif name == "bwrap":
        if not shutil.which("bwrap"):
            return "bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
        if not seccomp.supported():
            return "no seccomp filter for this architecture"
        cmd = bwrap_prefix(view, tmp_mb=16, seccomp_fd=None, info_fd=None) + check
    else:
        raise ValueError(f"unknown sandbox profile {name!r}")
    fds = ()
    if name == "bwrap":  # with the filter, as it will run
        fds = (seccomp.pipe_with_program(),)
        cmd[-len(check):-len(check)] = ["--seccomp", str(fds[0])]
    try:
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, pass_fds=fds,
                           cwd="/", timeout=60, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"})
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{name} failed to start: {exc}"
    finally:
        for fd in fds:
            os.close(fd)
    if r.returncode != 0:
        last = (r.stderr.decode(errors="replace").strip().splitlines() or [f"exit code {r.returncode}"])[-1]
        return f"{name} does not work here: {last[:200]}"
    return None


def task_cap() -> str:
    """What caps the sandbox's processes and threads on this host, in words."""
    base = cgroup.root()
    if base is not None:
        return f"pids cgroup per sandbox ({base})"
    return "rlimits only (RLIMIT_NPROC does not bind a root-mapped uid; no writable pids cgroup here)"


def choose(requested: str = "auto", *, unsafe: bool = False, network: str = "deny") -> Profile:
    """The profile the sandbox runs under: the best that works (``auto``) or the one named.
    Raises :class:`SandboxUnavailable` when it is weak and ``unsafe`` is off, or when
    ``network='require'`` and it does not isolate the network."""
    requested = ALIASES.get(requested, requested)
    if requested != "auto" and requested not in PROFILES:
        raise ValueError(f"unknown sandbox profile {requested!r} (auto, {', '.join(ORDER)})")
    names = ORDER if requested == "auto" else (requested,)
    why = {}
    for name in names:
        reason = probe(name)
        if reason is None:
            prof = PROFILES[name]
            break
        why[name] = reason
    else:
        raise SandboxUnavailable(f"sandbox profile {requested}: " + "; ".join(why.values()))
    if network == "require" and not prof.network_isolated:
        raise SandboxUnavailable("sandbox.network=require, but no profile with network isolation works here")
    if not prof.strong and not unsafe:
        reasons = "; ".join(f"{n}: {r}" for n, r in why.items()) or f"{requested} requested"
        raise SandboxUnavailable(f"no strong sandbox profile is available ({reasons}); install bubblewrap or pass "
                                 f"--unsafe-sandbox to run candidates under the weak profile '{prof.name}'")
    return prof
