"""`gtlearn compare`, `gtlearn solve --algo vad-cfr-reference` and user rule files through the CLI."""

import json
from pathlib import Path

import numpy as np
import pytest

from games.tree import compile_game
from gtlearn.cli import main
from solvers.best_response import exploitability
from solvers.cfr import CFRSolver
from solvers.policy_io import load_policy

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "rules" / "quadratic_rm_plus.py"


def test_compare_table_json_and_plot(tmp_path, capsys):
    out = tmp_path / "cmp"
    algos = f"cfr,cfr+,pcfr+,vad-cfr,vad-cfr-reference,{EXAMPLE}:QuadraticRMPlus"
    assert main(["compare", "kuhn_poker", "--algos", algos, "--iterations", "40", "--points", "6",
                 "--out", str(out), "--quiet"]) == 0
    data = json.loads((out / "results.json").read_text())
    assert data["algos"] == algos.split(",") and set(data["results"]) == set(algos.split(","))
    assert (out / "plot.png").stat().st_size > 1000
    tree = compile_game("kuhn_poker")
    for name in ("cfr", "pcfr+", "vad-cfr"):
        r = data["results"][name]
        assert r["iterations"][-1] == 40 and len(r["iterations"]) == len(r["exploitability"]) >= 5
        # the final number is the exact exploitability of the rule's average policy after 40 iterations
        solver = CFRSolver(tree, rule=name)
        for _ in range(40):
            solver.step()
        assert r["final"] == pytest.approx(exploitability(tree, solver.average_policy()), abs=1e-12)
    # vad-cfr averages nothing before t = 501: still the uniform profile's exploitability
    assert data["results"]["vad-cfr"]["final"] == pytest.approx(0.4583333333333333)
    printed = capsys.readouterr().out
    assert "exploitability after 40 iterations" in printed and "pcfr+" in printed


@pytest.mark.parametrize("bad, message", [("cfr,nope", "unknown rule 'nope'"), ("cfr,cfr", "twice"),
                                          ("missing.py:X", "does not exist")])
def test_compare_bad_algos_one_line(bad, message, capsys, tmp_path):
    assert main(["compare", "kuhn_poker", "--algos", bad, "--iterations", "5", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_solve_with_user_rule_file(tmp_path):
    out = tmp_path / "user"
    assert main(["solve", "kuhn_poker", "--rule", f"{EXAMPLE}:QuadraticRMPlus", "--param", "power=3",
                 "--iterations", "30", "--eval-every", "10", "--out", str(out), "--quiet"]) == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    # the same rule written inline: RM+ with weights t^3
    from solvers.cfr.rules.cfr_plus import CFRPlus

    class Cubic(CFRPlus):
        def accumulate_average(self, avg_acc, policy, reach, legal, t, state):
            return avg_acc + float(t) ** 3 * reach[:, None] * policy

    tree = compile_game("kuhn_poker")
    solver = CFRSolver(tree, rule=Cubic())
    for _ in range(30):
        solver.step()
    assert rows[-1]["gap"] == pytest.approx(solver.exploitability(), abs=1e-12)
    # the plain-functions form of the same file (power 2) also loads
    assert main(["solve", "kuhn_poker", "--rule", f"{EXAMPLE}:functions", "--iterations", "5",
                 "--out", str(tmp_path / "fn"), "--quiet"]) == 0


def test_solve_vad_cfr_reference_from_cli(tmp_path):
    out = tmp_path / "ref"
    assert main(["solve", "kuhn_poker", "--algo", "vad-cfr-reference", "--param", "granularity=infoset",
                 "--iterations", "20", "--eval-every", "10", "--out", str(out), "--quiet"]) == 0
    tree = compile_game("kuhn_poker")
    _, policy = load_policy(out / "current_policy.npz", tree)
    solver = CFRSolver(tree, rule="vad-cfr")
    for _ in range(20):
        solver.step()
    np.testing.assert_allclose(policy, solver.current_policy(), atol=1e-10)
    assert main(["solve", "kuhn_poker", "--algo", "vad-cfr-reference", "--param", "policy_write=never",
                 "--iterations", "2", "--out", str(tmp_path / "bad"), "--quiet"]) == 2
