"""Campaign configuration: YAML -> validated nested dict with defaults (docs/evolve.md, Configuration).

``config_sha`` is the SHA-256 of the canonical JSON of the validated config; ``resume``
refuses a different one unless forced. Bin edges and the held-out split live here, so they
are frozen with the run.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

from evolve.tasks import TASKS
from gtlearn.core.errors import GtlearnError

GOOF = "turn_based_simultaneous_game(game=goofspiel(imp_info=True,num_cards={n},points_order=descending,returns_type=win_loss))"
ALIASES = {
    "kuhn_poker_3p": "kuhn_poker(players=3)", "kuhn_poker_4p": "kuhn_poker(players=4)",
    "leduc_poker_3p": "leduc_poker(players=3)", "goofspiel_3": GOOF.format(n=3), "goofspiel_4": GOOF.format(n=4), "goofspiel_5": GOOF.format(n=5),
    "liars_dice_4": "liars_dice(dice_sides=4)", "liars_dice_5": "liars_dice(dice_sides=5)",
    "liars_dice_6": "liars_dice(dice_sides=6)",
}

DEFAULTS: dict = {
    "run": {"seed": 0, "task": "cfr", "max_programs": 2000, "max_evaluated": None, "sequential": False, "durable": False,
            "seed_program": None,
            "budget": {"max_usd": None, "max_llm_calls": None, "max_tokens": None, "max_eval_cpu_hours": None,
                       "max_wall_hours": None}},
    "llm": {"backend": "mutation", "models": [{"name": "mutation", "weight": 1.0, "temperature": 0.8, "max_tokens": 4096,
                                               "base_url": None, "api_key_env": None, "path": None}],
            "selection": "ucb", "cost_coef": 0.5, "allow_unpriced": False, "timeout_s": 120, "retries": 2,
            "record": None, "cassette": None, "strict": True, "script": None, "proposers": 2},
    "search": {"islands": 5, "migration_interval": 25, "migration_rate": 0.1, "stagnation": 100, "reset_period": None,
               "features": {"ast_nodes": [0, 50, 100, 200, 400, 800], "signature_step": 0.25, "signature_buckets": 4},
               "parent": {"explore": 0.1, "elite": 0.2, "lambda": 1.0}, "patch_mix": {"diff": 0.7, "function": 0.3},
               "complexity_penalty": 0.0},
    "sandbox": {"wall_s": 120.0, "cpu_s": 120.0, "mem_mb": 2048, "nofile": 32, "nproc": 8, "fsize_mb": 16,
                "network": "deny", "profile": "auto", "screen": True},
    "cascade": {"stage1": {"games": ["kuhn_poker", "matrix_brps", "goofspiel_3"], "iterations": 100, "epsilon": 1.0},
                "stage2": {"games": ["kuhn_poker_3p", "leduc_poker", "goofspiel_4", "liars_dice_5"], "iterations": 1000,
                           "checkpoints": [10, 100]},
                "heldout": {"games": ["kuhn_poker_4p", "goofspiel_5", "leduc_poker"], "horizon_mult": 2, "seeds": [101, 102]},
                "promote_top_k": 5, "promote_margin": 0.0, "auc_weight": 0.5, "baseline_iterations": 2000},
    "prompt": {"num_top": 2, "num_diverse": 2, "artifact_bytes": 4096},
    "executor": {"kind": "local", "slots": 2, "backlog": 2, "processes": True, "ray_address": None, "lease_s": 900},
}

BACKENDS = ("mutation", "scripted", "openai_compat", "transformers", "replay")


def _merge(base: dict, over: dict, path: str = "") -> dict:
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        if k not in base:
            raise GtlearnError(f"unknown config key {path + k!r} (known: {', '.join(sorted(base))})")
        if isinstance(base[k], dict) and isinstance(v, dict):
            out[k] = _merge(base[k], v, f"{path}{k}.")
        else:
            out[k] = v
    return out


def resolve_game(name: str) -> str:
    return ALIASES.get(name, name)


def validate(cfg: dict) -> dict:
    cfg = _merge(DEFAULTS, cfg)
    run, llm, search, sb, cas, ex = cfg["run"], cfg["llm"], cfg["search"], cfg["sandbox"], cfg["cascade"], cfg["executor"]
    if run["task"] not in TASKS:
        raise GtlearnError(f"run.task must be one of {', '.join(TASKS.names())}, got {run['task']!r}")
    if llm["backend"] not in BACKENDS:
        raise GtlearnError(f"llm.backend must be one of {', '.join(BACKENDS)}, got {llm['backend']!r}")
    if not llm["models"]:
        raise GtlearnError("llm.models must list at least one model")
    for m in llm["models"]:
        if "name" not in m:
            raise GtlearnError("every llm.models entry needs a name")
    llm["models"] = [{**DEFAULTS["llm"]["models"][0], **m} for m in llm["models"]]
    if ex["kind"] not in ("local", "ray"):
        raise GtlearnError(f"executor.kind must be local or ray, got {ex['kind']!r}")
    for key in ("slots", "islands"):
        holder = ex if key == "slots" else search
        if int(holder[key]) < 1:
            raise GtlearnError(f"{key} must be at least 1")
    if sb["network"] not in ("deny", "require"):
        raise GtlearnError("sandbox.network must be deny or require")
    edges = search["features"]["ast_nodes"]
    if sorted(edges) != list(edges):
        raise GtlearnError("search.features.ast_nodes must be increasing bin edges")
    for st in ("stage1", "stage2"):
        cas[st]["games"] = [resolve_game(g) for g in cas[st]["games"]]
        if not cas[st]["games"]:
            raise GtlearnError(f"cascade.{st}.games is empty")
    cas["heldout"]["games"] = [resolve_game(g) for g in cas["heldout"]["games"]]
    if run["max_evaluated"] is None:
        run["max_evaluated"] = run["max_programs"]
    if llm["backend"] == "scripted" and not llm["script"]:
        raise GtlearnError("llm.backend=scripted needs llm.script (a list of responses or a JSON/YAML file)")
    return cfg


def load(path) -> dict:
    import yaml

    p = Path(path)
    if not p.is_file():
        raise GtlearnError(f"campaign config {p} does not exist")
    try:
        raw = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise GtlearnError(f"{p} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise GtlearnError(f"{p} must hold a mapping")
    return validate(raw)


def sha(cfg: dict) -> str:
    return hashlib.sha256(json.dumps(cfg, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
