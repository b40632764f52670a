"""Read-only views of a campaign database: status, best (champion), lineage and the score table
(docs/evolve.md, Outputs, replay and distillation). Rendering them to files and plots is the
interface's job (:mod:`gtlearn.reports`)."""

from __future__ import annotations

import difflib
from pathlib import Path

from evolve.db import DB, EVALUATED_STATES, FINISHED_STATES
from evolve.ledger import spent
from gtlearn.core.errors import GtlearnError


def open_db(run_dir) -> DB:
    p = Path(run_dir) / "campaign.db"
    if not p.exists():
        raise GtlearnError(f"{run_dir} holds no campaign.db")
    db = DB(p)
    row = db.run_row()
    if row is None:  # the `evolve run` that created it stopped before its first commit
        db.close()
        raise GtlearnError(f"{p} holds no run yet; start it with `gtlearn evolve run CONFIG --out {run_dir}`")
    db.run_id = row["run_id"]
    return db


def status(db: DB) -> dict:
    run = db.run_row()
    st = db.kv_get("islands", {}) or {}
    counts = db.counts()
    return {
        "run_id": db.run_id, "status": run["status"], "counts": counts,
        "evaluated": sum(v for k, v in counts.items() if k in EVALUATED_STATES),
        "finished": sum(v for k, v in counts.items() if k in FINISHED_STATES), "budget_use": spent(db),
        "islands": {"best": st.get("best"), "since_improvement": st.get("since"), "resets": st.get("resets", 0)},
        "sandbox_profile": db.kv_get("sandbox_profile"), "stagnation": db.run_config()["search"]["stagnation"],
        "heldout_queue": db.kv_get("heldout_queue", []),
    }


def champion(db: DB):
    r = db.latest_champion()
    return None if r is None else db.program(r["program_id"])


def best(db: DB) -> dict:
    ch = champion(db)
    lead = db.leader()
    p = ch if ch is not None else lead
    if p is None:
        return {"champion": None, "leader": None}
    seed = db.seed_program()
    diff = "".join(difflib.unified_diff(seed["code"].splitlines(True), p["code"].splitlines(True), "seed.py", f"program_{p['id']}.py"))
    return {"program_id": p["id"], "is_champion": ch is not None, "leader_id": lead["id"] if lead else None,
            "public": db.evaluation(p["id"], 2), "private": db.evaluation(p["id"], 3), "code": p["code"], "diff_from_seed": diff}


def lineage(db: DB, pid: int) -> list[dict]:
    out = []
    cur = db.program(pid)
    if cur is None:
        raise GtlearnError(f"no program {pid}")
    while cur is not None:
        parent = db.program(cur["parent_id"]) if cur["parent_id"] is not None else None
        d = None
        if parent is not None and cur["public_fitness"] is not None and parent["public_fitness"] is not None:
            d = cur["public_fitness"] - parent["public_fitness"]
        diff = "" if parent is None or cur["code"] is None else "".join(
            difflib.unified_diff(parent["code"].splitlines(True), cur["code"].splitlines(True), f"#{parent['id']}", f"#{cur['id']}", n=1))
        out.append({"id": cur["id"], "parent_id": cur["parent_id"], "generation": cur["generation"], "state": cur["state"],
                    "public_fitness": cur["public_fitness"], "fitness_change": d, "patch_kind": cur["patch_kind"], "diff": diff})
        cur = parent
    return out[::-1]


def score_table(db: DB, limit: int = 15) -> list[dict]:
    """The evaluated programs of highest public fitness, with their held-out fitness if any."""
    out = []
    for r in db.score_rows(limit):
        pv = db.evaluation(r["id"], 3)
        out.append({"id": r["id"], "parent_id": r["parent_id"], "island": r["island"], "generation": r["generation"],
                    "public_fitness": r["public_fitness"], "ast_nodes": r["ast_nodes"],
                    "heldout_fitness": None if pv is None else pv["fitness"]})
    return out


def fitness_tree(db: DB) -> tuple[dict[int, float], list[tuple[int, int]]]:
    """Public fitness of every evaluated program by id, and the (parent, child) edges among them."""
    rows = db.fitness_points()
    fit = {r[0]: r[2] for r in rows}
    return fit, [(r[1], r[0]) for r in rows if r[1] in fit]
