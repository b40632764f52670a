"""The sandbox child: ``python -I -S -c <boot> REQ_FD RESP_FD`` (see :mod:`evolve.sandbox.profiles`).

Order matters: read the init message, import the task's child driver (NumPy and plain code:
the engine that measures the candidate is not in this process), then lock the process down
(rlimits, audit hook) and only then execute the candidate. After that everything in this
process, this module included, is assumed compromised: the parent trusts no number it sends,
only the data it validates itself.
"""

from __future__ import annotations

import importlib
import os
import sys

from evolve.sandbox import wire


def _count_own_tasks() -> int:
    """Processes + threads of this real uid (RLIMIT_NPROC counts both, per uid and user namespace)."""
    uid, n = os.getuid(), 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.stat(f"/proc/{pid}").st_uid == uid:
                n += len(os.listdir(f"/proc/{pid}/task"))
        except OSError:
            pass
    return n


def set_limits(lim: dict) -> None:
    import resource

    def setl(which, soft, hard=None):
        hard = soft if hard is None else hard
        cur_soft, cur_hard = resource.getrlimit(which)
        if cur_hard != resource.RLIM_INFINITY:
            soft, hard = min(soft, cur_hard), min(hard, cur_hard)
        resource.setrlimit(which, (soft, hard))

    setl(resource.RLIMIT_CPU, int(lim["cpu_s"]), int(lim["cpu_s"]) + 2)
    setl(resource.RLIMIT_AS, int(lim["mem_mb"]) << 20)
    setl(resource.RLIMIT_FSIZE, int(lim["fsize_mb"]) << 20)
    setl(resource.RLIMIT_CORE, 0)
    setl(resource.RLIMIT_NOFILE, int(lim["nofile"]))
    setl(resource.RLIMIT_NPROC, _count_own_tasks() + int(lim["nproc"]))


def install_audit_hook(tmp: str, read_roots: list[str]) -> None:
    """Deny subprocesses, forks, sockets, ctypes, writes outside ``tmp`` and reads outside the
    interpreter, the child's packages and ``tmp``. A second line only: code in this process can
    reach the hook and switch it off, and C-level file access raises no event."""
    import os.path as osp

    tmp = osp.realpath(tmp)
    roots = tuple(osp.realpath(r) for r in read_roots) + (tmp,)
    dev_ok = ("/dev/null", "/dev/urandom", "/dev/random")
    deny_prefixes = ("subprocess.", "os.exec", "os.spawn", "os.posix_spawn", "socket.", "ctypes.", "os.fork",
                     "os.forkpty", "pty.", "os.kill", "os.killpg", "signal.pthread_kill", "mmap.", "os.putenv",
                     "os.unsetenv", "sys.remote_exec", "webbrowser.", "urllib.", "http.", "ftplib.", "smtplib.",
                     "shutil.", "os.chdir", "os.chroot", "os.startfile", "sys._current_frames", "winreg.", "sqlite3.")
    deny_exact = {"os.system", "os.popen", "_posixsubprocess.fork_exec", "os.fork", "os.setuid", "os.setgid"}
    path_events = {"os.remove", "os.rename", "os.mkdir", "os.rmdir", "os.chmod", "os.chown", "os.symlink", "os.link",
                   "os.truncate", "os.utime", "os.listdir", "os.scandir"}

    def under(path, bases):
        return any(path == b or path.startswith(b.rstrip("/") + "/") for b in bases)

    def resolve(p):
        if isinstance(p, bytes):
            p = p.decode(errors="replace")
        return osp.realpath(osp.join(tmp, os.fspath(p)))

    def hook(event, args):
        if event in deny_exact or event.startswith(deny_prefixes):
            raise PermissionError(f"sandbox: {event} denied")
        if event == "open":
            path, mode, flags = args[0], args[1], args[2]
            if path is None or isinstance(path, int):
                return
            p = resolve(path)
            writing = (mode and any(c in str(mode) for c in "wax+")) or (isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC))
            if writing:
                if not (under(p, (tmp,)) or p == "/dev/null"):
                    raise PermissionError(f"sandbox: write outside the temp dir denied: {p}")
            elif not (under(p, roots) or p in dev_ok or under(p, ("/proc/self", "/sys/devices/system/cpu"))):
                raise PermissionError(f"sandbox: read outside the allowed roots denied: {p}")
        elif event in path_events:
            for a in args[:2]:
                if isinstance(a, (str, bytes, os.PathLike)) and not under(resolve(a), (tmp,) if event not in ("os.listdir", "os.scandir") else roots):
                    raise PermissionError(f"sandbox: {event} outside the temp dir denied")

    sys.addaudithook(hook)


class _Channel:
    """Frames in on ``req_fd``, frames out on ``resp_fd``; each frame read into its own buffer."""

    def __init__(self, req_fd: int, resp_fd: int):
        self.req, self.resp = req_fd, resp_fd

    def recv(self):
        prefix = bytearray(wire.HEAD.size)
        if wire.read_into(self.req, prefix) < len(prefix):
            return None, []
        n_head, n_payload = wire.HEAD.unpack(prefix)
        frame = bytearray(n_head + n_payload)
        wire.read_into(self.req, frame)
        head = wire.decode_header(bytes(frame[:n_head]))
        return head, wire.split(head, memoryview(frame)[n_head:])

    def send(self, head: dict, arrays=()) -> None:
        wire.write_all(self.resp, wire.encode(head, arrays))


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


def main() -> int:
    chan = _Channel(int(sys.argv[-2]), int(sys.argv[-1]))
    init, _ = chan.recv()
    os.chdir(init["tmp"])
    try:
        module, _, name = init["driver"].partition(":")
        driver = getattr(importlib.import_module(module), name)(init)
        set_limits(init["limits"])
        install_audit_hook(init["tmp"], init["read_roots"])
    except BaseException as exc:  # noqa: BLE001 - the harness itself failed: report, never hang
        chan.send({"ok": False, "stage": "harness", "error": _error(exc)})
        return 3
    try:
        namespace = {"__name__": "candidate", "__builtins__": __builtins__}
        exec(compile(init["code"], "candidate.py", "exec"), namespace)  # noqa: S102 - the sandboxed candidate
        driver.load(namespace)
        chan.send({"ok": True, "ready": True})
    except BaseException as exc:  # noqa: BLE001
        chan.send({"ok": False, "stage": "load", "error": _error(exc)})
        return 4
    while True:
        head, arrays = chan.recv()
        if head is None or head.get("op") == "exit":
            return 0
        try:
            out, out_arrays = driver.handle(head, arrays)
            out["ok"] = True
        except BaseException as exc:  # noqa: BLE001 - MemoryError, RecursionError, the candidate's own errors...
            out, out_arrays = {"ok": False, "error": _error(exc)}, []
        chan.send(out, out_arrays)
