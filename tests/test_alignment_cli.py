"""`gtlearn align tabular`: runs, writes its run directory, and turns bad input into one line."""

import json

import numpy as np
import pytest

from gtlearn.cli import main


def _rows(path):
    return [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]


def test_nash_mp_run_directory(tmp_path):
    out = tmp_path / "run"
    rc = main(["align", "tabular", "--game", "random:5,ref=1.0", "--algo", "nash-mp", "--beta", "0.1",
               "--iterations", "200", "--out", str(out), "-q"])
    assert rc == 0
    for name in ("config.json", "metrics.jsonl", "plot.png", "policy.npz"):
        assert (out / name).exists()
    rows = _rows(out)
    assert len(rows) == 201 and rows[-1]["queries"] == 400
    assert rows[-1]["gap_name"] == "exploitability_reg" and rows[-1]["kl_nash_pi"] < 1e-8
    assert abs(rows[-1]["duality_gap"] - 2 * rows[-1]["exploitability_reg"]) < 1e-15
    with np.load(out / "policy.npz", allow_pickle=False) as d:
        assert np.allclose(d["policy"], d["nash"], atol=1e-8)


@pytest.mark.parametrize("args", [
    ["--algo", "inpo"], ["--algo", "apo", "--alpha", "0.5", "--game", "bt:5"], ["--algo", "nash-md", "--eta", "0.5"],
    ["--algo", "omd"], ["--algo", "dpo", "--game", "bt:4"], ["--algo", "ipo", "--beta", "1"], ["--algo", "sppo"],
    ["--algo", "fdpg", "--divergence", "js"], ["--algo", "fdpg", "--divergence", "kl", "--target", "pointwise"],
    ["--algo", "fdpg", "--divergence", "rkl", "--target", "distributional", "--mode", "sampled", "--game", "random:5"],
    ["--algo", "inpo", "--param", "fit=loss", "--mode", "sampled", "--samples", "16"],
    ["--algo", "nash-mp", "--mode", "sampled", "--seed", "3"],
])
def test_every_algorithm_runs(tmp_path, args):
    out = tmp_path / "r"
    assert main(["align", "tabular", "--iterations", "20", "--out", str(out), "-q", *args]) == 0
    rows = _rows(out)
    assert len(rows) == 21 and all(np.isfinite(r["gap"]) for r in rows)


@pytest.mark.parametrize("args, message", [
    (["--algo", "nope"], "unknown algorithm"),
    (["--game", "hexagon:3"], "unknown preference game"),
    (["--beta", "-0.1"], "--beta must be"),
    (["--beta", "0"], "--beta must be"),
    (["--algo", "fdpg", "--divergence", "hellinger"], "unknown divergence"),
    (["--algo", "fdpg", "--divergence", "rkl", "--target", "pointwise", "--game", "random:5"], "full-support"),
    (["--algo", "apo", "--alpha", "1.5"], "alpha"),
    (["--param", "bogus=1"], "unknown parameter"),
    (["--mode", "noisy"], "--mode"),
])
def test_user_errors_exit_2_with_one_line(tmp_path, capsys, args, message):
    rc = main(["align", "tabular", "--iterations", "5", "--out", str(tmp_path / "x"), "-q", *args])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert message in err and len(err.splitlines()) == 1
