"""The LM path end to end with a tiny in-process model: generation, JSON parsing with fallback,
preference pairs and a TRL DPO step (no network, no downloaded weights)."""

from __future__ import annotations

import json
import os
import random

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("trl")

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def tiny():
    from alignment.lspo.policies.hf import (
        HFDecoding,
        HFPolicy,
        tiny_model_and_tokenizer,
    )

    # A 2-layer, 32-wide model: thread fan-out only costs time (25x on a busy 2-core machine).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    model, tok = tiny_model_and_tokenizer(seed=0)
    yield HFPolicy(model, tok, HFDecoding(max_new_tokens=8, max_prompt_tokens=96))
    torch.set_num_threads(threads)


def test_generation_and_fallback_are_counted(tiny):
    from alignment.lspo.agents import LanguageAgent
    from games.werewolf import WerewolfEngine, info_state

    eng = WerewolfEngine()
    eng.reset(0)
    state = info_state(eng, eng.actors()[0])
    text = tiny.generate("You are playing the Werewolf game.", random.Random(0))
    assert isinstance(text, str)
    agent = LanguageAgent(tiny)
    action = agent.act(state, random.Random(0))
    assert action in state.legal
    # a random tiny model cannot write valid JSON: every request ends in the legal fallback
    assert agent.calls["act"] == 1 and agent.fallbacks["act"] == 1


def test_dpo_step_moves_the_policy(tiny, tmp_path):
    import copy

    from alignment.lspo.policies.hf import DPOSettings, HFPolicy, dpo_hf

    pol = HFPolicy(copy.deepcopy(tiny.model), tiny.tokenizer, tiny.decoding)
    before = [p.detach().clone() for p in pol.model.parameters()]
    chosen = json.dumps({"reasoning": "a", "statement": "I suspect player_2 is a werewolf."})
    rejected = json.dumps({"reasoning": "b", "statement": "It is too early to tell who the wolves are."})
    pairs = [{"prompt": "You are player_1. Speak.", "chosen": chosen, "rejected": rejected}] * 8
    stats = dpo_hf(pol, pairs, DPOSettings(learning_rate=1e-3, batch_size=4, epochs=2), str(tmp_path / "dpo"))
    assert stats["steps"] == 4
    assert stats["loss_first"] == pytest.approx(0.6931, abs=1e-3)  # log 2 when policy == reference
    assert stats["loss_last"] < stats["loss_first"]
    assert any(not torch.equal(a, b) for a, b in zip(before, pol.model.parameters()))


def test_lm_policy_runs_the_lspo_loop(tiny, tmp_path, monkeypatch):
    import socket

    from alignment.lspo.loop import LSPOConfig, LSPOTrainer

    monkeypatch.setattr(socket, "socket", lambda *a, **k: (_ for _ in ()).throw(OSError("no network")))
    cfg = LSPOConfig(iterations=1, games=2, traversals=300, policy="hf", batch_size=64, dpo_max_length=128)
    summaries = LSPOTrainer(cfg, tmp_path / "run", hf_policy=tiny, log=None).train()
    s = summaries[0]
    assert s["selfplay"]["turns"] > 0
    # malformed generations were retried and replaced by legal fallbacks, and counted
    assert s["selfplay"]["fallbacks"]["speak"] > 0 and s["selfplay"]["fallbacks"]["act"] > 0
    assert s["dpo"]["pairs"] == s["preferences"]["pairs"] > 0
    assert s["dpo"]["steps"] >= 1 and s["dpo"]["loss_first"] == pytest.approx(0.6931, abs=1e-3)
    assert (tmp_path / "run" / "iter_1" / "policy" / "config.json").exists()
