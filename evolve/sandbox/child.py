"""The sandbox child: ``python -I -m evolve.sandbox.child REQ_FD RESP_FD``.

Order matters: read the init message, import the task's trusted driver (numpy, the CFR
engine), then lock the process down (rlimits, audit hook) and only then execute the
candidate. After that everything in this process, this module included, is assumed
compromised: the parent trusts no number it sends, only the data it validates itself.
"""

from __future__ import annotations

import json
import os
import sys


def _count_own_tasks() -> int:
    """Processes + threads of this real uid (RLIMIT_NPROC counts both, system-wide per uid)."""
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
    """Deny subprocesses, forks, sockets, ctypes, writes outside ``tmp`` and reads outside
    the interpreter, the toolkit source and ``tmp`` (defense in depth, not a boundary)."""
    import os.path as osp

    tmp = osp.realpath(tmp)
    roots = tuple(osp.realpath(r) for r in read_roots) + (tmp,)
    dev_ok = ("/dev/null", "/dev/urandom", "/dev/random")
    deny_prefixes = ("subprocess.", "os.exec", "os.spawn", "os.posix_spawn", "socket.", "ctypes.", "os.fork",
                     "os.forkpty", "pty.", "os.kill", "os.killpg", "signal.pthread_kill", "mmap.", "os.putenv",
                     "os.unsetenv", "sys.remote_exec", "webbrowser.", "urllib.", "http.", "ftplib.", "smtplib.",
                     "shutil.", "os.chdir", "os.chroot", "os.startfile", "sys._current_frames", "winreg.")
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


def main() -> int:
    req_fd, resp_fd = int(sys.argv[1]), int(sys.argv[2])
    req = os.fdopen(req_fd, "rb", buffering=0)
    reader = _LineReader(req)

    def send(obj) -> None:
        data = (json.dumps(obj, allow_nan=True) + "\n").encode()
        view = memoryview(data)
        while view:
            n = os.write(resp_fd, view)
            view = view[n:]

    init = json.loads(reader.readline())
    tmp = init["tmp"]
    os.chdir(tmp)
    try:
        from evolve.tasks import TASKS

        driver = TASKS[init["task"]].cls.child_driver(init)
        set_limits(init["limits"])
        install_audit_hook(tmp, init["read_roots"])
    except BaseException as exc:  # noqa: BLE001 - the harness itself failed: report, never hang
        send({"ok": False, "stage": "harness", "error": f"{type(exc).__name__}: {exc}"[:2000]})
        return 3
    try:
        namespace = {"__name__": "candidate", "__builtins__": __builtins__}
        exec(compile(init["code"], "candidate.py", "exec"), namespace)  # noqa: S102 - the sandboxed candidate
        driver.load(namespace)
        send({"ok": True, "ready": True})
    except BaseException as exc:  # noqa: BLE001
        send({"ok": False, "stage": "load", "error": f"{type(exc).__name__}: {exc}"[:2000]})
        return 4
    while True:
        line = reader.readline()
        if not line:
            return 0
        msg = json.loads(line)
        if msg.get("op") == "exit":
            return 0
        try:
            out = driver.handle(msg)
            out["ok"] = True
        except BaseException as exc:  # noqa: BLE001 - MemoryError, RecursionError, InvalidRuleOutput...
            out = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:2000]}
        send(out)


class _LineReader:
    def __init__(self, fh):
        self.fh, self.buf = fh, b""

    def readline(self) -> bytes:
        while b"\n" not in self.buf:
            chunk = self.fh.read(1 << 16)
            if not chunk:
                line, self.buf = self.buf, b""
                return line
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line


if __name__ == "__main__":
    sys.exit(main())
