"""The report pages in a real browser (headless Chromium driven by Playwright): the lineage has one
node per program of the database, clicking a node shows its diff from the parent, the champion
card carries the database's id and held-out numbers, charts draw, toggle series and log axes and
show values on hover, failure messages appear on hover, nothing is fetched from the network,
no script error is raised, and the tables read without JavaScript.

Needs the Debian ``chromium`` package and the ``playwright`` Python package (its driver only; no
browser download): skipped with the reason where either is missing."""

from __future__ import annotations

import difflib
import os
import shutil
import sqlite3

import pytest
from test_reports_campaign import build_campaign, run
from test_reports_run import make_run

CHROMIUM = os.environ.get("GTLEARN_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium (Debian: apt-get install -y chromium)"),
    pytest.mark.skipif(sync_playwright is None, reason="the playwright Python package is not installed (pip install playwright)"),
]


@pytest.fixture(scope="module")
def browser():
    # Playwright starts Chromium with a fresh temporary --user-data-dir of its own.
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield b
        b.close()


def open_page(browser, path, *, js: bool = True):
    """The page at ``path`` with every request other than the file itself recorded, and errors collected."""
    page = browser.new_context(viewport={"width": 1280, "height": 900}, java_script_enabled=js).new_page()
    page.external, page.errors = [], []
    url = path.resolve().as_uri()
    page.on("request", lambda r: page.external.append(r.url) if r.url.split("#")[0] != url else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.goto(url)
    return page


@pytest.fixture(scope="module")
def campaign_page(browser, tmp_path_factory):
    d = build_campaign(tmp_path_factory.mktemp("c") / "campaign")
    assert run("evolve", "report", str(d)) == 0
    page = open_page(browser, d / "report.html")
    yield d, page
    page.context.close()


def test_lineage_nodes_are_the_database_programs(campaign_page):
    d, page = campaign_page
    con = sqlite3.connect(d / "campaign.db")
    ids = sorted(r[0] for r in con.execute("SELECT id FROM programs"))
    nodes = page.locator("#lineage-svg .node")
    assert nodes.count() == len(ids)
    assert sorted(int(nodes.nth(i).get_attribute("data-id")) for i in range(nodes.count())) == ids
    assert page.external == [] and page.errors == []


def test_clicking_a_node_shows_its_diff(campaign_page):
    d, page = campaign_page
    con = sqlite3.connect(d / "campaign.db")
    code = dict(con.execute("SELECT id, code FROM programs"))
    page.locator('#lineage-svg .node[data-id="3"]').click()
    assert page.locator("#program-panel").get_attribute("data-program") == "3"
    assert page.locator("#program-panel h3").first.inner_text() == "Program #3"
    want = "".join(difflib.unified_diff(code[2].splitlines(True), code[3].splitlines(True), "#2", "#3"))
    assert page.locator("#program-diff").text_content() == want
    assert page.locator("#program-diff .add").first.text_content().startswith("+    return np.where(legal, np.maximum(cum_regret + 2.0")
    assert page.locator("#program-code").text_content() == code[3]
    # the ancestry 1 -> 2 -> 3 is highlighted, and the URL remembers the selection
    assert page.locator("#lineage-svg .edge.ancestry").count() == 2
    assert page.evaluate("location.hash") == "#program-3"
    # keyboard: focus another node and press Enter
    page.locator('#lineage-svg .node[data-id="6"]').focus()
    page.keyboard.press("Enter")
    assert page.locator("#program-panel").get_attribute("data-program") == "6"
    assert "SEARCH block 1 matched 0 times" in page.locator("#program-panel").inner_text()


def test_champion_card_is_the_database_champion(campaign_page):
    d, page = campaign_page
    con = sqlite3.connect(d / "campaign.db")
    pid, fit, lo, hi = con.execute("SELECT program_id, private_fitness, ci_low, ci_high FROM champions ORDER BY rowid DESC").fetchone()
    card = page.locator("#champion-card")
    assert card.get_attribute("data-program") == str(pid)
    text = card.inner_text()
    assert f"#{pid}" in text and f"{fit:+.4f}" in text and f"[{lo:+.4f}, {hi:+.4f}]" in text
    assert "promoted" in text and "first program" not in text
    # selected on load: the panel shows the champion
    page.goto(page.url.split("#")[0])
    assert page.locator("#program-panel").get_attribute("data-program") == str(pid)


def test_charts_toggle_and_hover(campaign_page):
    d, page = campaign_page
    fig = page.locator("#chart-fitness")
    assert fig.locator("svg circle").count() >= 4
    island0 = fig.locator('.legend button[data-series="island 0"]')
    island0.click()
    assert island0.get_attribute("aria-pressed") == "false"
    assert fig.locator('g.series[data-series="island 0"]').count() == 0
    island0.click()
    assert fig.locator('g.series[data-series="island 0"]').count() == 2
    gate = page.locator("#chart-gate")
    point = gate.locator('g.series[data-series="promoted"] circle').last
    point.hover()
    tip = gate.locator(".tooltip")
    assert tip.is_visible() and "#2" in tip.inner_text() and "95% CI: [0.3, 0.7]" in tip.inner_text()


def test_failure_messages_on_hover(campaign_page):
    d, page = campaign_page
    row = page.locator("table.hist tbody tr").first
    row.hover()
    tip = page.locator("#failure-tip")
    assert tip.is_visible()
    assert "#4: stage 1 gate: fitness -2.806 < -0.301 (worse than the seed by more than epsilon)" in tip.inner_text()


def test_run_page_log_axes_and_values(browser, tmp_path):
    d = make_run(tmp_path / "run")
    assert run("report", str(d)) == 0
    page = open_page(browser, d / "report.html")
    fig = page.locator("#chart-gap")
    def y_ticks():
        return [float(t) for t in fig.locator(".axis text.ytick").all_text_contents()]

    def evenly_spaced(ts):
        steps = [b - a for a, b in zip(ts, ts[1:])]
        return max(steps) - min(steps) < 1e-9 * max(steps)

    assert data_logy(page, "gap") and not evenly_spaced(sorted(y_ticks()))  # log ticks: 1-2-5 steps
    fig.locator("input.toggle-logy").uncheck()
    assert len(y_ticks()) >= 3 and evenly_spaced(sorted(y_ticks()))
    fig.locator("input.toggle-logx").check()
    fig.locator("g.series circle").first.hover()  # the first record: iteration 1, gap 1.0
    tip = fig.locator(".tooltip")
    assert tip.is_visible()
    assert tip.inner_text().splitlines() == ["cfr+", "iteration: 1", "exploitability: 1"]
    fig.locator("g.series circle").nth(9).hover()
    assert tip.inner_text().splitlines()[1:] == ["iteration: 10", f"exploitability: {float(f'{10 ** -1.5:.4g}')}"]
    assert page.external == [] and page.errors == []
    page.context.close()


def data_logy(page, chart: str) -> bool:
    return page.evaluate(f"document.getElementById('chart-{chart}').chart.logy")


def test_tables_read_without_javascript(browser, tmp_path):
    d = build_campaign(tmp_path / "campaign")
    assert run("evolve", "report", str(d)) == 0
    page = open_page(browser, d / "report.html", js=False)
    assert page.locator("#gate table tbody tr").count() == 4
    assert "This chart needs JavaScript" in page.locator("#chart-fitness").inner_text()
    assert "#2" in page.locator("#champion-card").inner_text()
    page.context.close()
