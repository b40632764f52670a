"""AST normalization for deduplication (docs/evolve.md, Deduplication).

Two programs that differ only in comments, docstrings, formatting or the names of local
variables normalize to the same text, and therefore to the same ``code_norm_sha``.
"""

from __future__ import annotations

import ast
import hashlib


class _Canon(ast.NodeTransformer):
    """Rename the locals of each function to v0, v1, ... in order of first assignment.

    Parameters keep their names (they are part of the contract); names that are only read
    (globals, builtins, module aliases) are left alone.
    """

    def visit_FunctionDef(self, node):  # noqa: N802 - ast API
        params = {a.arg for a in node.args.args + node.args.kwonlyargs + node.args.posonlyargs}
        if node.args.vararg:
            params.add(node.args.vararg.arg)
        if node.args.kwarg:
            params.add(node.args.kwarg.arg)
        declared = {n for s in ast.walk(node) if isinstance(s, (ast.Global, ast.Nonlocal)) for n in s.names}
        mapping: dict[str, str] = {}
        for sub in ast.walk(node):
            if sub is node:
                continue
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                if sub.id not in params and sub.id not in declared and sub.id not in mapping:
                    mapping[sub.id] = f"v{len(mapping)}"
        _strip_docstring(node)
        node.body = [self.visit(s) for s in node.body]
        if mapping:
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name) and sub.id in mapping:
                    sub.id = mapping[sub.id]
        return node

    visit_AsyncFunctionDef = visit_FunctionDef


def _strip_docstring(node) -> None:
    body = getattr(node, "body", None)
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        if isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]


def normalize(code: str) -> str:
    """Canonical text of ``code`` (raises SyntaxError if it does not parse)."""
    tree = ast.parse(code)
    _strip_docstring(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            _strip_docstring(node)
    tree = _Canon().visit(tree)
    return ast.unparse(tree)


def code_norm_sha(code: str) -> str:
    return hashlib.sha256(normalize(code).encode()).hexdigest()


def ast_size(code: str) -> int:
    """Number of AST nodes (the complexity feature and penalty, docs/evolve.md, Fitness)."""
    return sum(1 for _ in ast.walk(ast.parse(code)))


def replace_node(root: ast.AST, old: ast.AST, new: ast.AST) -> None:
    """Put ``new`` where the node ``old`` (found by identity) stands below ``root``."""
    for parent in ast.walk(root):
        for field, value in ast.iter_fields(parent):
            if value is old:
                setattr(parent, field, new)
                return
            if isinstance(value, list):
                for i, v in enumerate(value):
                    if v is old:
                        value[i] = new
                        return
