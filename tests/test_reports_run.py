"""``gtlearn report``: a run directory (config, gap curve, metrics table, artifacts), a ``compare``
output directory (every rule's curve, ranked) and a results JSON file (curves grouped by game),
each as one self-contained page; anything else is one ``error:`` line with status 2."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from test_reports_campaign import assert_self_contained, cli, page_data, run

from gtlearn.core.metrics import Metrics
from gtlearn.core.run import Run

ROOT = Path(__file__).resolve().parents[1]


def make_run(d: Path, n: int = 30) -> Path:
    """A run directory written by :class:`gtlearn.core.run.Run`, with a NaN and an artifact."""
    r = Run(d, {"command": "solve", "game": "kuhn_poker", "algo": "cfr+", "iterations": n, "nested": {"alpha": 1.5}})
    for i in range(1, n + 1):
        r.log(Metrics(i, 1.0 / i ** 1.5, "exploitability", 0.01 * i, {"nash_conv": 2.0 / i ** 1.5, "note": "x",
                                                                      "odd": float("nan") if i == 3 else 1.0}))
    r.save_checkpoint(t=__import__("numpy").arange(3))
    (d / "average_policy.npz").write_bytes(b"0" * 2048)
    return d


def test_run_report(tmp_path):
    d = make_run(tmp_path / "run")
    assert run("report", str(d)) == 0
    html = (d / "report.html").read_text()
    assert_self_contained(html)
    data = page_data(html)
    gap = data["charts"]["gap"]["series"][0]
    rows = [json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines()]
    assert gap["name"] == "cfr+" and gap["x"] == [r["iteration"] for r in rows] and gap["y"] == [r["gap"] for r in rows]
    assert data["charts"]["gap"]["logy"] is True
    other = {s["name"]: s for s in data["charts"]["other"]["series"]}
    assert other["odd"]["y"][2] is None and math.isclose(other["nash_conv"]["y"][0], 2.0)
    assert data["charts"]["other"]["hidden"] == [n for n in other if n != "wall_time"]
    table = html.split('id="metrics"')[1].split("</table>")[0]
    assert table.count("<tr>") == len(rows) + 1  # header + one per record, readable without JavaScript
    assert "nested.alpha" in html and "1.5" in html
    for name in ("average_policy.npz", "checkpoint.npz", "metrics.jsonl", "config.json"):
        assert f'href="{name}"' in html
    assert "2.0 KiB" in html and 'href="report.html"' not in html


def test_compare_report(tmp_path):
    from gtlearn.cli.compare import compare
    from gtlearn.cli.errors import run_cli

    app = cli()
    app.command("compare")(compare)
    out = tmp_path / "cmp"
    assert run_cli(app, ["compare", "kuhn_poker", "--algos", "cfr,cfr+,dcfr", "-n", "40", "--points", "8", "--out", str(out), "-q"]) == 0
    assert run_cli(app, ["report", str(out)]) == 0
    html = (out / "report.html").read_text()
    assert_self_contained(html)
    res = json.loads((out / "results.json").read_text())
    series = {s["name"]: s for s in page_data(html)["charts"]["all"]["series"]}
    assert set(series) == {"cfr", "cfr+", "dcfr"}
    for name, s in series.items():
        assert s["x"] == res["results"][name]["iterations"] and s["y"] == res["results"][name]["exploitability"]
    ranked = re.findall(r"<tr><td class=num>(\d)</td><td>([a-z+]+)</td>", html)
    assert [n for _, n in ranked] == sorted(res["results"], key=lambda n: res["results"][n]["final"])
    assert 'href="runs/cfr+/"' in html


def test_results_file_report(tmp_path):
    data = {
        "paper": "arXiv:0000.00000", "iterations": 4,
        "games": {"leduc_poker": {"name": "2p Leduc", "runs": {
            "cfr": {"base": {"iterations": [1, 2, 4], "exploitability": [1.0, 0.5, 0.25]}},
            "cfr+": {"base": {"iterations": [1, 2, 4], "exploitability": [1.0, 0.3, 0.1]}}}}},
        "runs": {"kuhn_poker(players=3)|rm": {"game": "kuhn_poker(players=3)", "solver": "rm", "iterations": 2, "curve": [0.5, 0.2, 0.1]},
                 "kuhn_poker(players=3)|prd": {"game": "kuhn_poker(players=3)", "solver": "prd", "iterations": 2, "curve": [0.5, 0.3, 0.2]}},
        "claims": [{"claim": "rm beats prd", "holds": True}], "notes": ["one note"],
    }
    f = tmp_path / "demo.json"
    f.write_text(json.dumps(data))
    assert run("report", str(f)) == 0
    html = (tmp_path / "demo_report.html").read_text()
    assert_self_contained(html)
    charts = page_data(html)["charts"]
    by_group = {re.search(r"<h3>([^<]+)</h3>" + re.escape(chart_tag(k)), html).group(1): v for k, v in charts.items()}
    assert {s["name"]: s["y"] for s in by_group["leduc_poker"]["series"]} == {"cfr": [1.0, 0.5, 0.25], "cfr+": [1.0, 0.3, 0.1]}
    psro = {s["name"]: s for s in by_group["kuhn_poker_3p"]["series"]}
    assert set(psro) == {"rm", "prd"} and psro["rm"]["x"] == [0, 1, 2]
    assert "rm beats prd" in html and "one note" in html


def chart_tag(key: str) -> str:
    return f'<figure class="chart" data-chart="{key}"'


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "experiments" / "results").glob("*.json")))
def test_every_results_file_renders(tmp_path, name):
    from gtlearn.core.errors import GtlearnError
    from gtlearn.reports.run_page import run_html

    src = ROOT / "experiments" / "results" / name
    try:
        html = run_html(src, tmp_path / "r.html")
    except GtlearnError as exc:
        assert "holds no curves" in str(exc)
        return
    assert_self_contained(html)
    assert page_data(html)["charts"]


@pytest.mark.parametrize("make", ["missing", "empty", "campaign", "text_file", "bad_json", "json_list"])
def test_not_a_run_is_one_error_line(tmp_path, capsys, make):
    p = tmp_path / ("x.json" if make in ("bad_json", "json_list") else "x.txt" if make == "text_file" else "d")
    if make in ("empty", "campaign"):
        p.mkdir()
    if make == "campaign":
        (p / "campaign.db").write_bytes(b"")
    if make == "text_file":
        p.write_text("hello")
    if make == "bad_json":
        p.write_text("{not json")
    if make == "json_list":
        p.write_text("[1, 2]")
    assert run("report", str(p)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    if make == "campaign":
        assert "gtlearn evolve report" in err[0]
