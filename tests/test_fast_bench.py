"""`gtlearn bench` end to end on a small game (no timing asserts: the numbers are noisy)."""

import json

from gtlearn.cli import main


def test_bench_cli_writes_report_and_agrees_with_openspiel(tmp_path):
    out = tmp_path / "bench.md"
    rc = main(["bench", "-g", "kuhn_poker(players=3)", "--rounds", "1", "--round-budget", "0.01",
               "--peer", "openspiel", "--out", str(out)])
    assert rc == 0
    text = out.read_text()
    assert "kuhn_poker(players=3)" in text and "OpenSpiel C++ CFRPlusSolver" in text
    report = json.loads(out.with_suffix(".json").read_text())
    (game,) = report["games"]
    assert set(game["cfr"]) >= {"ours (numba)", "ours (numpy)", "OpenSpiel C++ CFRPlusSolver"}
    values = game["nash_conv_values"]
    # Our NashConv and OpenSpiel's C++ nash_conv of the same policy.
    assert abs(values["ours (numba)"] - values["OpenSpiel C++ nash_conv"]) < 1e-9
    assert abs(values["ours (numpy)"] - values["OpenSpiel C++ nash_conv"]) < 1e-9
    assert all(t["per_iter_s"] > 0 for t in game["cfr"].values())


def test_bench_cli_rejects_unknown_peer(capsys):
    assert main(["bench", "--peer", "pokerstars", "--no-reference"]) == 2
    assert "unknown peer" in capsys.readouterr().err
