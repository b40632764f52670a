"""Every alignment trainer on a tiny in-process causal LM (docs/trainers.md):

* the loss that ``compute_loss`` returns on a hand-checkable batch equals the paper's formula,
  evaluated with log-probs from an independent naive per-token loop;
* the reference model stays frozen (and, with LoRA, the base weights too);
* an interrupted run resumed from its last checkpoint ends with exactly the weights of an
  uninterrupted run.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("datasets")

from transformers import TrainerCallback  # noqa: E402

from alignment.synthetic import cached_task  # noqa: E402
from alignment.trainers import (  # noqa: E402
    APOTrainer,
    APOTrainerConfig,
    FDPGTrainer,
    FDPGTrainerConfig,
    INPOTrainer,
    INPOTrainerConfig,
    NashMDTrainer,
    NashMDTrainerConfig,
    NashMPTrainer,
    NashMPTrainerConfig,
)
from alignment.trainers.logprobs import completions_from_ids, tokenize_prompts  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def task():
    return cached_task(pretrain_steps=150)


def common(out, **kw):
    base = dict(output_dir=str(out), per_device_train_batch_size=4, max_new_tokens=3, temperature=1.0,
                learning_rate=1e-2, use_cpu=True, disable_tqdm=True, logging_steps=1000, save_strategy="steps",
                save_steps=2, seed=0, beta=0.25)
    base.update(kw)
    return base


def perturbed(model, seed, scale=0.05):
    m = copy.deepcopy(model)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g))
    return m.eval()


def naive_logprob(model, tok, prompt: str, answer: str) -> float:
    """Σ log π over ``answer`` + EOS after ``prompt``, one unpadded sequence, no masks."""
    p = tok(prompt, add_special_tokens=False)["input_ids"]
    c = tok(answer, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([p + c])).logits[0].double()
    lsm = torch.log_softmax(logits, -1)
    return float(sum(lsm[len(p) - 1 + i, t] for i, t in enumerate(c)))


def fixed(tok, prompts, answers):
    pid, pm = tokenize_prompts(tok, prompts)
    comp = [tok(a, add_special_tokens=False)["input_ids"] + [tok.eos_token_id] for a in answers]
    return completions_from_ids(tok, prompts, pid, pm, comp)


class Scripted:
    """Replaces a trainer's ``draw_completions``: returns the scripted answers, call by call."""

    def __init__(self, tok, *answer_lists):
        self.tok, self.lists, self.calls = tok, list(answer_lists), 0

    def __call__(self, model, prompts, key=None, num_samples=1, **kw):
        prompts = [p for p in prompts for _ in range(num_samples)]
        out = fixed(self.tok, prompts, self.lists[self.calls % len(self.lists)])
        self.calls += 1
        return out


def P_of(task, prompt, a, b):
    x, i = task.oracle.index(prompt, a)
    _, j = task.oracle.index(prompt, b)
    return task.game.P[x, i, j]


PROMPTS = ["question q0 answer", "question q1 answer", "question q2 answer", "question q3 answer"]
YS = ["rock", "paper", "spock", "lizard"]
YS2 = ["paper", "paper", "rock", "scissors"]


# ------------------------------------------------------------------------------------------
# hand-checkable losses
# ------------------------------------------------------------------------------------------
def test_nash_mp_compute_loss_equals_formula(task, tmp_path, monkeypatch):
    tok = task.tokenizer
    policy, ref, anchor = perturbed(task.model, 1), perturbed(task.model, 2), perturbed(task.model, 3)
    cfg = NashMPTrainerConfig(**common(tmp_path, beta=0.3, prox_coef=0.7))
    tr = NashMPTrainer(policy, ref_model=ref, args=cfg, processing_class=tok, train_dataset=task.dataset(8),
                       preference=task.oracle)
    tr.anchor.load_state_dict(anchor.state_dict())
    tr._begun_step = tr.state.global_step  # keep the hand-set anchor for this step
    monkeypatch.setattr(tr, "draw_completions", Scripted(tok, YS, YS2))
    loss = tr.compute_loss(tr.model, {"prompt": PROMPTS})
    expect = []
    for x, y, y2 in zip(PROMPTS, YS, YS2):
        lp, lr, la = (naive_logprob(m, tok, x, y) for m in (policy, ref, anchor))
        expect.append(-(P_of(task, x, y, y2) - 0.5) * lp + 0.3 * (lp - lr) * lp + 0.7 * (lp - la) * lp)
    assert float(loss.detach()) == pytest.approx(float(np.mean(expect)), abs=1e-5)


def test_nash_md_compute_loss_equals_formula(task, tmp_path, monkeypatch):
    import alignment.trainers.nash_md as mod

    tok = task.tokenizer
    policy, ref = perturbed(task.model, 1), perturbed(task.model, 2)
    cfg = NashMDTrainerConfig(**common(tmp_path, beta=0.2, num_generations=1, missing_eos_penalty=None))
    tr = NashMDTrainer(policy, ref_model=ref, args=cfg, processing_class=tok, train_dataset=task.dataset(8),
                       preference=task.oracle)
    monkeypatch.setattr(tr, "draw_completions", Scripted(tok, YS))
    monkeypatch.setattr(mod, "generate_mixture", lambda m, r, t, prompts, **kw: fixed(tok, prompts, YS2))
    loss = tr.compute_loss(tr.model, {"prompt": PROMPTS})
    expect = []
    for x, y, y2 in zip(PROMPTS, YS, YS2):
        lp, lr = naive_logprob(policy, tok, x, y), naive_logprob(ref, tok, x, y)
        expect.append(-(P_of(task, x, y, y2) - 0.5) * lp + 0.2 * (lp - lr) * lp)
    assert float(loss.detach()) == pytest.approx(float(np.mean(expect)), abs=1e-5)


def test_fdpg_compute_loss_equals_formula(task, tmp_path, monkeypatch):
    tok = task.tokenizer
    policy, ref = perturbed(task.model, 1), perturbed(task.model, 2)
    cfg = FDPGTrainerConfig(**common(tmp_path, divergence="js"))
    tr = FDPGTrainer(policy, ref_model=ref, args=cfg, processing_class=tok, train_dataset=task.dataset(8),
                     preference=task.oracle, target=task.fdpg_log_score)
    prompts = PROMPTS[:2] * 2
    ys = ["rock", "paper", "spock", "lizard"]
    monkeypatch.setattr(tr, "draw_completions", Scripted(tok, ys))
    loss = tr.compute_loss(tr.model, {"prompt": prompts})
    lp = np.array([naive_logprob(policy, tok, x, y) for x, y in zip(prompts, ys)])
    la = np.array([naive_logprob(ref, tok, x, y) for x, y in zip(prompts, ys)])
    logP = la + task.fdpg_log_score(prompts, ys)
    ratio = np.exp(logP - lp)  # P/q with q = π_θ (online, temperature 1)
    Z = {x: np.mean([r for xx, r in zip(prompts, ratio) if xx == x]) for x in set(prompts)}
    t = np.exp(lp - (logP - np.log([Z[x] for x in prompts])))
    fprime = 0.5 * np.log(2 * t / (1 + t))  # JS with its ½
    expect = np.mean(-(-fprime) * lp)  # baseline 0 on the first batch, w = 1
    assert float(loss.detach()) == pytest.approx(float(expect), abs=1e-5)


def _pair_batch(tr, tok, rows):
    return tr.data_collator(rows)


def _rows(tok, extra):
    enc = lambda s: tok(s, add_special_tokens=False)["input_ids"]
    rows = []
    for (x, c, r), cols in zip([(PROMPTS[0], "rock", "paper"), (PROMPTS[1], "spock", "rock"),
                                (PROMPTS[2], "lizard", "scissors")], extra):
        rows.append({"prompt_ids": enc(x), "chosen_ids": enc(c) + [tok.eos_token_id],
                     "rejected_ids": enc(r) + [tok.eos_token_id], **cols})
    return rows


def test_inpo_compute_loss_equals_formula(task, tmp_path):
    tok = task.tokenizer
    policy = perturbed(task.model, 1)
    eta, tau = 0.6, 0.2
    cfg = INPOTrainerConfig(**common(tmp_path, eta=eta, beta=tau))  # beta is INPO's τ
    tr = INPOTrainer(policy, args=cfg, processing_class=tok, train_dataset=task.dataset(8), preference=task.oracle)
    cols = [dict(ref_chosen_logps=-1.0, ref_rejected_logps=-2.0, prev_chosen_logps=-1.5, prev_rejected_logps=-0.5),
            dict(ref_chosen_logps=-3.0, ref_rejected_logps=-1.0, prev_chosen_logps=-2.0, prev_rejected_logps=-2.5),
            dict(ref_chosen_logps=-0.5, ref_rejected_logps=-4.0, prev_chosen_logps=-1.0, prev_rejected_logps=-1.0)]
    rows = _rows(tok, cols)
    loss = tr.compute_loss(tr.model, _pair_batch(tr, tok, rows))
    expect = []
    for (x, c, r), col in zip([(PROMPTS[0], "rock", "paper"), (PROMPTS[1], "spock", "rock"),
                               (PROMPTS[2], "lizard", "scissors")], cols):
        h = (naive_logprob(policy, tok, x, c) - naive_logprob(policy, tok, x, r)
             - tau / eta * (col["ref_chosen_logps"] - col["ref_rejected_logps"])
             - (eta - tau) / eta * (col["prev_chosen_logps"] - col["prev_rejected_logps"]))
        expect.append((h - 1 / (2 * eta)) ** 2)
    assert float(loss.detach()) == pytest.approx(float(np.mean(expect)), abs=1e-5)


def test_apo_compute_loss_equals_formula(task, tmp_path):
    tok = task.tokenizer
    policy = perturbed(task.model, 1)
    cfg = APOTrainerConfig(**common(tmp_path, beta=0.5, alpha=0.3))
    tr = APOTrainer(policy, args=cfg, processing_class=tok, train_dataset=task.dataset(8), preference=task.oracle)
    cols = [dict(ref_chosen_logps=-1.0, ref_rejected_logps=-2.0, shift_chosen=0.0),
            dict(ref_chosen_logps=-3.0, ref_rejected_logps=-1.0, shift_chosen=0.0),
            dict(ref_chosen_logps=-0.5, ref_rejected_logps=-4.0, shift_chosen=0.0)]
    loss = tr.compute_loss(tr.model, _pair_batch(tr, tok, _rows(tok, cols)))
    expect = []
    for (x, c, r), col in zip([(PROMPTS[0], "rock", "paper"), (PROMPTS[1], "spock", "rock"),
                               (PROMPTS[2], "lizard", "scissors")], cols):
        m = ((naive_logprob(policy, tok, x, c) - col["ref_chosen_logps"])
             - (naive_logprob(policy, tok, x, r) - col["ref_rejected_logps"]))
        expect.append(math.log1p(math.exp(-0.5 * m)))
    assert float(loss.detach()) == pytest.approx(float(np.mean(expect)), abs=1e-5)


def test_apo_round_columns_are_the_extrapolated_reference(task, tmp_path):
    """Round 1's reference columns are (1+α)·log π̂_1 − α·log π̂_0 (π̂_0 = the initial policy);
    with α = 0 they are π_t's log-probs (iterative DPO)."""
    tok = task.tokenizer
    for alpha in (0.0, 0.3):
        policy = copy.deepcopy(task.model)
        cfg = APOTrainerConfig(**common(tmp_path / f"a{alpha}", alpha=alpha, num_iterations=1, max_steps=2,
                                 num_samples_per_prompt=4, pair_mode="iid", save_strategy="no"))
        tr = APOTrainer(policy, args=cfg, processing_class=tok, train_dataset=task.dataset(4), preference=task.oracle)
        tr.train()
        init = copy.deepcopy(task.model).eval()
        rows = tr.build_round(1)
        for row in rows[:4]:
            x = tok.decode(row["prompt_ids"])
            c = tok.decode(row["chosen_ids"], skip_special_tokens=True)
            new, old = naive_logprob(tr.model, tok, x, c), naive_logprob(init, tok, x, c)
            assert row["ref_chosen_logps"] == pytest.approx((1 + alpha) * new - alpha * old, abs=1e-4)


def test_apo_round_two_extrapolates_from_the_previous_round_start(task, tmp_path):
    """Round 2's columns use π̂_1 = the policy saved at the end of round 0 (not the initial
    policy): Δ_ref = (1+α)·log π̂_2 − α·log π̂_1, the momentum direction of the tabular APO."""
    tok = task.tokenizer
    alpha = 0.5
    policy = copy.deepcopy(task.model)
    cfg = APOTrainerConfig(**common(tmp_path, alpha=alpha, num_iterations=2, max_steps=3, num_samples_per_prompt=4,
                             pair_mode="iid", save_strategy="no"))
    tr = APOTrainer(policy, args=cfg, processing_class=tok, train_dataset=task.dataset(4), preference=task.oracle)
    tr.train()
    hat1 = copy.deepcopy(task.model).eval()
    hat1.load_state_dict(torch.load(tr.round_dir(0) / "policy.pt", weights_only=True))
    init = copy.deepcopy(task.model).eval()
    rows = tr.build_round(2)
    moved = 0.0
    for row in rows[:4]:
        x = tok.decode(row["prompt_ids"])
        c = tok.decode(row["chosen_ids"], skip_special_tokens=True)
        new, old = naive_logprob(tr.model, tok, x, c), naive_logprob(hat1, tok, x, c)
        assert row["ref_chosen_logps"] == pytest.approx((1 + alpha) * new - alpha * old, abs=1e-4)
        moved = max(moved, abs(old - naive_logprob(init, tok, x, c)))
    assert moved > 1e-3  # π̂_1 ≠ π̂_0, so the check above tells the two indexings apart


# ------------------------------------------------------------------------------------------
# frozen reference, resume
# ------------------------------------------------------------------------------------------
def make_trainer(algo, task, out, steps, **kw):
    tok = task.tokenizer
    model = copy.deepcopy(task.model)
    data = task.dataset(16)
    if algo == "nash-mp":
        return NashMPTrainer(model, args=NashMPTrainerConfig(**common(out, max_steps=steps, **kw)), processing_class=tok,
                             train_dataset=data, preference=task.oracle)
    if algo == "nash-md":
        return NashMDTrainer(model, args=NashMDTrainerConfig(**common(out, max_steps=steps, **kw)), processing_class=tok,
                             train_dataset=data, preference=task.oracle)
    if algo == "fdpg":
        kw.setdefault("proposal", "offline")
        kw.setdefault("proposal_update_interval", 2)
        return FDPGTrainer(model, args=FDPGTrainerConfig(**common(out, max_steps=steps, **kw)), processing_class=tok,
                           train_dataset=data, preference=task.oracle, target=task.fdpg_log_score)
    if algo == "inpo":
        return INPOTrainer(model, args=INPOTrainerConfig(**common(out, max_steps=steps, num_iterations=2, eta=0.75, beta=0.25,
                                                           num_samples_per_prompt=4, **kw)),
                           processing_class=tok, train_dataset=task.dataset(4), preference=task.oracle)
    if algo == "apo":
        return APOTrainer(model, args=APOTrainerConfig(**common(out, max_steps=steps, num_iterations=2,
                                                         num_samples_per_prompt=4, pair_mode="iid", **kw)),
                          processing_class=tok, train_dataset=task.dataset(4), preference=task.oracle)
    raise AssertionError(algo)


class Interrupt(TrainerCallback):
    def __init__(self, trainer, round_, step):
        self.trainer, self.round, self.step = trainer, round_, step

    def on_step_end(self, args, state, control, **kw):
        if getattr(self.trainer, "round", 0) == self.round and state.global_step == self.step:
            raise KeyboardInterrupt("simulated crash")


ALGOS = ["nash-mp", "nash-md", "fdpg", "inpo", "apo"]


@pytest.mark.parametrize("algo", ALGOS)
def test_reference_frozen_and_resume_identical(algo, task, tmp_path):
    rounds = algo in ("inpo", "apo")
    steps = 3 if rounds else 5
    # rounds: checkpoint every step so that the cut (round 1, step 2) resumes mid-round
    kw = dict(gradient_accumulation_steps=2 if algo == "nash-md" else 1, save_steps=1 if rounds else 2)
    full = make_trainer(algo, task, tmp_path / "full", steps, **kw)
    ref = full.ref_model
    ref_before = {k: v.clone() for k, v in ref.state_dict().items()}
    full.train()
    w_full = {k: v.clone() for k, v in full.model.state_dict().items()}
    # the reference did not move, the policy did
    assert all(not p.requires_grad for p in ref.parameters())
    assert all(torch.equal(ref_before[k], v) for k, v in ref.state_dict().items())
    assert any(not torch.equal(ref_before[k], v) for k, v in w_full.items())

    first = make_trainer(algo, task, tmp_path / "cut", steps, **kw)
    first.add_callback(Interrupt(first, 1 if rounds else 0, 3 if not rounds else 2))
    with pytest.raises(KeyboardInterrupt):
        first.train()
    if rounds:
        assert (tmp_path / "cut" / "round-1" / "checkpoint-1").exists()
    else:
        assert (tmp_path / "cut" / "checkpoint-2").exists() and not (tmp_path / "cut" / "checkpoint-3").exists()
    second = make_trainer(algo, task, tmp_path / "cut", steps, **kw)
    second.train(resume_from_checkpoint=True)
    w_res = second.model.state_dict()
    for k, v in w_full.items():
        assert torch.allclose(v, w_res[k], atol=1e-6, rtol=0), k


def test_lora_reference_is_the_base_with_adapter_disabled(task, tmp_path):
    peft = pytest.importorskip("peft")
    cfg = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], lora_dropout=0.0)
    model = copy.deepcopy(task.model)
    base_before = {k: v.clone() for k, v in model.state_dict().items()}
    tr = NashMDTrainer(model, args=NashMDTrainerConfig(**common(tmp_path, max_steps=3, save_strategy="no", learning_rate=5e-2)),
                       processing_class=task.tokenizer, train_dataset=task.dataset(8), preference=task.oracle,
                       peft_config=cfg)
    assert tr.ref_model is None and tr.is_peft
    tr.train()
    # base weights untouched, adapter trained
    base = tr.model.get_base_model()
    sd = {k.replace("base_layer.", ""): v for k, v in base.state_dict().items() if "lora_" not in k}
    assert all(torch.equal(base_before[k], sd[k]) for k in base_before)
    lora = [v for k, v in tr.model.named_parameters() if "lora_B" in k]
    assert lora and any(float(v.abs().max()) > 0 for v in lora)
    # reference log-probs = the original model's
    c = fixed(task.tokenizer, PROMPTS, YS)
    ref_lp = tr.ref_logprobs(c)
    expect = [naive_logprob(task.model, task.tokenizer, x, y) for x, y in zip(PROMPTS, YS)]
    assert ref_lp.tolist() == pytest.approx(expect, abs=1e-5)
    pol = tr.logprobs(tr.model, c, grad=False)
    assert not np.allclose(pol.tolist(), expect, atol=1e-4)


def test_fdpg_rejects_reverse_kl_on_zero_support_target(task, tmp_path):
    from gtlearn.core.errors import GtlearnError

    def pointwise(prompts, completions):  # only "rock" is allowed
        return np.where(np.array([c.strip() == "rock" for c in completions]), 0.0, -np.inf)

    tr = FDPGTrainer(copy.deepcopy(task.model), args=FDPGTrainerConfig(**common(tmp_path, divergence="rkl", max_steps=2,
                                                                          save_strategy="no")),
                     processing_class=task.tokenizer, train_dataset=task.dataset(8), preference=task.oracle,
                     target=pointwise)
    with pytest.raises(GtlearnError, match="full-support"):
        tr.train()
