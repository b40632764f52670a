"""Per-step losses of every trainer on the tiny in-process LM, pinned to the values the trainers
gave before they were split into one module per algorithm (docs/trainers.md).

Each case trains a few steps from the synthetic task's model with a fixed seed and records the
loss that ``compute_loss`` returns at every micro-batch, across rounds for INPO/APO. The values
are float32 computations that also pass through sampling, so they are compared at 1e-5 relative:
the rounding of float32 reductions depends on the number of torch threads (measured: the last
INPO loss moves by 1.5e-6 relative between 2 threads and 1), while any change to a loss, a
sampler, the pairing or the round logic moves them far more. Every
field whose default changed since is spelled out: ``sampling_rng="global"`` (torch's global
generator, the sampling of the time; the default is now keyed sampling), and the configs'
defaults of ``baseline`` / ``all_pairs`` (off) are the old behaviour.
"""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("datasets")

from alignment.synthetic import cached_task  # noqa: E402
from alignment.trainers.pipeline import make_trainer, trainer_config  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


CASES = {
    "nash-mp-token": ("nash-mp", dict(max_steps=4, kl_estimator="token", inner_steps_half=2, num_generations=2),
                      [0.007567353546619415, 0.2731335759162903, -0.16981016099452972, 0.20452049374580383], 32),
    "nash-md-accumulation": ("nash-md", dict(max_steps=5, gradient_accumulation_steps=2),
                             [0.0075668469071388245, 0.5005917549133301, -0.011779427528381348, 0.003082890063524246,
                              -0.17567788064479828, 0.04374440014362335, 0.02299114689230919, -0.236789733171463,
                              0.00481482595205307, -0.08547721803188324], 80),
    "fdpg-offline": ("fdpg", dict(max_steps=6, proposal="offline", proposal_update_interval=2, divergence="kl",
                                  temperature=0.9),
                     [1.834925889968872, 0.11798600107431412, 0.10227448493242264, -0.007914576679468155,
                      -0.4954448938369751, 0.04847352206707001], 0),
    "inpo-tournament": ("inpo", dict(max_steps=2, num_iterations=2, eta=0.75, beta=0.25, num_samples_per_prompt=4,
                                     pair_mode="tournament", prompts_per_round=3),
                        [0.4444446265697479, 2.591282844543457, 0.32515981793403625, 0.9432964324951172], None),
    "apo-extrapolated": ("apo", dict(max_steps=2, num_iterations=3, num_samples_per_prompt=4, sampler="extrapolated",
                                     pair_mode="tournament"),
                         [0.6931471824645996, 0.44079187512397766, 0.7138824462890625, 0.5749329924583435,
                          0.6399601697921753, 0.4857587218284607], None),
    "apo-sppo": ("apo", dict(max_steps=2, num_iterations=3, num_samples_per_prompt=4, inner_loss="sppo", alpha=0.3),
                 [0.0520833395421505, 0.22843821346759796, 0.03845766931772232, 0.09954679012298584,
                  0.07606462389230728, 0.16910067200660706], None),
}


@pytest.fixture(scope="module")
def task():
    return cached_task(pretrain_steps=60)


@pytest.mark.parametrize("case", list(CASES))
def test_losses_are_the_pinned_ones(case, task, tmp_path):
    algo, fields, expect, queries = CASES[case]
    base = dict(output_dir=str(tmp_path), per_device_train_batch_size=4, max_new_tokens=3, temperature=1.0,
                learning_rate=1e-2, use_cpu=True, disable_tqdm=True, logging_steps=1, save_strategy="no", seed=0,
                beta=0.25, lr_scheduler_type="constant", warmup_steps=0, sampling_rng="global")
    config = trainer_config(algo, {**base, **fields})
    torch.manual_seed(123)
    prompts = task.dataset(4 if algo in ("inpo", "apo") else 8)
    trainer = make_trainer(algo, copy.deepcopy(task.model), config, tokenizer=task.tokenizer, prompts=prompts,
                           preference=task.oracle, target=task.fdpg_log_score)
    losses = []
    compute_loss = trainer.compute_loss

    def recording(*args, **kwargs):
        loss = compute_loss(*args, **kwargs)
        losses.append(float(loss.detach()))
        return loss

    trainer.compute_loss = recording
    trainer.train()
    assert losses == pytest.approx(expect, rel=1e-5, abs=1e-8)
    if queries is not None:
        assert trainer.preference_queries == queries
