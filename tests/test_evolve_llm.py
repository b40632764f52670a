"""LLM layer: a campaign driven through a real HTTP server on 127.0.0.1 speaking the OpenAI
chat-completions protocol (scripted replies, malformed diffs included), recorded, then replayed
from the cassette with identical database contents; plus the ledger and the mutation operator."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from _evolve_helpers import tiny_cfg

from evolve.llm.mutation import MutationBackend
from evolve.patch import apply_patch
from evolve.screen import screen
from evolve.tasks.cfr import FUNCS, SEED, CFRTask

REPLIES = [
    "Let me weight recent iterations more.\n<<<<<<< SEARCH\n    return avg_acc + t * reach[:, None] * policy\n=======\n"
    "    return avg_acc + t ** 2 * reach[:, None] * policy\n>>>>>>> REPLACE",
    "<<<<<<< SEARCH\n    return avg_acc + t * reach[:, None]\n=======\n    broken\n",  # malformed: no REPLACE marker
    "<<<<<<< SEARCH\nclass Rule:\n=======\nclass Hacked:\n>>>>>>> REPLACE",  # edit outside the blocks
    "```python\ndef policy_from_regrets(cum_regret, legal, t):\n    return cum_regret\n```",  # signature change
    "Optimism:\n<<<<<<< SEARCH\n    return np.where(legal, np.maximum(cum_regret + inst_regret, 0.0), 0.0)\n=======\n"
    "    state['last'] = inst_regret\n    return np.where(legal, np.maximum(cum_regret + inst_regret, 0.0), 0.0)\n>>>>>>> REPLACE\n"
    "<<<<<<< SEARCH\n    return _rm(cum_regret, legal)\n=======\n    return _rm(cum_regret + state.get('last', 0.0), legal)\n>>>>>>> REPLACE",
    "I have no idea.",
]


class _Server:
    def __init__(self, replies):
        self.replies, self.requests = list(replies), []
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(body)
                assert self.path == "/v1/chat/completions"
                text = outer.replies[(len(outer.requests) - 1) % len(outer.replies)]
                out = {"id": "x", "object": "chat.completion", "model": body["model"],
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": 100 + len(outer.requests), "completion_tokens": len(text) // 4, "total_tokens": 0}}
                data = json.dumps(out).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *a):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_http_campaign_recorded_then_replayed_identically(tmp_path):
    from evolve.controller import run_campaign
    from evolve.replaying import replay_run, snapshot

    with _Server(REPLIES) as srv:
        cfg = tiny_cfg(run={"max_evaluated": 4},
                       llm={"backend": "openai_compat", "models": [{"name": "qwen-test", "base_url": f"http://127.0.0.1:{srv.port}/v1"}]},
                       cascade={"heldout": {"games": []}})
        c = run_campaign(cfg, tmp_path / "rec")
        assert len(srv.requests) >= 6
        assert srv.requests[0]["messages"][0]["role"] == "system"
    rows = {r["item_seq"]: (r["state"], r["reject_reason"]) for r in c.db.conn.execute("SELECT * FROM programs")}
    assert rows[1][0] == "evaluated"
    assert rows[2][0] == "rejected_patch" and "malformed" in rows[2][1]
    assert rows[3][0] == "rejected_patch" and "outside" in rows[3][1]
    assert rows[4][0] == "rejected_patch" and "signature" in rows[4][1]
    assert rows[5][0] == "evaluated"
    calls = c.db.conn.execute("SELECT tokens_in, cost_usd, priced, status FROM llm_calls").fetchall()
    assert all(r[3] == "ok" and r[0] > 100 for r in calls)
    assert all(r[1] is None and r[2] == 0 for r in calls)  # unknown model: unpriced (NULL), never $0
    # The server is gone: the replay can only succeed from the cassette.
    res = replay_run(tmp_path / "rec", tmp_path / "replay")
    assert res["identical"], res
    a, b = snapshot(tmp_path / "rec" / "campaign.db"), snapshot(tmp_path / "replay" / "campaign.db")
    assert a == b


def test_strict_replay_miss_fails(tmp_path):
    from evolve.llm.base import LLMError
    from evolve.llm.replay import ReplayBackend

    p = tmp_path / "c.jsonl"
    p.write_text("")
    rb = ReplayBackend(p, "openai_compat", strict=True)
    with pytest.raises(LLMError, match="cassette miss"):
        rb.complete([{"role": "user", "content": "x"}], model="m", temperature=0, max_tokens=1, seed=0, context={"sample_idx": 1})


def test_budget_refuses_unpriced_model_with_max_usd(tmp_path):
    import asyncio

    from evolve.controller import Controller
    from gtlearn.core.errors import GtlearnError

    cfg = tiny_cfg(run={"budget": {"max_usd": 1.0}},
                   llm={"backend": "openai_compat", "models": [{"name": "unknown-model", "base_url": "http://127.0.0.1:9/v1"}]},
                   cascade={"heldout": {"games": []}})
    c = Controller(tmp_path / "r", cfg)
    with pytest.raises(GtlearnError, match="no price"):
        asyncio.run(c.run_async())


def test_ledger_reserves_worst_case(tmp_path):
    from evolve import ledger
    from evolve.db import DB
    from evolve.llm import pricing

    db = DB(tmp_path / "x.db")
    db.run_id = "r"
    cfg = tiny_cfg(run={"budget": {"max_usd": 1.0}})
    msgs = [{"role": "user", "content": "x" * 4000}]
    worst = ledger.reserve(db, {"name": "gpt-4o", "max_tokens": 4096}, msgs, cfg, pricing.PRICES)
    assert worst == pytest.approx((1000 * 2.5 + 4096 * 10.0) / 1e6)
    cfg2 = tiny_cfg(run={"budget": {"max_usd": 0.0001}})
    assert ledger.reserve(db, {"name": "gpt-4o", "max_tokens": 4096}, msgs, cfg2, pricing.PRICES) == -1.0


def test_mutation_operator_emits_valid_patches():
    be = MutationBackend()
    ok = 0
    for s in range(60):
        comp = be.complete([], model="mutation", temperature=0, max_tokens=0, seed=s, context={"parent_code": SEED, "inspirations": []})
        try:
            child = apply_patch(SEED, comp.text, FUNCS)
        except Exception:  # noqa: BLE001
            continue
        screen(child)
        ok += 1
        assert child != SEED
    assert ok >= 50
    a = be.complete([], model="m", temperature=0, max_tokens=0, seed=3, context={"parent_code": SEED})
    b = be.complete([], model="m", temperature=0, max_tokens=0, seed=3, context={"parent_code": SEED})
    assert a.text == b.text


def test_prompt_never_sees_private_metrics_and_scrubs_keys():
    from evolve.prompt import render

    cfg = tiny_cfg()
    pub = {"fitness": 0.5, "games": {"kuhn_poker": {"expl": 1e-3, "baseline": 2e-3, "fitness": 0.3}}}
    msgs = render(SEED, pub, [(SEED, pub)], ["error: token=sk-abcdefghijklmnop1234 \x1b[31mred\x1b[0m"], np.random.default_rng(0), cfg,
                  CFRTask().system_prompt(cfg))
    text = json.dumps(msgs)
    assert "sk-abcdefghijklmnop1234" not in text and "\\u001b" not in text and "[redacted]" in text
    assert "kuhn_poker" in text
    import inspect

    assert "private" not in inspect.signature(render).parameters
