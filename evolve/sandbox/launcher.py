"""Parent side of the sandbox: spawn, exchange frames, enforce the wall deadline, leave nothing.

One :class:`Sandbox` is one candidate: a fresh child process under the profile that
:func:`evolve.sandbox.profiles.choose` picks (docs/evolve.md, Sandbox). The parent keeps the
deadline, kills the sandbox on expiry and after every exit and waits until no process of it is
left, and measures wall time, CPU and peak RSS itself (``wait4``). Under ``bwrap`` the child's
writable directory is a tmpfs inside its own mount namespace, so it vanishes with the sandbox;
the captured stdout/stderr are anonymous files of the parent.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass

from evolve.sandbox import cgroup, profiles, seccomp, wire

TAIL = 4096
_F_SETPIPE_SZ = 1031


class SandboxTimeout(Exception):
    pass


class SandboxCrash(Exception):
    pass


class SandboxStartError(Exception):
    """The sandbox could not be started (an OSError of this host, or no acceptable profile)."""


@dataclass
class SandboxLimits:
    wall_s: float = 60.0
    cpu_s: float = 60.0
    mem_mb: int = 2048
    nofile: int = 32
    fsize_mb: int = 16
    nproc: int = 8
    profile: str = "auto"  # auto | bwrap | unshare | none
    network: str = "deny"  # deny | require (refuse profiles without network isolation)
    unsafe: bool = False  # allow a weak profile when no strong one works

    @property
    def tmp_mb(self) -> int:
        """Size of the child's private tmpfs (bwrap): room for a few files of the size limit."""
        return max(64, 4 * int(self.fsize_mb))


def _env(tmp: str) -> dict[str, str]:
    """The allowlisted environment: nothing from the parent except PATH."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "PYTHONHASHSEED": "0", "HOME": tmp,
            "TMPDIR": tmp, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
            "PYTHONDONTWRITEBYTECODE": "1"}


class Sandbox:
    """``Sandbox(driver, code, limits)``: ``driver`` is the ``module:Class`` of the task's child
    driver, ``init`` extra fields of the init message, ``hide`` paths masked inside the sandbox
    (the campaign directory), ``scratch`` where a weak profile's temp dir goes."""

    def __init__(self, driver: str, code: str, limits: SandboxLimits | None = None, *, init: dict | None = None,
                 hide: tuple[str, ...] = (), scratch: str | None = None):
        self.driver, self.code, self.limits = driver, code, limits or SandboxLimits()
        self.init, self.hide, self.scratch = dict(init or {}), tuple(os.path.realpath(h) for h in hide), scratch
        self.proc = self.tmp = self.profile = self.rusage = self.exit_code = self.started = None
        self.wall_s = 0.0
        self.stdout_tail = self.stderr_tail = ""
        self._ns_init = None  # pidfd of the sandbox's PID-namespace init (bwrap)
        self._ns_pid = None  # and its host pid
        self.cgroup = None  # the pids cgroup capping the child's tasks, where one can be made
        self._fds: list[int] = []

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> dict:
        """Start the child and return its ready message (``ok`` false: the candidate did not load)."""
        lim = self.limits
        try:
            prof = profiles.choose(lim.profile, unsafe=lim.unsafe, network=lim.network)
        except profiles.SandboxUnavailable as exc:
            raise SandboxStartError(str(exc)) from None
        self.profile = prof.name
        try:
            inside = self._spawn(prof)
        except OSError as exc:
            self._cleanup_fds()
            for fh in (getattr(self, "_out", None), getattr(self, "_err", None)):
                if fh is not None:
                    fh.close()
            if self.tmp:
                shutil.rmtree(self.tmp, ignore_errors=True)
                self.tmp = None
            raise SandboxStartError(f"could not start the sandbox ({prof.name}): {type(exc).__name__}: {exc}") from None
        self._write({"driver": self.driver, "code": self.code, "tmp": inside, "read_roots": list(profiles.child_view().read_only),
                     "limits": {k: getattr(lim, k) for k in ("cpu_s", "mem_mb", "nofile", "fsize_mb", "nproc")}, **self.init})
        return self._read(self.started + lim.wall_s)[0]

    def _spawn(self, prof) -> str:
        view = profiles.child_view()
        self._out, self._err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        req_r, self._req_w = os.pipe()
        self._resp_r, resp_w = os.pipe()
        self._fds = [req_r, resp_w]
        for fd in (req_r, resp_w):
            try:
                fcntl.fcntl(fd, _F_SETPIPE_SZ, 1 << 20)  # fewer context switches per array
            except OSError:
                pass
        pass_fds = [req_r, resp_w]
        info_r = None
        if prof.name == "bwrap":
            inside = "/tmp"
            info_r, info_w = os.pipe()
            sec = seccomp.pipe_with_program()
            self._fds += [info_w, sec]
            prefix = profiles.bwrap_prefix(view, tmp_mb=self.limits.tmp_mb, seccomp_fd=sec, info_fd=info_w, hide=self.hide)
            pass_fds += [info_w, sec]
        else:
            self.tmp = inside = tempfile.mkdtemp(prefix=f"gtlearn-sbx-{os.getpid()}-", dir=self.scratch)
            prefix = ["unshare", "-rn"] if prof.name == "unshare" else []
        self.started = time.monotonic()
        try:
            self.proc = subprocess.Popen(
                [*prefix, *profiles.child_command(view, req_r, resp_w)], stdin=subprocess.DEVNULL, stdout=self._out,
                stderr=self._err, cwd=self.tmp or "/", env=_env(inside), start_new_session=True, pass_fds=pass_fds,
                close_fds=True)
        except OSError:
            for fd in (self._req_w, self._resp_r, info_r):
                if fd is not None:
                    os.close(fd)
            raise
        self._cleanup_fds()
        self._poll = select.poll()
        self._poll.register(self._resp_r, select.POLLIN)
        if info_r is not None:
            self._ns_init = self._read_info(info_r)
        self._cap_tasks(self._ns_pid if info_r is not None else self.proc.pid)
        return inside

    def _cap_tasks(self, pid: int | None) -> None:
        """Put the process that will run the candidate into a fresh ``pids`` cgroup (a cap on its
        processes and threads, see :mod:`evolve.sandbox.cgroup`). It is still waiting for its
        init message, so it has started nothing of the candidate's yet."""
        self.cgroup = cgroup.create(int(self.limits.nproc) + 1)
        if self.cgroup is None or pid is None:
            return
        try:
            cgroup.add(self.cgroup, pid)
        except OSError:
            cgroup.remove(self.cgroup)
            self.cgroup = None

    def _read_info(self, fd: int):
        """bwrap's ``--info-fd`` JSON: the host pid of the sandbox's PID-namespace init, as a pidfd."""
        data = b""
        try:
            sel = selectors.DefaultSelector()
            sel.register(fd, selectors.EVENT_READ)
            end = self.started + min(self.limits.wall_s, 30.0)
            while b"}" not in data and time.monotonic() < end:
                if sel.select(timeout=max(0.0, end - time.monotonic())):
                    chunk = os.read(fd, 4096)
                    if not chunk:
                        break
                    data += chunk
            sel.close()
        finally:
            os.close(fd)
        try:
            self._ns_pid = int(json.loads(data)["child-pid"])
            return os.pidfd_open(self._ns_pid)
        except (ValueError, KeyError, TypeError, OSError):
            self._ns_pid = None
            return None  # bwrap failed to set up; the ready message will say so

    def request(self, msg: dict, arrays=(), deadline: float | None = None) -> tuple[dict, list]:
        """Send one request and wait for its answer (header, arrays) until ``deadline``
        (monotonic; default: the sandbox's overall wall limit since start)."""
        if deadline is None:
            deadline = self.started + self.limits.wall_s
        self._write(msg, arrays)
        return self._read(deadline)

    def close(self) -> None:
        if self.proc is None:
            return
        try:
            wire.write_all(self._req_w, wire.encode({"op": "exit"}))
        except OSError:
            pass
        # A moment to exit by itself, without reaping (wait4 in _kill collects the rusage).
        end = time.monotonic() + 0.5
        while time.monotonic() < end and not self._exited():
            time.sleep(0.01)
        self._kill()
        for fd in (self._req_w, self._resp_r):
            try:
                os.close(fd)
            except OSError:
                pass
        self.stdout_tail, self.stderr_tail = _tail(self._out), _tail(self._err)
        self._out.close()
        self._err.close()
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
        for _ in range(100):  # the group can be removed once the kernel has released its tasks
            cgroup.remove(self.cgroup)
            if self.cgroup is None or not os.path.isdir(self.cgroup):
                break
            time.sleep(0.01)
        self.cgroup = self.proc = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- internals -----------------------------------------------------------------------
    def _cleanup_fds(self) -> None:
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds = []

    def _kill(self) -> None:
        """Kill everything of the sandbox and reap the child with its rusage. Under bwrap the
        PID namespace's init is killed first: the kernel kills every process of the namespace,
        bwrap reaps it (so the CPU time counts), and nothing can outlive it."""
        if self._ns_init is not None:
            try:
                signal.pidfd_send_signal(self._ns_init, signal.SIGKILL)
            except OSError:
                pass
            select.select([self._ns_init], [], [], 5.0)  # readable once it has exited
            end = time.monotonic() + 2.0
            while time.monotonic() < end and not self._exited():
                time.sleep(0.005)
        pgid = self.proc.pid
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.proc.returncode is None:
            try:
                _, status, ru = os.wait4(self.proc.pid, 0)
                self.proc.returncode = os.waitstatus_to_exitcode(status)
                self.rusage = ru
            except ChildProcessError:
                pass
        self.exit_code = self.proc.returncode
        self.wall_s = time.monotonic() - self.started
        if self._ns_init is not None:
            os.close(self._ns_init)
            self._ns_init = None
        # Without a PID namespace: group members that outlived the child die with the group.
        for _ in range(50):
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                break
            time.sleep(0.02)

    def _exited(self) -> bool:
        # WNOWAIT: look without reaping, so that _kill's wait4 still collects the rusage.
        try:
            info = os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        return info is not None

    def _write(self, msg: dict, arrays=()) -> None:
        try:
            wire.write_all(self._req_w, wire.encode(msg, arrays))
        except OSError as exc:
            raise SandboxCrash(f"child closed its pipe ({exc})") from None

    def _read(self, deadline: float) -> tuple[dict, list]:
        try:
            prefix = self._read_exactly(wire.HEAD.size, deadline)
            n_head, n_payload = wire.sizes(bytes(prefix))
            frame = self._read_exactly(n_head + n_payload, deadline)
            head = wire.decode_header(bytes(frame[:n_head]))
            arrays = wire.split(head, memoryview(frame)[n_head:])
        except wire.WireError as exc:
            self._kill()
            raise SandboxCrash(f"child broke the wire format: {exc}") from None
        return head, arrays

    def _read_exactly(self, n: int, deadline: float) -> bytearray:
        """``n`` bytes of the child's answer into a fresh buffer, or raise (the deadline passed,
        or the child exited without them)."""
        buf = bytearray(n)

        def wait() -> bool:  # True once there is something to read
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._kill()
                    raise SandboxTimeout(f"no answer within the wall limit ({self.limits.wall_s:g} s)")
                if self._poll.poll(min(left, 1.0) * 1000):
                    return True
                if self._exited() and not self._poll.poll(0):
                    return False

        if wire.read_into(self._resp_r, buf, wait=wait) < n:
            self._kill()
            raise SandboxCrash(f"child exited without an answer (exit code {self.exit_code})")
        return buf

    def usage(self) -> dict:
        ru = self.rusage
        return {"wall_s": round(self.wall_s, 4), "cpu_s": round(ru.ru_utime + ru.ru_stime, 4) if ru else None,
                "peak_rss_mb": round(ru.ru_maxrss / 1024, 1) if ru else None, "exit_code": self.exit_code}


def _tail(fh) -> str:
    try:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - TAIL))
        return fh.read().decode(errors="replace")
    except (OSError, ValueError):
        return ""
