"""Static pre-screen of candidate programs (docs/evolve.md, Sandbox; stage 0).

A cheap, conservative filter run in the parent before any code executes. It is not the
security boundary (the sandbox is); it rejects the obvious attacks early and with a clear
reason so the search wastes no evaluation slot on them.
"""

from __future__ import annotations

import ast
import importlib
import types

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


def _module_aliases(tree: ast.AST, allowed: frozenset) -> dict[str, object]:
    """The names the program binds to allowed modules (``import numpy as np`` -> np: numpy)."""
    aliases: dict[str, object] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name in allowed:
                    name = a.asname or a.name.split(".")[0]
                    aliases[name] = importlib.import_module(a.name if a.asname else a.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module in allowed and not node.level:
            mod = importlib.import_module(node.module)
            for a in node.names:
                if hasattr(mod, a.name):
                    aliases[a.asname or a.name] = getattr(mod, a.name)
    return aliases


def _chain(node: ast.AST) -> tuple[str, list[str]] | None:
    """``np.ma.core`` (or ``getattr(np, "ma")``) as (root name, [attributes]); None otherwise."""
    attrs: list[str] = []
    while True:
        if isinstance(node, ast.Attribute):
            attrs.append(node.attr)
            node = node.value
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr"
              and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)):
            attrs.append(node.args[1].value)
            node = node.args[0]
        elif isinstance(node, ast.Name):
            return node.id, attrs[::-1]
        else:
            return None


def _check_module_walk(node: ast.AST, aliases: dict, allowed: frozenset, line) -> None:
    """Reject an attribute chain that walks from an allowed module into any other module
    (``np.ma.core.inspect.os``): the other module's own imports are out of the allowlist."""
    found = _chain(node)
    if found is None or found[0] not in aliases:
        return
    value, path = aliases[found[0]], found[0]
    for attr in found[1]:
        value = getattr(value, attr, None)
        path += "." + attr
        if value is None:
            return
        if isinstance(value, types.ModuleType) and value.__name__ not in allowed:
            raise ScreenError(f"line {line}: {path} reaches module {value.__name__!r}, which is not allowed "
                              f"(allowed: {sorted(allowed)})")
        if not isinstance(value, types.ModuleType):
            return


def screen(code: str, extra_imports: tuple[str, ...] = ()) -> None:
    """Raise :class:`ScreenError` with the reason if ``code`` uses a forbidden construct."""
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        raise ScreenError(f"does not parse: {exc.msg} (line {exc.lineno})") from None
    allowed = ALLOWED_IMPORTS | set(extra_imports)
    aliases = _module_aliases(tree, allowed)
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
                value = aliases.get(alias.asname or alias.name)
                if isinstance(value, types.ModuleType) and value.__name__ not in allowed:
                    raise ScreenError(f"line {line}: importing module {value.__name__!r} is not allowed")
        elif isinstance(node, ast.Name):
            if node.id in BANNED_CALLS:
                raise ScreenError(f"line {line}: use of {node.id!r} is not allowed")
            if node.id.startswith("__") and node.id.endswith("__"):
                raise ScreenError(f"line {line}: dunder name {node.id!r} is not allowed")
        elif isinstance(node, ast.Attribute):
            _check_module_walk(node, aliases, allowed, line)
            if node.attr.startswith("_"):
                raise ScreenError(f"line {line}: private/dunder attribute {node.attr!r} is not allowed")
            if node.attr in BANNED_ATTRS:
                raise ScreenError(f"line {line}: attribute {node.attr!r} is not allowed")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "setattr", "hasattr"):
            if len(node.args) < 2 or not isinstance(node.args[1], ast.Constant) or not isinstance(node.args[1].value, str):
                raise ScreenError(f"line {line}: {node.func.id} with a non-literal name is not allowed")
            if node.args[1].value.startswith("_"):
                raise ScreenError(f"line {line}: {node.func.id} of a private name is not allowed")
            _check_module_walk(node, aliases, allowed, line)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            raise ScreenError(f"line {line}: global/nonlocal statements are not allowed")
        elif isinstance(node, (ast.AsyncFunctionDef, ast.Await, ast.AsyncFor, ast.AsyncWith, ast.Yield, ast.YieldFrom)):
            raise ScreenError(f"line {line}: async code and generators are not allowed")
