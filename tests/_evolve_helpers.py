"""Shared fixtures for the evolve tests: a tiny cascade (Kuhn only) and program builders."""

from evolve import config as cfgmod
from evolve.tasks import make_task
from evolve.tasks.cfr import SEED

UPD = """def update_regrets(cum_regret, inst_regret, legal, t, state):
    return np.where(legal, np.maximum(cum_regret + inst_regret, 0.0), 0.0)"""


def with_update(body: str, prelude: str = "") -> str:
    """SEED with update_regrets' body replaced (``body`` indented by 4)."""
    new = "def update_regrets(cum_regret, inst_regret, legal, t, state):\n" + "\n".join("    " + l for l in body.strip("\n").split("\n"))
    code = SEED.replace(UPD, new)
    assert code != SEED
    if prelude:
        code = code.replace("# EVOLVE-BLOCK-START\n", "# EVOLVE-BLOCK-START\n" + prelude + "\n")
    return code


def tiny_cfg(**over) -> dict:
    raw = {
        "run": {"seed": 0, "max_evaluated": 8, "sequential": True},
        "search": {"islands": 2, "migration_interval": 3, "stagnation": 4},
        "cascade": {"stage1": {"games": ["kuhn_poker"], "iterations": 20},
                    "stage2": {"games": ["kuhn_poker"], "iterations": 60, "checkpoints": [10]},
                    "heldout": {"games": ["goofspiel_3"], "horizon_mult": 2, "seeds": [1, 2]}, "promote_top_k": 2},
        # unsafe: a host without a strong profile still runs these (weakly); where bubblewrap
        # works (and the attack tests require it), "auto" picks it.
        "sandbox": {"wall_s": 20, "cpu_s": 20, "unsafe": True},
        "executor": {"slots": 1, "backlog": 1},
        "llm": {"proposers": 1},
    }
    for k, v in over.items():
        raw.setdefault(k, {}).update(v)
    return cfgmod.validate(raw)


def job(code: str, cfg: dict, baselines: dict, kind: str = "cascade", seed: int = 5) -> dict:
    sb = cfg["sandbox"]
    from evolve.scheduling import LIMIT_KEYS

    limits = {k: sb[k] for k in LIMIT_KEYS}
    return {"kind": kind, "task": "cfr", "program_id": 1, "attempt": 0, "code": code, "stages": make_task(cfg).stages(cfg),
            "seed": seed, "limits": limits, "baselines": baselines, "gate_ref": 0.0}


def evaluated(db) -> int:
    """Candidates of a campaign database with a finished evaluation, read without disturbing the
    writer (0 while the database does not exist yet or is locked)."""
    import sqlite3
    from pathlib import Path

    if not Path(db).exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return conn.execute("SELECT COUNT(*) FROM programs WHERE state IN ('evaluated','failed','timeout')").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0
