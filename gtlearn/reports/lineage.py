"""The lineage of a campaign as an SVG tree: one node per program of the database, an edge from
each parent to its child. The layout is a layered tidy tree computed on a networkx graph: rows
are generations (depth from the seed), leaves are spaced in depth-first order, and a parent sits
above the middle of its children, so each subtree is a contiguous block without crossings."""

from __future__ import annotations

import networkx as nx

from gtlearn.reports.html import esc, signed

STEP_X, STEP_Y, PAD = 16.0, 58.0, 24.0
STATE_FILL = {"rejected_patch": "#eaeef2", "rejected_static": "#d0d7de", "duplicate": "#ffffff", "failed": "#ffd8d3",
              "timeout": "#ffe2b3", "proposed": "#f6f8fa", "queued": "#f6f8fa", "evaluating": "#ddf4ff"}


def graph(progs: list[dict]) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_nodes_from(p["id"] for p in progs)
    ids = set(g.nodes)
    g.add_edges_from((p["parent_id"], p["id"]) for p in progs if p["parent_id"] in ids)
    return g


def layout(progs: list[dict]) -> dict[int, tuple[float, float]]:
    """(x, y) in pixels of every program."""
    g = graph(progs)
    pos: dict[int, tuple[float, float]] = {}
    next_leaf = 0
    for root in sorted(n for n in g.nodes if g.in_degree(n) == 0):
        depth = nx.single_source_shortest_path_length(g, root)
        # Edges were added by child id, so successors (and the traversal) come in id order.
        for n in nx.dfs_postorder_nodes(g, root):
            kids = list(g.successors(n))
            if kids:
                x = (pos[kids[0]][0] + pos[kids[-1]][0]) / 2
            else:
                x = PAD + next_leaf * STEP_X
                next_leaf += 1
            pos[n] = (x, PAD + 14 + depth[n] * STEP_Y)
    return pos


def fitness_color(f: float | None, lo: float, hi: float) -> str:
    """Red below 0 (worse than the baseline), grey at 0, green above, saturating at the extremes."""
    if f is None:
        return "#f6f8fa"
    t = max(-1.0, min(1.0, f / (hi if f > 0 else -lo) if (hi if f > 0 else -lo) > 0 else 0.0))
    base, target = (200, 200, 200), ((26, 127, 55) if t > 0 else (198, 40, 40))
    a = abs(t) ** 0.6
    return "#" + "".join(f"{round(b + (c - b) * a):02x}" for b, c in zip(base, target))


def svg(progs: list[dict], champion_ids: set[int], heldout: dict[int, float]) -> str:
    """The lineage graph; every node is a focusable button carrying its program id."""
    pos = layout(progs)
    fits = [p["public_fitness"] for p in progs if p["state"] == "evaluated" and p["public_fitness"] is not None]
    lo, hi = (min(fits + [0.0]), max(fits + [0.0])) if fits else (0.0, 0.0)
    width = max([x for x, _ in pos.values()] + [200]) + PAD
    height = max([y for _, y in pos.values()] + [60]) + PAD
    parts = [f'<svg id="lineage-svg" width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
             f'role="group" aria-label="lineage of {len(progs)} programs">']
    for y in sorted({y for _, y in pos.values()}):
        parts.append(f'<text class="gen" x="2" y="{y - 9:.0f}">gen {round((y - PAD - 14) / STEP_Y)}</text>')
    by_id = {p["id"]: p for p in progs}
    for p in progs:
        if p["parent_id"] in pos:
            (x1, y1), (x2, y2) = pos[p["parent_id"]], pos[p["id"]]
            mid = (y1 + y2) / 2
            parts.append(f'<path class="edge" data-child="{p["id"]}" d="M{x1:.1f} {y1:.1f}C{x1:.1f} {mid:.1f} {x2:.1f} {mid:.1f} '
                         f'{x2:.1f} {y2:.1f}"/>')
    for pid, (x, y) in pos.items():
        parts.append(_node(by_id[pid], x, y, pid in champion_ids, heldout.get(pid), lo, hi))
    parts.append("</svg>")
    return "".join(parts)


def _node(p: dict, x: float, y: float, champion: bool, held: float | None, lo: float, hi: float) -> str:
    state = p["state"]
    fill = fitness_color(p["public_fitness"], lo, hi) if state == "evaluated" else STATE_FILL.get(state, "#f6f8fa")
    r = 7 if champion else 5 if state == "evaluated" else 3.5
    label = f"program #{p['id']}, {state}, generation {p['generation']}"
    if p["public_fitness"] is not None and state == "evaluated":
        label += f", public fitness {signed(p['public_fitness'])}"
    if held is not None:
        label += f", held-out fitness {signed(held)}"
    if champion:
        label += ", champion"
    if p["reject_reason"]:
        label += f": {p['reject_reason'].splitlines()[0][:160]}"
    cls = f"node state-{esc(state)}" + (" champion" if champion else "")
    return (f'<g class="{cls}" data-id="{p["id"]}" tabindex="0" role="button" aria-label="{esc(label)}">'
            f'<title>{esc(label)}</title><circle cx="{x:.1f}" cy="{y:.1f}" r="{r}" fill="{fill}"/></g>')


LEGEND = ('<p class="lineage-legend" aria-hidden="true"><span><i style="background:#1a7f37"></i>evaluated, better than the baseline</span>'
          '<span><i style="background:#c8c8c8"></i>about the baseline</span><span><i style="background:#c62828"></i>worse</span>'
          '<span><i style="background:#ffd8d3;border-color:#c62828"></i>failed</span>'
          '<span><i style="background:#ffe2b3;border-color:#c62828"></i>timeout</span>'
          '<span><i style="background:#d0d7de"></i>rejected (patch / static screen)</span>'
          '<span><i style="background:#fff"></i>duplicate</span>'
          '<span><i style="background:#fff;border:3px solid #b8860b"></i>champion</span></p>')
