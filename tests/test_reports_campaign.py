"""``gtlearn evolve report``: the page is self-contained and carries the database's numbers (every
program a lineage node, the champion and its held-out CI, the gate's decisions, failure counts,
the ledger), works on a database another connection is writing, rewrites itself with --watch,
and a directory that is no campaign is one ``error:`` line with status 2."""

from __future__ import annotations

import difflib
import json
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
from _evolve_helpers import tiny_cfg, with_update

from evolve import config as cfgmod
from evolve.db import DB
from evolve.tasks.cfr import SEED

GOOF3 = cfgmod.resolve_game("goofspiel_3")



def restore_sigint() -> None:
    """Children of a background job start with SIGINT ignored, and Python then installs no
    KeyboardInterrupt handler: give the child the default disposition, as a terminal would."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)

def _public(f: float, e: float) -> dict:
    return {"fitness": f, "games": {"kuhn_poker": {"expl": e, "baseline": e * 10 ** f, "fitness": f, "curve": {"60": e},
                                                   "iterations": 60}}}


def _private(f: float, lo: float, hi: float) -> dict:
    seed = {"fitness": f, "games": {GOOF3: {"expl": 1e-4, "baseline": 1e-4 * 10 ** f, "fitness": f, "curve": {"120": 1e-4},
                                            "iterations": 120}}}
    return {"fitness": f, "ci_low": lo, "ci_high": hi, "seeds": [seed, seed]}


CODE2 = with_update("return np.where(legal, np.maximum(cum_regret + 1.5 * inst_regret, 0.0), 0.0)")
CODE3 = with_update("return np.where(legal, np.maximum(cum_regret + 2.0 * inst_regret, 0.0), 0.0)")
CODE4 = with_update("return np.where(legal, cum_regret + inst_regret, 0.0)")
# (id, parent, island, state, code, public fitness, held-out (f, lo, hi) or None, reason, promoted)
PROGRAMS = [
    (2, 1, 0, "evaluated", CODE2, 0.4, (0.5, 0.3, 0.7), None, True),
    (3, 2, 0, "evaluated", CODE3, 0.6, (0.55, 0.45, 0.65), None, False),
    (4, 2, 1, "failed", CODE4, None, None, "stage 1 gate: fitness -2.806 < -0.301 (worse than the seed by more than epsilon)", False),
    (5, 1, 1, "failed", CODE4, None, None, "stage 1 gate: fitness -1.100 < -0.301 (worse than the seed by more than epsilon)", False),
    (6, 3, 0, "rejected_patch", None, None, None, "SEARCH block 1 matched 0 times\nnearest lines: 17-18", False),
    (7, 1, 1, "duplicate", CODE2, None, None, None, False),
    (8, 3, 1, "timeout", CODE3, None, None, "wall time limit 20 s exceeded", False),
    (9, 2, 1, "evaluated", CODE4, -0.2, (-0.3, -0.4, -0.2), None, False),
]


def build_campaign(d: Path) -> Path:
    """A campaign database written through :class:`evolve.db.DB` (no sandbox, no search): the seed
    and eight children in every terminal state, two promotions, and two LLM models."""
    cfg = tiny_cfg()
    d.mkdir(parents=True, exist_ok=True)
    db = DB(d / "campaign.db")
    db.run_id = "report-test"
    with db.tx():
        db.create_run(cfg, cfgmod.sha(cfg), "code", "evaluator", 0)
        db.insert_seed(SEED, "sha-seed", 190)
        db.transition(1, "queued", 0, "evaluated", public_fitness=0.0)
        db.insert_evaluation(1, 2, public=_public(0.0, 1e-3), private=None, valid=True, usage={"wall_s": 1.5}, seed=None)
        db.insert_evaluation(1, 3, public=None, private=_private(0.0, -0.01, 0.01), valid=True, usage={"wall_s": 3.0}, seed=None)
        db.add_champion(1, 0.0, -0.01, 0.01)
    for seq, (pid, parent, island, state, code, fit, held, reason, promoted) in enumerate(PROGRAMS, 1):
        with db.tx():
            assert db.insert_proposal(parent, island, 1 if parent == 1 else 2, seq) == pid
            call = db.insert_llm_call(pid, backend="openai_compat", model="gpt-4o-mini" if pid % 2 else "local-llama", params={},
                                      prompt_sha=f"p{pid}", sample_idx=seq, messages=[], reserved_usd=0.01)
            if pid == 9:
                db.fail_llm_call(call, "HTTP 500")
            else:
                db.settle_llm_call(call, response="...", tokens_in=100 * pid, tokens_out=10 * pid,
                                   cost_usd=0.001 * pid if pid % 2 else None, latency_s=0.5 * pid)
            db.transition(pid, "proposed", 0, state, code=code, patch_kind="diff", public_fitness=fit, reject_reason=reason,
                          patch_text="<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE" if code is None else None,
                          duplicate_of=2 if state == "duplicate" else None, ast_nodes=190 + pid, code_norm_sha=f"sha{pid}")
            if fit is not None:
                db.insert_evaluation(pid, 2, public=_public(fit, 1e-3 / 10 ** fit), private=None, valid=True,
                                     usage={"wall_s": 2.0, "cpu_s": 1.8, "peak_rss_mb": 150.0}, seed=None)
        if held is not None:
            with db.tx():
                db.insert_evaluation(pid, 3, public=None, private=_private(*held), valid=True, usage={"wall_s": 4.0}, seed=None)
                if promoted:
                    db.add_champion(pid, *held)
    db.conn.execute("UPDATE programs SET updated_at = created_at + 30 * id")
    db.close()
    return d


@pytest.fixture()
def campaign(tmp_path):
    return build_campaign(tmp_path / "campaign")


def cli(*args: str) -> typer.Typer:
    """The two report verbs on a typer app of their own (gtlearn.cli.main registers them)."""
    from gtlearn.cli.evolve_report import evolve_report
    from gtlearn.cli.report import report

    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True)
    evolve = typer.Typer(no_args_is_help=True)
    evolve.command("report")(evolve_report)
    app.add_typer(evolve, name="evolve")
    app.command("report")(report)
    return app


def run(*args: str) -> int:
    from gtlearn.cli.errors import run_cli

    return run_cli(cli(), list(args))


def page_data(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S)
    return json.loads(m.group(1).replace("<\\/", "</"))


def assert_self_contained(html: str) -> None:
    assert not re.search(r"""<(script|img|link|iframe)[^>]+(src|href)=["']?(https?:|//)""", html, re.I)
    assert not re.search(r"<link[^>]+stylesheet", html, re.I)
    assert "@import" not in html and "url(http" not in html


def test_report_carries_the_database(campaign, capsys):
    assert run("evolve", "report", str(campaign)) == 0
    html = (campaign / "report.html").read_text()
    assert_self_contained(html)
    con = sqlite3.connect(campaign / "campaign.db")
    n_programs = con.execute("SELECT COUNT(*) FROM programs").fetchone()[0]
    assert n_programs == 9
    assert len(re.findall(r'<g class="node[^"]*" data-id="\d+"', html)) == n_programs
    assert len(re.findall(r'<path class="edge"', html)) == n_programs - 1
    champ_id, fit, lo, hi = con.execute("SELECT program_id, private_fitness, ci_low, ci_high FROM champions ORDER BY rowid DESC").fetchone()
    assert champ_id == 2
    card = re.search(r'<div class="champion" id="champion-card" data-program="(\d+)" data-heldout="([^"]+)" '
                     r'data-ci-low="([^"]+)" data-ci-high="([^"]+)"', html)
    assert (int(card.group(1)), float(card.group(2)), float(card.group(3)), float(card.group(4))) == (champ_id, fit, lo, hi)
    data = page_data(html)
    assert data["selected"] == champ_id
    code = dict(con.execute("SELECT id, code FROM programs"))
    want = "".join(difflib.unified_diff(code[2].splitlines(True), code[3].splitlines(True), "#2", "#3"))
    assert data["programs"]["3"]["diff"] == want and "+    return np.where(legal, np.maximum(cum_regret + 2.0" in want
    assert data["programs"]["6"]["code"] is None and "SEARCH" in data["programs"]["6"]["patch_text"]


def test_gate_decisions_are_the_champions_table(campaign):
    from evolve.db.reporting import champions, evaluations, open_readonly, programs
    from gtlearn.reports.campaign_data import gate_rows

    db = open_readonly(campaign)
    rows = gate_rows(programs(db), evaluations(db), champions(db), 0.0)
    assert [(r["program_id"], r["promoted"]) for r in rows] == [(1, True), (2, True), (3, False), (9, False)]
    assert "first program through the gate" in rows[0]["reason"]
    assert rows[2]["reason"] == "held-out CI lower end +0.450 <= champion #2's CI upper end +0.700 + margin 0"
    assert rows[3]["reason"].startswith("public fitness -0.200 < 0")


def test_failures_and_ledger(campaign):
    from evolve.db.reporting import llm_calls, open_readonly, programs
    from gtlearn.reports.campaign_data import failure_histogram, ledger

    db = open_readonly(campaign)
    hist = failure_histogram(programs(db))
    assert sum(h["count"] for h in hist) == 4  # two failed, one rejected patch, one timeout; a duplicate is no failure
    gate = next(h for h in hist if h["reason"].startswith("stage # gate"))
    assert gate["count"] == 2 and any("fitness -2.806 < -0.301" in m for m in gate["messages"])
    by_model = {r["model"]: r for r in ledger(llm_calls(db))}
    mini = by_model["gpt-4o-mini"]  # programs 3, 5, 7 answered; 9's call failed
    assert mini["tokens_in"] == 100 * (3 + 5 + 7) and mini["statuses"] == {"ok": 3, "error": 1}
    assert mini["cost_usd"] == pytest.approx(0.001 * (3 + 5 + 7) + 0.01)  # the failed call's reservation stays ledgered
    assert mini["latency_p50"] == 0.5 * 5
    assert by_model["local-llama"]["cost_usd"] is None and by_model["local-llama"]["unpriced"] == 4


def test_report_reads_while_another_connection_writes(campaign):
    """The controller holds a write transaction: the report still renders the committed state,
    and never writes to the database."""
    from evolve.db.reporting import open_readonly
    from gtlearn.reports.campaign_page import campaign_html

    writer = DB(campaign / "campaign.db")
    writer.run_id = "report-test"
    writer.conn.execute("BEGIN IMMEDIATE")
    writer.insert_proposal(2, 0, 2, 99)
    html = campaign_html(open_readonly(campaign))
    assert len(re.findall(r'data-id="\d+" tabindex', html)) == 9
    writer.conn.execute("COMMIT")
    html = campaign_html(open_readonly(campaign))
    assert len(re.findall(r'data-id="\d+" tabindex', html)) == 10
    ro = open_readonly(campaign)  # opened with mode=ro: SQLite refuses any write through it
    with pytest.raises(sqlite3.OperationalError):
        ro.conn.execute("DELETE FROM kv")


def test_watch_rewrites_until_ctrl_c(campaign):
    from gtlearn.reports.watch import write_report

    renders, naps = [], []

    def render(refresh_s):
        renders.append(refresh_s)
        return f"<html>{refresh_s}</html>"

    def sleep(s):
        naps.append(s)
        if len(naps) == 3:
            raise KeyboardInterrupt

    out = campaign / "watch.html"
    assert write_report(render, out, watch=True, interval=2.0, echo=lambda s: None, sleep=sleep) == 4
    assert renders == [2.0, 2.0, 2.0, None] and naps == [2.0, 2.0, 2.0]
    assert out.read_text() == "<html>None</html>"  # the last page no longer reloads itself


def test_watch_in_a_process_ends_cleanly_on_sigint(campaign):
    import signal

    code = ("import sys; sys.path.insert(0, %r); from test_reports_campaign import run; sys.exit(run(*sys.argv[1:]))"
            % str(Path(__file__).parent))
    out = campaign / "live.html"
    proc = subprocess.Popen([sys.executable, "-c", code, "evolve", "report", str(campaign), "--out", str(out), "--watch",
                             "--interval", "0.3"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=restore_sigint)
    deadline = time.time() + 60
    while not out.exists() and time.time() < deadline:
        time.sleep(0.1)
    assert out.exists(), proc.communicate(timeout=5)
    assert 'http-equiv="refresh"' in out.read_text()
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "stopped watching" in stderr and f"report: {out}" in stdout
    assert 'http-equiv="refresh"' not in out.read_text()


def test_a_campaign_that_just_started(tmp_path):
    from evolve.db.reporting import open_readonly
    from gtlearn.reports.campaign_page import campaign_html

    db = DB(tmp_path / "campaign.db")
    db.run_id = "fresh"
    cfg = tiny_cfg()
    with db.tx():
        db.create_run(cfg, cfgmod.sha(cfg), "code", "evaluator", 0)
        db.insert_seed(SEED, "sha-seed", 190)
    html = campaign_html(open_readonly(tmp_path))
    assert 'id="no-champion"' in html and "No program has been through the held-out gate yet" in html
    assert len(re.findall(r'data-id="\d+" tabindex', html)) == 1
    assert page_data(html)["selected"] is None


@pytest.mark.parametrize("make", ["missing", "empty", "run_dir", "not_sqlite", "no_run"])
def test_not_a_campaign_is_one_error_line(tmp_path, capsys, make):
    d = tmp_path / "d"
    if make != "missing":
        d.mkdir()
    if make == "run_dir":
        (d / "config.json").write_text("{}")
    if make == "not_sqlite":
        (d / "campaign.db").write_text("not a database")
    if make == "no_run":
        DB(d / "campaign.db").close()
    assert run("evolve", "report", str(d)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert not (d / "report.html").exists()


COMMITTED = Path(__file__).resolve().parents[1] / "experiments" / "results" / "evolve_cfr_rules_report"


@pytest.mark.skipif(not (COMMITTED / "campaign.db").exists(), reason="the committed campaign is not in this checkout")
def test_committed_campaign_report_matches_its_database():
    """The real campaign of experiments/results (cfr_rules.yaml, 80 evaluations): its page has a node
    per program and the champion of its database, and reading it leaves no file behind."""
    from evolve.db.reporting import open_readonly
    from gtlearn.reports.campaign_page import campaign_html

    files = sorted(p.name for p in COMMITTED.iterdir())
    db = open_readonly(COMMITTED)
    html = campaign_html(db)
    n = db.conn.execute("SELECT COUNT(*) FROM programs").fetchone()[0]
    champ = db.latest_champion()
    db.close()
    assert len(re.findall(r'data-id="\d+" tabindex', html)) == n > 100
    assert f'id="champion-card" data-program="{champ["program_id"]}" data-heldout="{champ["private_fitness"]!r}"' in html
    assert sorted(p.name for p in COMMITTED.iterdir()) == files
