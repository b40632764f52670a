"""``gtlearn report``: a run directory, a ``compare`` output directory or a results JSON file as
one self-contained HTML page -- config, the gap curve (log axes, hover values), the metrics
table and the artifacts; for comparisons and results files all curves on one chart per game,
each curve toggled from the legend."""

from __future__ import annotations

import os
import time
from pathlib import Path

from gtlearn.core.errors import GtlearnError
from gtlearn.reports import run_data as rd
from gtlearn.reports.html import Raw, cards, chart, esc, num, page, sci, seconds, size, table, when

MAX_ROWS = 400


def default_out(path: Path) -> Path:
    """Where a report goes by default: ``report.html`` in the directory, or ``<stem>_report.html`` beside a file."""
    return path.with_name(f"{path.stem}_report.html") if path.is_file() else path / "report.html"


def run_html(path, out, *, refresh_s: float | None = None) -> str:
    """The report of ``path`` (run directory, compare directory or results file), links relative to ``out``."""
    path, out = Path(path), Path(out)
    kind = rd.kind_of(path)
    if kind == "run":
        title, sub, sections, data = _run(path, out)
    elif kind == "compare":
        title, sub, sections, data = _compare(path, out)
    else:
        title, sub, sections, data = _results(path / "results.json" if path.is_dir() else path, out)
    sub.append(f"report written {when(time.time())}" + (f"; refreshes every {refresh_s:g} s" if refresh_s else ""))
    return page(title, sub, sections, data, refresh_s=refresh_s)


def _spec(series: list[dict], ylabel: str, xlabel: str = "iteration", hidden=()) -> dict:
    ys = [y for s in series for y in s["y"] if y is not None]
    xs = [x for s in series for x in s["x"] if isinstance(x, (int, float))]
    positive = bool(ys) and min(ys) > 0
    logy = positive and max(ys) / min(ys) > 50
    logx = bool(xs) and min(xs) > 0 and max(xs) / min(xs) >= 100
    return {"series": series, "xlabel": xlabel, "ylabel": ylabel, "logx": logx, "logy": logy, "allow_logx": True,
            "allow_logy": True, "hidden": list(hidden)}


def _run(path: Path, out: Path):
    run = rd.read_run(path)
    rows, cfg = run["metrics"], run["config"]
    gap, others = rd.metric_series(rows)
    gap["name"] = str(cfg.get("algo") or cfg.get("rule") or cfg.get("trainer") or gap["name"])
    last = rows[-1] if rows else {}
    gap_name = last.get("gap_name", "gap")
    items = [("final " + gap_name, sci(last.get("gap"))), ("iterations logged", num(last.get("iteration"))),
             ("metric rows", num(len(rows))), ("wall time", seconds(last.get("wall_time"))),
             ("checkpoint", "yes" if (path / "checkpoint.npz").exists() else "no")]
    charts = {"gap": _spec([gap], gap_name)}
    body = cards(items) + chart("gap", f"{gap_name} against the iteration; toggle log axes above, hover for values.")
    if others:
        charts["other"] = _spec(others, "value", hidden=[s["name"] for s in others[1:]])
        body += chart("other", "The other logged fields (wall time included); click a legend entry to show it.")
    sections = [("overview", "Gap curve", body), ("metrics", "Metrics", _metrics_table(rows)),
                ("config", "Config", _config_table(cfg)), ("artifacts", "Artifacts", _artifacts(path, out))]
    what = ", ".join(f"{k} {cfg[k]}" for k in ("command", "game", "algo", "rule", "iterations") if k in cfg)
    return f"run {path.resolve().name}", [what or str(path)], sections, {"charts": charts}


def _metrics_table(rows: list[dict]) -> str:
    if not rows:
        return '<p class="note">No metrics logged yet.</p>'
    shown = rows if len(rows) <= MAX_ROWS else [rows[round(i * (len(rows) - 1) / (MAX_ROWS - 1))] for i in range(MAX_ROWS)]
    keys = list(dict.fromkeys(k for r in rows for k in r if k != "gap_name"))
    note = "" if shown is rows else f" ({MAX_ROWS} of {len(rows)} rows, evenly spaced, the last included)"
    cells = [[_cell(k, r.get(k)) for k in keys] for r in shown]
    numeric = [i for i, k in enumerate(keys) if any(isinstance(r.get(k), (int, float)) for r in rows)]
    return table([k + (" (s)" if k == "wall_time" else "") for k in keys], cells, numeric=numeric,
                 caption=f"metrics.jsonl{note}")


def _cell(key: str, v) -> str:
    if key == "wall_time" and isinstance(v, (int, float)):
        return f"{v:.2f}"
    if key == "gap" and isinstance(v, float):
        return sci(v)
    return num(v) if isinstance(v, (int, float)) else ("" if v is None else str(v))


def _flatten(d: dict, prefix: str = "") -> list[tuple[str, object]]:
    out = []
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out += _flatten(v, f"{prefix}{k}.")
        else:
            out.append((f"{prefix}{k}", v))
    return out


def _config_table(cfg: dict) -> str:
    if not cfg:
        return '<p class="note">No config.json.</p>'
    return table(["key", "value"], [[k, v if isinstance(v, str) else repr(v) if not isinstance(v, (int, float)) else num(v)]
                                    for k, v in _flatten(cfg)], caption="config.json")


def _artifacts(path: Path, out: Path, skip: tuple[str, ...] = ()) -> str:
    files = rd.artifacts(path, skip=skip + (out.name,))
    if not files:
        return '<p class="note">No files.</p>'
    rows = [[Raw(f'<a href="{esc(os.path.relpath(path / f["path"], out.parent))}">{esc(f["path"])}</a>'), size(f["bytes"]),
             when(f["mtime"])] for f in files]
    return table(["file", "size", "modified"], rows, numeric=[1], caption=f"files in {path.name}/")


def _compare(path: Path, out: Path):
    res = rd.load_json(path / "results.json")
    results = res.get("results") or {}
    series = [{"name": name, "x": r.get("iterations", []), "y": [rd._num(y) for y in r.get("exploitability", [])],
               "mode": "lines"} for name, r in results.items()]
    ranked = sorted(results.items(), key=lambda kv: (rd._num(kv[1].get("final")) is None, rd._num(kv[1].get("final")) or 0))
    rank = table(["rank", "rule", "final exploitability", "seconds iterating", "seconds in all"],
                 [[i, n, sci(rd._num(r.get("final"))), seconds(r.get("seconds_iterating")), seconds(r.get("seconds_total"))]
                  for i, (n, r) in enumerate(ranked, 1)], numeric=[0, 2, 3, 4],
                 caption=f"after {num(res.get('iterations'))} iterations, best first")
    runs = []
    for d in sorted((path / "runs").iterdir()):
        if d.is_dir():
            rows = rd.read_run(d)["metrics"]
            runs.append([Raw(f'<a href="{esc(os.path.relpath(d, out.parent))}/">{esc(d.name)}</a>'), num(len(rows)),
                         sci(rows[-1].get("gap")) if rows else "–", "yes" if (d / "checkpoint.npz").exists() else "no"])
    game = str(res.get("game", ""))
    sections = [
        ("curves", "Curves", chart("all", "Every rule's exploitability; click a legend entry to hide it, toggle log axes above.") + rank),
        ("runs", "Run directories", table(["run", "metric rows", "last gap", "checkpoint"], runs, numeric=[1, 2])),
        ("config", "Comparison", table(["key", "value"], [[k, str(v)] for k, v in rd.scalars(res)])),
        ("artifacts", "Artifacts", _artifacts(path, out, skip=("metrics.jsonl", "config.json", "checkpoint.npz"))),
    ]
    return (f"compare: {game}", [str(res.get("metric", ""))], sections,
            {"charts": {"all": _spec(series, "exploitability")}})


def _results(path: Path, out: Path):
    data = rd.load_json(path)
    groups = rd.find_curves(data)
    if not groups:
        raise GtlearnError(f"{path} holds no curves (no list of numbers in it)")
    charts, body = {}, []
    for i, (group, series) in enumerate(groups.items()):
        key = max({s["key"] for s in series}, key=lambda k: sum(s["key"] == k for s in series))
        charts[f"g{i}"] = _spec(series, str(data["metric"]) if isinstance(data.get("metric"), str) else key)
        finals = [[s["name"], num(len(s["y"])), num(s["x"][-1]), sci(s["y"][-1]),
                   sci(min((y for y in s["y"] if y is not None), default=None))] for s in series]
        body.append(f"<h3>{esc(group)}</h3>" + chart(f"g{i}", f"{group}: {len(series)} curves; click a legend entry to hide it.")
                    + table(["curve", "points", "last x", "last value", "lowest value"], finals, numeric=[1, 2, 3, 4]))
    sections = [("curves", "Curves", "".join(body)), ("summary", "Summary", _summary(data))]
    return f"results: {path.name}", [str(data.get("paper") or data.get("metric") or path)], sections, {"charts": charts}


def _summary(data: dict) -> str:
    parts = [table(["field", "value"], [[k, num(v) if isinstance(v, (int, float)) else str(v)] for k, v in rd.scalars(data)])]
    for k, v in data.items():
        if isinstance(v, list) and v and all(isinstance(x, str) for x in v):
            parts.append(f"<h3>{esc(k)}</h3><ul>" + "".join(f"<li>{esc(x)}</li>" for x in v) + "</ul>")
        elif isinstance(v, list) and v and all(isinstance(x, dict) and all(not isinstance(y, (dict, list)) for y in x.values()) for x in v):
            keys = list(dict.fromkeys(c for x in v for c in x))
            parts.append(f"<h3>{esc(k)}</h3>" + table(keys, [[_plain(x.get(c)) for c in keys] for x in v]))
    return "".join(parts)


def _plain(v) -> str:
    return "" if v is None else num(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v)
