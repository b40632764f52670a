"""The layers of docs/architecture.md hold: imports point down only, and there are no cycles.

Every module's imports are parsed (those inside functions too, which is where cycles used to
hide). Layers, bottom to top::

    gtlearn.core  <-  games  <-  solvers  <-  {evolve, alignment}  <-  gtlearn interface  <-  experiments

``evolve`` and ``alignment`` sit side by side and import neither each other nor anything above
them; nothing below the interface imports typer, rich or matplotlib.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("gtlearn", "games", "solvers", "evolve", "alignment", "experiments")
LEVELS = {"core": 0, "games": 1, "solvers": 2, "evolve": 3, "alignment": 3, "interface": 4, "experiments": 5}
INTERFACE_ONLY = ("typer", "rich", "matplotlib")


def layer(module: str) -> str:
    top = module.split(".")[0]
    if top == "gtlearn":
        return "core" if module == "gtlearn.core" or module.startswith("gtlearn.core.") else "interface"
    return top


def discover() -> dict[str, Path]:
    modules = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


MODULES = discover()


def imports_of(module: str, path: Path) -> list[tuple[str, int]]:
    """(imported name, line) for every import statement, function-level ones included."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_pkg = path.name == "__init__.py"
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_pkg else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # "from pkg import submodule" is "import pkg.submodule"; any other name is pkg's own
            submodules = [f"{target}.{alias.name}" for alias in node.names if f"{target}.{alias.name}" in MODULES]
            if len(submodules) < len(node.names):
                out.append((target, node.lineno))
            out.extend((name, node.lineno) for name in submodules)
    return out


def first_party(name: str) -> str | None:
    """The module of this project that ``name`` denotes (the longest known prefix), if any."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        candidate = ".".join(parts[:i])
        if candidate in MODULES:
            return candidate
    return None


def graph() -> dict[str, dict[str, int]]:
    edges: dict[str, dict[str, int]] = {}
    for module, path in MODULES.items():
        targets = edges.setdefault(module, {})
        for name, line in imports_of(module, path):
            target = first_party(name)
            if target is not None and target != module:
                targets.setdefault(target, line)
    return edges


def test_imports_point_down_only():
    problems = []
    for module, targets in graph().items():
        src = layer(module)
        for target, line in targets.items():
            dst = layer(target)
            if dst == src:
                continue
            if LEVELS[dst] >= LEVELS[src]:
                problems.append(f"{MODULES[module].relative_to(ROOT)}:{line}: {src} imports {dst} ({target})")
    assert not problems, "upward or sideways imports:\n" + "\n".join(problems)


def test_no_import_cycles():
    edges = graph()
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []
    counter = [0]

    def strongconnect(v):  # Tarjan's algorithm
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            strongconnect(v)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


@pytest.mark.parametrize("library", INTERFACE_ONLY)
def test_interface_libraries_stay_in_the_interface(library):
    problems = []
    for module, path in MODULES.items():
        if LEVELS[layer(module)] >= LEVELS["interface"]:
            continue
        for name, line in imports_of(module, path):
            if name == library or name.startswith(library + "."):
                problems.append(f"{path.relative_to(ROOT)}:{line}: imports {name}")
    assert not problems, f"{library} below the interface:\n" + "\n".join(problems)


def test_the_checker_sees_function_level_imports(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("def f():\n    from solvers.cfr import engine\n")
    assert ("solvers.cfr.engine", 2) in imports_of("games.m", path)
