"""Summarize a `gtlearn evolve run experiments/campaigns/cfr_rules.yaml` campaign into
experiments/results/evolve_cfr_rules.{json,md,png}: counts, wall and CPU time, the best program's
training (public) and held-out (private) scores next to CFR+ and the other built-in rules, and an
extra held-out check on 6-sided Liar's Dice (one of the paper's test games).

    python experiments/evolve_cfr_report.py runs/evolve_cfr_rules [WALL_SECONDS]
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evolve.report import best, open_db, status  # noqa: E402
from games.tree import compile_game  # noqa: E402
from gtlearn.core.driver import drive  # noqa: E402
from gtlearn.reports import write_campaign_outputs  # noqa: E402
from solvers.cfr import CFRSolver  # noqa: E402
from solvers.cfr.loading import make_rule  # noqa: E402


def expl(game: str, rule, T: int) -> float:
    return float(drive(CFRSolver(compile_game(game), rule=rule), T, eval_every=T).final_gap)


def main(run_dir: str, wall: float | None) -> None:
    run_dir = Path(run_dir)
    db = open_db(run_dir)
    write_campaign_outputs(db, run_dir)
    st, b = status(db), best(db)
    cfg = db.run_config()
    cpu = db.eval_cpu_seconds()
    created = db.run_row()["created_at"]
    last = db.last_event_time()
    n_eval = st["evaluated"]
    rule = make_rule(f"{run_dir / 'best.py'}:Rule")
    extra = {}
    for name, rid in (("cfr", "cfr"), ("lcfr", "lcfr"), ("dcfr", "dcfr"), ("pcfr+", "pcfr+")):
        try:
            make_rule(rid)
        except Exception:  # noqa: BLE001 - a rule another issue has not landed yet
            continue
        extra[name] = {g: expl(g, rid, 1000) for g in b["public"]["games"]}
    ld6 = "liars_dice(dice_sides=6)"
    t0 = time.time()
    ld6_best, ld6_cfrp = expl(ld6, rule, 1000), expl(ld6, "cfr+", 1000)
    out = {
        "run_dir": str(run_dir), "counts": st["counts"], "evaluated": n_eval, "sandbox_profile": st["sandbox_profile"],
        "wall_s_measured": wall, "wall_s_db": last - created, "eval_cpu_s_in_sandboxes": cpu,
        "evaluated_per_hour_wall": n_eval / ((wall or (last - created)) / 3600),
        "best_program_id": b["program_id"], "is_champion": b["is_champion"],
        "public": b["public"], "private": b["private"], "other_rules_training_expl_T1000": extra,
        "extra_heldout_liars_dice_6_T1000": {"best": ld6_best, "cfr+": ld6_cfrp, "fitness": float(-np.log10(ld6_best / ld6_cfrp)),
                                             "seconds": time.time() - t0},
        "config": {k: cfg[k] for k in ("cascade", "search", "executor")},
        "machine": "2-core CPU VM shared with other engineers' jobs (load average 8-14 during the run); no GPU",
    }
    res = ROOT / "experiments/results"
    (res / "evolve_cfr_rules.json").write_text(json.dumps(out, indent=2, default=str) + "\n")
    shutil.copyfile(run_dir / "lineage.png", res / "evolve_cfr_rules.png")
    shutil.copyfile(run_dir / "best.py", res / "evolve_cfr_rules_best.py")
    md = ["# CFR-rule discovery with the offline mutation operator", "",
          f"`gtlearn evolve run experiments/campaigns/cfr_rules.yaml`: {n_eval} candidates evaluated "
          f"({', '.join(f'{k} {v}' for k, v in sorted(st['counts'].items()))}), wall {((wall or out['wall_s_db']) / 60):.1f} min on 2 shared cores, "
          f"{cpu / 60:.1f} CPU-min inside sandboxes; sandbox profile `{st['sandbox_profile']}`.", "",
          f"Best program: #{b['program_id']} ({'champion: held-out gated' if b['is_champion'] else 'public leader'}), "
          f"public fitness {b['public']['fitness']:+.3f}" + (f", held-out fitness {b['private']['fitness']:+.3f}" if b['private'] else "") + ".", "",
          "## Training games (T=1000, exact exploitability)", "",
          "| game | best | CFR+ | fitness | " + " | ".join(extra) + " |", "|---|---|---|---|" + "---|" * len(extra)]
    for g, m in b["public"]["games"].items():
        md.append(f"| {g} | {m['expl']:.3e} | {m['baseline']:.3e} | {m['fitness']:+.3f} | " + " | ".join(f"{extra[r][g]:.3e}" for r in extra) + " |")
    if b["private"]:
        md += ["", "## Held-out games (private; never shown to the proposer)", "",
               "| game | T | best | CFR+ | fitness (seed 1) |", "|---|---|---|---|---|"]
        for g, m in b["private"]["seeds"][0]["games"].items():
            md.append(f"| {g} | {m['iterations']} | {m['expl']:.3e} | {m['baseline']:.3e} | {m['fitness']:+.3f} |")
        md.append(f"| {ld6} (extra) | 1000 | {ld6_best:.3e} | {ld6_cfrp:.3e} | {out['extra_heldout_liars_dice_6_T1000']['fitness']:+.3f} |")
    md += ["", "## The program (diff from the CFR+ seed)", "", "```diff", b["diff_from_seed"], "```"]
    (res / "evolve_cfr_rules.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else None)
