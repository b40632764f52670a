"""Static pre-screen of candidate programs (docs/evolve.md, Sandbox; stage 0).

A cheap, conservative filter run in the parent before any code executes. It is not the
security boundary (the sandbox is); it rejects the obvious attacks early and with a clear
reason so the search wastes no evaluation slot on them.
"""

from __future__ import annotations

import ast

ALLOWED_IMPORTS = frozenset({"math", "numpy", "itertools", "functools", "numpy.linalg"})
BANNED_CALLS = frozenset(
    {"open", "exec", "eval", "compile", "__import__", "globals", "locals", "vars", "breakpoint", "input",
     "memoryview", "help", "exit", "quit", "delattr"}
)
# numpy attributes that reach files, pickles, foreign code or the interpreter.
BANNED_ATTRS = frozenset(
    {"load", "save", "savez", "savez_compressed", "savetxt", "loadtxt", "genfromtxt", "fromfile", "tofile",
     "memmap", "ctypeslib", "ctypes", "DataSource", "lib", "f2py", "distutils", "testing", "fromregex",
     "frombuffer", "from_dlpack", "system", "popen", "environ", "modules", "setrecursionlimit"}
)


class ScreenError(Exception):
    pass


def screen(code: str, extra_imports: tuple[str, ...] = ()) -> None:
    """Raise :class:`ScreenError` with the reason if ``code`` uses a forbidden construct."""
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        raise ScreenError(f"does not parse: {exc.msg} (line {exc.lineno})") from None
    allowed = ALLOWED_IMPORTS | set(extra_imports)
    for node in ast.walk(tree):
        line = getattr(node, "lineno", "?")
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name not in allowed:
                    raise ScreenError(f"line {line}: import of {alias.name!r} is not allowed (allowed: {sorted(allowed)})")
        elif isinstance(node, ast.ImportFrom):
            if node.level or node.module not in allowed:
                raise ScreenError(f"line {line}: import from {node.module!r} is not allowed")
            for alias in node.names:
                if alias.name.startswith("_") or alias.name in BANNED_ATTRS or alias.name == "*":
                    raise ScreenError(f"line {line}: importing {alias.name!r} is not allowed")
        elif isinstance(node, ast.Name):
            if node.id in BANNED_CALLS:
                raise ScreenError(f"line {line}: use of {node.id!r} is not allowed")
            if node.id.startswith("__") and node.id.endswith("__"):
                raise ScreenError(f"line {line}: dunder name {node.id!r} is not allowed")
        elif isinstance(node, ast.Attribute):
            if node.attr.startswith("_"):
                raise ScreenError(f"line {line}: private/dunder attribute {node.attr!r} is not allowed")
            if node.attr in BANNED_ATTRS:
                raise ScreenError(f"line {line}: attribute {node.attr!r} is not allowed")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "setattr", "hasattr"):
            if len(node.args) < 2 or not isinstance(node.args[1], ast.Constant) or not isinstance(node.args[1].value, str):
                raise ScreenError(f"line {line}: {node.func.id} with a non-literal name is not allowed")
            if node.args[1].value.startswith("_"):
                raise ScreenError(f"line {line}: {node.func.id} of a private name is not allowed")
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            raise ScreenError(f"line {line}: global/nonlocal statements are not allowed")
        elif isinstance(node, (ast.AsyncFunctionDef, ast.Await, ast.AsyncFor, ast.AsyncWith, ast.Yield, ast.YieldFrom)):
            raise ScreenError(f"line {line}: async code and generators are not allowed")
