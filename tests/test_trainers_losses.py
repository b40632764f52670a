"""Alignment-trainer losses on hand-checkable batches (docs/trainers.md: each algorithm's loss,
from its own module), sequence log-probs against a naive per-token loop, the mixture sampler,
and the INPO tournament."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from alignment.trainers.apo import apo_dpo_loss, apo_reference, apo_sppo_loss  # noqa: E402
from alignment.trainers.fdpg import f_prime, fdpg_loss  # noqa: E402
from alignment.trainers.inpo import inpo_loss  # noqa: E402
from alignment.trainers.nash_md import nash_md_loss  # noqa: E402
from alignment.trainers.nash_mp import nash_mp_loss  # noqa: E402


def t(*xs):
    return torch.tensor(xs, dtype=torch.float64)


def test_nash_mp_loss_by_hand():
    logp = t(-1.0, -2.0).requires_grad_(True)
    loss, stats = nash_mp_loss(logp, t(-1.5, -1.0), t(-1.2, -2.5), t(0.8, 0.3), beta=0.1, prox_coef=0.5)
    # per row: −(P−½)·lp + β·(lp−lp_ref)·lp + λ·(lp−lp_k)·lp
    # row 0: 0.3 − 0.05 − 0.1 = 0.15; row 1: −0.4 + 0.2 − 0.5 = −0.7
    assert float(loss.detach()) == pytest.approx(-0.275, abs=1e-12)
    loss.backward()
    # gradient: the stop-gradient terms act as fixed weights: −(P−½) + β·Δref + λ·Δk, over B=2
    assert logp.grad.tolist() == pytest.approx([(-0.3 + 0.05 + 0.1) / 2, (0.2 - 0.1 + 0.25) / 2], abs=1e-12)
    assert float(stats["kl_ref"]) == pytest.approx((0.5 - 1.0) / 2)


def test_nash_md_is_nash_mp_without_prox_and_eos_penalty_enters_reward():
    logp, ref, P = t(-1.0, -2.0), t(-1.5, -1.0), t(0.8, 0.3)
    a, _ = nash_md_loss(logp, ref, P, beta=0.1, reward_offset=t(0.0, -1.0))
    # row 0: −0.3·(−1) + 0.1·0.5·(−1) = 0.25; row 1: −(−0.2 − 1)·(−2) + 0.1·(−1)·(−2) = −2.4 + 0.2
    assert float(a) == pytest.approx((0.25 + (-2.2)) / 2, abs=1e-12)


def test_token_kl_estimator_is_the_per_token_sum():
    tok = t(-0.5, -0.25).reshape(1, 2)
    ref_tok = t(-1.0, -0.25).reshape(1, 2)
    logp = tok.sum(-1)
    loss, _ = nash_md_loss(logp, ref_tok.sum(-1), t(0.5), beta=1.0, kl_estimator="token", token_logp=tok,
                             ref_token_logp=ref_tok)
    assert float(loss) == pytest.approx(0.5 * -0.5 + 0.0 * -0.25)
    seq, _ = nash_md_loss(logp, ref_tok.sum(-1), t(0.5), beta=1.0)
    assert float(seq) == pytest.approx(0.5 * -0.75)  # the two estimators differ: the token one is biased


def test_inpo_loss_by_hand():
    eta, tau = 0.5, 0.25  # τ/η = ½ on π_ref, (η−τ)/η = ½ on π_t, target 1/(2η) = 1
    loss, stats = inpo_loss(t(-1.0, -2.0), t(-3.0, -1.0), t(-2.0, -1.0), t(-2.0, -2.0), t(-1.0, -3.0),
                              t(-2.0, -1.0), eta=eta, tau=tau)
    # h = 2 − ½·0 − ½·1 = 1.5 → (0.5)²; h = −1 − ½·1 − ½·(−2) = −0.5 → (−1.5)²
    assert float(loss) == pytest.approx((0.25 + 2.25) / 2, abs=1e-12)
    assert float(stats["h_mean"]) == pytest.approx(0.5)


def test_inpo_tau_zero_is_online_ipo_with_reference_pi_t():
    rng = np.random.default_rng(0)
    c, r, rc, rr, pc, pr = (torch.tensor(rng.normal(size=5)) for _ in range(6))
    eta = 0.01
    loss, _ = inpo_loss(c, r, rc, rr, pc, pr, eta=eta, tau=0.0)
    ipo = (((c - r) - (pc - pr) - 1 / (2 * eta)) ** 2).mean()
    assert float(loss) == pytest.approx(float(ipo), rel=1e-12)
    with pytest.raises(ValueError):
        inpo_loss(c, r, rc, rr, pc, pr, eta=0.1, tau=0.2)


def test_apo_reference_and_dpo_loss_by_hand():
    assert float(apo_reference(t(-1.0), t(-2.0), 0.3)) == pytest.approx(-0.7)
    loss, stats = apo_dpo_loss(t(-1.0), t(-2.0), t(-1.5), t(-1.5), beta=0.1)
    assert float(loss) == pytest.approx(math.log1p(math.exp(-0.1)), abs=1e-12)
    assert float(stats["rewards_accuracy"]) == 1.0


def test_apo_dpo_per_prompt_constant_cancels():
    rng = np.random.default_rng(1)
    c, r, rc, rr = (torch.tensor(rng.normal(size=6)) for _ in range(4))
    z = torch.tensor(rng.normal(size=6)) * 10
    a, _ = apo_dpo_loss(c, r, rc, rr, beta=0.3)
    b, _ = apo_dpo_loss(c, r, rc + z, rr + z, beta=0.3)
    assert float(a) == pytest.approx(float(b), rel=1e-12)


def test_apo_sppo_loss_by_hand():
    loss, _ = apo_sppo_loss(t(-1.0, -2.0), t(-1.5, -1.0), t(0.75, 0.25), sppo_eta=2.0)
    # residuals: −1 + 1.5 − 2·0.25 = 0; −2 + 1 − 2·(−0.25) = −0.5
    assert float(loss) == pytest.approx(0.125)


F = {
    "kl": lambda x: -math.log(x),
    "rkl": lambda x: x * math.log(x),
    "js": lambda x: 0.5 * (x * math.log(x) - (1 + x) * math.log((1 + x) / 2)),
    "chi2": lambda x: (1 - x) ** 2 / x,
    "rchi2": lambda x: (x - 1) ** 2,
    "tv": lambda x: 0.5 * abs(x - 1),
}


@pytest.mark.parametrize("div", sorted(F))
def test_f_prime_matches_numerical_derivative_of_f(div):
    for x in (0.3, 0.8, 1.7, 4.0):
        h = 1e-6
        num = (F[div](x + h) - F[div](x - h)) / (2 * h)
        got = float(f_prime(torch.tensor(math.log(x), dtype=torch.float64), div))
        assert got == pytest.approx(num, rel=1e-6, abs=1e-8)


def test_f_prime_outside_support():
    inf = torch.tensor(float("inf"), dtype=torch.float64)
    assert float(f_prime(inf, "kl")) == 0.0
    assert float(f_prime(inf, "tv")) == 0.5
    assert float(f_prime(inf, "js")) == pytest.approx(0.5 * math.log(2))
    assert not math.isfinite(float(f_prime(inf, "rkl")))


def test_fdpg_loss_by_hand():
    logp = t(-1.0).requires_grad_(True)
    loss, pseudo, stats = fdpg_loss(logp, t(-0.5), t(0.0), t(-1.0), divergence="rkl")
    # log t = −1 − (−0.5) = −0.5, f' = 1 + log t = 0.5, A = −0.5, w = 1, loss = −w·A·lp = −0.5
    assert float(loss) == pytest.approx(-0.5)
    assert float(pseudo[0]) == pytest.approx(-0.5)
    loss.backward()
    assert float(logp.grad[0]) == pytest.approx(0.5)
    # a constant baseline shifts the advantage only; importance weights multiply it
    loss_b, _, _ = fdpg_loss(t(-1.0), t(-0.5), t(0.0), t(-1.0 - math.log(2)), divergence="rkl", baseline=-1.0)
    assert float(loss_b) == pytest.approx(-(2.0 * 0.5) * -1.0)
    assert float(stats["is_ess"]) == pytest.approx(1.0)


# -- sequence log-probs against a naive loop -----------------------------------------------------
def naive_logprob(model, prompt: list[int], completion: list[int], eos: int) -> float:
    """Σ log π(y_t | x, y_<t) up to and including the first EOS, one unpadded sequence at a time."""
    if eos in completion:
        completion = completion[: completion.index(eos) + 1]
    ids = torch.tensor([prompt + completion])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0].double()
    lsm = torch.log_softmax(logits, -1)
    return float(sum(lsm[len(prompt) - 1 + i, tok] for i, tok in enumerate(completion)))


@pytest.fixture(scope="module")
def tiny():
    from alignment.synthetic import build_tokenizer, tiny_causal_lm

    tok = build_tokenizer(3, ["rock", "paper", "scissors"])
    return tok, tiny_causal_lm(tok, seed=3).eval()


def test_sequence_logprobs_match_naive_and_ignore_padding(tiny):
    from alignment.trainers.logprobs import left_pad, right_pad, sequence_logprobs

    tok, model = tiny
    eos, pad = tok.eos_token_id, tok.pad_token_id
    enc = lambda s: tok(s, add_special_tokens=False)["input_ids"]
    prompts = [enc("question q0 answer"), enc("q1 answer"), enc("answer")]
    comps = [enc("rock") + [eos], enc("paper scissors") + [eos, enc("rock")[0]], enc("scissors rock paper")]
    expect = [naive_logprob(model, p, c, eos) for p, c in zip(prompts, comps)]
    from alignment.trainers.logprobs import truncate_at_eos

    pid, pm = left_pad(prompts, pad)
    cid, _ = right_pad(comps, pad)
    cid, cm, has_eos = truncate_at_eos(cid, eos, pad)
    assert has_eos.tolist() == [True, True, False]
    got = sequence_logprobs(model, pid, pm, cid, cm)
    assert got.tolist() == pytest.approx(expect, abs=1e-5)
    # extra left padding of prompts and right padding of completions changes nothing (sum reduction)
    pid2 = torch.cat([torch.full((3, 3), pad), pid], 1)
    pm2 = torch.cat([torch.zeros(3, 3, dtype=torch.long), pm], 1)
    cid2 = torch.cat([cid, torch.full((3, 4), pad)], 1)
    cm2 = torch.cat([cm, torch.zeros(3, 4, dtype=torch.long)], 1)
    assert sequence_logprobs(model, pid2, pm2, cid2, cm2).tolist() == pytest.approx(expect, abs=1e-5)
    mean = sequence_logprobs(model, pid, pm, cid, cm, reduction="mean")
    assert mean.tolist() == pytest.approx([e / n for e, n in zip(expect, [2, 3, 3])], abs=1e-5)


def test_mixture_sampler_coef_extremes(tiny):
    """c = 0 samples from π_θ, c = 1 from π_ref: with a degenerate reference that always says
    EOS, c = 1 gives empty completions and c = 0 does not."""
    from alignment.synthetic import tiny_causal_lm
    from alignment.trainers.sampling import generate_mixture

    tok, model = tiny
    ref = tiny_causal_lm(tok, seed=4).eval()

    class Eos(torch.nn.Module):  # a reference that puts all its mass on EOS
        def __init__(self, base):
            super().__init__()
            self.base = base

        def forward(self, cache=None, **kw):
            out = self.base(cache=cache, **kw)
            out.logits[..., :] = -1e4
            out.logits[..., tok.eos_token_id] = 1e4
            return out

    torch.manual_seed(0)
    c1 = generate_mixture(model, Eos(ref), tok, ["question q0 answer"] * 8, mixture_coef=1.0, max_new_tokens=3)
    assert all(t == "" for t in c1.texts) and bool(c1.has_eos.all())
    assert c1.completion_mask.sum(-1).tolist() == [1] * 8
    torch.manual_seed(0)
    c0 = generate_mixture(model, Eos(ref), tok, ["question q0 answer"] * 8, mixture_coef=0.0, max_new_tokens=3)
    assert any(t != "" for t in c0.texts)


# -- pairing ------------------------------------------------------------------------------------
def test_tournament_comparisons_and_final_check():
    from alignment.preference_models import PairwisePreference
    from alignment.trainers.pairs import build_pairs, knockout_tournament

    texts = [str(i) for i in range(8)]

    def transitive(x, y, z):
        return 0.5 if y == z else float(int(y) < int(z))

    def cyclic_twist(x, y, z):  # like transitive, but 7 beats 0
        if (y, z) == ("0", "7"):
            return 0.0
        if (y, z) == ("7", "0"):
            return 1.0
        return transitive(x, y, z)

    w, l, n, keep = knockout_tournament("p", texts, PairwisePreference(transitive), label_mode="prob")
    assert (w, l, n, keep) == (0, 7, 11, True)  # 3K/2 − 1 = 11 comparisons for K = 8
    w, l, n, keep = knockout_tournament("p", texts, PairwisePreference(cyclic_twist), label_mode="prob")
    assert (w, l, n, keep) == (0, 7, 11, False)
    pairs, n = build_pairs("p", texts, PairwisePreference(cyclic_twist), "tournament", "prob")
    assert pairs == [] and n == 11
    pairs, n = build_pairs("p", texts[:4], PairwisePreference(transitive), "iid", "prob")
    assert pairs == [(0, 1), (2, 3)] and n == 2
    pairs, _ = build_pairs("p", ["3", "1", "2", "0"], PairwisePreference(transitive), "iid", "prob")
    assert pairs == [(1, 0), (3, 2)]
