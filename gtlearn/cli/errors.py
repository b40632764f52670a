"""One error path for the whole command line.

* usage errors (missing or unknown argument / option / verb, a value of the wrong type): the
  usage line, then one ``error:`` line (with "did you mean" for a mistyped verb), status 2;
* user errors (:class:`~gtlearn.core.errors.GtlearnError`): one ``error:`` line, status 2;
* Ctrl-C: ``interrupted`` and, when the command had started a resumable run, the exact command
  that resumes it; status 130;
* anything else is a bug: one line naming it and the file where the traceback was saved, status 1.

Typer bundles its own copy of click from 0.28 on (``typer._click``) and no longer installs the
``click`` package; earlier releases use ``click``. The click exceptions are therefore recognised
by their class names (``UsageError``, ``ClickException``, ``Abort``, ``Exit``), whichever module
defines them.
"""

from __future__ import annotations

import difflib
import os
import shlex
import sys
import tempfile
import time
import traceback
from pathlib import Path

import typer

from gtlearn.core.errors import GtlearnError

_resume: dict[str, str] = {}


def resumable(out: str | Path, marker: str | None = None) -> None:
    """Called by a verb once its run directory exists: Ctrl-C from now on prints how to resume.
    With ``marker`` (a file inside ``out``), only once that file exists: before, the run has not
    started and the same command starts it again."""
    _resume["out"] = str(out)
    _resume["marker"] = marker


def resume_command(argv: list[str], out: str) -> str:
    """``gtlearn ARGV`` with ``--out OUT --resume`` (and without ``--overwrite``); ``evolve
    resume`` is its own resume command."""
    if argv[:2] == ["evolve", "resume"]:
        return "gtlearn " + shlex.join(argv)
    args = [a for a in argv if a != "--overwrite"]
    if "--out" not in args and "-o" not in args and not any(a.startswith("--out=") for a in args):
        args += ["--out", out]
    if "--resume" not in args:
        args.append("--resume")
    return "gtlearn " + shlex.join(args)


def _caused_by_ctrl_c(exc: BaseException) -> bool:
    """Ctrl-C inside compiled code (Numba) can surface as another error with the
    KeyboardInterrupt as its cause or context."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def _names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def _err(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)


def _usage_error(exc) -> int:
    ctx = getattr(exc, "ctx", None)
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    if ctx is not None:
        typer.echo(ctx.get_usage(), err=True)
        command = getattr(ctx, "command", None)
        if "NoArgsIsHelpError" in _names(exc) or (not message and hasattr(command, "list_commands")):
            verbs = command.list_commands(ctx) if hasattr(command, "list_commands") else []
            message = f"missing command; choose one of: {', '.join(verbs)}" if verbs else "missing arguments"
        elif (message.startswith("No such command") and "did you mean" not in message.lower()
              and hasattr(command, "list_commands")):
            typed = message.split("'")[1] if "'" in message else ""
            close = difflib.get_close_matches(typed, command.list_commands(ctx), n=1)
            if close:
                message = message.rstrip(".") + f" (did you mean {close[0]!r}?)"
    _err(message.splitlines()[0] if message else "bad usage")
    return 2


def _internal_error(exc: BaseException) -> int:
    folder = Path(os.environ.get("GTLEARN_CACHE", Path.home() / ".cache" / "gtlearn")) / "crashes"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=folder, prefix=time.strftime("%Y%m%d-%H%M%S-"), suffix=".txt")
        with os.fdopen(fd, "w") as fh:
            fh.write("gtlearn " + shlex.join(sys.argv[1:]) + "\n\n")
            traceback.print_exception(type(exc), exc, exc.__traceback__, file=fh)
        where = f"traceback saved to {name}"
    except OSError:
        where = "the traceback could not be saved"
    typer.secho(f"internal error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} ({where})",
                fg=typer.colors.RED, err=True)
    return 1


def _interrupted(argv: list[str]) -> int:
    typer.secho("interrupted", err=True)
    if "out" in _resume:
        marker = _resume.get("marker")
        if marker and not (Path(_resume["out"]) / marker).exists():
            typer.secho("the run had not started; run the same command again", err=True)
        else:
            typer.secho(f"resume with: {resume_command(argv, _resume['out'])}", err=True)
    return 130


def run_cli(app: typer.Typer, argv: list[str] | None = None) -> int:
    """Run the typer ``app`` on ``argv`` and turn every outcome into an exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    _resume.clear()
    try:
        result = app(args=argv, standalone_mode=False, prog_name="gtlearn")
    except GtlearnError as exc:
        _err(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return 2
    except KeyboardInterrupt:
        return _interrupted(argv)
    except BaseException as exc:  # noqa: BLE001 - sorted by kind below
        names = _names(exc)
        if "UsageError" in names:
            return _usage_error(exc)
        if "Abort" in names:  # click turns Ctrl-C (and EOF at a prompt) into Abort
            return _interrupted(argv)
        if "Exit" in names:  # typer >= 0.28 turns Ctrl-C into Exit(130)
            code = int(getattr(exc, "exit_code", 0) or 0)
            return _interrupted(argv) if code == 130 and isinstance(exc.__cause__, KeyboardInterrupt) else code
        if "ClickException" in names:
            _err(exc.format_message())
            return int(getattr(exc, "exit_code", 1) or 1)
        if isinstance(exc, SystemExit):
            return int(exc.code) if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if _caused_by_ctrl_c(exc):
            return _interrupted(argv)
        return _internal_error(exc)
    # Without standalone mode click *returns* the code of an Exit -- typer's Exit(130) for Ctrl-C too.
    code = int(result) if isinstance(result, int) else 0
    return _interrupted(argv) if code == 130 else code
