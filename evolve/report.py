"""Read-only views of a campaign database: status, best (champion), lineage, and the files a
finished campaign leaves in its run directory (best program, score table, lineage plot)."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

from evolve.db import DB, EVALUATED
from evolve.ledger import spent


def open_db(run_dir) -> DB:
    from gtlearn.core.errors import GtlearnError

    p = Path(run_dir) / "campaign.db"
    if not p.exists():
        raise GtlearnError(f"{run_dir} holds no campaign.db")
    db = DB(p)
    db.run_id = db.conn.execute("SELECT run_id FROM runs").fetchone()[0]
    return db


def status(db: DB) -> dict:
    cfg = json.loads(db.conn.execute("SELECT config_json FROM runs").fetchone()[0])
    st = db.kv_get("islands", {}) or {}
    return {
        "run_id": db.run_id, "status": db.conn.execute("SELECT status FROM runs").fetchone()[0], "counts": db.counts(),
        "evaluated": sum(v for k, v in db.counts().items() if k in EVALUATED), "budget_use": spent(db),
        "islands": {"best": st.get("best"), "since_improvement": st.get("since"), "resets": st.get("resets", 0)},
        "sandbox_profile": db.kv_get("sandbox_profile"), "stagnation": cfg["search"]["stagnation"],
        "heldout_queue": db.kv_get("heldout_queue", []),
    }


def evaluation(db: DB, pid: int, stage: int) -> dict | None:
    r = db.conn.execute("SELECT public_json, private_json FROM evaluations WHERE program_id=? AND stage=? AND valid=1", (pid, stage)).fetchone()
    if r is None:
        return None
    return json.loads(r[1] if stage == 3 else r[0])


def leader(db: DB):
    return db.conn.execute("SELECT * FROM programs WHERE run_id=? AND state='evaluated' AND public_fitness IS NOT NULL "
                           "ORDER BY public_fitness DESC, id LIMIT 1", (db.run_id,)).fetchone()


def champion(db: DB):
    r = db.conn.execute("SELECT program_id FROM champions WHERE run_id=? ORDER BY rowid DESC LIMIT 1", (db.run_id,)).fetchone()
    return None if r is None else db.program(r[0])


def seed_program(db: DB):
    return db.conn.execute("SELECT * FROM programs WHERE run_id=? AND item_seq=0", (db.run_id,)).fetchone()


def best(db: DB) -> dict:
    ch = champion(db)
    lead = leader(db)
    p = ch if ch is not None else lead
    if p is None:
        return {"champion": None, "leader": None}
    seed = seed_program(db)
    diff = "".join(difflib.unified_diff(seed["code"].splitlines(True), p["code"].splitlines(True), "seed.py", f"program_{p['id']}.py"))
    return {"program_id": p["id"], "is_champion": ch is not None, "leader_id": lead["id"] if lead else None,
            "public": evaluation(db, p["id"], 2), "private": evaluation(db, p["id"], 3), "code": p["code"], "diff_from_seed": diff}


def lineage(db: DB, pid: int) -> list[dict]:
    out = []
    cur = db.program(pid)
    from gtlearn.core.errors import GtlearnError

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


def write_outputs(db: DB, run_dir) -> dict:
    """best.py (loadable by ``gtlearn solve --rule best.py:Rule``), scores.md, lineage.png, summary.json."""
    from gtlearn.core.io import atomic_write_bytes, atomic_write_json

    run_dir = Path(run_dir)
    b = best(db)
    summary = {"status": status(db), "best": {k: v for k, v in b.items() if k not in ("code", "diff_from_seed")}}
    if b.get("program_id") is not None:
        atomic_write_bytes(run_dir / "best.py", b["code"].encode())
        atomic_write_bytes(run_dir / "best.diff", b["diff_from_seed"].encode())
    rows = db.conn.execute("SELECT id, parent_id, island, generation, public_fitness, ast_nodes FROM programs WHERE run_id=? AND "
                           "state='evaluated' ORDER BY public_fitness DESC LIMIT 15", (db.run_id,)).fetchall()
    lines = ["| id | parent | island | gen | public fitness | AST nodes | held-out fitness |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        pv = evaluation(db, r["id"], 3)
        lines.append(f"| {r['id']} | {r['parent_id']} | {r['island']} | {r['generation']} | {r['public_fitness']:+.4f} | {r['ast_nodes']} | "
                     f"{'' if pv is None else format(pv['fitness'], '+.4f')} |")
    atomic_write_bytes(run_dir / "scores.md", ("\n".join(lines) + "\n").encode())
    atomic_write_json(run_dir / "summary.json", summary)
    try:
        plot_lineage(db, run_dir / "lineage.png", b.get("program_id"))
    except Exception:  # noqa: BLE001 - a plot is a convenience, never a failure of the campaign
        pass
    return summary


def plot_lineage(db: DB, path, highlight: int | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = db.conn.execute("SELECT id, parent_id, public_fitness FROM programs WHERE run_id=? AND public_fitness IS NOT NULL "
                           "AND state='evaluated' ORDER BY id", (db.run_id,)).fetchall()
    fit = {r[0]: r[2] for r in rows}
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for r in rows:
        if r[1] in fit:
            ax.plot([r[1], r[0]], [fit[r[1]], r[2]], color="0.8", lw=0.6, zorder=1)
    ax.scatter(list(fit), list(fit.values()), s=8, zorder=2)
    if highlight is not None and highlight in fit:
        chain = [x["id"] for x in lineage(db, highlight) if x["id"] in fit]
        ax.plot(chain, [fit[c] for c in chain], color="C3", lw=1.5, marker="o", ms=3, zorder=3, label=f"lineage of #{highlight}")
        ax.legend()
    ax.axhline(0.0, color="k", lw=0.6, ls="--")
    ax.set_xlabel("program id")
    ax.set_ylabel("public fitness (0 = CFR+)")
    ax.set_title(f"evolve lineage: {db.run_id}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
