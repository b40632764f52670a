"""What ``gtlearn report`` reads: a run directory (``config.json``, ``metrics.jsonl``, artifacts),
a ``compare`` output directory (``results.json`` and ``runs/<rule>/``) or a results JSON file
(the reproduction scripts' ``experiments/results/*.json``), and the curves found in it."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

from gtlearn.core.errors import GtlearnError
from gtlearn.core.run import read_metrics
from gtlearn.reports.campaign_data import short_game

X_KEYS = ("iterations", "steps", "iteration", "step", "grid", "x")
NAME_KEYS = ("solver", "algo", "rule", "name", "tag")
SKIP_Y = set(X_KEYS) | {"checkpoints", "seeds", "eval_at", "grid"}
STRUCTURAL = ("games", "runs", "results", "variants")  # path keys that hold curves without naming them
Y_NAMES = ("exploitability", "curve", "gap", "gaps", "values")  # fields that need no mention in a curve's name


def kind_of(path: Path) -> str:
    """``run``, ``compare`` or ``results``; a one-line GtlearnError for anything else."""
    if path.is_file():
        if path.suffix != ".json":
            raise GtlearnError(f"{path} is not a run directory or a results .json file")
        return "results"
    if not path.is_dir():
        raise GtlearnError(f"{path} does not exist")
    if (path / "campaign.db").exists():
        raise GtlearnError(f"{path} is an evolve campaign; use `gtlearn evolve report {path}`")
    if (path / "results.json").is_file() and (path / "runs").is_dir():
        return "compare"
    if (path / "config.json").is_file() or (path / "metrics.jsonl").is_file():
        return "run"
    if (path / "results.json").is_file():
        return "results"
    raise GtlearnError(f"{path} is not a run directory (no config.json, metrics.jsonl or results.json)")


def load_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GtlearnError(f"{path} is not readable JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise GtlearnError(f"{path} holds no JSON object")
    return data


def read_run(path: Path) -> dict:
    """config, metrics rows and artifacts of a run directory."""
    config = load_json(path / "config.json") if (path / "config.json").is_file() else {}
    return {"config": config, "metrics": read_metrics(path / "metrics.jsonl"), "artifacts": artifacts(path)}


def artifacts(path: Path, skip: tuple[str, ...] = ()) -> list[dict]:
    """The files under ``path`` (two levels deep), with sizes and modification times."""
    out = []
    for f in sorted(path.rglob("*")):
        rel = f.relative_to(path)
        if f.is_file() and len(rel.parts) <= 3 and rel.name not in skip:
            st = f.stat()
            out.append({"path": rel.as_posix(), "bytes": st.st_size, "mtime": st.st_mtime})
    return out


def metric_series(rows: list[dict]) -> tuple[dict, list[dict]]:
    """The gap curve and one curve per other numeric field of the metrics rows."""
    gap_name = next((r.get("gap_name") for r in rows if r.get("gap_name")), "gap")
    xs = [r.get("iteration") for r in rows]
    gap = {"name": gap_name, "x": xs, "y": [_num(r.get("gap")) for r in rows], "mode": "lines+markers", "size": 2}
    fields = [k for k in dict.fromkeys(k for r in rows for k in r)
              if k not in ("iteration", "gap", "gap_name") and any(_num(r.get(k)) is not None for r in rows)]
    return gap, [{"name": k, "x": xs, "y": [_num(r.get(k)) for r in rows], "mode": "lines+markers", "size": 2} for k in fields]


def _num(v):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def _is_curve(v) -> bool:
    return (isinstance(v, list) and len(v) >= 2 and all(x is None or (isinstance(x, (int, float)) and not isinstance(x, bool)) for x in v)
            and any(x is not None for x in v))


def _name_field(d: dict) -> str | None:
    """A short name the dict gives itself (``rule``, ``solver``, ...); reprs like ``CFR(...)`` are not names."""
    for k in NAME_KEYS:
        v = d.get(k)
        if isinstance(v, str) and len(v) <= 40 and "(" not in v:
            return v
    return None


def _group(d: dict, path: list, top: dict) -> str:
    game = d.get("game") if isinstance(d.get("game"), str) else None
    if game is None and "games" in path and path.index("games") + 1 < len(path):
        game = str(path[path.index("games") + 1])
    game = game or (top.get("game") if isinstance(top.get("game"), str) else None)
    section = str(path[0]) if path and path[0] not in STRUCTURAL else ""
    name = short_game(game) if game else ""
    return " · ".join(x for x in (name, section) if x) or "curves"


def _segments(d: dict, path: list, key: str) -> list[str]:
    """The parts of a curve's name: its own name, or the path below its game, then the field if unusual."""
    own = _name_field(d)
    if own is not None:
        segs = [own]
    else:
        start = path.index("games") + 2 if "games" in path else 0
        segs = [str(s) for s in path[start:] if s not in STRUCTURAL and not isinstance(s, int)]
    return segs + ([] if key in Y_NAMES else [key])


def _x_for(d: dict, n: int) -> list:
    for k in X_KEYS:
        v = d.get(k)
        if isinstance(v, list) and len(v) == n and all(isinstance(x, (int, float)) for x in v):
            return v
    start = 0 if isinstance(d.get("iterations"), int) and d["iterations"] + 1 == n else 1
    return list(range(start, start + n))


def find_curves(data: dict) -> dict[str, list[dict]]:
    """Every numeric curve of a results file, grouped by game (and section), named by what tells
    the curves of a group apart; a curve repeated under the same name is kept once."""
    groups: dict[str, list[dict]] = {}
    seen: set = set()

    def visit(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                if k in SKIP_Y or not _is_curve(v):
                    continue
                segs = _segments(node, path, k)
                sig = (tuple(segs), tuple(v))
                if sig not in seen:
                    seen.add(sig)
                    groups.setdefault(_group(node, path, data), []).append(
                        {"segs": segs, "key": k, "x": _x_for(node, len(v)), "y": [_num(y) for y in v], "mode": "lines"})
            for k, v in node.items():
                if isinstance(v, (dict, list)):
                    visit(v, path + [k])
        elif isinstance(node, list):
            for i, v in enumerate(node):
                if isinstance(v, (dict, list)):
                    visit(v, path + [i])

    visit(data, [])
    for series in groups.values():
        _name(series)
    return groups


def _name(series: list[dict]) -> None:
    """Name each curve by the parts that differ within its group (``cfr`` rather than ``cfr · base``)."""
    width = max(len(s["segs"]) for s in series)
    keep = [i for i in range(width) if len(series) == 1 or len({s["segs"][i] if i < len(s["segs"]) else None for s in series}) > 1]
    for s in series:
        s["name"] = " · ".join(s["segs"][i] for i in keep if i < len(s["segs"])) or " · ".join(s["segs"]) or s["key"]
    counts = Counter(s["name"] for s in series)
    for i, s in enumerate(series):
        if counts[s["name"]] > 1:
            s["name"] = f"{s['name']} ({i + 1})"
        del s["segs"]


def scalars(data: dict) -> list[tuple[str, object]]:
    """The top-level fields that read as one value (numbers, short strings)."""
    return [(k, v) for k, v in data.items() if isinstance(v, (int, float, bool)) or (isinstance(v, str) and len(v) <= 300)]
