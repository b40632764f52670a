"""The offline LSPO loop end to end with no network, its artifacts, resume, evaluation and CLI."""

from __future__ import annotations

import json
import shutil
import socket
import sys
from dataclasses import asdict

import numpy as np
import pytest

from alignment.lspo.loop import LSPOConfig, LSPOTrainer, load_iteration
from gtlearn.core.errors import GtlearnError
from gtlearn.core.run import read_metrics


@pytest.fixture()
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access is disabled in this test")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def offline_run(tmp_path_factory):
    # The CI smoke preset (3 iterations x 40 games, template policy, hashing embedder) with a
    # short solver budget to keep the default test subset fast.
    out = tmp_path_factory.mktemp("lspo") / "run"
    mp = pytest.MonkeyPatch()
    mp.setattr(socket, "socket", lambda *a, **k: (_ for _ in ()).throw(OSError("no network")))
    try:
        cfg = LSPOConfig.preset("ci", traversals=150)
        summaries = LSPOTrainer(cfg, out, log=None).train()
    finally:
        mp.undo()
    return out, cfg, summaries


def test_offline_preset_runs_three_iterations(offline_run):
    out, cfg, summaries = offline_run
    assert cfg.games == 40 and cfg.embedder == "hashing" and cfg.policy == "template"
    assert [s["iteration"] for s in summaries] == [1, 2, 3]
    assert [s["k_scheduled"]["werewolf"] for s in summaries] == [3, 4, 5]
    assert [s["k_scheduled"]["villager"] for s in summaries] == [2, 3, 4]
    for s in summaries:
        assert s["selfplay"]["games"] == 40 and s["selfplay"]["fallbacks"] == {"speak": 0, "act": 0}
        assert s["preferences"]["pairs"] > 0
        assert s["dpo"]["mean_log_ratio_after"] > s["dpo"]["mean_log_ratio_before"]
    assert summaries[0]["selfplay"]["actions_from"] == "policy"
    assert summaries[1]["selfplay"]["actions_from"] == "cfr"
    d = out / "iter_1"
    for name in ("selfplay.jsonl", "obs_vectors.npy", "latent.json", "centroids_werewolf.npy", "centroids_public.npy",
                 "solver.npz", "prefs.jsonl", "template_logits.json", "summary.json", "done.json"):
        assert (d / name).exists(), name
    assert not list(out.rglob("*.pkl"))
    turn = json.loads((d / "selfplay.jsonl").read_text().splitlines()[0])
    assert len(turn["candidates"]) == 3 and 0 <= turn["executed_idx"] < 3
    for key in ("game_id", "round", "player", "role", "obs_text"):
        assert key in turn
    vecs = np.load(d / "obs_vectors.npy")
    assert vecs.shape[1] == 344
    latent = json.loads((d / "latent.json").read_text())
    assert all(len(ex) <= 5 for exs in latent["exemplars"].values() for ex in exs)
    pair = json.loads((d / "prefs.jsonl").read_text().splitlines()[0])
    assert pair["gap_chosen"] < pair["gap_rejected"] and pair["z_chosen"] != pair["z_rejected"]


def test_run_directory_logs_one_record_per_iteration(offline_run):
    out, cfg, summaries = offline_run
    assert json.loads((out / "config.json").read_text()) == json.loads(json.dumps(asdict(cfg)))
    rows = read_metrics(out / "metrics.jsonl")
    assert [r["iteration"] for r in rows] == [1, 2, 3]
    for row, summary in zip(rows, summaries):
        assert row["gap_name"] == "avg_regret_per_infoset" and row["gap"] > 0
        assert row["gap"] == summary["cfr"]["avg_regret_per_infoset"]
        assert row["pairs"] == summary["preferences"]["pairs"] and row["cfr_nodes"] == summary["cfr"]["nodes"]


def test_resume_skips_finished_iterations(offline_run, no_network):
    out, cfg, summaries = offline_run
    again = LSPOTrainer(cfg, out, resume=True, log=None).train()
    assert again == summaries
    with pytest.raises(GtlearnError):
        LSPOTrainer(cfg, out, log=None)  # neither resume nor overwrite
    other = LSPOConfig.preset("ci", traversals=151)
    with pytest.raises(GtlearnError):
        LSPOTrainer(other, out, resume=True, log=None)


def test_resume_redoes_an_unfinished_iteration_to_the_same_numbers(offline_run, no_network, tmp_path):
    out, cfg, summaries = offline_run
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    (copy / "iter_3" / "done.json").unlink()  # as if stopped during iteration 3
    again = LSPOTrainer(cfg, copy, resume=True, log=None).train()
    strip = [{k: v for k, v in s.items() if k not in ("seconds", "cpu_seconds")} for s in again]
    assert strip == [{k: v for k, v in s.items() if k not in ("seconds", "cpu_seconds")} for s in summaries]
    assert (copy / "iter_3" / "solver.npz").read_bytes() == (out / "iter_3" / "solver.npz").read_bytes()
    rows = read_metrics(copy / "metrics.jsonl")
    assert [r["iteration"] for r in rows] == [1, 2, 3]
    assert rows[2]["gap"] == read_metrics(out / "metrics.jsonl")[2]["gap"]


def test_iteration_agents_play_and_evaluate(offline_run, no_network):
    from alignment.lspo.evaluate import baseline_agent, head_to_head, lspo_agent

    out, _, _ = offline_run
    art = load_iteration(out, 3)
    assert art.latent.ks["werewolf"] == 5
    agent = lspo_agent(out, 3)
    r = head_to_head(agent, baseline_agent("rule"), games=10, seed=0)
    assert set(r) == {"werewolves", "village"} and all(v["games"] == 10 for v in r.values())
    assert agent.fallbacks == {"speak": 0, "act": 0}


def test_cli_verbs(offline_run, capsys, tmp_path):
    from gtlearn.cli import main

    out, _, _ = offline_run
    assert main(["werewolf", "play", "--seed", "4"]) == 0
    log = capsys.readouterr().out
    assert log.startswith("Roles:") and "Result:" in log
    assert main(["werewolf", "play", "--seed", "4", "--wolves", f"lspo:{out}", "--village", "random"]) == 0
    capsys.readouterr()
    res = tmp_path / "eval.json"
    assert main(["werewolf", "eval", str(out), "--games", "4", "--iterations", "0,3", "--opponents", "random,final",
                 "--out", str(res)]) == 0
    data = json.loads(res.read_text())
    assert set(data["results"]) == {"0", "3"} and set(data["results"]["3"]) == {"random", "final"}
    assert "iteration 3 vs final" in capsys.readouterr().out
    run2 = tmp_path / "cli_run"
    assert main(["werewolf", "train", "--preset", "ci", "--iterations", "1", "--games", "4", "--traversals", "30",
                 "-o", str(run2)]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["iterations"] == 1
    assert (run2 / "iter_1" / "done.json").exists()
    assert main(["werewolf", "rpsls", "--turns", "60", "--iterations", "1"]) == 0
    assert "iteration 1: k=3" in capsys.readouterr().out
    # user errors: one line, exit 2
    assert main(["werewolf", "train", "--preset", "nope"]) == 2
    assert main(["werewolf", "eval", str(tmp_path)]) == 2
    assert main(["werewolf", "play", "--agent", "alien"]) == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.slow
def test_cpu_preset_three_iterations(tmp_path, no_network):
    summaries = LSPOTrainer(LSPOConfig.preset("cpu"), tmp_path / "run", log=None).train()
    assert len(summaries) == 3


def _one_error(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


TINY = ["werewolf", "train", "--preset", "ci", "-n", "1", "--games", "2", "--traversals", "10"]


@pytest.mark.parametrize("args, message", [
    (["--utility", "nope"], "unknown CFR utility"),
    (["--embedder", "nope"], "unknown embedder"),
    (["--seed", "50000"], "--seed must be at most"),  # k-means takes 32-bit seeds
    (["--lora"], "policy hf only"),
    (["--policy", "hf", "--model-path", "/nonexistent"], "no local causal LM"),
])
def test_train_checks_every_option_before_self_play(tmp_path, capsys, args, message):
    from gtlearn.cli import main

    out = tmp_path / "run"
    assert main([*TINY, *args, "--out", str(out)]) == 2
    assert message in _one_error(capsys)
    assert not out.exists()


@pytest.mark.parametrize("args, module, extra", [
    (TINY, "sklearn", "lspo"),
    (["werewolf", "rpsls", "-n", "1", "--turns", "5"], "sklearn", "lspo"),
    ([*TINY, "--embedder", "tfidf"], "sklearn", "lspo"),
    (["werewolf", "rpsls", "--embedder", "minilm"], "sentence_transformers", "minilm"),
    ([*TINY, "--policy", "hf", "--model-path", "/nonexistent"], "trl", "llm"),
])
def test_a_missing_extra_is_one_line_naming_it(tmp_path, capsys, monkeypatch, args, module, extra):
    from gtlearn.cli import main

    monkeypatch.setitem(sys.modules, module, None)  # importlib.util.find_spec now reports it missing
    out = tmp_path / "run"
    assert main([*args, *(["--out", str(out)] if args[1] == "train" else [])]) == 2
    assert f"pip install 'gtlearn[{extra}]'" in _one_error(capsys)
    assert not out.exists()


def test_resume_with_fewer_iterations_is_an_error(offline_run, tmp_path, capsys):
    from gtlearn.cli import main

    out, _, _ = offline_run
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    before = (copy / "config.json").read_text()
    assert main(["werewolf", "train", "--preset", "ci", "--traversals", "150", "-n", "2", "--out", str(copy),
                 "--resume"]) == 2
    assert "already holds 3 finished iterations" in _one_error(capsys)
    assert (copy / "config.json").read_text() == before
    assert main(["werewolf", "train", "-n", "2", "--out", str(tmp_path / "none"), "--resume"]) == 2
    assert "without --resume" in _one_error(capsys) and not (tmp_path / "none").exists()


def test_a_crashed_run_continues_with_resume(tmp_path, capsys, monkeypatch):
    from gtlearn.cli import main

    out = tmp_path / "run"
    real = LSPOTrainer._dpo

    def crash_in_iteration_2(self, it, *args):
        if it == 2:
            raise RuntimeError("simulated crash")
        return real(self, it, *args)

    monkeypatch.setenv("GTLEARN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(LSPOTrainer, "_dpo", crash_in_iteration_2)
    args = [*TINY[:4], "-n", "2", *TINY[6:], "--out", str(out)]
    assert main(args) == 1  # an internal error, its traceback saved
    monkeypatch.setattr(LSPOTrainer, "_dpo", real)
    capsys.readouterr()
    assert main(args) == 2 and "pass --resume to continue it" in _one_error(capsys)
    assert main([*args, "--resume"]) == 0
    assert "iteration 1: already done, loaded" in capsys.readouterr().err
    assert [r["iteration"] for r in read_metrics(out / "metrics.jsonl")] == [1, 2]
