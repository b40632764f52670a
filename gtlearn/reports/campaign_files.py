"""The files a program-search campaign leaves in its run directory (best program, its diff from
the seed, score table, summary, lineage plot), rendered from the read-only views of
:mod:`evolve.report` (docs/evolve.md, Outputs, replay and distillation)."""

from __future__ import annotations

from pathlib import Path

from evolve.db import DB
from evolve.report import best, fitness_tree, lineage, score_table, status
from evolve.tasks import make_task
from gtlearn.core.io import atomic_write_bytes, atomic_write_json


def write_campaign_outputs(db: DB, run_dir) -> dict:
    """best.py (loadable as the task's program, e.g. ``gtlearn solve --rule best.py:Rule``),
    best.diff, scores.md, summary.json and lineage.png; returns the summary."""
    run_dir = Path(run_dir)
    b = best(db)
    summary = {"status": status(db), "best": {k: v for k, v in b.items() if k not in ("code", "diff_from_seed")}}
    if b.get("program_id") is not None:
        atomic_write_bytes(run_dir / "best.py", b["code"].encode())
        atomic_write_bytes(run_dir / "best.diff", b["diff_from_seed"].encode())
    atomic_write_bytes(run_dir / "scores.md", (scores_markdown(score_table(db)) + "\n").encode())
    atomic_write_json(run_dir / "summary.json", summary)
    try:
        plot_lineage(db, run_dir / "lineage.png", b.get("program_id"))
    except Exception:  # noqa: BLE001 - a plot is a convenience, never a failure of the campaign
        pass
    return summary


def scores_markdown(rows: list[dict]) -> str:
    lines = ["| id | parent | island | gen | public fitness | AST nodes | held-out fitness |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        held = "" if r["heldout_fitness"] is None else format(r["heldout_fitness"], "+.4f")
        lines.append(f"| {r['id']} | {r['parent_id']} | {r['island']} | {r['generation']} | {r['public_fitness']:+.4f} | "
                     f"{r['ast_nodes']} | {held} |")
    return "\n".join(lines)


def plot_lineage(db: DB, path, highlight: int | None) -> None:
    """Public fitness by program id, parent-child edges in grey, ``highlight``'s ancestry in red."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fit, edges = fitness_tree(db)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for parent, child in edges:
        ax.plot([parent, child], [fit[parent], fit[child]], color="0.8", lw=0.6, zorder=1)
    ax.scatter(list(fit), list(fit.values()), s=8, zorder=2)
    if highlight is not None and highlight in fit:
        chain = [x["id"] for x in lineage(db, highlight) if x["id"] in fit]
        ax.plot(chain, [fit[c] for c in chain], color="C3", lw=1.5, marker="o", ms=3, zorder=3, label=f"lineage of #{highlight}")
        ax.legend()
    ax.axhline(0.0, color="k", lw=0.6, ls="--")
    ax.set_xlabel("program id")
    ax.set_ylabel(f"public fitness (0 = {make_task(db.run_config()).baseline_name})")
    ax.set_title(f"evolve lineage: {db.run_id}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
