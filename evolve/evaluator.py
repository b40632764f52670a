"""One evaluation job: the cascade for one candidate in one fresh sandbox, scored in trusted code.

This runs in an executor slot (a local worker process, or a Ray task on any node). It never
touches the database: it returns a plain dict that the controller commits in one transaction.
"""

from __future__ import annotations

import os
import tempfile
import time

from evolve.sandbox.launcher import Sandbox, SandboxCrash, SandboxLimits, SandboxTimeout
from evolve.scoring import InvalidPayload

_TREES: dict = {}
_TREE_FILES: dict = {}


def get_tree(game: str):
    if game not in _TREES:
        from games.tree import compile_game

        _TREES[game] = compile_game(game)
    return _TREES[game]


def tree_file(game: str) -> str:
    """The compiled tree as a file to copy into each sandbox: one content-addressed file per game
    in a shared temp directory, written atomically, reused by every worker and run."""
    if game not in _TREE_FILES:
        import hashlib

        from games.tree import COMPILER_VERSION

        d = os.path.join(tempfile.gettempdir(), f"gtlearn-evolve-trees-{os.getuid()}")
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, hashlib.sha256(f"{game}|{COMPILER_VERSION}".encode()).hexdigest()[:24] + ".npz")
        if not os.path.exists(path):
            get_tree(game).save(path)  # atomic (temp file + rename), so concurrent writers are safe
        _TREE_FILES[game] = path
    return _TREE_FILES[game]


def _games_msg(stage_cfg: dict, seed: int) -> list[dict]:
    return [{"game": g["game"], "checkpoints": g["checkpoints"], "seed": int(seed) * 1000 + i}
            for i, g in enumerate(stage_cfg["games"])]


def evaluate_cfr(job: dict) -> dict:
    """Stages 0-2 (``job['kind'] == 'cascade'``) or stage 3 (``'heldout'``) for one candidate."""
    from evolve.tasks import cfr as task

    t0 = time.time()
    limits = SandboxLimits(**job["limits"])
    stages_cfg = job["stages"]
    if job["kind"] == "cascade":
        wanted = [s for s in stages_cfg if s["stage"] in (1, 2)]
    else:
        wanted = [s for s in stages_cfg if s["stage"] == 3]
    games = sorted({g["game"] for s in wanted for g in s["games"]})
    files = {f"t{i}.npz": tree_file(g) for i, g in enumerate(games)}
    trees_init = {g: f"t{i}.npz" for i, g in enumerate(games)}
    records: list[dict] = []
    sb = Sandbox("cfr", job["code"], limits, files=files, extra_init={"trees": trees_init})
    state, reason = "evaluated", None
    cur_stage = 0 if job["kind"] == "cascade" else 3
    try:
        ready = sb.start()
        if not ready.get("ok"):
            raise InvalidPayload(f"load failed: {ready.get('error', '?')}")
        if job["kind"] == "cascade":
            cases, meta = task.make_prop_cases(job["seed"])
            s0 = time.time()
            resp = sb.request({"op": "props", "cases": cases})
            if not resp.get("ok"):
                raise InvalidPayload(f"stage 0: {resp.get('error', '?')}")
            task.check_props(resp, meta)
            records.append({"stage": 0, "valid": True, "public": {"props": "pass"}, "wall_s": time.time() - s0})
        for s in wanted:
            cur_stage = s["stage"]
            seeds = s.get("seeds", [job["seed"]]) if cur_stage == 3 else [job["seed"]]
            s0 = time.time()
            per_seed = []
            for sd in seeds:
                msg_games = _games_msg(s, sd)
                resp = sb.request({"op": "run", "games": msg_games})
                if not resp.get("ok"):
                    raise InvalidPayload(f"stage {cur_stage}: {resp.get('error', '?')}")
                trees = {g: get_tree(g) for g in games}
                per_seed.append(task.score_run(resp, msg_games, trees, job["baselines"][str(cur_stage)]))
            metrics = per_seed[0]
            if cur_stage == 3:
                m, lo, hi = task.fitness_ci([p["fitness"] for p in per_seed])
                metrics = {"fitness": m, "ci_low": lo, "ci_high": hi, "seeds": per_seed}
            rec = {"stage": cur_stage, "valid": True, "wall_s": time.time() - s0}
            rec["private" if cur_stage == 3 else "public"] = metrics
            records.append(rec)
            if cur_stage == 1 and job.get("gate_ref") is not None:
                # Gate against the seed's own stage-1 score (for CFR the seed is the baseline, ~0).
                gate = float(job["gate_ref"]) - __import__("math").log10(1.0 + float(s.get("epsilon", 1.0)))
                if metrics["fitness"] < gate:
                    state, reason = "failed", f"stage 1 gate: fitness {metrics['fitness']:.3f} < {gate:.3f} (worse than the seed by more than epsilon)"
                    records[-1]["valid"] = False
                    break
    except SandboxTimeout as exc:
        state, reason = "timeout", str(exc)
    except (SandboxCrash, InvalidPayload) as exc:
        state, reason = "failed", f"{exc}"
    finally:
        sb.close()
    if state != "evaluated" and (not records or records[-1]["valid"]):
        records.append({"stage": cur_stage, "valid": False, "wall_s": 0.0})
    usage = sb.usage()
    last = records[-1]
    last.update({k: usage[k] for k in ("cpu_s", "peak_rss_mb", "exit_code")})
    last["stderr_tail"] = (sb.stderr_tail or "")[-2000:]
    if reason:
        last["error"] = reason[:2000]
    return {"program_id": job["program_id"], "attempt": job["attempt"], "kind": job["kind"], "state": state,
            "reason": reason, "stages": records, "wall_s": time.time() - t0, "profile": sb.profile}


def baselines_job(job: dict) -> dict:
    """CFR+ curves for every game of every stage (trusted, no sandbox)."""
    from evolve.tasks import cfr as task

    out: dict = {}
    for s in job["stages"]:
        if s["stage"] == 0:
            continue
        out[str(s["stage"])] = {
            g["game"]: task.baseline_curve(get_tree(g["game"]), max(g["checkpoints"]), g["checkpoints"]) for g in s["games"]
        }
    return out


def run_job(job: dict) -> dict:
    if job["kind"] == "baselines" and job["task"] == "cfr":
        return baselines_job(job)
    if job["task"] == "cfr":
        return evaluate_cfr(job)
    if job["task"] == "psro":
        from evolve.tasks import psro

        return psro.evaluate(job)
    raise ValueError(f"unknown task {job['task']!r}")


def evaluator_sha() -> str:
    """Hash of the trusted evaluation code (sandbox, tasks, scoring); stored per run, and
    checked by remote workers so that every node scores with the same code."""
    import hashlib
    from pathlib import Path

    root = Path(__file__).parent
    h = hashlib.sha256()
    for rel in ("evaluator.py", "scoring.py", "tasks/cfr.py", "tasks/psro.py", "sandbox/child.py", "sandbox/launcher.py"):
        p = root / rel
        if p.exists():
            h.update(rel.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()
