"""``gtlearn evolve distill``: greedy ablation of a program to a minimal core (docs/evolve.md,
Outputs, replay and distillation).

Evolved mechanisms overfit the training games (VAD-CFR vs its distilled WOP-CFR in
arXiv:2602.16928); this verb removes parts and keeps a removal when the *private* (held-out)
fitness drops by at most ``tol``. Ablations, all inside the EVOLVE blocks: delete a statement;
replace a binary expression by one operand; unwrap ``np.maximum/np.minimum(x, c)`` to ``x``;
replace a numeric constant by 0 or 1. Every ablated program is re-scored in the sandbox on the
training games (public) and the held-out games (private). Repeats to a fixed point.
"""

from __future__ import annotations

import ast
import copy
from pathlib import Path

from evolve.evaluator import run_job
from evolve.normalize import ast_size, code_norm_sha, replace_node
from evolve.patch import PatchError, blocks_of, check_result
from evolve.report import champion, open_db
from evolve.scheduling import LIMIT_KEYS
from evolve.screen import ScreenError, screen
from evolve.tasks import Task, make_task
from gtlearn.core.errors import GtlearnError
from gtlearn.core.io import atomic_write_bytes, atomic_write_json


def _block_functions(code: str) -> list[str]:
    lines = code.split("\n")
    blocks = blocks_of(lines)
    return [n.name for n in ast.parse(code).body if isinstance(n, ast.FunctionDef)
            and any(s < n.lineno - 1 and n.end_lineno - 1 < e for s, e in blocks)]


def ablations(code: str, required: tuple[str, ...]) -> list[tuple[str, str]]:
    """(description, ablated program) pairs, each a valid patch of ``code`` that keeps the
    ``required`` functions."""
    out = []
    names = _block_functions(code)
    mod = ast.parse(code)
    lines = code.split("\n")
    order = {name: i for i, name in enumerate(required)}
    fns = sorted([n for n in mod.body if isinstance(n, ast.FunctionDef) and n.name in names],
                 key=lambda n: order.get(n.name, len(required)))
    # The required functions first, helpers last: most helper ablations break the contract.
    for fi, fn in enumerate(fns):
        variants = []
        for i, stmt in enumerate(fn.body):
            if not isinstance(stmt, ast.Return) and len(fn.body) > 1:
                f2 = copy.deepcopy(fn)
                del f2.body[i]
                variants.append((f"{fn.name}: delete `{ast.unparse(stmt)[:60]}`", f2))
        targets = [n for n in ast.walk(fn) if isinstance(n, (ast.BinOp, ast.Call, ast.Constant))]
        for k, node in enumerate(targets):
            reps = []
            if isinstance(node, ast.BinOp):
                reps = [("left operand", node.left), ("right operand", node.right)]
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("maximum", "minimum") and node.args:
                reps = [("unwrap", node.args[0])]
            elif isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool) and node.value not in (0, 1):
                reps = [("constant 0", ast.Constant(0.0)), ("constant 1", ast.Constant(1.0))]
            for label, rep in reps:
                f2 = copy.deepcopy(fn)
                tgt = [n for n in ast.walk(f2) if isinstance(n, (ast.BinOp, ast.Call, ast.Constant))][k]
                replace_node(f2, tgt, copy.deepcopy(rep))
                variants.append((f"{fn.name}: {label} of `{ast.unparse(node)[:50]}`", f2))
        a, b = fn.lineno - 1, fn.end_lineno - 1
        for desc, f2 in variants:
            new = "\n".join(lines[:a] + ast.unparse(f2).split("\n") + lines[b + 1:])
            try:
                check_result(code, new, required)
                screen(new)
            except (PatchError, ScreenError, SyntaxError):
                continue
            if code_norm_sha(new) != code_norm_sha(code):
                out.append((desc, new))
    return out


def score(code: str, task: Task, cfg: dict, baselines: dict, seed: int, hide: tuple[str, ...] = ()) -> dict:
    """Public and private fitness of ``code`` in the sandbox (the campaign directory ``hide`` unseen)."""
    stages = task.stages(cfg)
    sb = cfg["sandbox"]
    limits = {k: sb.get(k, False) for k in LIMIT_KEYS}
    base = {"task": task.name, "program_id": 0, "attempt": 0, "code": code, "stages": stages, "seed": seed, "limits": limits,
            "baselines": baselines, "hide": list(hide)}
    pub = run_job({**base, "kind": "cascade"})
    if pub["state"] != "evaluated":
        return {"valid": False, "reason": pub["reason"]}
    priv = run_job({**base, "kind": "heldout"})
    if priv["state"] != "evaluated":
        return {"valid": False, "reason": priv["reason"]}
    return {"valid": True, "public": next(s["public"]["fitness"] for s in pub["stages"] if s["stage"] == 2),
            "private": next(s["private"]["fitness"] for s in priv["stages"] if s["stage"] == 3)}


def _program(db, program_id, run_dir):
    """The program to distill: ``program_id``, or the champion, or the public leader."""
    if program_id is None:
        p = champion(db) or db.leader()
        if p is None:
            raise GtlearnError("the campaign has no evaluated program to distill")
        return p
    p = db.program(program_id)
    if p is None or p["code"] is None:
        raise GtlearnError(f"no program {program_id} with code in {run_dir}")
    return p


def _greedy(code: str, cur: dict, scorer, required, tol: float, max_rounds: int, max_evals: int | None, rows: list, echo):
    """Keep the first ablation whose private fitness drops by at most ``tol``; restart from the
    ablated program until none is kept. Returns (code, its scores, evaluations used)."""
    evals = 0
    cache: dict = {}
    for _ in range(max_rounds):
        changed = False
        for desc, cand in ablations(code, required):
            if max_evals is not None and evals >= max_evals:
                break
            key = code_norm_sha(cand)
            if key not in cache:  # the greedy restart revisits earlier ablations; score each once
                evals += 1
                cache[key] = scorer(cand)
            s = cache[key]
            keep = s["valid"] and s["private"] >= cur["private"] - tol
            rows.append((desc, s.get("public"), s.get("private"), ast_size(cand), "kept" if keep else ("invalid" if not s["valid"] else "reverted")))
            echo(f"  {desc}: " + (f"public {s['public']:+.4f} private {s['private']:+.4f}" if s["valid"] else "invalid") + (" KEEP" if keep else ""))
            if keep:
                code, cur, changed = cand, s, True
                break
        if not changed:
            break
    return code, cur, evals


def distill_program(run_dir, program_id=None, tol: float = 0.05, out=None, echo=None, max_rounds: int = 20,
                    max_evals: int | None = None, unsafe: bool = False) -> dict:
    """``unsafe``: run the ablations under a weak sandbox profile when no strong one works here."""
    echo = echo or (lambda s: None)
    db = open_db(run_dir)
    cfg = db.run_config()
    cfg["sandbox"]["unsafe"] = bool(unsafe or cfg["sandbox"].get("unsafe", False))
    hide = (str(Path(run_dir).resolve()),)
    baselines = db.kv_get("baselines")
    p = _program(db, program_id, run_dir)
    task = make_task(cfg)
    if not any(s["stage"] == 3 for s in task.stages(cfg)):
        raise GtlearnError("distill needs held-out games (cascade.heldout.games) to score ablations")
    seed = int(cfg["run"]["seed"]) * 100003 + 999_983
    code = p["code"]
    cur = score(code, task, cfg, baselines, seed, hide)
    if not cur["valid"]:
        raise GtlearnError(f"program {p['id']} does not evaluate: {cur['reason']}")
    rows = [("(start)", cur["public"], cur["private"], ast_size(code), "start")]
    echo(f"start #{p['id']}: public {cur['public']:+.4f}, private {cur['private']:+.4f}, {ast_size(code)} AST nodes")
    code, cur, evals = _greedy(code, cur, lambda c: score(c, task, cfg, baselines, seed, hide), task.functions, tol, max_rounds,
                               max_evals, rows, echo)
    out = Path(out or run_dir)
    path = out / f"distilled_{p['id']}.py"
    atomic_write_bytes(path, code.encode())
    lines = ["| ablation | public fitness | private fitness | AST nodes | result |", "|---|---|---|---|---|"]
    for d, pu, pr, n, r in rows:
        lines.append(f"| {d} | {'' if pu is None else format(pu, '+.4f')} | {'' if pr is None else format(pr, '+.4f')} | {n} | {r} |")
    table = "\n".join(lines)
    atomic_write_bytes(out / f"distill_{p['id']}.md", (table + "\n").encode())
    res = {"program_id": p["id"], "path": str(path), "table": table, "final": cur, "ast_nodes": ast_size(code),
           "start_ast_nodes": rows[0][3], "evaluations": evals,
           "fixed_point": not (max_evals is not None and evals >= max_evals)}
    atomic_write_json(out / f"distill_{p['id']}.json", {k: v for k, v in res.items() if k != "table"} | {"rows": rows})
    return res
