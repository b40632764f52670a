"""Campaign configuration: YAML -> validated nested dict with defaults (docs/evolve.md, Configuration).

``config_sha`` is the SHA-256 of the canonical JSON of the validated config; ``resume``
refuses a different one unless forced. Bin edges and the held-out split live here, so they
are frozen with the run.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
from pathlib import Path

from evolve import config_checks as checks
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
                "network": "deny", "profile": "auto", "screen": True, "unsafe": False},
    "cascade": {"stage1": {"games": ["kuhn_poker", "matrix_brps", "goofspiel_3"], "iterations": 100, "epsilon": 1.0},
                "stage2": {"games": ["kuhn_poker_3p", "leduc_poker", "goofspiel_4", "liars_dice_5"], "iterations": 1000,
                           "checkpoints": [10, 100]},
                "heldout": {"games": ["kuhn_poker_4p", "goofspiel_5", "leduc_poker"], "horizon_mult": 2, "seeds": [101, 102]},
                "promote_top_k": 5, "promote_margin": 0.0, "auc_weight": 0.5, "baseline_iterations": 2000},
    "prompt": {"num_top": 2, "num_diverse": 2, "artifact_bytes": 4096},
    "executor": {"kind": "local", "slots": 2, "backlog": 2, "processes": True, "ray_address": None, "lease_s": 900},
}

BACKENDS = ("mutation", "scripted", "openai_compat", "transformers", "replay")


def _merge(base: dict, over, path: str = "") -> dict:
    if not isinstance(over, dict):
        raise GtlearnError(f"{path.rstrip('.') or 'the campaign config'} must be a mapping, got {type(over).__name__}")
    out = copy.deepcopy(base)
    for k, v in over.items():
        if k not in base:
            close = difflib.get_close_matches(str(k), list(base), n=1)
            hint = f"did you mean {path + close[0]!r}? " if close else ""
            raise GtlearnError(f"unknown config key {path + str(k)!r} ({hint}known: {', '.join(sorted(base))})")
        if isinstance(base[k], dict):
            out[k] = _merge(base[k], v, f"{path}{k}.")
        else:
            out[k] = v
    return out


def _models(models) -> list[dict]:
    if not isinstance(models, list) or not models:
        raise GtlearnError("llm.models must list at least one model")
    out = []
    for i, m in enumerate(models):
        if not isinstance(m, dict) or "name" not in m:
            raise GtlearnError(f"llm.models[{i}] must be a mapping with a name")
        out.append(_merge(DEFAULTS["llm"]["models"][0], m, f"llm.models[{i}]."))
    return out


def resolve_game(name):
    return ALIASES.get(name, name) if isinstance(name, str) else name


def validate(cfg: dict) -> dict:
    """Defaults merged in, every field checked (:mod:`evolve.config_checks`), aliases resolved;
    a bad value is a one-line GtlearnError naming the field."""
    cfg = _merge(DEFAULTS, cfg)
    cfg["llm"]["models"] = _models(cfg["llm"]["models"])
    cas = cfg["cascade"]
    for st in ("stage1", "stage2", "heldout"):
        if isinstance(cas[st]["games"], list):
            cas[st]["games"] = [resolve_game(g) for g in cas[st]["games"]]
    checks.check_run(cfg["run"], TASKS.names())
    checks.check_llm(cfg["llm"], BACKENDS)
    checks.check_search(cfg["search"])
    checks.check_sandbox(cfg["sandbox"], cfg["executor"])
    checks.check_cascade(cas, cfg["prompt"])
    if cfg["run"]["max_evaluated"] is None:
        cfg["run"]["max_evaluated"] = cfg["run"]["max_programs"]
    return cfg


# What a campaign file must say itself: the task, and what its public fitness is measured on.
REQUIRED = (("run", "task"), ("cascade", "stage2", "games"), ("cascade", "stage2", "iterations"))


def load(path) -> dict:
    import yaml

    p = Path(path)
    if not p.is_file():
        raise GtlearnError(f"campaign config {p} does not exist")
    try:
        raw = yaml.safe_load(p.read_text())
    except (yaml.YAMLError, UnicodeDecodeError, OSError) as exc:
        raise GtlearnError(f"{p} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if raw is None:
        raise GtlearnError(f"{p} is empty; a campaign needs at least run.task and cascade.stage2 "
                           "(see experiments/campaigns/cfr_rules.yaml)")
    if not isinstance(raw, dict):
        raise GtlearnError(f"{p} must hold a mapping, got {type(raw).__name__}")
    for keys in REQUIRED:
        node = raw
        for k in keys:
            node = node.get(k) if isinstance(node, dict) else None
        if node is None:
            raise GtlearnError(f"{p} does not set {'.'.join(keys)} (a campaign names its task and its stage-2 games "
                               "and iterations; see experiments/campaigns/cfr_rules.yaml)")
    return validate(raw)


def sha(cfg: dict) -> str:
    """SHA-256 of the canonical JSON, without ``sandbox.unsafe``: allowing a weak sandbox on
    another host does not change what the campaign computes."""
    cfg = {**cfg, "sandbox": {k: v for k, v in cfg.get("sandbox", {}).items() if k != "unsafe"}}
    return hashlib.sha256(json.dumps(cfg, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
