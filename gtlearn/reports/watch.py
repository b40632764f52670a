"""Writing a report once, or again every few seconds until Ctrl-C (``--watch``)."""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Callable

from gtlearn.core.errors import GtlearnError
from gtlearn.core.io import atomic_write_bytes


def check_out(out: Path) -> Path:
    """``out`` as a file path whose folder exists; a one-line GtlearnError otherwise."""
    out = Path(out)
    if out.is_dir():
        raise GtlearnError(f"--out {out} is a directory; give the HTML file to write")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GtlearnError(f"cannot create {out.parent}: {exc.strerror or exc}") from exc
    try:  # the folder exists, but may refuse files (/proc, read-only mounts)
        fd, probe = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".probe")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise GtlearnError(f"cannot write to {out.parent}: {exc.strerror or exc}") from None
    return out


def write_report(render: Callable[[float | None], str], out: Path, *, watch: bool = False, interval: float = 5.0,
                 echo: Callable[[str], None] = print, sleep: Callable[[float], None] = time.sleep) -> int:
    """Write ``render(refresh_s)`` to ``out`` (atomically, so a browser never reads half a page).

    With ``watch`` the page is rewritten every ``interval`` seconds and asks the browser to
    reload itself; Ctrl-C ends the loop and leaves a final page without the reload. A read that
    fails meanwhile (the campaign's database mid-checkpoint) keeps the previous page. Returns
    the number of pages written."""
    if interval <= 0:
        raise GtlearnError(f"--interval must be positive, got {interval:g}")
    if not watch:
        _write(out, render(None))
        return 1
    written = 0
    echo(f"watching: rewriting {out} every {interval:g} s; Ctrl-C stops")
    try:
        while True:
            try:
                _write(out, render(interval))
                written += 1
            except (sqlite3.OperationalError, OSError) as exc:
                echo(f"warning: report not refreshed this time ({exc})")
            sleep(interval)
    except KeyboardInterrupt:
        pass
    _write(out, render(None))
    echo(f"stopped watching; final report at {out}")
    return written + 1


def _write(out: Path, text: str) -> None:
    atomic_write_bytes(out, text.encode())
    # The atomic write's temporary file is private (0600); a page is for whoever may read the folder.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(out, 0o666 & ~umask)
