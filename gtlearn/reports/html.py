"""The page shell and the building blocks of the HTML reports: one self-contained file (inline
CSS and JavaScript, data in a JSON block, no request at view time), tables that read without
JavaScript, and numbers formatted with their units."""

from __future__ import annotations

import html
import json
import math
import time
from importlib import resources
from typing import Any, Iterable

from gtlearn.core.io import json_default


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


# -- numbers with units ------------------------------------------------------------------------
def num(v: float | None, digits: int = 4) -> str:
    """A plain number: 4 significant digits, scientific below 1e-3 and from 1e5 on."""
    if v is None or not isinstance(v, (int, float)) or not math.isfinite(v):
        return "–"
    if isinstance(v, int) or float(v).is_integer() and abs(v) < 1e15:
        return f"{int(v):,}"
    a = abs(v)
    return f"{v:.{digits - 1}e}" if a != 0 and (a < 1e-3 or a >= 1e5) else f"{v:.{digits}g}"


def sci(v: float | None) -> str:
    """An exploitability or a gap: always scientific, 3 digits after the point."""
    return "–" if v is None or not math.isfinite(v) else f"{v:.3e}"


def signed(v: float | None, digits: int = 3) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{v:+.{digits}f}"


def seconds(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "–"
    if v < 1:
        return f"{v * 1000:.0f} ms"
    if v < 120:
        return f"{v:.1f} s"
    if v < 7200:
        return f"{v / 60:.1f} min"
    return f"{v / 3600:.2f} h"


def size(n: int | None) -> str:
    if n is None:
        return "–"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def usd(v: float | None) -> str:
    return "unpriced" if v is None else f"${v:,.4f}"


def when(ts: float | None) -> str:
    return "–" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


# -- blocks -------------------------------------------------------------------------------------
def table(headers: list[str], rows: Iterable[list[Any]], *, numeric: Iterable[int] = (), caption: str | None = None,
          row_attrs: Iterable[str] | None = None, cls: str = "") -> str:
    """A plain HTML table; cells are escaped unless given as ``Raw``; ``numeric`` columns right-aligned."""
    numeric = set(numeric)
    attrs = list(row_attrs) if row_attrs is not None else None
    head = "".join(f'<th scope="col"{" class=num" if i in numeric else ""}>{esc(h)}</th>' for i, h in enumerate(headers))
    body = []
    for r, row in enumerate(rows):
        cells = "".join(f'<td{" class=num" if i in numeric else ""}>{c if isinstance(c, Raw) else esc(c)}</td>' for i, c in enumerate(row))
        body.append(f"<tr{' ' + attrs[r] if attrs else ''}>{cells}</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return (f'<div class="table-wrap"><table class="{cls}">{cap}<thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


class Raw(str):
    """Markup that :func:`table` inserts as is (built from escaped parts by the caller)."""


def cards(items: list[tuple[str, str]]) -> str:
    return '<div class="cards">' + "".join(
        f'<div class="card"><div class="big">{esc(v)}</div><div class="label">{esc(k)}</div></div>' for k, v in items) + "</div>"


def chart(chart_id: str, caption: str) -> str:
    """A chart's place: ``report.js`` draws ``DATA.charts[chart_id]`` into it."""
    return (f'<figure class="chart" data-chart="{esc(chart_id)}" id="chart-{esc(chart_id)}"><div class="chart-controls"></div>'
            f'<div class="chart-area"><p class="needs-js">This chart needs JavaScript; the table below holds its numbers.</p></div>'
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def section(sid: str, title: str, body: str) -> str:
    return f'<section id="{esc(sid)}" aria-labelledby="{esc(sid)}-h"><h2 id="{esc(sid)}-h">{esc(title)}</h2>{body}</section>'


def _asset(name: str) -> str:
    return resources.files("gtlearn.reports").joinpath("static", name).read_text(encoding="utf-8")


def page(title: str, subtitle: list[str], sections: list[tuple[str, str, str]], data: dict, *,
         refresh_s: float | None = None) -> str:
    """The whole document. ``sections`` are (id, title, body); ``data`` becomes ``#report-data``
    for the script; ``refresh_s`` makes the browser reload the file (``--watch``)."""
    toc = " ".join(f'<a href="#{esc(sid)}">{esc(t)}</a>' for sid, t, _ in sections)
    payload = json.dumps(_clean(data), default=json_default, allow_nan=False, separators=(",", ":")).replace("</", "<\\/")
    refresh = f'<meta http-equiv="refresh" content="{int(max(1, refresh_s))}">' if refresh_s else ""
    subs = "".join(f"<p>{esc(s)}</p>" for s in subtitle)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">{refresh}'
            f'<meta name="generator" content="gtlearn"><title>{esc(title)}</title><style>{_asset("report.css")}</style></head>'
            f'<body><header class="page"><h1>{esc(title)}</h1>{subs}<nav class="toc" aria-label="sections">{toc}</nav></header>'
            f'<main>{"".join(section(*s) for s in sections)}</main>'
            f'<script type="application/json" id="report-data">{payload}</script>'
            f"<script>{_asset('report.js')}</script></body></html>\n")


def _clean(x: Any) -> Any:
    """``x`` with every NaN or infinity replaced by None (JSON has neither)."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


def finite(v: Any) -> float | None:
    """A JSON-safe float: None for None, NaN and infinities (the page's data allows no NaN)."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None
