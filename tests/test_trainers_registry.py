"""The trainers' registry and the pieces of the end-to-end pipeline that need no training:
names, config classes that do not collide with the tabular lab's, shared field names, the
resume step of a Run, and that a fresh round-based run never reuses stale round data."""

from __future__ import annotations

import copy
import dataclasses
import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("datasets")

import alignment.tabular as tabular  # noqa: E402
from alignment.trainers import (  # noqa: E402
    TRAINERS,
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
    RoundTrainer,
)
from alignment.trainers.pipeline import check_fields, is_round_based, last_checkpoint_step  # noqa: E402
from gtlearn.core.errors import GtlearnError  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


EXPECTED = {
    "nash-mp": (NashMPTrainer, NashMPTrainerConfig),
    "inpo": (INPOTrainer, INPOTrainerConfig),
    "apo": (APOTrainer, APOTrainerConfig),
    "fdpg": (FDPGTrainer, FDPGTrainerConfig),
    "nash-md": (NashMDTrainer, NashMDTrainerConfig),
}


def fields(cls) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def test_registry_maps_names_to_trainer_and_config():
    assert sorted(TRAINERS) == sorted(EXPECTED)
    for name, (cls, cfg) in EXPECTED.items():
        entry = TRAINERS[name]
        assert (entry.cls, entry.config_cls) == (cls, cfg)
    with pytest.raises(GtlearnError, match="did you mean 'inpo'"):
        TRAINERS["inpoo"]


def test_config_names_do_not_collide_with_the_tabular_lab():
    trainer_names = {TRAINERS[n].config_cls.__name__ for n in TRAINERS} | {TRAINERS[n].cls.__name__ for n in TRAINERS}
    tabular_names = {name for name in dir(tabular) if isinstance(getattr(tabular, name), type)}
    assert not trainer_names & tabular_names


def test_shared_concepts_share_field_names():
    """β (the KL weight to the reference; INPO's τ), η, α, λ and the f-divergence are named as in
    the tabular configs."""
    assert {"beta", "eta"} <= fields(INPOTrainerConfig) and "tau" not in fields(INPOTrainerConfig)
    assert {"beta", "eta"} <= fields(tabular.INPOConfig)
    assert {"beta", "prox_coef"} <= fields(NashMPTrainerConfig) & fields(tabular.NashMPConfig)
    assert {"beta", "alpha", "sppo_eta"} <= fields(APOTrainerConfig) & fields(tabular.APOConfig)
    assert "divergence" in fields(FDPGTrainerConfig) & fields(tabular.FDPGConfig)


def test_inpo_beta_is_tau_with_eta_over_three_by_default(tmp_path):
    assert INPOTrainerConfig(output_dir=str(tmp_path), eta=0.6).beta == pytest.approx(0.2)
    with pytest.raises(GtlearnError, match="beta"):
        INPOTrainerConfig(output_dir=str(tmp_path), eta=0.1, beta=0.2)


def test_round_based_and_unknown_fields():
    assert [n for n in EXPECTED if is_round_based(n)] == ["inpo", "apo"]
    assert all(issubclass(TRAINERS[n].cls, RoundTrainer) == is_round_based(n) for n in EXPECTED)
    check_fields("inpo", {"eta": 0.1, "beta": 0.01, "learning_rate": 1e-6})
    with pytest.raises(GtlearnError, match=r"unknown config field\(s\) \['tau'\] for INPOTrainerConfig"):
        check_fields("inpo", {"tau": 0.01})


def _checkpoint(path):
    """A complete checkpoint directory (the marker is written last; see alignment/trainers/mixins.py)."""
    from alignment.trainers.mixins import COMPLETE

    path.mkdir(parents=True)
    (path / COMPLETE).touch()


def test_last_checkpoint_step_counts_finished_rounds(tmp_path):
    _checkpoint(tmp_path / "checkpoint-4")
    _checkpoint(tmp_path / "checkpoint-8")
    (tmp_path / "checkpoint-12").mkdir()  # killed while being written: skipped
    assert last_checkpoint_step(tmp_path, round_based=False) == 8
    with pytest.raises(GtlearnError, match="no checkpoint"):
        last_checkpoint_step(tmp_path / "none", round_based=False)
    for t, steps in enumerate([5, 7]):
        (tmp_path / f"round-{t}").mkdir()
        (tmp_path / f"round-{t}" / "done.json").write_text(json.dumps({"round": t, "steps": steps}))
    assert last_checkpoint_step(tmp_path, round_based=True) == 12
    _checkpoint(tmp_path / "round-2" / "checkpoint-3")
    assert last_checkpoint_step(tmp_path, round_based=True) == 15


def test_a_fresh_round_run_rebuilds_its_data(tmp_path):
    """Stale pair data in the output directory is read back only when resuming."""
    from datasets import Dataset, load_from_disk

    from alignment.synthetic import cached_task

    task = cached_task(pretrain_steps=60)
    tok = task.tokenizer
    stale = Dataset.from_list([{"prompt_ids": [1, 1, 1], "chosen_ids": [2], "rejected_ids": [2],
                                "ref_chosen_logps": 0.0, "ref_rejected_logps": 0.0,
                                "prev_chosen_logps": 0.0, "prev_rejected_logps": 0.0}])
    stale.save_to_disk(str(tmp_path / "round-0" / "data"))
    cfg = INPOTrainerConfig(output_dir=str(tmp_path), per_device_train_batch_size=4, max_new_tokens=3, temperature=1.0,
                            use_cpu=True, disable_tqdm=True, save_strategy="no", max_steps=1, num_iterations=1, eta=0.75,
                            beta=0.25, num_samples_per_prompt=4, pair_mode="iid")
    INPOTrainer(copy.deepcopy(task.model), args=cfg, processing_class=tok, train_dataset=task.dataset(4),
                preference=task.oracle).train()
    rows = list(load_from_disk(str(tmp_path / "round-0" / "data")))
    assert rows and all(r["prompt_ids"] != [1, 1, 1] for r in rows)
