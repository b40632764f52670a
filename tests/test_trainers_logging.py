"""Logging the ecosystem way (docs/trainers.md, "Logging"): every trainer logs conventional
metric names (``rewards/…``, ``logps/…``, ``kl/…``); ``--report-to tensorboard`` writes them
offline under ``<out>/tensorboard`` at steps counted across rounds; the console shows the rich
progress and a summary only — no raw log dicts, no tqdm bars — and ``--quiet`` nothing."""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("datasets")

from alignment.synthetic import cached_task  # noqa: E402
from alignment.trainers.pipeline import make_trainer, quiet_trainer, trainer_config  # noqa: E402
from gtlearn.cli import main  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


NAMES = {
    "nash-mp": ["rewards/probabilities", "logps/policy", "logps/ref", "kl/ref", "kl/anchor", "completions/mean_length"],
    "nash-md": ["rewards/probabilities", "rewards/accuracies", "logps/policy", "kl/ref", "completions/clipped_ratio"],
    "fdpg": ["rewards/pseudo_mean", "logps/policy", "logps/ref", "kl/ref", "kl/target"],
    "inpo": ["rewards/margins", "rewards/accuracies", "logps/chosen", "logps/rejected", "kl/ref", "kl/prev"],
    "apo": ["rewards/margins", "rewards/chosen", "rewards/rejected", "logps/chosen", "kl/ref"],
}


@pytest.mark.parametrize("algo", list(NAMES))
def test_conventional_metric_names(algo, tmp_path):
    task = cached_task(pretrain_steps=60)
    fields = dict(output_dir=str(tmp_path), per_device_train_batch_size=4, max_new_tokens=3, temperature=1.0,
                  learning_rate=1e-2, use_cpu=True, logging_steps=1, save_strategy="no", seed=0, beta=0.25,
                  max_steps=2, report_to="none", dataloader_pin_memory=False)
    if algo in ("inpo", "apo"):
        fields.update(num_iterations=2, num_samples_per_prompt=4, pair_mode="iid", max_steps=1)
    if algo == "inpo":
        fields.update(eta=0.75)
    trainer = make_trainer(algo, copy.deepcopy(task.model), trainer_config(algo, fields), tokenizer=task.tokenizer,
                           prompts=task.dataset(8), preference=task.oracle, target=task.fdpg_log_score)
    quiet_trainer(trainer).train()
    records = getattr(trainer, "log_history", trainer.state.log_history)
    logged = [r for r in records if "loss" in r]
    assert logged and all(all(name in r for name in NAMES[algo]) for r in logged), sorted(logged[0])
    assert [r["step"] for r in logged] == [1, 2]  # across rounds for INPO/APO


def _cli(tmp_path, *extra):
    return ["align", "train", "--algo", "inpo", "--steps", "4", "--rounds", "2", "--eval-every", "2", "--batch-size",
            "4", "--pretrain-steps", "30", "--out", str(tmp_path / "run"), "--param", "max_new_tokens=3", "--param",
            "prompts_per_round=8", "--param", "logging_steps=1", *extra]


def test_tensorboard_offline_and_a_clean_console(tmp_path, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    assert main(_cli(tmp_path, "--report-to", "tensorboard")) == 0
    out, err = capsys.readouterr()
    for noise in ("{'loss'", "'epoch'", "it/s", "Writing model shards", "Saving the dataset", "Traceback"):
        assert noise not in out and noise not in err, noise
    assert "KL(pi*||pi)" in err and "run:" in err
    logdir = tmp_path / "run" / "tensorboard"
    acc = EventAccumulator(str(logdir))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    for tag in ("train/loss", "train/rewards/margins", "train/logps/chosen", "train/kl/ref", "train/kl/prev"):
        assert tag in tags, tags
    assert sorted({e.step for e in acc.Scalars("train/loss")}) == [1, 2, 3, 4]  # steps across the two rounds


def test_quiet_prints_nothing(tmp_path, capsys):
    assert main(_cli(tmp_path, "--quiet")) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "" and err.strip() == ""
