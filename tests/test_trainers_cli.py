"""``gtlearn align train`` on the offline synthetic task: a run directory with metrics, plot
and model; resume; user errors as one line with exit status 2."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from gtlearn.cli import main  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_align_train_synthetic_run_and_resume(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["align", "train", "--algo", "nash-md", "--steps", "4", "--eval-every", "2", "--save-every", "2",
            "--batch-size", "4", "--out", str(out), "--quiet", "--param", "max_new_tokens=3", "--pretrain-steps", "50"]
    assert main(args) == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [0, 2, 4]
    assert all(r["gap_name"] == "kl_nash_pi" and r["gap"] > 0 for r in rows)
    assert rows[0]["gap"] == pytest.approx(rows[0]["kl_nash_pi"])
    assert (out / "plot.png").exists() and (out / "model" / "config.json").exists()
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["algo"] == "nash-md" and cfg["config"]["max_new_tokens"] == 3
    # a second run into the same directory is refused; --resume continues from checkpoint-4
    assert main(args) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert main(args + ["--resume"]) == 0
    rows2 = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in rows2] == [0, 2, 4]


@pytest.mark.parametrize("argv, message", [
    (["--algo", "dpo"], "unknown --algo"),
    (["--steps", "0"], "--steps must be positive"),
    (["--dataset", "x.jsonl"], "need --model"),
    (["--model", "/nonexistent/model", "--preference", "reward:/x", "--dataset", "d"], "cannot load the model"),
    (["--algo", "nash-mp", "--rounds", "3"], "--rounds applies to inpo and apo"),
    (["--param", "nonsense_field=1"], "unknown config field"),
])
def test_align_train_user_errors(tmp_path, capsys, argv, message):
    code = main(["align", "train", "--out", str(tmp_path / "r"), "--quiet", "--steps", "2", *argv])
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_align_train_with_saved_model_reward_model_and_prompt_file(tmp_path):
    """The --model path: a causal LM and a reward model saved to disk, prompts from a .jsonl."""
    import torch
    from transformers import Qwen2Config, Qwen2ForSequenceClassification

    from alignment.synthetic import build_tokenizer, tiny_causal_lm

    tok = build_tokenizer(2, ["rock", "paper", "scissors"])
    lm = tiny_causal_lm(tok, seed=0)
    lm.save_pretrained(tmp_path / "lm")
    tok.save_pretrained(tmp_path / "lm")
    torch.manual_seed(1)
    rm = Qwen2ForSequenceClassification(Qwen2Config(
        vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=1, num_labels=1, pad_token_id=tok.pad_token_id))
    rm.save_pretrained(tmp_path / "rm")
    tok.save_pretrained(tmp_path / "rm")
    (tmp_path / "prompts.jsonl").write_text("".join(json.dumps({"prompt": f"question q{i % 2} answer"}) + "\n"
                                                    for i in range(8)))
    out = tmp_path / "run"
    code = main(["align", "train", "--algo", "inpo", "--model", str(tmp_path / "lm"), "--preference",
                 f"reward:{tmp_path / 'rm'}", "--dataset", str(tmp_path / "prompts.jsonl"), "--steps", "2",
                 "--rounds", "2", "--batch-size", "2", "--out", str(out), "--quiet", "--param", "max_new_tokens=3",
                 "--param", "num_samples_per_prompt=4", "--param", "learning_rate=0.01"])
    assert code == 0
    assert (out / "model" / "config.json").exists()
    assert all((out / "trainer" / f"round-{t}" / "done.json").exists() for t in range(2))
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert rows and all(r["gap_name"] == "loss" for r in rows)
