"""What a campaign report shows, read from the database: program views for the lineage panel,
fitness over time per island, the held-out gate's decisions, failure reasons and the LLM
ledger (docs/evolve.md). Plain data; :mod:`gtlearn.reports.campaign_page` renders it."""

from __future__ import annotations

import difflib
import re
import statistics
from collections import defaultdict

from evolve.config import ALIASES
from evolve.db import EVALUATED_STATES
from gtlearn.reports.html import finite, sci, seconds, signed

_SHORT = {v: k for k, v in ALIASES.items()}
FAILED_STATES = ("rejected_patch", "rejected_static", "failed", "timeout")


def short_game(game: str) -> str:
    """The alias of an OpenSpiel game string where one exists (``goofspiel_4``)."""
    return _SHORT.get(game, game)


def game_rows(metrics: dict | None) -> list[list[str]]:
    """(game, exploitability, baseline, fitness) rows of one public evaluation."""
    games = (metrics or {}).get("games") or {}
    return [[short_game(g), sci(v.get("expl")), sci(v.get("baseline")), signed(v.get("fitness"))] for g, v in games.items()]


def program_views(progs: list[dict], evals: list[dict], champion_ids: set[int]) -> dict[int, dict]:
    """Per program: what the lineage panel shows, its diff from the parent included."""
    by_id = {p["id"]: p for p in progs}
    public = {e["program_id"]: e["public"] for e in evals if e["stage"] == 2 and e["valid"]}
    private = {e["program_id"]: e["private"] for e in evals if e["stage"] == 3 and e["valid"]}
    last = {}
    for e in evals:
        last[e["program_id"]] = e
    out = {}
    for p in progs:
        parent = by_id.get(p["parent_id"])
        diff = ""
        if parent is not None and parent["code"] and p["code"]:
            diff = "".join(difflib.unified_diff(parent["code"].splitlines(True), p["code"].splitlines(True),
                                                f"#{parent['id']}", f"#{p['id']}"))
        priv, use = private.get(p["id"]), last.get(p["id"])
        out[p["id"]] = {
            "id": p["id"], "parent": p["parent_id"], "island": "all (seed)" if p["island"] == -1 else p["island"],
            "generation": p["generation"], "state": p["state"], "patch_kind": p["patch_kind"], "reason": p["reject_reason"],
            "duplicate_of": p["duplicate_of"], "ast_nodes": p["ast_nodes"], "fitness": finite(p["public_fitness"]),
            "fitness_text": None if p["public_fitness"] is None else signed(p["public_fitness"], 4),
            "heldout_text": None if priv is None else f"{priv['fitness']:+.4f} (95% CI {priv['ci_low']:+.4f} … {priv['ci_high']:+.4f})",
            "usage": None if use is None else _usage(use), "games": game_rows(public.get(p["id"])),
            "champion": p["id"] in champion_ids, "code": p["code"], "diff": diff,
            "patch_text": p["patch_text"] if not p["code"] else None,
        }
    return out


def _usage(e: dict) -> str:
    parts = [f"stage {e['stage']}", f"wall {seconds(e['wall_s'])}"]
    if e.get("cpu_s") is not None:
        parts.append(f"CPU {seconds(e['cpu_s'])}")
    if e.get("peak_rss_mb") is not None:
        parts.append(f"peak RSS {e['peak_rss_mb']:.0f} MB")
    return ", ".join(parts)


def fitness_series(progs: list[dict], t0: float) -> list[dict]:
    """Per island: evaluated programs (minutes since the start, public fitness) and the best so far."""
    done = sorted((p for p in progs if p["state"] == "evaluated" and p["public_fitness"] is not None),
                  key=lambda p: (p["updated_at"] or 0, p["id"]))
    islands: dict[int, list[dict]] = defaultdict(list)
    for p in done:
        islands[p["island"]].append(p)
    series = []
    for island in sorted(islands):
        ps = islands[island]
        name = "seed" if island == -1 else f"island {island}"
        xs = [round(((p["updated_at"] or t0) - t0) / 60, 4) for p in ps]
        ys = [p["public_fitness"] for p in ps]
        best, run = [], float("-inf")
        for y in ys:
            run = max(run, y)
            best.append(run)
        text = [f"#{p['id']} (gen {p['generation']}, {p['ast_nodes']} AST nodes)" for p in ps]
        series.append({"name": f"{name}: programs", "legend": name, "x": xs, "y": ys, "text": text, "mode": "markers"})
        series.append({"name": f"{name}: best so far", "legend": name, "x": xs, "y": best, "mode": "step", "text": text})
    palette = ["#0b5cad", "#d1495b", "#2a9d8f", "#e09f3e", "#6a4c93", "#3d5a80", "#8d6e63", "#c2185b", "#558b2f", "#00838f"]
    for i, s in enumerate(series):
        s["color"] = palette[(i // 2) % len(palette)]
    return series


def gate_rows(progs: list[dict], evals: list[dict], champs: list[dict], margin: float) -> list[dict]:
    """Every held-out evaluation in commit order with the gate's decision and why.

    The decision is the database's (``champions``); the reason restates the rule of
    docs/evolve.md (public fitness >= 0, CI lower end above the champion's CI upper end + margin)
    against the champion in force at that moment."""
    by_id = {p["id"]: p for p in progs}
    promoted = {c["program_id"]: c for c in champs}
    current = None
    rows = []
    for e in (e for e in evals if e["stage"] == 3):
        p = by_id.get(e["program_id"], {})
        priv = e["private"] if e["valid"] else None
        pub = p.get("public_fitness")
        row = {"program_id": e["program_id"], "public": pub, "private": priv, "promoted": e["program_id"] in promoted,
               "bar": None if current is None else current["ci_high"] + margin,
               "against": None if current is None else current["program_id"]}
        row["reason"] = _gate_reason(row, priv, pub, current, margin, e)
        if row["promoted"]:
            current = promoted[e["program_id"]]
        rows.append(row)
    return rows


def _gate_reason(row: dict, priv: dict | None, pub: float | None, current: dict | None, margin: float, e: dict) -> str:
    if priv is None:
        tail = (e.get("stderr_tail") or "").strip().splitlines()
        return "held-out evaluation invalid" + (f": {tail[-1][:200]}" if tail else "")
    if pub is None or pub < 0:
        return f"public fitness {signed(pub)} < 0 (worse than the baseline on the training games)"
    if current is None:
        return f"first program through the gate: public fitness {signed(pub)} >= 0 and no champion before it"
    rel = ">" if priv["ci_low"] > row["bar"] else "<="
    return (f"held-out CI lower end {signed(priv['ci_low'])} {rel} champion #{current['program_id']}'s CI upper end "
            f"{signed(current['ci_high'])} + margin {margin:g}")


def gate_chart(rows: list[dict]) -> list[dict]:
    """Held-out fitness with its 95% CI per held-out evaluation, promoted or not, and the bar to clear."""
    out = []
    for label, want in (("promoted", True), ("not promoted", False)):
        pts = [(i + 1, r) for i, r in enumerate(rows) if r["promoted"] == want and r["private"]]
        out.append({"name": label, "x": [i for i, _ in pts], "y": [r["private"]["fitness"] for _, r in pts],
                    "lo": [r["private"]["ci_low"] for _, r in pts], "hi": [r["private"]["ci_high"] for _, r in pts],
                    "text": [f"#{r['program_id']}: {r['reason']}" for _, r in pts], "mode": "errorbar",
                    "color": "#b8860b" if want else "#8c959f", "size": 4})
    bars = [(i + 1, r["bar"]) for i, r in enumerate(rows) if r["bar"] is not None]
    out.append({"name": "bar to clear (champion's CI upper end + margin)", "x": [b[0] for b in bars], "y": [b[1] for b in bars],
                "mode": "step", "color": "#c62828", "dash": "5 3"})
    return out


_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def failure_histogram(progs: list[dict], limit: int = 14) -> list[dict]:
    """Failures grouped by state and reason with numbers masked; each with its full messages."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for p in progs:
        if p["state"] not in FAILED_STATES:
            continue
        msg = (p["reject_reason"] or "(no reason recorded)").strip()
        first = msg.splitlines()[0] if msg else ""
        key = _NUMBER.sub("#", first)[:90]
        groups[(p["state"], key)].append(f"#{p['id']}: {msg}")
    ranked = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    if len(ranked) > limit:
        rest = [m for _, ms in ranked[limit:] for m in ms]
        ranked = ranked[:limit] + [(("other", f"{len(ranked) - limit} other reasons"), rest)]
    return [{"state": s, "reason": r, "count": len(ms), "messages": ms} for (s, r), ms in ranked]


def ledger(calls: list[dict]) -> list[dict]:
    """Per (backend, model): calls by status, tokens, cost and latency."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for c in calls:
        groups[(c["backend"], c["model"])].append(c)
    out = []
    for (backend, model), cs in sorted(groups.items()):
        ok = [c for c in cs if c["status"] == "ok"]
        lat = sorted(c["latency_s"] for c in ok if c["latency_s"] is not None)
        unpriced = sum(1 for c in ok if c["cost_usd"] is None)
        cost = sum(c["cost_usd"] or 0.0 for c in ok) + sum(c["reserved_usd"] or 0.0 for c in cs if c["status"] != "ok")
        statuses = defaultdict(int)
        for c in cs:
            statuses[c["status"]] += 1
        out.append({"backend": backend, "model": model, "calls": len(cs), "statuses": dict(statuses),
                    "tokens_in": sum(c["tokens_in"] or 0 for c in ok), "tokens_out": sum(c["tokens_out"] or 0 for c in ok),
                    "cost_usd": None if unpriced == len(ok) and ok and not cost else cost, "unpriced": unpriced,
                    "latency_mean": statistics.fmean(lat) if lat else None,
                    "latency_p50": lat[len(lat) // 2] if lat else None,
                    "latency_p95": lat[min(len(lat) - 1, int(0.95 * len(lat)))] if lat else None})
    return out


def evaluated_count(progs: list[dict]) -> int:
    return sum(1 for p in progs if p["state"] in EVALUATED_STATES)
