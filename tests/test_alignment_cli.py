"""`gtlearn align tabular`: runs through the driver, writes its run directory, resumes exactly, and
turns bad input into one line."""

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
    measures = {"exploitability_reg", "duality_gap", "exploitability", "kl_nash_pi", "kl_pi_nash", "win_rate_ref", "kl_ref"}
    assert set(rows[0]) == {"iteration", "gap", "gap_name", "wall_time", "queries", "contraction_bound",
                            *measures, *(f"avg_{m}" for m in measures)}
    assert [r["iteration"] for r in rows] == list(range(201)) and rows[0]["queries"] == 0
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
    (["--algo", "nope"], "unknown tabular algorithm"),
    (["--game", "hexagon:3"], "unknown preference game"),
    (["--beta", "-0.1"], "--beta must be"),
    (["--beta", "0"], "--beta must be"),
    (["--algo", "fdpg", "--divergence", "hellinger"], "unknown divergence"),
    (["--algo", "fdpg", "--divergence", "rkl", "--target", "pointwise", "--game", "random:5"], "full-support"),
    (["--algo", "apo", "--alpha", "1.5"], "alpha"),
    (["--param", "bogus=1"], "unknown parameter"),
    (["--mode", "noisy"], "--mode"),
    # each of these was a traceback, a silently ignored option, a hang or nonsense numbers
    (["--seed", "-1"], "--seed must be non-negative"),
    (["--game", "cyclic:5,seed=-1"], "option 'seed'"),
    (["--game", "cyclic:100000"], "at most 3,162"),
    (["--game", "random:5,contexts=1e9"], "the limit is"),
    (["--mode", "sampled", "--samples", "1000000000"], "labels per round"),
    (["--algo", "inpo", "--param", "eta=abc"], "eta must be a finite number"),
    (["--algo", "sppo", "--param", "eta=inf"], "eta must be a finite number"),
    (["--algo", "dpo", "--param", "newton_steps=1.5"], "newton_steps must be an integer"),
    (["--algo", "fdpg", "--param", "proposal_interval=0"], "proposal_interval must be positive"),
    (["--beta", "1e-9"], "--beta must be in"),
    (["--beta", "1e300"], "--beta must be in"),
    (["--param", "beta=1e-9"], "--beta must be in"),
    (["--divergence", "kl"], "applies to --algo fdpg only"),
    (["--algo", "omd", "--eta", "0.5", "--param", "eta=0.4"], "both given"),
    (["--game", "nowhere.npz"], "no preference game file"),
    (["--out", "/etc/passwd/run"], "cannot write to"),
    (["--resume"], "without --resume to start it"),
])
def test_user_errors_exit_2_with_one_line(tmp_path, capsys, args, message):
    out = [] if "--out" in args else ["--out", str(tmp_path / "x")]
    rc = main(["align", "tabular", "--iterations", "5", *out, "-q", *args])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_a_broken_game_file_is_one_line(tmp_path, capsys):
    for name, data in (("empty.npz", b""), ("text.npz", b"not a zip"), ("list.json", b"[1, 2]"), ("bad.json", b"{")):
        (tmp_path / name).write_bytes(data)
        assert main(["align", "tabular", "-q", "--game", str(tmp_path / name), "--out", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err.strip()
        assert "is not a preference game file" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_a_crashed_run_continues_with_resume(tmp_path, capsys, monkeypatch):
    from alignment.tabular import NashMP

    base = ["align", "tabular", "-q", "--mode", "sampled", "--game", "random:5,contexts=2", "-n", "12"]
    straight, crashed = tmp_path / "straight", tmp_path / "crashed"
    assert main([*base, "--out", str(straight)]) == 0
    real = NashMP.step

    def crash_at_7(self):
        if self.iteration == 7:
            raise RuntimeError("simulated crash")
        real(self)

    monkeypatch.setenv("GTLEARN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(NashMP, "step", crash_at_7)
    assert main([*base, "--out", str(crashed)]) == 1  # an internal error, its traceback saved
    monkeypatch.setattr(NashMP, "step", real)
    capsys.readouterr()
    assert main([*base, "--out", str(crashed)]) == 2
    assert "pass --resume to continue it" in capsys.readouterr().err
    assert main([*base, "--out", str(crashed), "--resume"]) == 0

    def rows(path):
        return [{k: v for k, v in r.items() if k != "wall_time"} for r in _rows(path)]

    assert rows(crashed) == rows(straight) and len(rows(crashed)) == 13
    with np.load(straight / "policy.npz") as a, np.load(crashed / "policy.npz") as b:
        assert all(np.array_equal(a[k], b[k]) for k in a.files)


@pytest.mark.parametrize("args", [
    ["--algo", "fdpg", "--mode", "sampled", "--game", "random:5", "-p", "proposal=offline", "-p", "proposal_interval=3"],
    ["--algo", "inpo", "--param", "fit=loss", "--mode", "sampled", "--samples", "8"],
    ["--algo", "apo", "--alpha", "0.5", "--game", "bt:5"],
])
def test_resume_gives_the_run_done_in_one_go(tmp_path, args):
    straight, split = tmp_path / "straight", tmp_path / "split"
    base = ["align", "tabular", "-q", *args]
    assert main([*base, "--iterations", "12", "--out", str(straight)]) == 0
    assert main([*base, "--iterations", "5", "--out", str(split)]) == 0
    assert main([*base, "--iterations", "12", "--out", str(split), "--resume"]) == 0

    def rows(path):
        return [{k: v for k, v in r.items() if k != "wall_time"} for r in _rows(path)]

    assert rows(straight) == rows(split) and len(rows(split)) == 13
    with np.load(straight / "policy.npz") as a, np.load(split / "policy.npz") as b:
        assert sorted(a.files) == sorted(b.files) and all(np.array_equal(a[k], b[k]) for k in a.files)


def test_resume_and_overwrite_rules(tmp_path, capsys):
    out = tmp_path / "run"
    base = ["align", "tabular", "-q", "--iterations", "3", "--out", str(out)]
    assert main(base) == 0
    assert main(base) == 2 and "--resume" in capsys.readouterr().err  # the run exists
    assert main([*base, "--beta", "0.2", "--resume"]) == 2 and "beta" in capsys.readouterr().err
    assert main([*base, "--overwrite"]) == 0
    assert main(["align", "tabular", "-q", "--resume"]) == 2 and "--out" in capsys.readouterr().err


def test_registry_holds_every_algorithm_with_its_config():
    from alignment.tabular import TABULAR_ALGORITHMS, FDPGConfig, NashMPConfig
    from gtlearn.core.errors import GtlearnError

    assert TABULAR_ALGORITHMS.names() == ["nash-mp", "inpo", "apo", "nash-md", "omd", "dpo", "ipo", "sppo", "fdpg"]
    assert TABULAR_ALGORITHMS["nash-mp"].config_cls is NashMPConfig
    cfg = TABULAR_ALGORITHMS.make_config("fdpg", beta=0.2, target="pointwise")
    assert isinstance(cfg, FDPGConfig) and cfg.target == "pointwise"
    with pytest.raises(GtlearnError, match="did you mean 'nash-md'"):
        TABULAR_ALGORITHMS["nash_md"]
