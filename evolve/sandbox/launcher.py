"""Parent side of the sandbox: spawn, talk JSON, enforce the wall deadline, kill the group.

One :class:`Sandbox` is one candidate: a fresh temp dir and a fresh
``python -I -m evolve.sandbox.child`` process in its own session (process group). The parent
keeps the deadline (``killpg(SIGKILL)`` on expiry), reaps the group after every exit, and
measures wall time, CPU and peak RSS itself (``wait4``). When the parent runs as root the
child is started as ``nobody`` so that RLIMIT_NPROC applies and nothing private is readable.
"""

from __future__ import annotations

import functools
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

from evolve.sandbox.profiles import detect

MAX_MESSAGE = 16 << 20
TAIL = 4096
NOBODY = 65534


class SandboxTimeout(Exception):
    pass


class SandboxCrash(Exception):
    pass


@dataclass
class SandboxLimits:
    wall_s: float = 60.0
    cpu_s: float = 60.0
    mem_mb: int = 2048
    nofile: int = 32
    fsize_mb: int = 16
    nproc: int = 8
    profile: str = "auto"  # auto | bwrap | unshare | weak
    network: str = "deny"  # deny (use the best profile, warn if weak) | require (refuse weak)


def _env(tmp: str) -> dict[str, str]:
    """The allowlisted environment: nothing from the parent except PATH and the locale."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "HOME": tmp,
        "TMPDIR": tmp,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "NUMBA_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    return env


def read_roots() -> list[str]:
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix}
    for p in sys.path:
        if p and os.path.isdir(p):
            roots.add(p)
    import evolve

    for p in evolve.__path__:
        if os.path.isdir(p):
            roots.add(os.path.dirname(os.path.abspath(p)))  # the repository root (gtlearn, games, solvers)
    return sorted(roots)


@dataclass
class Sandbox:
    task: str
    code: str
    limits: SandboxLimits = field(default_factory=SandboxLimits)
    files: dict = field(default_factory=dict)  # name in the temp dir -> source path (copied in)
    extra_init: dict = field(default_factory=dict)

    def __post_init__(self):
        self.proc = None
        self.tmp = None
        self.profile = None
        self.rusage = None
        self.exit_code = None
        self.started = None
        self.stdout_tail = self.stderr_tail = ""

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> dict:
        as_root = os.geteuid() == 0 and _nobody_can_run()
        self.profile, prefix = detect(self.limits.profile, as_nobody=as_root)
        if self.profile == "weak" and self.limits.network == "require":
            raise RuntimeError("sandbox.network=require but no network isolation (bwrap/unshare) works here")
        self.tmp = tempfile.mkdtemp(prefix="gtlearn-sbx-")
        for name, src in self.files.items():
            shutil.copyfile(src, os.path.join(self.tmp, name))
        self._out = open(os.path.join(self.tmp, ".stdout"), "wb")
        self._err = open(os.path.join(self.tmp, ".stderr"), "wb")
        kwargs = {}
        if as_root:
            for dirpath, _, names in os.walk(self.tmp):
                os.chown(dirpath, NOBODY, NOBODY)
                for n in names:
                    os.chown(os.path.join(dirpath, n), NOBODY, NOBODY)
            kwargs = {"user": NOBODY, "group": NOBODY, "extra_groups": []}
        req_r, self._req_w = os.pipe()
        self._resp_r, resp_w = os.pipe()
        cmd = [*prefix, sys.executable, "-I", "-m", "evolve.sandbox.child", str(req_r), str(resp_w)]
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=self._out, stderr=self._err, cwd=self.tmp, env=_env(self.tmp),
            start_new_session=True, pass_fds=(req_r, resp_w), close_fds=True, **kwargs,
        )
        os.close(req_r)
        os.close(resp_w)
        self._buf = b""
        init = {
            "task": self.task, "code": self.code, "tmp": self.tmp, "read_roots": read_roots(),
            "limits": {"cpu_s": self.limits.cpu_s, "mem_mb": self.limits.mem_mb, "nofile": self.limits.nofile,
                       "fsize_mb": self.limits.fsize_mb, "nproc": self.limits.nproc},
            **self.extra_init,
        }
        self._write(init)
        return self._read(self.started + self.limits.wall_s)

    def request(self, msg: dict, deadline: float | None = None) -> dict:
        """Send one request and wait for its answer until ``deadline`` (monotonic; default:
        the sandbox's overall wall limit since start)."""
        if deadline is None:
            deadline = self.started + self.limits.wall_s
        self._write(msg)
        return self._read(deadline)

    def close(self) -> None:
        if self.proc is None:
            return
        try:
            os.write(self._req_w, b'{"op":"exit"}\n')
        except OSError:
            pass
        # Give it a moment to exit by itself, without reaping (wait4 in _kill collects rusage).
        end = time.monotonic() + 0.5
        while time.monotonic() < end and not self._exited():
            time.sleep(0.01)
        self._kill()
        for fd in (self._req_w, self._resp_r):
            try:
                os.close(fd)
            except OSError:
                pass
        self._out.close()
        self._err.close()
        self.stdout_tail = _tail(os.path.join(self.tmp, ".stdout"))
        self.stderr_tail = _tail(os.path.join(self.tmp, ".stderr"))
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.proc = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- internals -----------------------------------------------------------------------
    def _kill(self) -> None:
        """SIGKILL the whole process group and reap the child (with its rusage)."""
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
        # Grandchildren that escaped into the group die with it; wait until none is left.
        for _ in range(50):
            try:
                os.killpg(pgid, 0)
            except (ProcessLookupError, PermissionError):
                break
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

    def _write(self, msg: dict) -> None:
        data = (json.dumps(msg) + "\n").encode()
        try:
            view = memoryview(data)
            while view:
                n = os.write(self._req_w, view)
                view = view[n:]
        except (BrokenPipeError, OSError) as exc:
            raise SandboxCrash(f"child closed its pipe ({exc})") from None

    def _read(self, deadline: float) -> dict:
        sel = selectors.DefaultSelector()
        sel.register(self._resp_r, selectors.EVENT_READ)
        try:
            while b"\n" not in self._buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._kill()
                    raise SandboxTimeout(f"no answer within the wall limit ({self.limits.wall_s:g} s)")
                if not sel.select(timeout=min(left, 1.0)):
                    if self._exited() and not sel.select(timeout=0):
                        break
                    continue
                chunk = os.read(self._resp_r, 1 << 20)
                if not chunk:
                    break
                self._buf += chunk
                if len(self._buf) > MAX_MESSAGE:
                    self._kill()
                    raise SandboxCrash(f"message over the {MAX_MESSAGE >> 20} MiB IPC cap")
        finally:
            sel.close()
        if b"\n" not in self._buf:
            self._kill()
            raise SandboxCrash(f"child exited without an answer (exit code {self.exit_code})")
        line, _, self._buf = self._buf.partition(b"\n")
        try:
            out = json.loads(line)
        except ValueError:
            raise SandboxCrash("child sent a message that is not JSON") from None
        if not isinstance(out, dict):
            raise SandboxCrash("child sent a JSON message that is not an object")
        return out

    def usage(self) -> dict:
        ru = self.rusage
        return {
            "wall_s": round(getattr(self, "wall_s", 0.0), 4),
            "cpu_s": round(ru.ru_utime + ru.ru_stime, 4) if ru else None,
            "peak_rss_mb": round(ru.ru_maxrss / 1024, 1) if ru else None,
            "exit_code": self.exit_code,
        }


@functools.lru_cache(maxsize=None)
def _nobody_can_run() -> bool:
    """Whether the interpreter and the toolkit are usable by ``nobody`` (not when the venv
    lives under a private home); if not, a root parent runs the child as root inside the
    user namespace, where RLIMIT_NPROC still applies but file access rests on the audit hook."""
    try:
        return subprocess.run([sys.executable, "-I", "-c", "import evolve.sandbox.child"], user=NOBODY, group=NOBODY,
                              extra_groups=[], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, cwd="/", timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _tail(path: str) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - TAIL))
            return fh.read().decode(errors="replace")
    except OSError:
        return ""
