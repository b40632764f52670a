"""Field-by-field validation of a campaign config (docs/evolve.md, Configuration): types, ranges,
enum values, the settings each LLM backend needs, and game strings OpenSpiel can load -- all
before anything is created, each failure one line naming the field.
"""

from __future__ import annotations

import functools
import importlib.util
import math

from gtlearn.core.errors import GtlearnError

MAX_COUNT = 10**9  # iterations, programs, evaluations: anything larger is a typo, not a plan
MAX_SECONDS = 30 * 86400.0


def _show(v) -> str:
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


def integer(path: str, v, lo: int = 1, hi: int = MAX_COUNT, *, optional: bool = False) -> None:
    if v is None and optional:
        return
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise GtlearnError(f"{path} must be an integer from {lo:,} to {hi:,}{' (or null)' if optional else ''}, got {_show(v)}")


def number(path: str, v, lo: float = 0.0, hi: float = math.inf, *, above: bool = False, optional: bool = False) -> None:
    """A finite number in [lo, hi] (``above``: strictly greater than ``lo``)."""
    if v is None and optional:
        return
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v <= hi and (v > lo if above else v >= lo)
    if not ok:
        low = f"greater than {lo:g}" if above else f"at least {lo:g}"
        high = "" if hi == math.inf else f" and at most {hi:g}"
        raise GtlearnError(f"{path} must be a number {low}{high}{' (or null)' if optional else ''}, got {_show(v)}")


def boolean(path: str, v) -> None:
    if not isinstance(v, bool):
        raise GtlearnError(f"{path} must be true or false, got {_show(v)}")


def choice(path: str, v, options) -> None:
    if v not in options:
        raise GtlearnError(f"{path} must be one of {', '.join(map(str, options))}, got {_show(v)}")


def text(path: str, v, *, optional: bool = True) -> None:
    if (v is None and optional) or (isinstance(v, str) and v.strip()):
        return
    raise GtlearnError(f"{path} must be a non-empty string{' (or null)' if optional else ''}, got {_show(v)}")


def int_list(path: str, v, lo: int = 0, *, empty: bool = False) -> None:
    if not isinstance(v, list) or (not v and not empty):
        raise GtlearnError(f"{path} must be a {'' if empty else 'non-empty '}list of integers, got {_show(v)}")
    for i, x in enumerate(v):
        integer(f"{path}[{i}]", x, lo)


@functools.lru_cache(maxsize=None)
def _game_problem(game: str) -> str | None:
    from games.openspiel import load_game

    try:
        load_game(game)
    except Exception as exc:  # noqa: BLE001 - GtlearnError or OpenSpiel's own
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


def games(path: str, v, *, empty: bool = False) -> None:
    """A list of game strings (aliases already resolved) that OpenSpiel loads."""
    if not isinstance(v, list) or (not v and not empty):
        raise GtlearnError(f"{path} must be a {'' if empty else 'non-empty '}list of game strings, got {_show(v)}")
    for i, g in enumerate(v):
        text(f"{path}[{i}]", g, optional=False)
        problem = _game_problem(g)
        if problem is not None:
            raise GtlearnError(f"{path}[{i}]: {problem}")


def check_run(run: dict, tasks) -> None:
    integer("run.seed", run["seed"], 0, 2**32 - 1)
    choice("run.task", run["task"], tasks)
    integer("run.max_programs", run["max_programs"])
    integer("run.max_evaluated", run["max_evaluated"], optional=True)
    boolean("run.sequential", run["sequential"])
    boolean("run.durable", run["durable"])
    text("run.seed_program", run["seed_program"])
    b = run["budget"]
    number("run.budget.max_usd", b["max_usd"], optional=True)
    integer("run.budget.max_llm_calls", b["max_llm_calls"], 0, optional=True)
    integer("run.budget.max_tokens", b["max_tokens"], 0, 10**12, optional=True)
    number("run.budget.max_eval_cpu_hours", b["max_eval_cpu_hours"], above=True, optional=True)
    number("run.budget.max_wall_hours", b["max_wall_hours"], above=True, optional=True)


def check_llm(llm: dict, backends) -> None:
    choice("llm.backend", llm["backend"], backends)
    choice("llm.selection", llm["selection"], ("ucb",))
    number("llm.cost_coef", llm["cost_coef"])
    boolean("llm.allow_unpriced", llm["allow_unpriced"])
    number("llm.timeout_s", llm["timeout_s"], above=True, hi=MAX_SECONDS)
    integer("llm.retries", llm["retries"], 0, 100)
    boolean("llm.strict", llm["strict"])
    integer("llm.proposers", llm["proposers"], 1, 1000)
    for key in ("record", "cassette"):
        text(f"llm.{key}", llm[key])
    for i, m in enumerate(llm["models"]):
        p = f"llm.models[{i}]"
        text(f"{p}.name", m["name"], optional=False)
        number(f"{p}.weight", m["weight"], above=True)
        number(f"{p}.temperature", m["temperature"], hi=10.0)
        integer(f"{p}.max_tokens", m["max_tokens"], 1, 10**7)
        for key in ("base_url", "api_key_env", "path"):
            text(f"{p}.{key}", m[key])
        if llm["backend"] == "openai_compat" and not str(m["base_url"] or "").startswith(("http://", "https://")):
            raise GtlearnError(f"llm.backend=openai_compat needs {p}.base_url, the server's http(s) URL "
                               f"(e.g. http://localhost:8000/v1), got {_show(m['base_url'])}")
    if llm["backend"] == "transformers" and not llm["models"][0]["path"]:
        raise GtlearnError("llm.backend=transformers needs llm.models[0].path (a local model directory)")
    if llm["backend"] == "replay" and not llm["cassette"]:
        raise GtlearnError("llm.backend=replay needs llm.cassette (a campaign.db or an exported .jsonl)")
    script = llm["script"]
    if llm["backend"] == "scripted" and not script:
        raise GtlearnError("llm.backend=scripted needs llm.script (a list of responses or a JSON/YAML file)")
    if script is not None and not (isinstance(script, str) and script.strip() or isinstance(script, list)
                                   and all(isinstance(s, str) for s in script)):
        raise GtlearnError(f"llm.script must be a list of responses or a file path, got {_show(script)}")


def check_search(search: dict) -> None:
    integer("search.islands", search["islands"], 1, 10_000)
    integer("search.migration_interval", search["migration_interval"])
    number("search.migration_rate", search["migration_rate"], hi=1.0)
    integer("search.stagnation", search["stagnation"])
    integer("search.reset_period", search["reset_period"], optional=True)
    f = search["features"]
    int_list("search.features.ast_nodes", f["ast_nodes"])
    if sorted(set(f["ast_nodes"])) != list(f["ast_nodes"]):
        raise GtlearnError("search.features.ast_nodes must be strictly increasing bin edges")
    number("search.features.signature_step", f["signature_step"], above=True)
    integer("search.features.signature_buckets", f["signature_buckets"], 1, 10_000)
    p = search["parent"]
    number("search.parent.explore", p["explore"], hi=1.0)
    number("search.parent.elite", p["elite"], hi=1.0)
    number("search.parent.lambda", p["lambda"], -1e6, 1e6)
    if p["explore"] + p["elite"] > 1.0:
        raise GtlearnError("search.parent.explore + search.parent.elite must be at most 1")
    mix = search["patch_mix"]
    number("search.patch_mix.diff", mix["diff"])
    number("search.patch_mix.function", mix["function"])
    if mix["diff"] + mix["function"] <= 0:
        raise GtlearnError("search.patch_mix.diff + search.patch_mix.function must be positive")
    number("search.complexity_penalty", search["complexity_penalty"])


def check_sandbox(sb: dict, executor: dict) -> None:
    number("sandbox.wall_s", sb["wall_s"], above=True, hi=MAX_SECONDS)
    number("sandbox.cpu_s", sb["cpu_s"], lo=1.0, hi=MAX_SECONDS)
    integer("sandbox.mem_mb", sb["mem_mb"], 256, 1 << 30)
    integer("sandbox.nofile", sb["nofile"], 16, 1 << 20)
    integer("sandbox.nproc", sb["nproc"], 1, 1 << 16)
    integer("sandbox.fsize_mb", sb["fsize_mb"], 1, 1 << 20)
    choice("sandbox.network", sb["network"], ("deny", "require"))
    choice("sandbox.profile", sb["profile"], ("auto", "bwrap", "unshare", "none", "weak"))
    boolean("sandbox.screen", sb["screen"])
    boolean("sandbox.unsafe", sb["unsafe"])
    choice("executor.kind", executor["kind"], ("local", "ray"))
    if executor["kind"] == "ray" and importlib.util.find_spec("ray") is None:
        raise GtlearnError("executor.kind=ray needs Ray: pip install 'gtlearn[distributed]'")
    integer("executor.slots", executor["slots"], 1, 4096)
    integer("executor.backlog", executor["backlog"], 0, 100_000)
    boolean("executor.processes", executor["processes"])
    text("executor.ray_address", executor["ray_address"])
    number("executor.lease_s", executor["lease_s"], above=True, hi=MAX_SECONDS)
    if executor["lease_s"] <= sb["wall_s"]:
        raise GtlearnError(f"executor.lease_s ({executor['lease_s']:g}) must exceed sandbox.wall_s ({sb['wall_s']:g}): "
                           "an evaluation may run that long before its lease counts it as lost")


def check_cascade(cas: dict, prompt: dict) -> None:
    for st in ("stage1", "stage2"):
        games(f"cascade.{st}.games", cas[st]["games"])
        integer(f"cascade.{st}.iterations", cas[st]["iterations"])
    number("cascade.stage1.epsilon", cas["stage1"]["epsilon"])
    int_list("cascade.stage2.checkpoints", cas["stage2"]["checkpoints"], 1, empty=True)
    ho = cas["heldout"]
    games("cascade.heldout.games", ho["games"], empty=True)
    integer("cascade.heldout.horizon_mult", ho["horizon_mult"], 1, 1000)
    int_list("cascade.heldout.seeds", ho["seeds"], 0, empty=not ho["games"])
    integer("cascade.promote_top_k", cas["promote_top_k"], 0)
    number("cascade.promote_margin", cas["promote_margin"], -1e6, 1e6)
    number("cascade.auc_weight", cas["auc_weight"], hi=1.0)
    integer("cascade.baseline_iterations", cas["baseline_iterations"])
    integer("prompt.num_top", prompt["num_top"], 0, 1000)
    integer("prompt.num_diverse", prompt["num_diverse"], 0, 1000)
    integer("prompt.artifact_bytes", prompt["artifact_bytes"], 0, 1 << 20)
