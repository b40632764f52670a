"""``gtlearn evolve replay``: re-run a campaign from its own recorded LLM answers.

The source run's ``llm_calls`` table is the cassette (strict: a miss is an error). Programs
and scores must match byte for byte; with ``run.sequential: true`` (or one slot and one
proposer) a campaign is a deterministic function of its config and the answers, so they do.
"""

from __future__ import annotations

import json
from pathlib import Path

from evolve import config as cfgmod

COMPARE_PROGRAMS = ("item_seq", "parent_id", "island", "generation", "code", "code_norm_sha", "patch_kind", "patch_text",
                    "state", "reject_reason", "duplicate_of", "ast_nodes", "public_fitness")


def snapshot(db_path) -> dict:
    """The comparable content of a campaign database (no timestamps, leases or timings)."""
    import sqlite3

    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    progs = [tuple(r[c] for c in COMPARE_PROGRAMS) for r in conn.execute("SELECT * FROM programs ORDER BY item_seq")]
    evals = [(r["program_id"], r["stage"], r["public_json"], r["private_json"], r["valid"])
             for r in conn.execute("SELECT * FROM evaluations ORDER BY program_id, stage")]
    cells = [tuple(r) for r in conn.execute("SELECT island, cell_key, program_id FROM cells ORDER BY island, cell_key")]
    champs = [(r["program_id"], r["private_fitness"]) for r in conn.execute("SELECT * FROM champions ORDER BY rowid")]
    responses = [(r["sample_idx"], r["prompt_sha"], r["response"]) for r in
                 conn.execute("SELECT * FROM llm_calls WHERE status='ok' ORDER BY sample_idx")]
    conn.close()
    return {"programs": progs, "evaluations": evals, "cells": cells, "champions": champs, "responses": responses}


def replay_run(run_dir, out, echo=None, executor=None) -> dict:
    from evolve.controller import run_campaign
    from evolve.report import open_db

    src = open_db(run_dir)
    cfg = json.loads(src.conn.execute("SELECT config_json FROM runs").fetchone()[0])
    src.close()
    recorded = cfg["llm"].get("record") if cfg["llm"]["backend"] == "replay" else cfg["llm"]["backend"]
    cfg["llm"] = {**cfg["llm"], "backend": "replay", "cassette": str(Path(run_dir) / "campaign.db"), "record": recorded, "strict": True}
    cfg = cfgmod.validate(cfg)
    run_campaign(cfg, out, echo=echo, executor=executor)
    a, b = snapshot(Path(run_dir) / "campaign.db"), snapshot(Path(out) / "campaign.db")
    diffs = {k: sum(1 for x, y in zip(a[k], b[k]) if x != y) + abs(len(a[k]) - len(b[k])) for k in a}
    return {"identical": all(v == 0 for v in diffs.values()), "differences": diffs, "programs": len(a["programs"]),
            "replay_dir": str(out)}
