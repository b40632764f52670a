"""Property-based fuzzing of ``gtlearn evolve run`` (hypothesis): a small valid campaign file and
command line with one bad ingredient -- a malformed, empty or partial YAML, a field of the wrong
type, a negative, zero or huge value, an unknown enum value or game, a backend without what it
needs, a bad command-line override, an unwritable ``--out`` -- always ends in exit status 2 with
exactly one ``error:`` line, no traceback, and no campaign directory left behind.

Each example corrupts one thing, so a pass means ``evolve run`` validated it before it created
anything. The number of cases run is printed (tests/conftest.py).
"""

from __future__ import annotations

import copy
import string
from pathlib import Path

import pytest
import yaml
from _cli_helpers import assert_one_error_line  # noqa: E402
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gtlearn.cli import main

VALID = {
    "run": {"seed": 0, "task": "cfr", "max_evaluated": 2, "sequential": True},
    "cascade": {"stage1": {"games": ["kuhn_poker"], "iterations": 5},
                "stage2": {"games": ["kuhn_poker"], "iterations": 10, "checkpoints": [5]},
                "heldout": {"games": []}},
    "search": {"islands": 1},
    "executor": {"slots": 1},
    "llm": {"proposers": 1},
}

NOT_COUNTS = st.one_of(st.integers(max_value=0), st.integers(min_value=10**9 + 1, max_value=10**40),
                       st.sampled_from(["many", "", "1.5", "ten", None, [], {}, True, 1.5, "∞", "１"]))
NOT_NUMBERS = st.sampled_from(["abc", "", [], {}, True, float("nan"), float("inf"), -1, -0.5])
NOT_BOOLS = st.sampled_from(["yes please", 1, 0, None, [], "ja", 2.5])
NOT_GAME_LISTS = st.one_of(
    st.sampled_from([[], "kuhn_poker", None, 3, [3], [""], ["kuhn_pokerr"], ["kuhn_poker(players="], ["кун"],
                     ["leduc_poker(bogus=1)"], [None], [["kuhn_poker"]]]),
    st.text(alphabet=string.ascii_letters + "()=,_ äö漢", min_size=1, max_size=20).map(lambda s: [s + "_nope"]),
)
TEXTS = st.text(alphabet=string.ascii_letters + string.digits + "äß€漢 _-", min_size=1, max_size=12)

# (path into the config, values that must be refused there)
FIELDS = {
    ("run", "seed"): st.one_of(st.integers(max_value=-1), st.integers(min_value=2**32, max_value=10**30),
                               st.sampled_from(["x", "", 1.5, None, [], True])),
    ("run", "task"): TEXTS.filter(lambda s: s not in ("cfr", "psro")),
    ("run", "max_programs"): NOT_COUNTS,
    ("run", "max_evaluated"): st.one_of(st.integers(max_value=0), st.sampled_from(["many", 1.5, [], True])),
    ("run", "sequential"): NOT_BOOLS,
    ("run", "budget", "max_usd"): NOT_NUMBERS,
    ("run", "budget", "max_wall_hours"): st.sampled_from([0, -1, "soon", float("inf"), []]),
    ("llm", "backend"): TEXTS.filter(lambda s: s not in ("mutation", "scripted", "openai_compat", "transformers", "replay")),
    ("llm", "proposers"): NOT_COUNTS,
    ("llm", "timeout_s"): st.sampled_from([0, -5, "long", None, float("nan")]),
    ("llm", "models"): st.sampled_from([[], None, "mutation", [{}], [{"name": ""}], [{"name": "m", "temperature": -1}],
                                        [{"name": "m", "max_tokens": 0}], [{"name": "m", "bogus": 1}], [3]]),
    ("search", "islands"): NOT_COUNTS,
    ("search", "migration_rate"): st.sampled_from([-0.1, 1.5, "half", None]),
    ("search", "features", "ast_nodes"): st.sampled_from([[], [5, 1], [0, 0], ["a"], "0,50", None, [-1, 5]]),
    ("search", "parent", "explore"): st.sampled_from([-1, 2, "x", 0.9]),  # 0.9 + elite 0.2 > 1
    ("sandbox", "wall_s"): st.sampled_from([0, -1, "1m", None, 10**9]),
    ("sandbox", "mem_mb"): st.sampled_from([0, -1, 10, "2GB", 1.5]),
    ("sandbox", "nofile"): st.sampled_from([0, 3, -1, "many"]),
    ("sandbox", "profile"): TEXTS.filter(lambda s: s not in ("auto", "bwrap", "unshare", "none", "weak")),
    ("sandbox", "network"): TEXTS.filter(lambda s: s not in ("deny", "require")),
    ("sandbox", "unsafe"): NOT_BOOLS,
    ("cascade", "stage1", "iterations"): NOT_COUNTS,
    ("cascade", "stage2", "iterations"): NOT_COUNTS,
    ("cascade", "stage1", "games"): NOT_GAME_LISTS,
    ("cascade", "stage2", "games"): NOT_GAME_LISTS,
    ("cascade", "stage2", "checkpoints"): st.sampled_from([[0], [-3], ["10"], "10", None, [1.5]]),
    ("cascade", "heldout", "horizon_mult"): NOT_COUNTS,
    ("cascade", "auc_weight"): st.sampled_from([-0.5, 1.5, "half"]),
    ("prompt", "artifact_bytes"): st.sampled_from([-1, 10**12, "4k"]),
    ("executor", "slots"): NOT_COUNTS,
    ("executor", "kind"): TEXTS.filter(lambda s: s not in ("local", "ray")),
    ("executor", "lease_s"): st.sampled_from([0, -1, 5, "15m"]),  # 5: not above sandbox.wall_s
}

BROKEN_FILES = st.sampled_from([
    "", "\n", "# only a comment\n", "null\n", "[]\n", "- run\n", "42\n", "run: {task: cfr\n", "run: [1, 2\n",
    "\t\tbad: indent:\n", "run: 5\ncascade: {stage2: {games: [kuhn_poker], iterations: 10}}\n",
    "run: {seed: 0}\ncascade: {stage2: {games: [kuhn_poker], iterations: 10}}\n",  # no run.task
    "run: {task: cfr}\n",  # no cascade.stage2
    "run: {task: cfr}\ncascade: {stage2: {games: [kuhn_poker]}}\n",  # no stage2 iterations
    "run: {task: cfr}\ncascade: {stage2: {iterations: 10}}\n",  # no stage2 games
    "run: {task: cfr}\ncascade: {stage2: {games: [kuhn_poker], iterations: 10}}\nbogus: 1\n",
    "\x00\x01\x02", "run: {task: cfr, seeed: 1}\ncascade: {stage2: {games: [kuhn_poker], iterations: 10}}\n",
])

BACKEND_GAPS = [  # a backend without what it needs
    {"llm": {"backend": "openai_compat"}},
    {"llm": {"backend": "openai_compat", "models": [{"name": "m", "base_url": "localhost:8000"}]}},
    {"llm": {"backend": "scripted"}},
    {"llm": {"backend": "replay"}},
    {"llm": {"backend": "transformers"}},
]

OPTIONS = {  # command-line overrides and the run directory
    "--max-evaluated": st.one_of(st.integers(max_value=0).map(str), st.sampled_from(["-1", "ten", "", "1.5", str(10**10)])),
    "--seed": st.one_of(st.integers(max_value=-1).map(str), st.sampled_from(["x", "", str(2**40)])),
    "--slots": st.one_of(st.integers(max_value=0).map(str), st.sampled_from(["many", "", "99999"])),
    "--out": st.sampled_from(["/proc/version/run", "/etc/passwd/run", "/proc/1/run"]),
}


def _set(cfg: dict, path: tuple, value) -> None:
    node = cfg
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


@st.composite
def cases(draw):
    """(campaign file text, extra argv, what was corrupted)."""
    cfg = copy.deepcopy(VALID)
    kind = draw(st.sampled_from(["field", "field", "field", "file", "backend", "option"]))
    extra: list[str] = []
    if kind == "field":
        path = draw(st.sampled_from(sorted(FIELDS)))
        _set(cfg, path, draw(FIELDS[path]))
        what = ".".join(path)
    elif kind == "backend":
        gap = draw(st.sampled_from(BACKEND_GAPS))
        cfg["llm"].update(gap["llm"])
        what = f"llm {gap}"
    elif kind == "option":
        opt = draw(st.sampled_from(sorted(OPTIONS)))
        extra = [opt, draw(OPTIONS[opt])]
        what = opt
    else:
        return draw(BROKEN_FILES), extra, "file"
    return yaml.safe_dump(cfg, allow_unicode=True), extra, what


CASES_RUN: list[list[str]] = []  # counted in the session summary (tests/conftest.py)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=cases())
def test_one_bad_ingredient_is_one_error_line(case, tmp_path_factory, capsys):
    text, extra, what = case
    tmp = tmp_path_factory.mktemp("evofuzz")
    path = tmp / "campaign.yaml"
    path.write_text(text)
    out = tmp / "run"
    argv = ["evolve", "run", str(path), "-q"] + (extra if "--out" in extra else ["--out", str(out)] + extra)
    status = main(argv)
    captured = capsys.readouterr()
    CASES_RUN.append(argv)
    errors = [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert status == 2, (what, text[:300], captured.err[-2000:])
    assert len(errors) == 1, (what, captured.err[-2000:])
    assert "Traceback" not in captured.err + captured.out, what
    assert not out.exists(), (what, "left a campaign directory behind")


def test_the_valid_base_is_valid():
    """The fuzz base itself passes validation (so each case's only fault is the one injected)."""
    from evolve import config

    config.validate(copy.deepcopy(VALID))


def test_failed_run_leaves_a_way_forward(tmp_path):
    """A run directory whose database holds no run (a crash before the first commit) is started
    afresh by `run`; `resume` on it names the way forward."""
    from evolve.db import DB

    out = tmp_path / "run"
    out.mkdir()
    DB(out / "campaign.db").close()  # the schema, no run
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(VALID))
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "gtlearn.cli", "evolve", "resume", str(out), "-q"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "gtlearn evolve run" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert Path(out / "campaign.db").exists()
    # ... and `run` (what the message says) starts the campaign there
    r = subprocess.run([sys.executable, "-m", "gtlearn.cli", "evolve", "run", str(cfg), "--out", str(out), "-q",
                        "--unsafe-sandbox"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    from evolve.controller import holds_run

    assert holds_run(out / "campaign.db")


# -- the seed program (a rule file) and the verbs that read a campaign --------------------------

RULE_FILES = st.sampled_from([
    "def update_regrets(:\n    pass\n",  # a syntax error
    "import numpy as np\n\ndef unrelated(x):\n    return x\n",  # none of the task's functions
    "",  # empty
    "def update_regrets(cum_regret, inst_regret, legal, t, state):\n    import os\n    return cum_regret\n",  # screened
    "\x00\x01\x02binary",
    "NOWHERE",  # the path does not exist
    "DIRECTORY",  # the path is a directory
])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rule=RULE_FILES)
def test_a_bad_seed_program_is_one_error_line(rule, tmp_path_factory, capsys):
    tmp = tmp_path_factory.mktemp("evorule")
    path = {"NOWHERE": tmp / "nowhere.py", "DIRECTORY": tmp}.get(rule, tmp / "rule.py")
    if rule not in ("NOWHERE", "DIRECTORY"):
        path.write_bytes(rule.encode())
    cfg = copy.deepcopy(VALID)
    cfg["run"]["seed_program"] = str(path)
    (tmp / "campaign.yaml").write_text(yaml.safe_dump(cfg))
    out = tmp / "run"
    argv = ["evolve", "run", str(tmp / "campaign.yaml"), "-q", "--out", str(out), "--unsafe-sandbox"]
    status = main(argv)
    captured = capsys.readouterr()
    CASES_RUN.append(argv)
    errors = [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert status == 2 and len(errors) == 1, (rule, captured.err[-2000:])
    assert "seed program" in errors[0] or "seed_program" in errors[0], errors
    assert "Traceback" not in captured.err + captured.out
    assert not out.exists(), (rule, "left a campaign directory behind")


@pytest.fixture(scope="module")
def places(tmp_path_factory) -> dict[str, Path]:
    """A finished campaign (RUN) and directories that are not (usable) campaigns."""
    root = tmp_path_factory.mktemp("evoplaces")
    (root / "campaign.yaml").write_text(yaml.safe_dump({**VALID, "sandbox": {"unsafe": True}}))
    assert main(["evolve", "run", str(root / "campaign.yaml"), "-q", "--out", str(root / "run")]) == 0
    (root / "empty").mkdir()
    (root / "no_run").mkdir()
    from evolve.db import DB

    DB(root / "no_run" / "campaign.db").close()  # `evolve run` killed before its first commit
    (root / "garbage").mkdir()
    (root / "garbage" / "campaign.db").write_text("not a database")
    (root / "a_file").write_text("x")
    other = copy.deepcopy(VALID)
    other["run"]["seed"] = 5
    (root / "other.yaml").write_text(yaml.safe_dump(other))  # a valid config, not the run's
    (root / "empty.yaml").write_text("")
    (root / "broken.yaml").write_text("run: {task: cfr\n")
    return {"RUN": root / "run", "EMPTY": root / "empty", "NO_RUN": root / "no_run", "GARBAGE": root / "garbage",
            "A_FILE": root / "a_file", "NOWHERE": root / "nowhere", "OTHER_CONFIG": root / "other.yaml",
            "EMPTY_CONFIG": root / "empty.yaml", "BROKEN_CONFIG": root / "broken.yaml", "NO_CONFIG": root / "none.yaml"}


BAD_DIRS = st.sampled_from(["EMPTY", "NO_RUN", "GARBAGE", "A_FILE", "NOWHERE"])
BAD_IDS = st.one_of(st.integers(min_value=10**4, max_value=10**30).map(str), st.sampled_from(["-1", "x", "", "1.5", "漢"]))
UNWRITABLE = st.sampled_from(["/etc/passwd/x", "/proc/version/x", "/proc/1/x"])
# verb -> {ingredient: (argv builder, values)}; each case corrupts one ingredient of a valid command
OTHER_VERBS = {
    "resume": {"dir": lambda v: [v], "config": lambda v: ["RUN", "--config", v], "out": lambda v: ["RUN", "--out", v]},
    "status": {"dir": lambda v: [v]},
    "best": {"dir": lambda v: [v]},
    "report": {"dir": lambda v: [v], "out": lambda v: ["RUN", "--out", v + ".html"]},
    "lineage": {"dir": lambda v: [v, "1"], "id": lambda v: ["RUN", v]},
    "replay": {"dir": lambda v: [v], "out": lambda v: ["RUN", "--out", v]},
    "distill": {"dir": lambda v: [v], "id": lambda v: ["RUN", v], "out": lambda v: ["RUN", "--out", v],
                "tol": lambda v: ["RUN", "--tol", v], "max-evals": lambda v: ["RUN", "--max-evals", v]},
}
VALUES = {
    "dir": BAD_DIRS,
    "config": st.sampled_from(["OTHER_CONFIG", "EMPTY_CONFIG", "BROKEN_CONFIG", "NO_CONFIG"]),
    "id": BAD_IDS,
    "out": UNWRITABLE,
    "tol": st.sampled_from(["-1", "nan", "inf", "abc", "", "-0.5"]),
    "max-evals": st.one_of(st.integers(max_value=0).map(str), st.sampled_from(["abc", "", "1.5", str(10**10)])),
}


@st.composite
def verb_cases(draw):
    verb = draw(st.sampled_from(sorted(OTHER_VERBS)))
    ingredient = draw(st.sampled_from(sorted(OTHER_VERBS[verb])))
    return verb, ingredient, OTHER_VERBS[verb][ingredient](draw(VALUES[ingredient]))


def _files(root: Path) -> set[str]:
    # SQLite's -wal / -shm companions come and go with open connections: not the user's files
    return {str(p.relative_to(root)) for p in root.rglob("*") if not p.name.endswith(("-wal", "-shm"))}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=verb_cases())
def test_every_evolve_verb_answers_bad_input_with_one_error_line(case, places, capsys):
    verb, ingredient, args = case
    root = places["RUN"].parent
    before = _files(root)
    argv = ["evolve", verb, *(str(places.get(a, a)) for a in args)]
    if ingredient == "id" and args[1].startswith("-"):
        argv.insert(-1, "--")  # a negative id is a value, not an option
    assert_one_error_line(argv, CASES_RUN, capsys)
    assert _files(root) == before, (argv, "created or removed files")


@pytest.mark.parametrize("db", ["NO_RUN", "GARBAGE"])
def test_run_and_resume_name_the_way_forward_from_a_failed_directory(db, places, capsys):
    """`evolve run` killed before its first commit leaves a database with no run: `resume` says
    to start it with `run`, and `run` does (it replaces the empty database); a file that is not a
    campaign database: both say to move it away."""
    d = places[db]
    assert main(["evolve", "resume", str(d), "-q"]) == 2
    err = capsys.readouterr().err
    hint = "gtlearn evolve run CONFIG --out" if db == "NO_RUN" else "move it away"
    assert hint in err and err.count("error:") == 1, err
    if db == "GARBAGE":
        assert main(["evolve", "run", str(places["OTHER_CONFIG"]), "--out", str(d), "-q", "--unsafe-sandbox"]) == 2
        assert "move it away" in capsys.readouterr().err


def test_run_resume_with_another_config_says_how_to_continue(places, capsys):
    run = places["RUN"]
    before = _files(run)
    assert main(["evolve", "run", str(places["OTHER_CONFIG"]), "--out", str(run), "--resume", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "another config" in err and f"gtlearn evolve resume {run}" in err, err
    assert _files(run) == before
