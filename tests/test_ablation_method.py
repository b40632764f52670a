"""The ablation method of experiments/ablation_common.py: one-off and greedy-to-a-minimal-core.

The run function is a stand-in whose exploitability is a known product of per-mechanism factors,
so the right one-off drops and the right minimal core are known in closed form."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))

from ablation_common import Study, fitness, report_lines  # noqa: E402

# Switching a mechanism off multiplies the exploitability by 10**GAIN[m] on the training games
# and 10**HELD[m] on the held-out one: GAIN > 0 = the mechanism helps there.
GAIN = {"big": 2.0, "small": 0.04, "harmful": -0.5, "useless": 0.0}
HELD = {"big": 0.1, "small": 1.0, "harmful": -0.2, "useless": 0.0}
BASE_E = 1e-3  # the baseline's exploitability; the full algorithm is 10**-3 times it


def _study(tmp_path, keep=0.95):
    calls = []

    def run(off, game):
        calls.append((off, game))
        table = HELD if game == "held" else GAIN
        return {"final": BASE_E * 1e-3 * 10 ** sum(table[m] for m in off), "seconds": 1.0}

    study = Study(tmp_path, list(GAIN), run, lambda game: BASE_E, ["a", "b"], ["held"], keep=keep)
    return study, calls


def test_fitness_is_decades_below_the_baseline():
    assert fitness(1e-5, 1e-3) == pytest.approx(2.0)
    assert fitness(0.0, 1e-3) == pytest.approx(9.0)  # floored at 1e-12


def test_one_off_drops_are_the_mechanisms_gains(tmp_path):
    study, _ = _study(tmp_path)
    rows = study.one_off()
    full = rows[0]
    assert full["off"] == [] and full["training"]["mean"] == pytest.approx(3.0)
    for row in rows[1:]:
        m = row["off"][0]
        assert full["training"]["mean"] - row["training"]["mean"] == pytest.approx(GAIN[m])
        assert full["held_out"]["mean"] - row["held_out"]["mean"] == pytest.approx(HELD[m])


def test_greedy_finds_the_minimal_core(tmp_path):
    study, calls = _study(tmp_path)
    greedy = study.greedy()
    # Full training fitness 3.0, threshold 2.85: "harmful" (+0.5), "useless" (0) and "small" (-0.04)
    # go; removing "big" (-2.0) would fall below the threshold.
    assert greedy["core"] == ["big"]
    assert sorted(greedy["off"]) == ["harmful", "small", "useless"]
    assert [step.get("removed") for step in greedy["path"][1:]] == ["harmful", "useless", "small"]
    assert greedy["core_training"]["mean"] == pytest.approx(3.0 + 0.5 - 0.04)
    assert greedy["core_held_out"]["mean"] == pytest.approx(3.0 + 0.2 - 1.0)
    # Cached: a second study on the same directory runs nothing.
    n = len(calls)
    again, calls2 = _study(tmp_path)
    assert again.greedy()["core"] == ["big"] and not calls2 and n > 0
    assert len(again.run_seconds) == len(study.run_seconds)


def test_a_strict_threshold_keeps_more(tmp_path):
    study, _ = _study(tmp_path, keep=1.2)  # 3.6 needed: only removing "harmful" (3.5) is not enough
    assert study.greedy()["core"] == list(GAIN)


def test_report_names_the_carrier(tmp_path):
    study, _ = _study(tmp_path)
    lines = "\n".join(report_lines("X", study, study.one_off(), study.greedy(), str, {m: m for m in GAIN}, "X-core"))
    assert "on the training games `big`" in lines and "on the held-out games `small`" in lines
    assert "**X-core**" in lines and math.isfinite(study.greedy()["threshold"])
