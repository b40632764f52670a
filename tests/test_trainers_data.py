"""Data and preferences the way TRL users have them (docs/trainers.md, "Data" and "Preference
models"), all offline: prompt-only datasets in TRL's standard and conversational formats (chat
template applied) from JSONL, Parquet, CSV and ``save_to_disk`` directories; preference sources
behind one interface from their spec strings — a Python callable, a preference game's exact
oracle, a Bradley–Terry reward model, an LLM judge on a loopback HTTP server; and ``gtlearn
align train --model DIR --dataset FILE --preference ...`` end to end on a tiny model and data
written here."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
datasets = pytest.importorskip("datasets")

from alignment.synthetic import build_tokenizer, tiny_causal_lm  # noqa: E402
from alignment.trainers.loading import load_preference, load_prompts, load_tokenizer  # noqa: E402
from alignment.trainers.logprobs import render_prompt  # noqa: E402
from gtlearn.cli import main  # noqa: E402
from gtlearn.core.errors import GtlearnError  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


ANSWERS = ["rock", "paper", "scissors"]
# Renders [{"role": "user", "content": "question q0"}] as "question q0 answer" (the tiny
# word-level vocabulary has no other words).
CHAT_TEMPLATE = ("{% for m in messages %}{{ m['content'] }}{% endfor %}"
                 "{% if add_generation_prompt %} answer{% endif %}")
STANDARD = [f"question q{i % 2} answer" for i in range(8)]
CONVERSATIONAL = [[{"role": "user", "content": f"question q{i % 2}"}] for i in range(8)]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny causal LM with a chat-template tokenizer, a reward model, and the prompts in every
    format, all on disk."""
    from transformers import Qwen2Config, Qwen2ForSequenceClassification

    d = tmp_path_factory.mktemp("data")
    tok = build_tokenizer(2, ANSWERS)
    tok.chat_template = CHAT_TEMPLATE
    tiny_causal_lm(tok, seed=0).save_pretrained(d / "lm")
    tok.save_pretrained(d / "lm")
    torch.manual_seed(1)
    rm = Qwen2ForSequenceClassification(Qwen2Config(
        vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=1, num_labels=1, pad_token_id=tok.pad_token_id))
    rm.save_pretrained(d / "rm")
    tok.save_pretrained(d / "rm")
    (d / "standard.jsonl").write_text("".join(json.dumps({"prompt": p}) + "\n" for p in STANDARD))
    (d / "chat.jsonl").write_text("".join(json.dumps({"prompt": p}) + "\n" for p in CONVERSATIONAL))
    (d / "prefs.jsonl").write_text("".join(json.dumps({"prompt": p, "chosen": "rock", "rejected": "paper"}) + "\n"
                                           for p in STANDARD))
    datasets.Dataset.from_dict({"prompt": STANDARD}).to_parquet(str(d / "standard.parquet"))
    datasets.Dataset.from_dict({"prompt": STANDARD}).to_csv(str(d / "standard.csv"), index=False)
    datasets.Dataset.from_dict({"prompt": CONVERSATIONAL}).to_parquet(str(d / "chat.parquet"))
    datasets.Dataset.from_dict({"prompt": CONVERSATIONAL}).save_to_disk(str(d / "chat_disk"))
    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"prompt": STANDARD}),
                          "test": datasets.Dataset.from_dict({"prompt": STANDARD[:2]})}).save_to_disk(str(d / "dict_disk"))
    (d / "pref.py").write_text("def longer(prompt, a, b):\n    return 1.0 if len(a) > len(b) else 0.0 if len(a) < len(b) "
                               "else 0.5\n")
    return d


# ------------------------------------------------------------------------------------------
# prompt datasets
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, expect", [
    ("standard.jsonl", STANDARD), ("standard.parquet", STANDARD), ("standard.csv", STANDARD),
    ("prefs.jsonl", STANDARD), ("dict_disk", STANDARD), ("chat.jsonl", CONVERSATIONAL), ("chat.parquet", CONVERSATIONAL),
    ("chat_disk", CONVERSATIONAL),
])
def test_prompt_datasets_in_every_format(files, name, expect):
    tok = load_tokenizer(str(files / "lm"))
    ds = load_prompts(str(files / name), tokenizer=tok)
    assert ds.column_names == ["prompt"] and ds["prompt"] == expect
    # conversational prompts go through the chat template and become the standard ones
    assert [render_prompt(tok, p) for p in ds["prompt"]] == STANDARD


def test_prompt_dataset_errors(files, tmp_path):
    tok = load_tokenizer(str(files / "lm"))
    assert load_prompts(str(files / "dict_disk"), split="test", tokenizer=tok)["prompt"] == STANDARD[:2]
    with pytest.raises(GtlearnError, match="no split 'validation'"):
        load_prompts(str(files / "dict_disk"), split="validation")
    (tmp_path / "bad.jsonl").write_text(json.dumps({"text": "x"}) + "\n")
    with pytest.raises(GtlearnError, match="needs a 'prompt' column"):
        load_prompts(str(tmp_path / "bad.jsonl"))
    plain = build_tokenizer(2, ANSWERS)  # no chat template
    with pytest.raises(GtlearnError, match="no chat template"):
        load_prompts(str(files / "chat.jsonl"), tokenizer=plain)
    with pytest.raises(GtlearnError, match="cannot load the prompt dataset"):
        load_prompts(str(tmp_path / "missing.jsonl"))


# ------------------------------------------------------------------------------------------
# preference sources
# ------------------------------------------------------------------------------------------
class _Judge(BaseHTTPRequestHandler):
    """An OpenAI-compatible /chat/completions judge preferring the longer response."""

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])).decode())
        text = body["messages"][0]["content"]
        a = text.split("Response A:\n")[1].split("\n\nResponse B:")[0]
        b = text.split("Response B:\n")[1].split("\n\n")[0]
        self.server.calls += 1
        reply = "A" if len(a) > len(b) else "B" if len(a) < len(b) else "tie"
        data = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture()
def judge_url():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Judge)
    srv.calls = 0
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1", srv
    srv.shutdown()
    srv.server_close()


def test_preference_sources_behind_one_interface(files, judge_url):
    url, srv = judge_url
    prompts, ys, ys2 = ["question q0 answer"] * 3, ["rock", "paper", "rock"], ["scissors", "rock", "rock"]
    longer = [0.0, 1.0, 0.5]  # len("rock") < len("scissors"), "paper" > "rock", a tie
    by_callable = load_preference(f"python:{files / 'pref.py'}:longer")
    assert by_callable.prob(prompts, ys, ys2).tolist() == longer
    judge = load_preference(f"judge:{url},model=tiny-judge")
    assert judge.prob(prompts, ys, ys2).tolist() == longer and srv.calls == 6  # both orders asked

    from games.preference import make_game

    contexts = ["question q0 answer", "question q1 answer"]
    game = load_preference("game:cyclic:3,contexts=2", contexts=contexts)
    P = make_game("cyclic:3,contexts=2").P
    assert game.prob(["question q1 answer"] * 2, ["rock", "paper"], ["paper", "junk"]).tolist() == [P[1, 0, 1], 1.0]
    with pytest.raises(GtlearnError, match="has 2 contexts but the dataset has 1"):
        load_preference("game:cyclic:3,contexts=2", contexts=contexts[:1])

    bt = load_preference(f"reward:{files / 'rm'},temperature=2")
    r = bt.reward(prompts, ys)
    p = bt.prob(prompts, ys, ys2)
    assert bt.has_reward and p.tolist() == pytest.approx((1 / (1 + np.exp(-(r - bt.reward(prompts, ys2)) / 2))).tolist())
    for bad in ("nonsense", "python:no_such_module_xyz:f", f"python:{files / 'pref.py'}:missing", "reward:/no/such/dir"):
        with pytest.raises(GtlearnError):
            load_preference(bad)


# ------------------------------------------------------------------------------------------
# the CLI end to end
# ------------------------------------------------------------------------------------------
def _train(files, tmp_path, algo: str, dataset: str, preference: str, *extra: str) -> list[dict]:
    out = tmp_path / algo
    code = main(["align", "train", "--algo", algo, "--model", str(files / "lm"), "--dataset", str(files / dataset),
                 "--preference", preference, "--steps", "2", "--batch-size", "2", "--out", str(out), "--quiet",
                 "--param", "max_new_tokens=3", "--param", "learning_rate=0.01", *extra])
    assert code == 0
    assert (out / "model" / "config.json").exists() and (out / "model" / "tokenizer_config.json").exists()
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_cli_conversational_jsonl_with_a_python_callable(files, tmp_path):
    rows = _train(files, tmp_path, "nash-mp", "chat.jsonl", f"python:{files / 'pref.py'}:longer",
                  "--param", "num_generations=2")
    assert [r["iteration"] for r in rows] == [1, 2] and all(r["gap_name"] == "loss" for r in rows)
    assert all("kl/ref" in r and "rewards/probabilities" in r for r in rows)


def test_cli_datasets_directory_with_the_game_oracle(files, tmp_path):
    rows = _train(files, tmp_path, "inpo", "dict_disk", "game:cyclic:3,contexts=2", "--rounds", "2",
                  "--param", "num_samples_per_prompt=4", "--param", "pair_mode=iid")
    # logged steps count across rounds: 2 per round
    assert [r["iteration"] for r in rows] == [1, 2, 3, 4]
    assert all("rewards/margins" in r and "logps/chosen" in r for r in rows)


def test_cli_parquet_with_an_llm_judge(files, tmp_path, judge_url):
    url, srv = judge_url
    rows = _train(files, tmp_path, "nash-md", "chat.parquet", f"judge:{url}")
    assert len(rows) == 2 and srv.calls > 0
