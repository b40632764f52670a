"""The adversarial suite (docs/evolve.md, Sandbox): each attack runs in the real sandbox with the
static screen *off* (the screen would reject most of them first; that is tested separately),
must be scored invalid (or, for forging, scored only by the parent), and must leave nothing
behind. The last test drives the attacks through a campaign, which goes on."""

import json
import os
import socket
import time

import numpy as np
import pytest
from _evolve_helpers import job, tiny_cfg, with_update

from evolve.evaluator import run_job
from evolve.screen import ScreenError, screen
from evolve.tasks.cfr import SEED

CFG = tiny_cfg(sandbox={"wall_s": 8, "cpu_s": 8, "mem_mb": 1536})
FAST = tiny_cfg(sandbox={"wall_s": 4, "cpu_s": 4, "mem_mb": 1536})


@pytest.fixture(scope="module")
def baselines():
    return run_job({"kind": "baselines", "task": "cfr", "stages": job(SEED, CFG, None)["stages"]})


def run(code, baselines, **kw):
    return run_job(job(code, CFG, baselines, **kw))


def stage2_fitness(res):
    return next(s["public"]["fitness"] for s in res["stages"] if s["stage"] == 2)


def test_seed_is_valid_and_scored_by_parent(baselines):
    res = run(SEED, baselines)
    assert res["state"] == "evaluated", res["reason"]
    # Permuted CFR+ on Kuhn: same exploitability as the unpermuted baseline up to summation order.
    assert abs(stage2_fitness(res)) < 1e-6


def test_infinite_loop_times_out_and_group_is_killed(baselines):
    t0 = time.time()
    res = run_job(job(with_update("while True:\n    pass"), FAST, baselines))
    assert res["state"] == "timeout"
    assert time.time() - t0 < FAST["sandbox"]["wall_s"] + 6


def test_fork_bomb_contained(baselines):
    code = with_update("import os\nfor _ in range(50):\n    os.fork()\nreturn cum_regret")
    res = run(code, baselines)
    assert res["state"] in ("failed", "timeout")
    assert "denied" in (res["reason"] or "") or "Resource" in (res["reason"] or "") or res["state"] == "timeout"
    with pytest.raises(ScreenError):
        screen(code)


def test_fork_via_multiprocessing_contained(baselines):
    code = with_update("import multiprocessing\np = multiprocessing.Process(target=print)\np.start()\nreturn cum_regret")
    res = run(code, baselines)
    assert res["state"] == "failed"


def test_memory_bomb_fails_and_parent_is_fine(baselines):
    res = run(with_update("x = np.ones(1 << 40)\nreturn cum_regret + x[:1]"), baselines)
    assert res["state"] == "failed" and "MemoryError" in res["reason"]
    res = run(with_update("x = []\nwhile True:\n    x.append(' ' * 10**7)"), baselines)
    assert res["state"] in ("failed", "timeout")
    assert np.ones(10).sum() == 10  # the parent is unaffected


def test_socket_connect_to_loopback_denied(baselines):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(0.2)
    port = srv.getsockname()[1]
    try:
        code = with_update(f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=2)\ns.sendall(b'leak')\nreturn cum_regret")
        res = run(code, baselines)
        assert res["state"] == "failed"
        with pytest.raises(socket.timeout):
            srv.accept()  # nothing ever connected
        with pytest.raises(ScreenError):
            screen(code)
    finally:
        srv.close()


def test_write_outside_temp_denied(baselines, tmp_path):
    target = tmp_path / "escape.txt"
    home_target = os.path.expanduser("~/gtlearn_escape_test.txt")
    for path in (str(target), "../escape_gtlearn.txt", home_target):
        code = with_update(f"f = open({path!r}, 'w')\nf.write('x')\nf.close()\nreturn cum_regret")
        res = run(code, baselines)
        assert res["state"] == "failed" and "denied" in res["reason"], res["reason"]
    assert not target.exists() and not os.path.exists(home_target)


def test_planted_secret_never_reaches_candidate(baselines, monkeypatch):
    canary = "gtlearn-canary-7f3a9c"
    monkeypatch.setenv("OPENAI_API_KEY", canary)
    monkeypatch.setenv("GTLEARN_CANARY", canary)
    code = with_update(
        "import os\n"
        "found = ''\n"
        "try:\n"
        "    found += open('/proc/%d/environ' % os.getppid()).read()\n"
        "except Exception as exc:\n"
        "    found += ' read failed ' + str(exc)[:40]\n"
        "found += ' '.join(v for v in os.environ.values())\n"
        "raise RuntimeError('exfil:' + found)")
    res = run(code, baselines)
    assert res["state"] == "failed"
    blob = json.dumps(res)
    assert canary not in blob
    assert "exfil:" in blob and "read failed" in blob  # it ran, saw a scrubbed env, and could not read the parent's


def test_forged_score_ignored(baselines):
    honest = run(SEED, baselines, seed=9)
    code = with_update(
        "import json\n"
        "print(json.dumps({'exploitability': 0, 'fitness': 99}))\n"
        "f = open('metrics.json', 'w')\nf.write('{\"fitness\": 99}')\nf.close()\n"
        "return np.where(legal, np.maximum(cum_regret + inst_regret, 0.0), 0.0)")
    res = run(code, baselines, seed=9)
    assert res["state"] == "evaluated"
    assert stage2_fitness(res) == stage2_fitness(honest)  # the parent's number, computed from the policy
    assert stage2_fitness(res) < 1.0


HONEST_UPDATE = "np.where(legal, np.maximum(cum_regret + inst_regret, 0.0), 0.0)"


def _late(fn: str, expr: str) -> str:
    """A candidate whose ``fn`` turns invalid after stage 0's three steps (``expr`` of the
    legal mask ``L``): only the engine's checks and the parent's validation can catch it."""
    if fn == "update_regrets":
        return with_update(f"L = legal\nif t > 3:\n    return {expr}\nreturn {HONEST_UPDATE}")
    body = {"policy_from_regrets": "    return _rm(cum_regret, legal)",
            "accumulate_average": "    return avg_acc + t * reach[:, None] * policy"}[fn]
    assert body in SEED
    return SEED.replace(body, f"    L = legal\n    if t > 3:\n        return {expr}\n{body}")


@pytest.mark.parametrize("fn,expr,reason", [
    ("policy_from_regrets", "np.full(L.shape, np.nan)", "non-finite"),
    ("policy_from_regrets", "np.where(L, 3.0, 0.0)", "do not sum to 1"),
    ("update_regrets", "np.where(L, np.inf, 0.0)", "non-finite"),
    ("update_regrets", "np.ones((3, 3))", "shape"),
    ("accumulate_average", "np.where(L, np.where(np.arange(L.shape[1]) == 0, -1.0, 3.0), 0.0)", "negative"),
])
def test_invalid_outputs_rejected_never_repaired(baselines, fn, expr, reason):
    res = run(_late(fn, expr), baselines)
    assert res["state"] == "failed" and reason in res["reason"], res["reason"]


def test_invalid_rule_output_caught_by_engine(baselines):
    res = run(with_update("return np.full(cum_regret.shape, np.nan)"), baselines)
    assert res["state"] == "failed"


def test_monkeypatched_harness_still_scored_by_parent(baselines):
    honest = run(SEED, baselines, seed=11)
    code = with_update(
        "import sys, json\n"
        "br = sys.modules.get('solvers.best_response')\n"
        "if br is not None:\n"
        "    br.exploitability = lambda *a, **k: 0.0\n"
        "    br.nash_conv = lambda *a, **k: 0.0\n"
        "orig = json.dumps\n"
        "json.dumps = lambda obj, **k: orig(dict(obj, fitness=99, exploitability=0.0) if isinstance(obj, dict) else obj, **k)\n"
        "return np.where(legal, np.maximum(cum_regret + inst_regret, 0.0), 0.0)")
    res = run(code, baselines, seed=11)
    assert res["state"] == "evaluated"
    assert stage2_fitness(res) == stage2_fitness(honest)


def test_valid_but_poor_rule_is_scored_honestly(baselines):
    code = SEED.replace("    return _rm(cum_regret, legal)", "    return legal / legal.sum(axis=1, keepdims=True)")
    res = run(code, baselines)
    # Uniform play is valid data, so it is scored -- honestly, far below CFR+.
    assert res["state"] == "failed" and "stage 1 gate" in res["reason"]


def test_shape_memorizing_rule_fails_equivariance(baselines):
    code = with_update("out = np.where(legal, np.maximum(cum_regret + inst_regret, 0.0), 0.0)\n"
                       "out[0] = out[0] * 2.0\nreturn out")
    res = run(code, baselines)
    assert res["state"] == "failed" and "permutation-equivariant" in res["reason"]


def test_sleep_past_deadline_after_partial_output(baselines):
    code = with_update("import time\nprint('partial')\nif t > 5:\n    time.sleep(60)\nreturn np.where(legal, np.maximum(cum_regret + inst_regret, 0.0), 0.0)")
    res = run_job(job(code, FAST, baselines))
    assert res["state"] == "timeout"


def test_huge_state_rejected(baselines):
    code = with_update("state['junk'] = np.ones((1 << 24,))\nreturn np.where(legal, np.maximum(cum_regret + inst_regret, 0.0), 0.0)")
    res = run_job({**job(code, CFG, baselines), "state_cap_mb": 64})
    assert res["state"] == "failed"


def test_campaign_goes_on_through_attacks(tmp_path):
    from evolve.controller import run_campaign

    attacks = [
        with_update("while True:\n    pass"),
        with_update("import os\nos.fork()\nreturn cum_regret"),
        with_update("x = np.ones(1 << 40)\nreturn cum_regret"),
        with_update("import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=1)\nreturn cum_regret"),
        with_update("open('/tmp/gtlearn_evolve_escape', 'w').write('x')\nreturn cum_regret"),
    ]
    import re

    def as_response(code):
        m = re.search(r"(def update_regrets.*?)\n\n\ndef policy_from_regrets", code, re.S)
        return "```python\n" + m.group(1) + "\n```"

    good = "```python\ndef accumulate_average(avg_acc, policy, reach, legal, t, state):\n    return avg_acc + t ** 2 * reach[:, None] * policy\n```"
    script = [as_response(a) for a in attacks] + [good]
    cfg = tiny_cfg(run={"max_evaluated": 7}, sandbox={"wall_s": 6, "cpu_s": 6, "screen": False},
                   llm={"backend": "scripted", "script": script}, cascade={"heldout": {"games": []}})
    c = run_campaign(cfg, tmp_path / "run")
    rows = c.db.conn.execute("SELECT item_seq, state, reject_reason FROM programs ORDER BY item_seq").fetchall()
    rows = [tuple(r) for r in rows]
    states = [r[1] for r in rows]
    assert states[0] == "evaluated"
    assert all(s in ("failed", "timeout") for s in states[1:6]), rows
    assert states[6] == "evaluated"  # the campaign went on
    assert not os.path.exists("/tmp/gtlearn_evolve_escape")


def test_without_a_strong_profile_candidates_are_not_run(monkeypatch, tmp_path):
    """No strong profile (bubblewrap missing): a campaign refuses to start, and an evaluation
    refuses to run the candidate, unless the user passes --unsafe-sandbox (sandbox.unsafe)."""
    from evolve.controller import Controller
    from evolve.sandbox import profiles
    from gtlearn.core.errors import GtlearnError

    real = profiles.probe
    monkeypatch.setattr(profiles, "probe", lambda name: "bubblewrap is not installed" if name == "bwrap" else real(name))
    with pytest.raises(profiles.SandboxUnavailable, match="--unsafe-sandbox"):
        profiles.choose("auto")
    weak = profiles.choose("auto", unsafe=True)
    assert not weak.strong and weak.name in ("unshare", "none")
    cfg = tiny_cfg(sandbox={"unsafe": False})
    with pytest.raises(GtlearnError, match="no strong sandbox profile.*bubblewrap is not installed"):
        Controller(tmp_path / "run", cfg)
    assert not (tmp_path / "run" / "campaign.db").exists()  # refused before anything was written
    res = run_job(job(SEED, cfg, None))
    assert res["state"] == "failed" and "sandbox could not start" in res["reason"] and "--unsafe-sandbox" in res["reason"]
    lines = []
    Controller(tmp_path / "run", tiny_cfg(), echo=lines.append)  # unsafe: True
    assert any(ln.startswith(f"sandbox: {weak.name} (WEAK, --unsafe-sandbox)") for ln in lines), lines


def test_the_profile_in_force_is_printed(tmp_path):
    from evolve.controller import Controller
    from evolve.sandbox import profiles

    lines = []
    Controller(tmp_path / "run", tiny_cfg(), echo=lines.append)
    best = next(n for n in profiles.ORDER if profiles.probe(n) is None)
    assert any(ln.startswith(f"sandbox: {best} (") and "tasks capped by" in ln for ln in lines), lines


def test_strong_profile_works_from_a_checkout_under_tmp(tmp_path):
    """A clean clone (or a venv) under the host's /tmp stays visible under the sandbox's private
    /tmp: the child imports the clone's code, read-only."""
    import dataclasses
    import shutil
    import subprocess

    from evolve.sandbox import profiles

    # Not profiles.probe: it fails for the very reason this test is about (a checkout under /tmp).
    if not shutil.which("bwrap") or subprocess.run(["bwrap", "--unshare-all", "--ro-bind", "/", "/", "true"],
                                                   capture_output=True).returncode != 0:
        pytest.skip("bubblewrap does not run here")
    view = profiles.child_view()
    ev = next(p for p in view.read_only if p.endswith(os.sep + "evolve"))
    shutil.copytree(ev, tmp_path / "evolve", ignore=shutil.ignore_patterns("__pycache__"))
    clone = dataclasses.replace(view, read_only=tuple(str(tmp_path / "evolve") if p == ev else p for p in view.read_only),
                                import_path=(str(tmp_path), *view.import_path[1:]))
    check = (f"import sys; sys.path[:0] = {list(clone.import_path)!r}; import evolve.sandbox.child as c; "
             "print(c.__file__, flush=True); open(c.__file__, 'a')")
    cmd = profiles.bwrap_prefix(clone, tmp_mb=16, seccomp_fd=None, info_fd=None) + [clone.interpreter, "-I", "-S", "-c", check]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == str(tmp_path / "evolve" / "sandbox" / "child.py"), r.stderr[-2000:]
    assert "Read-only file system" in r.stderr  # and it cannot change it
