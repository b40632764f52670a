"""``gtlearn evolve replay``: re-run a campaign from its own recorded LLM answers
(docs/evolve.md, Outputs, replay and distillation).

The source run's ``llm_calls`` table is the cassette (strict: a miss is an error). Programs
and scores must match byte for byte; with ``run.sequential: true`` (or one slot and one
proposer) a campaign is a deterministic function of its config and the answers, so they do.
"""

from __future__ import annotations

from pathlib import Path

from evolve import config as cfgmod
from evolve.controller import run_campaign
from evolve.db import DB
from evolve.report import open_db


def snapshot(db_path) -> dict:
    """The comparable content of a campaign database (no timestamps, leases or timings)."""
    db = DB(db_path, readonly=True)
    try:
        return db.snapshot()
    finally:
        db.close()


def replay_run(run_dir, out, echo=None, executor=None) -> dict:
    src = open_db(run_dir)
    cfg = src.run_config()
    src.close()
    recorded = cfg["llm"].get("record") if cfg["llm"]["backend"] == "replay" else cfg["llm"]["backend"]
    cfg["llm"] = {**cfg["llm"], "backend": "replay", "cassette": str(Path(run_dir) / "campaign.db"), "record": recorded, "strict": True}
    cfg = cfgmod.validate(cfg)
    run_campaign(cfg, out, echo=echo, executor=executor)
    a, b = snapshot(Path(run_dir) / "campaign.db"), snapshot(Path(out) / "campaign.db")
    diffs = {k: sum(1 for x, y in zip(a[k], b[k]) if x != y) + abs(len(a[k]) - len(b[k])) for k in a}
    return {"identical": all(v == 0 for v in diffs.values()), "differences": diffs, "programs": len(a["programs"]),
            "replay_dir": str(out)}
