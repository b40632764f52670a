"""Docstrings and comments point only at files inside this repository.

Every path-like token (``dir/name.ext``, e.g. a docs page) in a module docstring, class or
function docstring or comment must name a file or folder of the repository; references to the
design specs that live outside it (``specs/...``) are errors.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [p for top in ("gtlearn", "games", "solvers", "evolve", "alignment", "experiments", "examples", "tests")
           for p in sorted((ROOT / top).rglob("*.py"))]
PATH = re.compile(r"(?<![\w./~<$-])((?:[\w.-]+/)+[\w.-]+\.(?:py|md|yaml|yml|json|toml|png|html|npz|txt|csv))\b")
# Placeholders and paths the user or a run creates, not files of the repository.
NOT_REPO = ("path/to/", "runs/", "my_", "some/", "/tmp/", "foo/", "dir/")


def texts(path: Path) -> list[tuple[int, str]]:
    source = path.read_text()
    out = []
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                line = node.body[0].lineno if node.body else 1
                out.append((line, doc))
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            out.append((tok.start[0], tok.string))
    return out


def problems_in(path: Path, root: Path = ROOT) -> list[str]:
    found = []
    where = path.relative_to(root) if path.is_relative_to(root) else path.name
    for line, text in texts(path):
        if re.search(r"(?<![\w-])specs/\w+\.md", text):
            found.append(f"{where}:{line}: refers to a spec outside the repository")
        for match in PATH.finditer(text):
            ref = match.group(1)
            if any(ref.startswith(p) or f"/{p}" in ref for p in NOT_REPO) or ref.startswith("specs/"):
                continue
            if not ((root / ref).exists() or (path.parent / ref).exists()):
                found.append(f"{where}:{line}: {ref} is not in the repository")
    return found


def test_docstrings_and_comments_reference_only_repository_files():
    problems = [p for path in SOURCES for p in problems_in(path)]
    assert not problems, "\n".join(problems)


def test_the_check_catches_a_missing_path(tmp_path):
    bad = tmp_path / "m.py"
    bad.write_text('"""See specs/cfr.md and docs/nowhere.md."""\n# also solvers/cfr/engine.py\n')
    msgs = problems_in(bad)
    assert any("spec outside" in m for m in msgs) and any("docs/nowhere.md" in m for m in msgs)
    assert not any("engine.py" in m for m in msgs)
