"""Which OS isolation is available for the sandbox, best first.

``strong``: the child runs under ``bwrap --unshare-net --unshare-pid`` or ``unshare -rn`` (a
fresh user + network namespace: only a down loopback, so no connection can leave or reach
this host). ``weak``: neither works here; only the audit hook denies sockets, and the run
records ``sandbox_profile=weak`` and warns. nsjail is not probed (not packaged here).
"""

from __future__ import annotations

import functools
import shutil
import subprocess


@functools.lru_cache(maxsize=None)
def _works(*cmd: str) -> bool:
    try:
        return subprocess.run([*cmd, "true"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def detect(profile: str = "auto", as_nobody: bool = False) -> tuple[str, list[str]]:
    """(profile name, command prefix). ``profile``: auto | bwrap | unshare | weak."""
    if profile in ("auto", "bwrap") and shutil.which("bwrap"):
        prefix = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--bind", "/tmp", "/tmp",
                  "--unshare-net", "--unshare-pid", "--die-with-parent"]
        if _works(*prefix):
            return "strong:bwrap", prefix
    if profile in ("auto", "unshare") and shutil.which("unshare"):
        # Unprivileged user namespaces may be allowed for root but not for nobody; probe as used.
        probe = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "unshare", "-rn"] if as_nobody and shutil.which("setpriv") else ["unshare", "-rn"]
        if _works(*probe):
            return "strong:unshare", ["unshare", "-rn"]
    if profile not in ("auto", "weak", "bwrap", "unshare"):
        raise ValueError(f"unknown sandbox profile {profile!r}")
    return "weak", []
