"""One error path for the whole CLI (gtlearn/cli/errors.py): usage errors, user errors,
Ctrl-C and internal errors, checked on the installed console script and in-process."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gtlearn.cli import main
from gtlearn.cli.errors import resume_command

GTLEARN = [sys.executable, "-m", "gtlearn.cli"]



def restore_sigint() -> None:
    """Children of a background job start with SIGINT ignored, and Python then installs no
    KeyboardInterrupt handler: give the child the default disposition, as a terminal would."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)

def run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(GTLEARN + args, capture_output=True, text=True, timeout=300, **kwargs)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


@pytest.mark.parametrize("args", [
    [],
    ["solve"],
    ["sovle", "kuhn_poker"],
    ["solve", "kuhn_poker", "--bogus-flag"],
    ["solve", "kuhn_poker", "--iterations", "ten"],
    ["align", "tabular", "--beta", "abc"],
    ["werewolf", "eval"],
    ["evolve"],
])
def test_usage_errors_are_usage_plus_one_error_line(args):
    res = run(args)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout
    assert len(error_lines(res.stderr)) == 1, res.stderr
    assert "Usage: gtlearn" in res.stderr


def test_mistyped_verb_gets_a_suggestion():
    res = run(["sovle", "kuhn_poker"])
    assert "did you mean 'solve'" in error_lines(res.stderr)[0].lower()


def test_the_error_path_does_not_need_the_click_package():
    # typer >= 0.28 bundles click and does not install it: the CLI must not import it
    code = ("import sys; sys.modules['click'] = None; from gtlearn.cli import main; "
            "sys.exit(main(['solve', 'kuhn_poker', '--bogus-flag']))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and len(error_lines(res.stderr)) == 1, res.stderr


def test_internal_error_is_one_line_and_a_saved_traceback(monkeypatch, capsys, tmp_path):
    import games.openspiel
    import games.tree  # noqa: F401 - imported before the patch, so it keeps the real function for later tests

    def broken(game):
        raise ZeroDivisionError("boom")

    monkeypatch.setenv("GTLEARN_CACHE", str(tmp_path))
    monkeypatch.setattr(games.openspiel, "resolve_game_string", broken)
    assert main(["solve", "kuhn_poker", "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("internal error: ZeroDivisionError: boom (traceback saved to ")
    saved = Path(err[0].split("traceback saved to ")[1].rstrip(")"))
    assert saved.is_file() and "ZeroDivisionError" in saved.read_text() and saved.parent == tmp_path / "crashes"


def test_resume_command_keeps_the_arguments():
    argv = ["solve", "leduc_poker", "-n", "50", "--overwrite", "--algo", "dcfr"]
    assert resume_command(argv, "runs/x y") == "gtlearn solve leduc_poker -n 50 --algo dcfr --out 'runs/x y' --resume"
    assert resume_command(["psro", "g", "--out", "d", "--resume"], "d") == "gtlearn psro g --out d --resume"
    assert resume_command(["evolve", "run", "c.yaml"], "d") == "gtlearn evolve run c.yaml --out d --resume"
    assert resume_command(["evolve", "resume", "d", "-q"], "d") == "gtlearn evolve resume d -q"


@pytest.mark.parametrize("verb", [["solve", "leduc_poker", "-n", "1000000", "--eval-every", "500"],
                                  ["psro", "leduc_poker", "--train-meta", "prd", "-n", "100000"]])
def test_ctrl_c_exits_130_and_says_how_to_resume(verb, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(GTLEARN + verb + ["-q", "--out", str(out)], preexec_fn=restore_sigint, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (out / "checkpoint.npz").exists() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    lines = err.strip().splitlines()
    assert "interrupted" in lines and "Traceback" not in err
    hint = next(line for line in lines if line.startswith("resume with: "))
    resume = shlex.split(hint[len("resume with: "):])
    assert resume[0] == "gtlearn" and resume[-1] == "--resume" and str(out) in resume
    assert os.path.exists(out / "config.json")


@pytest.mark.parametrize("args", [
    ["solve", "kuhn_poker", "--algo", "dcfr", "-p", "alpha=abc", "-n", "3"],
    ["psro", "kuhn_poker", "--train-meta", "prd", "--train-param", "iterations=abc", "-n", "2"],
    ["solve", "kuhn_poker", "--out", "/etc/passwd/x", "-n", "3"],
    ["compare", "kuhn_poker", "--algos", "cfr", "--out", "/etc/passwd/x", "-n", "3"],
    ["bench", "--peer", "nope"],
])
def test_bad_values_are_one_error_line_and_leave_no_run(args, tmp_path):
    out = [] if "--out" in args else ["--out", str(tmp_path / "run")]
    res = run(args + out + ["-q"] if args[0] != "bench" else args)
    assert res.returncode == 2, res.stderr
    assert len(error_lines(res.stderr)) == 1 and "Traceback" not in res.stderr, res.stderr
    assert not (tmp_path / "run").exists()


def test_resume_with_fewer_iterations_is_an_error(tmp_path):
    out = str(tmp_path / "run")
    assert run(["solve", "kuhn_poker", "-n", "30", "-q", "--out", out]).returncode == 0
    res = run(["solve", "kuhn_poker", "-n", "10", "-q", "--out", out, "--resume"])
    assert res.returncode == 2 and "already at iteration 30" in error_lines(res.stderr)[0]


def test_bench_without_peers_writes_its_report(tmp_path):
    out = tmp_path / "bench.md"
    res = run(["bench", "--no-peers", "--no-reference", "--game", "kuhn_poker", "--rounds", "1",
               "--round-budget", "0.05", "--out", str(out)])
    assert res.returncode == 0, res.stderr
    assert "| kuhn_poker |" in out.read_text() and out.with_suffix(".json").is_file()


def test_size_guard_refuses_a_huge_game_early():
    # Knuth's probes estimate ~1e6 nodes here (heavy tail); the walk used to run to the 5M limit
    # (139 s). Now it projects the size from the walked fraction and stops after a few seconds.
    res = run(["solve", "oshi_zumo(coins=4,size=1)", "-n", "1", "-q"])
    line = error_lines(res.stderr)[0]
    assert res.returncode == 2 and "projected at" in line
    walked = int(line.split("after walking ")[1].split(" of them")[0].replace(",", ""))
    assert walked < 5_000_000 // 4


def test_align_train_bad_values_are_refused_before_the_set_up(tmp_path, capsys):
    """`align train --lr -1` used to fail after the ~8 s set-up, leaving a partial run
    directory; every value is now checked first (in-process: no torch/transformers import needed)."""
    for argv in (["--lr", "-1"], ["--lr", "nan"], ["--beta", "0"], ["--batch-size", "0"], ["--seed", "-1"],
                 ["--lora", "-2"], ["--pretrain-steps", "-5"], ["--rounds", "0", "--algo", "inpo"],
                 ["-p", "learning_rate=-1"], ["--game", "cyclic:abc"], ["--resume"],
                 # these three passed the checks and failed after the set-up, with a traceback
                 ["-p", "max_new_tokens=abc"], ["-p", "per_device_train_batch_size=0"], ["--report-to", "bogus"]):
        out = tmp_path / "run"
        assert main(["align", "train", "--steps", "2", "-q", "--out", str(out), *argv]) == 2, argv
        err = capsys.readouterr().err
        assert len(error_lines(err)) == 1 and "Traceback" not in err, (argv, err)
        assert not out.exists(), argv
    assert main(["align", "train", "--steps", "2", "-q", "--out", "/etc/passwd/x"]) == 2
    assert "not a directory" in capsys.readouterr().err


CAMPAIGN = ("run: {task: cfr, max_evaluated: 2, sequential: true}\n"
            "cascade: {stage1: {games: [kuhn_poker], iterations: 5}, stage2: {games: [kuhn_poker], iterations: 10},"
            " heldout: {games: []}}\n")


@pytest.mark.parametrize("text, extra, needle", [
    ("", [], "is empty"),
    ("# nothing but a comment\n", [], "is empty"),
    ("cascade: {stage2: {games: [kuhn_poker], iterations: 10}}\n", [], "does not set run.task"),
    ("run: {task: cfr}\n", [], "does not set cascade.stage2"),
    (CAMPAIGN + "llm: {backend: openai_compat}\n", [], "needs llm.models[0].base_url"),
    (CAMPAIGN.replace("iterations: 5", "iterations: many"), [], "cascade.stage1.iterations must be an integer"),
    (CAMPAIGN, ["--max-evaluated", "-1"], "--max-evaluated must be positive"),
    (CAMPAIGN + "executor: {kind: cluster}\n", [], "executor.kind must be one of local, ray"),
    (CAMPAIGN.replace("task: cfr", "task: cfr, seeed: 3"), [], "did you mean 'run.seed'"),
    (CAMPAIGN, ["--out", "/etc/passwd/x"], "not a directory"),
])
def test_evolve_campaign_mistakes_are_one_error_line_and_leave_no_run(tmp_path, capsys, text, extra, needle):
    """Each used to run the default campaign, exit 0 or end in a traceback."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    out = tmp_path / "run"
    argv = ["evolve", "run", str(cfg), "-q", "--unsafe-sandbox"] + (extra if "--out" in extra else ["--out", str(out), *extra])
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(error_lines(err)) == 1 and needle in error_lines(err)[0] and "Traceback" not in err, err
    assert not out.exists()


def test_bench_peer_liteefg_without_liteefg_is_one_error_line(monkeypatch, capsys, tmp_path):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "LiteEFG" else real(name, *a))
    assert main(["bench", "--peer", "liteefg", "--game", "kuhn_poker", "--rounds", "1"]) == 2
    err = capsys.readouterr().err
    assert error_lines(err) == ["error: peer 'liteefg' needs LiteEFG: pip install 'gtlearn[bench]'"], err
    # the default peers without LiteEFG: a note, then OpenSpiel alone, and a complete report
    pytest.importorskip("pyspiel")
    out = tmp_path / "bench.md"
    assert main(["bench", "--game", "kuhn_poker", "--rounds", "1", "--round-budget", "0.05", "--no-reference",
                 "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "LiteEFG is not installed" in captured.err and not error_lines(captured.err)
    report = out.read_text()
    assert "| kuhn_poker |" in report and "OpenSpiel" in report


def test_compiling_reports_progress_with_a_projection(monkeypatch):
    """A compile the user waits for (3-player Leduc: ~11 s) reports nodes walked and the
    projected total; here every 512 nodes of Leduc (the CLI shows it as a status line)."""
    import games.tree_walk
    from games.tree import compile_game

    monkeypatch.setattr(games.tree_walk, "PROGRESS_EVERY", 512)
    seen: list[tuple[int, float]] = []
    tree = compile_game("leduc_poker", use_cache=False, progress=lambda n, projected: seen.append((n, projected)))
    assert len(seen) >= 5
    nodes = [n for n, _ in seen]
    assert nodes == sorted(nodes) and nodes[-1] <= tree.num_nodes
    assert all(p > 0 for _, p in seen)


def test_evolve_on_ray_without_ray_names_the_extra(tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CAMPAIGN + "executor: {kind: ray}\n")
    assert main(["evolve", "run", str(cfg), "-q", "--unsafe-sandbox", "--out", str(tmp_path / "run")]) == 2
    assert error_lines(capsys.readouterr().err) == ["error: executor.kind=ray needs Ray: pip install 'gtlearn[distributed]'"]
    assert not (tmp_path / "run").exists()


def test_align_train_failing_before_its_first_checkpoint_leaves_no_run_directory(tmp_path, capsys, monkeypatch):
    """Whatever slips past the checks and fails before the first checkpoint removes the run
    directory it created (there is nothing to resume)."""
    pytest.importorskip("transformers")
    import alignment.trainers.pipeline as pipeline

    def broken(*args, **kwargs):
        raise RuntimeError("the trainer could not be built")

    monkeypatch.setattr(pipeline, "synthetic_trainer", broken)
    monkeypatch.setenv("GTLEARN_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    assert main(["align", "train", "--steps", "2", "-q", "--pretrain-steps", "5", "--out", str(out)]) == 1
    assert "internal error: RuntimeError: the trainer could not be built" in capsys.readouterr().err
    assert not out.exists()


def test_deep_cfr_without_torch_names_the_extra_before_any_work(monkeypatch, capsys, tmp_path):
    """Found on a fresh `pip install -e ".[fast]"`: `--algo deep-cfr` was an internal error."""
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a, **k: None if name == "torch" else find_spec(name, *a, **k))
    out = tmp_path / "run"
    assert main(["solve", "kuhn_poker", "--algo", "deep-cfr", "-n", "2", "-q", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "gtlearn[neural]" in errors[0], err
    assert "Traceback" not in err and not out.exists()
