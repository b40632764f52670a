"""Preference models behind one interface (docs/trainers.md, "Preference models"): the LLM judge against a real
HTTP server on 127.0.0.1 with scripted replies, Bradley–Terry from a sequence-classification
reward model, the exact game oracle, symmetrization."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from alignment.preference_models import GamePreference, LLMJudgePreference, PairwisePreference, symmetrize
from gtlearn.core.errors import GtlearnError


class _Judge(BaseHTTPRequestHandler):
    """An OpenAI-compatible /chat/completions endpoint whose reply is scripted by the server's
    ``policy(a, b) -> str``; it records every request body."""

    def do_POST(self):  # noqa: N802
        srv = self.server
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])).decode())
        srv.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        if srv.fail_first > 0:
            srv.fail_first -= 1
            self.send_response(500)
            self.end_headers()
            return
        text = body["messages"][0]["content"]
        a = text.split("Response A:\n")[1].split("\n\nResponse B:")[0]
        b = text.split("Response B:\n")[1].split("\n\n")[0]
        reply = {"choices": [{"message": {"role": "assistant", "content": srv.policy(a, b)}}]}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture()
def judge_server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Judge)
    srv.requests, srv.fail_first = [], 0
    srv.policy = lambda a, b: "A" if len(a) > len(b) else "B"
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_llm_judge_over_http(judge_server):
    url = f"http://127.0.0.1:{judge_server.server_address[1]}/v1"
    judge = LLMJudgePreference(url, model="my-judge", api_key="sk-test", retries=0)
    p = judge.prob(["q", "q"], ["a long answer", "x"], ["short", "a longer one"])
    assert p.tolist() == [1.0, 0.0]
    # both orders asked (symmetrization), with the key and the model name
    assert len(judge_server.requests) == 4 and judge.requests == 4 and judge.queries == 2
    r = judge_server.requests[0]
    assert r["path"] == "/v1/chat/completions" and r["auth"] == "Bearer sk-test"
    assert r["body"]["model"] == "my-judge" and "Instruction:\nq" in r["body"]["messages"][0]["content"]


def test_llm_judge_position_bias_cancels_and_replies_parse(judge_server):
    url = f"http://127.0.0.1:{judge_server.server_address[1]}/v1"
    judge_server.policy = lambda a, b: "A"  # always prefers the first position
    judge = LLMJudgePreference(url, retries=0)
    assert judge.prob(["q"], ["one"], ["two"]).tolist() == [0.5]
    unsym = LLMJudgePreference(url, retries=0, symmetrize=False)
    assert unsym.prob(["q"], ["one"], ["two"]).tolist() == [1.0]
    judge_server.policy = lambda a, b: "0.8" if a == "one" else "0.4"
    assert judge.prob(["q"], ["one"], ["two"]).tolist() == pytest.approx([0.5 * (0.8 + 1 - 0.4)])
    judge_server.policy = lambda a, b: "I cannot decide"
    assert judge.prob(["q"], ["one"], ["two"]).tolist() == [0.5]
    assert LLMJudgePreference.parse("b.") == 0.0 and LLMJudgePreference.parse(" A") == 1.0


def test_llm_judge_retries_then_fails_with_one_line(judge_server):
    url = f"http://127.0.0.1:{judge_server.server_address[1]}/v1"
    judge_server.fail_first = 1
    judge = LLMJudgePreference(url, retries=1, symmetrize=False)
    assert judge.prob(["q"], ["long one"], ["s"]).tolist() == [1.0]
    judge_server.fail_first = 5
    with pytest.raises(GtlearnError, match="failed after 2 tries"):
        judge.prob(["q"], ["long one"], ["s"])
    dead = LLMJudgePreference("http://127.0.0.1:9/v1", retries=0, timeout=2)
    with pytest.raises(GtlearnError):
        dead.prob(["q"], ["a"], ["b"])


def test_bradley_terry_from_sequence_classification_model():
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from transformers import Qwen2Config, Qwen2ForSequenceClassification

    from alignment.preference_models import BradleyTerryPreference
    from alignment.synthetic import build_tokenizer

    tok = build_tokenizer(2, ["rock", "paper", "scissors"])
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64, num_labels=1,
                      pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    rm = Qwen2ForSequenceClassification(cfg).eval()
    bt = BradleyTerryPreference(rm, tok)
    prompts = ["question q0 answer", "question q1 answer"]
    ys, ys2 = ["rock", "paper scissors"], ["scissors rock", "paper"]

    def r(text):  # unpadded forward, score at the last token
        ids = torch.tensor([tok(text, add_special_tokens=False)["input_ids"]])
        with torch.no_grad():
            return float(rm(input_ids=ids).logits[0, 0])

    expect = [1 / (1 + np.exp(-(r(x + " " + a) - r(x + " " + b)))) for x, a, b in zip(prompts, ys, ys2)]
    assert bt.prob(prompts, ys, ys2).tolist() == pytest.approx(expect, abs=1e-5)
    p = bt.prob(prompts, ys, ys2) + bt.prob(prompts, ys2, ys)
    assert p.tolist() == pytest.approx([1.0, 1.0])
    assert bt.has_reward and bt.reward(prompts, ys).shape == (2,)


def test_game_oracle_and_symmetrize():
    from games.preference import cyclic

    game = cyclic(3, contexts=2)
    oracle = GamePreference(game, ["x0", "x1"], [["rock", "paper", "scissors"]] * 2)
    p = oracle.prob(["x0", "x1", "x0", "x0"], ["rock", " paper ", "junk", "junk"], ["paper", "rock", "rock", "other"])
    assert p.tolist() == [game.P[0, 0, 1], game.P[1, 1, 0], 0.0, 0.5]
    with pytest.raises(GtlearnError):
        oracle.prob(["unknown prompt"], ["rock"], ["paper"])
    rng = np.random.default_rng(0)
    labels = oracle.sample(["x0"] * 2000, ["rock"] * 2000, ["scissors"] * 2000, rng)
    assert labels.mean() == pytest.approx(game.P[0, 0, 2], abs=0.05)

    biased = lambda x, a, b: 0.9 if a < b else 0.6  # noqa: E731 - P(a,b) + P(b,a) != 1
    sym = PairwisePreference(biased, symmetrize=True)
    q = sym.prob(["x"] * 2, ["a", "b"], ["b", "a"])
    assert q.sum() == pytest.approx(1.0) and q[0] == pytest.approx(0.5 * (0.9 + 1 - 0.6))
    assert symmetrize(biased)("x", "a", "a") == pytest.approx(0.5)
