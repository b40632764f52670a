"""``gtlearn evolve report``: a campaign as one self-contained HTML page -- fitness over time
per island, the held-out gate, the champion card, the lineage (click a program for its code and
its diff from the parent), failure reasons and the LLM ledger (docs/evolve.md)."""

from __future__ import annotations

import json
import time

from evolve.db import DB
from evolve.db import reporting as q
from evolve.ledger import spent
from evolve.report import score_table
from evolve.tasks import make_task
from gtlearn.reports import campaign_data as cd
from gtlearn.reports import lineage
from gtlearn.reports.html import Raw, cards, chart, esc, num, page, sci, seconds, signed, table, usd, when


def campaign_html(db: DB, *, refresh_s: float | None = None) -> str:
    """The report of the campaign in ``db`` (opened read-only; see :func:`evolve.db.reporting.open_readonly`)."""
    cfg, run = db.run_config(), db.run_row()
    progs, evals, champs = q.programs(db), q.evaluations(db), q.champions(db)
    champion_ids = {c["program_id"] for c in champs}
    margin = float(cfg["cascade"]["promote_margin"])
    gate = cd.gate_rows(progs, evals, champs, margin)
    baseline = make_task(cfg).baseline_name
    views = cd.program_views(progs, evals, champion_ids)
    current = champs[-1]["program_id"] if champs else None
    leader = db.leader()
    data = {
        "programs": views, "baseline": baseline, "selected": current if current is not None else (leader["id"] if leader else None),
        "charts": {
            "fitness": {"series": cd.fitness_series(progs, run["created_at"]), "xlabel": "minutes since the campaign started",
                        "ylabel": f"public fitness (0 = {baseline})", "yref": 0.0, "height": 360},
            "gate": {"series": cd.gate_chart(gate), "xlabel": "held-out evaluation (in commit order)",
                     "ylabel": "held-out fitness, 95% CI", "yref": 0.0, "height": 300},
        },
        "failures": {},
    }
    heldout = {r["program_id"]: r["private"]["fitness"] for r in gate if r["private"]}
    sections = [
        ("overview", "Overview", _overview(db, progs, champs, run)),
        ("fitness", "Fitness over time", _fitness(db)),
        ("gate", "Held-out gate", _gate(gate, margin)),
        ("champion", "Champion", _champion(db, views, gate, current, leader, baseline)),
        ("lineage", "Lineage", _lineage(progs, champion_ids, heldout)),
        ("failures", "Failures", _failures(cd.failure_histogram(progs), data["failures"])),
        ("ledger", "LLM ledger", _ledger(cd.ledger(q.llm_calls(db)))),
        ("config", "Configuration", f"<details><summary>campaign config (SHA {esc(run['config_sha'][:12])})</summary>"
                                    f'<pre class="code">{esc(json.dumps(cfg, indent=2, sort_keys=True))}</pre></details>'),
    ]
    sub = [f"task {cfg['run']['task']}, seed {run['seed']}, status {run['status']}; started {when(run['created_at'])}; "
           f"report written {when(time.time())}" + (f"; refreshes every {refresh_s:g} s" if refresh_s else "")]
    return page(f"evolve campaign {db.run_id}", sub, sections, data, refresh_s=refresh_s)


def _overview(db: DB, progs: list[dict], champs: list[dict], run) -> str:
    use = spent(db)
    counts: dict[str, int] = {}
    for p in progs:
        counts[p["state"]] = counts.get(p["state"], 0) + 1
    best = max((p["public_fitness"] for p in progs if p["state"] == "evaluated" and p["public_fitness"] is not None), default=None)
    items = [("status", run["status"]), ("programs", num(len(progs))), ("evaluations finished", num(cd.evaluated_count(progs))),
             ("champion", f"#{champs[-1]['program_id']}" if champs else "none yet"), ("best public fitness", signed(best)),
             ("wall time", seconds(use["wall_hours"] * 3600)), ("evaluation CPU", seconds(use["eval_cpu_hours"] * 3600)),
             ("LLM spend", f"{usd(use['usd'])} · {num(use['llm_calls'])} calls · {num(use['tokens'])} tokens")]
    states = table(["state", "programs"], [[k, num(v)] for k, v in sorted(counts.items())], numeric=[1],
                   caption="programs by state")
    profile = db.kv_get("sandbox_profile")
    return cards(items) + states + (f'<p class="note">sandbox profile: {esc(profile)}</p>' if profile else "")


def _fitness(db: DB) -> str:
    rows = [[f"#{r['id']}", "–" if r["parent_id"] is None else f"#{r['parent_id']}", "seed" if r["island"] == -1 else r["island"],
             r["generation"], signed(r["public_fitness"], 4), num(r["ast_nodes"]),
             "–" if r["heldout_fitness"] is None else signed(r["heldout_fitness"], 4)] for r in score_table(db)]
    return (chart("fitness", "Public fitness of every evaluated program by island (dots) and each island's best so far (steps). "
                             "Click a legend entry to hide an island.")
            + table(["program", "parent", "island", "generation", "public fitness", "AST nodes", "held-out fitness"], rows,
                    numeric=[3, 4, 5, 6], caption="the evaluated programs of highest public fitness"))


def _gate(gate: list[dict], margin: float) -> str:
    if not gate:
        return '<p class="note">No program has been through the held-out gate yet.</p>'
    rows = []
    for r in gate:
        pv = r["private"]
        dec = Raw('<span class="decision yes">promoted</span>' if r["promoted"] else '<span class="decision no">not promoted</span>')
        rows.append([f"#{r['program_id']}", signed(r["public"]), signed(pv["fitness"]) if pv else "invalid",
                     f"[{signed(pv['ci_low'])}, {signed(pv['ci_high'])}]" if pv else "–", dec, r["reason"]])
    return (chart("gate", "Each held-out evaluation: fitness on the held-out games with its 95% CI over seeds; "
                          f"a program is promoted when its CI lower end clears the red bar (margin {margin:g}).")
            + table(["program", "public fitness", "held-out fitness", "95% CI", "decision", "why"], rows, numeric=[1, 2, 3],
                    caption="held-out evaluations in commit order", cls="gate"))


def _champion(db: DB, views: dict, gate: list[dict], current: int | None, leader, baseline: str) -> str:
    if current is None:
        lead = "" if leader is None else f" The public leader is #{leader['id']} (public fitness {signed(leader['public_fitness'])})."
        return f'<p class="note" id="no-champion">No champion has been promoted yet.{esc(lead)}</p>'
    row = next(r for r in gate if r["program_id"] == current and r["promoted"])
    pub, priv = db.evaluation(current, 2), db.evaluation(current, 3)
    facts = cards([("champion", f"#{current}"), ("public (training) fitness", signed(pub["fitness"], 4) if pub else "–"),
                   ("held-out fitness", signed(priv["fitness"], 4)),
                   ("held-out 95% CI", f"[{signed(priv['ci_low'], 4)}, {signed(priv['ci_high'], 4)}]")])
    facts = facts.replace('<div class="card">', '<div class="card" data-field="card">', 1)
    train = table(["training game", "T", "exploitability", baseline, "ratio", "fitness"], [
        [cd.short_game(g), num(v.get("iterations")), sci(v["expl"]), sci(v["baseline"]), _ratio(v), signed(v["fitness"])]
        for g, v in ((pub or {}).get("games") or {}).items()], numeric=[1, 2, 3, 4, 5], caption="training games (public)")
    held = []
    for k, s in enumerate(priv.get("seeds") or []):
        for g, v in s["games"].items():
            held.append([k + 1, cd.short_game(g), num(v.get("iterations")), sci(v["expl"]), sci(v["baseline"]), _ratio(v),
                         signed(v["fitness"])])
    held_t = table(["seed", "held-out game", "T", "exploitability", baseline, "ratio", "fitness"], held, numeric=[0, 2, 3, 4, 5, 6],
                   caption="held-out games (private; never shown to the proposer)")
    note = ""
    if leader is not None and leader["id"] != current:
        row = next((r for r in gate if r["program_id"] == leader["id"]), None)
        why = ("it has not been evaluated on the held-out games yet" if row is None else
               f"it was promoted earlier and #{current} has cleared it since" if row["promoted"] else row["reason"])
        note = (f'<p class="note">The public leader #{leader["id"]} (public fitness {signed(leader["public_fitness"])}) is not the '
                f"champion: {esc(why)}. Public fitness does not promote; the held-out gate does.</p>")
    return (f'<div class="champion" id="champion-card" data-program="{current}" data-heldout="{priv["fitness"]!r}" '
            f'data-ci-low="{priv["ci_low"]!r}" data-ci-high="{priv["ci_high"]!r}">{facts}'
            f'<p>Gate decision: <span class="decision yes">promoted</span> — {esc(row["reason"])}.</p>{note}{train}{held_t}'
            f'<details><summary>code of #{current}</summary><pre class="code">{esc(views[current]["code"])}</pre></details></div>')


def _ratio(v: dict) -> str:
    e, b = v.get("expl"), v.get("baseline")
    if not e or not b or e <= 0:
        return "–"
    r = b / e
    return f"{r:.3g}× lower" if r >= 1 else f"{1 / r:.3g}× higher"


def _lineage(progs: list[dict], champion_ids: set[int], heldout: dict[int, float]) -> str:
    return ('<p class="note">One node per program in the database; rows are generations. Click a node (or focus it and press '
            'Enter) to see its code and its diff from the parent; the gold path is its ancestry.</p>' + lineage.LEGEND
            + '<div class="lineage-layout"><div class="lineage-scroll">' + lineage.svg(progs, champion_ids, heldout) + "</div>"
            '<aside id="program-panel" aria-live="polite"><p class="needs-js">Program details need JavaScript; '
            "hover a node for its summary.</p></aside></div>")


def _failures(hist: list[dict], store: dict) -> str:
    if not hist:
        return '<p class="note">No candidate has failed or been rejected.</p>'
    top = max(h["count"] for h in hist)
    rows, attrs = [], []
    for i, h in enumerate(hist):
        key = f"f{i}"
        store[key] = h["messages"]
        bar = Raw(f'<div class="bar {esc(h["state"])}" style="width:{100 * h["count"] / top:.1f}%"></div>')
        msgs = Raw(f'<details><summary>{len(h["messages"])} messages</summary><ul class="messages">'
                   + "".join(f"<li>{esc(m)}</li>" for m in h["messages"][:200]) + "</ul></details>")
        rows.append([h["state"], h["reason"], num(h["count"]), bar, msgs])
        attrs.append(f'data-messages="{key}" title="{esc(chr(10).join(h["messages"][:30]))}"')
    return ('<div class="chart-area">' + table(["state", "reason (numbers masked as #)", "count", "", "full messages"], rows,
                                               numeric=[2], row_attrs=attrs, cls="hist",
                                               caption="why candidates were rejected or failed; hover a row for its messages")
            + '<div class="tooltip wrap" id="failure-tip" role="tooltip"></div></div>')


def _ledger(rows: list[dict]) -> str:
    if not rows:
        return '<p class="note">No LLM call has been made.</p>'
    body = [[r["backend"], r["model"], num(r["calls"]), ", ".join(f"{k} {v}" for k, v in sorted(r["statuses"].items())),
             num(r["tokens_in"]), num(r["tokens_out"]), usd(r["cost_usd"]) + (f" ({r['unpriced']} unpriced)" if r["unpriced"] else ""),
             seconds(r["latency_mean"]), seconds(r["latency_p50"]), seconds(r["latency_p95"])] for r in rows]
    return table(["backend", "model", "calls", "by status", "tokens in", "tokens out", "cost (USD)", "latency mean", "p50", "p95"],
                 body, numeric=[2, 4, 5, 6, 7, 8, 9], caption="cost: settled cost of answered calls plus the reservations of "
                                                              "the others; latency of answered calls")
