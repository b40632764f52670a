"""Property-based fuzzing (hypothesis) of ``gtlearn align tabular`` and every ``gtlearn werewolf``
verb: argument vectors with one bad ingredient -- a wrong type, a negative, zero or huge count,
a non-finite or out-of-range number, an empty or unicode string, an unknown enum value, a
missing or unwritable path, a malformed game string, agent spec or ``--param`` -- always end
in exit status 2 with exactly one ``error:`` line, no traceback, and no run directory (or
results file) left behind.

Each example starts from a small valid command and corrupts one option, so a pass means the
CLI validated that option before doing any work. The number of cases run is printed.
"""

from __future__ import annotations

import math
import string
from pathlib import Path

import pytest
from _cli_helpers import assert_one_error_line  # noqa: E402
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gtlearn.cli import main

NOT_INTS = st.sampled_from(["ten", "", "1.5", "nan", "-", "0x10", "1e3", "∞", "１e"])
HUGE = st.integers(min_value=10**9 + 1, max_value=10**40)


def counts(maximum: int = 10**9) -> st.SearchStrategy[str]:
    """Bad positive counts: zero or less, above ``maximum``, or not an integer."""
    return st.one_of(st.integers(max_value=0).map(str), st.integers(min_value=maximum + 1, max_value=10**40).map(str),
                     NOT_INTS)


def seeds(maximum: int) -> st.SearchStrategy[str]:
    """Bad seeds: negative, above ``maximum``, or not an integer."""
    return st.one_of(st.integers(max_value=-1).map(str), st.integers(min_value=maximum + 1, max_value=10**40).map(str),
                     NOT_INTS)


def floats_outside(low: float, high: float, *, low_ok: bool = True) -> st.SearchStrategy[str]:
    """Numbers outside [low, high] (``low`` itself bad unless ``low_ok``), nan, and non-numbers."""
    above = st.just(math.inf) if high == math.inf else st.floats(min_value=high, exclude_min=True)
    return st.one_of(st.floats(max_value=low, exclude_max=low_ok).map(str), above.map(str),
                     st.sampled_from(["nan", "abc", "", "1,5", "½"]))


def words(valid: set[str], norm=lambda s: s) -> st.SearchStrategy[str]:
    """Empty, unicode and near-miss strings that are not one of ``valid`` (after ``norm``)."""
    near = [v.upper() for v in valid] + [v + " " for v in valid] + [v[:-1] for v in valid if len(v) > 1]
    return st.one_of(st.sampled_from(["", " ", "é", "漢字", *near]),
                     st.text(alphabet=string.ascii_letters + "-_ äö漢", max_size=10)).filter(
        lambda s: norm(s) not in valid)


VALID_KINDS = {"cyclic", "rps", "random", "tournament", "bt", "mixture", "mix", "bradley_terry", "random_intransitive"}
GAMES = st.one_of(
    st.sampled_from(["", " ", "hexagon:3", "cyclic:1", "cyclic:0", "cyclic:-4", "cyclic:abc", "cyclic:5.5", "cyclic:∞",
                     "cyclic:5,seed=-1", "cyclic:5,seed=1.5", "cyclic:5,contexts=0", "cyclic:5,contexts=nan",
                     "cyclic:5,ref=0", "cyclic:5,ref=-1", "cyclic:5,ref=nan", "cyclic:5,ref=inf", "cyclic:5,bogus=1",
                     "cyclic:5,seed", "cyclic:5,=3", "cyclic:5,seed=abc", "cyclic:5,seed=1,seed=2", "cyclic:99999",
                     "random:5,contexts=1e9", "cyclic:5,strength=2", "cyclic:5,strength=0", "mixture:4,weight=2",
                     "mixture:4,weight=-0.5", "bt:5,scale=inf", "bt:5,scale=nan", "кун:3", "nowhere.npz",
                     "nowhere.json", "/etc/passwd.json"]),
    st.text(alphabet=string.ascii_letters + string.digits + ":,=._ äö漢", min_size=1, max_size=20).filter(
        lambda s: s.partition(",")[0].partition(":")[0].strip() not in VALID_KINDS
        and not s.strip().endswith((".npz", ".json"))),
)
PARAMS = st.sampled_from(["prox_coef", "=1", "1x=2", "bogus=1", "prox_coef=abc", "prox_coef=-1", "prox_coef=0",
                          "prox_coef=nan", "prox_coef=inf", "prox_coef=", " =3", "é=1", "beta=0", "beta=1e-9",
                          "beta=abc", "beta=true", "mode=sampled"])
OUTS = st.sampled_from(["/etc/passwd/run", "/proc/version/run", "/etc/passwd"])
ALGOS = {"nash-mp", "inpo", "apo", "nash-md", "omd", "dpo", "ipo", "sppo", "fdpg"}

# option -> (extra valid options that make the option matter, bad values)
TABULAR = {
    "--game": ({}, GAMES),
    "--algo": ({}, words(ALGOS, norm=lambda s: s.strip().lower())),
    "--beta": ({}, floats_outside(1e-3, 1e4)),
    "-n": ({}, counts()),
    "--mode": ({}, words({"exact", "sampled"})),
    "--samples": ({"--mode": "sampled"}, st.one_of(counts(), st.integers(3_400_000, 10**9).map(str))),
    "--eta": ({"--algo": "omd"}, floats_outside(0.0, 10.5, low_ok=False)),  # omd needs 0 < eta·beta <= 1
    "--schedule": ({"--algo": "inpo"}, words({"constant", "decreasing"})),
    "--alpha": ({"--algo": "apo"}, st.one_of(st.floats(max_value=0, exclude_max=True), st.floats(min_value=1),
                                             st.sampled_from(["nan", "abc"])).map(str)),
    "--inner": ({"--algo": "apo"}, words({"dpo", "sppo"})),
    "--divergence": ({"--algo": "fdpg"}, words({"kl", "rkl", "tv", "js", "chi2", "rchi2"})),
    "--target": ({"--algo": "fdpg"}, words({"rlhf", "pointwise", "distributional"})),
    "--lr": ({"--algo": "fdpg"}, floats_outside(0.0, float("inf"), low_ok=False)),
    "--param": ({}, PARAMS),
    "--seed": ({}, seeds(2**63 - 1)),
    "--out": ({}, OUTS),
    "--resume": ({}, st.none()),  # --out holds no run to resume
}
TRAIN = {
    "-n": ({}, counts(999)),
    "--preset": ({}, words({"ci", "cpu", "paper"})),
    "--games": ({}, counts()),
    "--traversals": ({}, counts()),
    "--embedder": ({}, words({"auto", "minilm", "tfidf", "hashing"})),
    "--policy": ({}, words({"template", "hf"})),
    "--model-path": ({"--policy": "hf"}, st.sampled_from(["", "/nonexistent/model", "/etc/passwd", "/tmp", "漢"])),
    "--lora": ({}, st.none()),  # LoRA with the template policy
    "--utility": ({}, words({"shaped", "win"})),
    "--seed": ({}, seeds(42948)),
    "--out": ({}, OUTS),
    "--resume": ({}, st.none()),
}
EVAL = {
    "run": ({}, st.sampled_from(["", "/nonexistent/run", "/etc/passwd", "EMPTY", "NO_ITERATION", "BROKEN_CONFIG"])),
    "--opponents": ({}, st.sampled_from(["", ",", " , ", "alien", "random,alien", "final,Rule", "漢", "lspo:x"])),
    "--games": ({}, counts()),
    "--iterations": ({}, st.sampled_from(["", "abc", "1,", ",", "2", "7", "-1", "1.5", "0,9", "１", "all,1", "ALL"])),
    "--seed": ({}, seeds(2**63 - 1)),
    "--out": ({}, st.sampled_from(["/etc/passwd/x.json", "/proc/version/x.json", "DIR"])),
}
AGENTS = st.sampled_from(["", "alien", "final", "lspo:", "lspo:/nonexistent", "lspo:RUN:abc", "lspo:RUN:7",
                          "lspo:RUN:-1", "lspo:RUN:1.0", "lspo:EMPTY", "lspo:NO_ITERATION", "Rule", "漢"])
PLAY = {"--agent": ({}, AGENTS), "--wolves": ({}, AGENTS), "--village": ({}, AGENTS), "--seed": ({}, seeds(2**63 - 1))}
RPSLS = {
    "-n": ({}, counts(99)),
    "--turns": ({}, counts(10**6)),
    "--embedder": ({}, words({"auto", "minilm", "tfidf", "hashing"})),
    "--seed": ({}, seeds(42_949_671)),
}
VERBS = {
    ("align", "tabular"): ({"--game": "cyclic:3", "-n": "2", "--algo": "nash-mp", "-q": None}, TABULAR),
    ("werewolf", "train"): ({"--preset": "ci", "-n": "1", "--games": "2", "--traversals": "10"}, TRAIN),
    ("werewolf", "eval"): ({"run": "RUN", "--games": "1", "--opponents": "random", "--iterations": "1"}, EVAL),
    ("werewolf", "play"): ({"--agent": "rule"}, PLAY),
    ("werewolf", "rpsls"): ({"-n": "1", "--turns": "5"}, RPSLS),
}


@st.composite
def argv_cases(draw):
    verb = draw(st.sampled_from(sorted(VERBS)))
    base, options = VERBS[verb]
    bad = draw(st.sampled_from(sorted(options)))
    extra, values = options[bad]
    return verb, {**base, **extra}, bad, draw(values)


@pytest.fixture(scope="module")
def lspo_run(tmp_path_factory) -> dict[str, Path]:
    """A finished one-iteration LSPO run, and directories that are not (usable) runs."""
    root = tmp_path_factory.mktemp("lspo")
    run = root / "run"
    assert main(["werewolf", "train", "--preset", "ci", "-n", "1", "--games", "2", "--traversals", "10",
                 "--out", str(run)]) == 0
    (root / "empty").mkdir()
    (root / "no_iteration").mkdir()
    (root / "no_iteration" / "config.json").write_text((run / "config.json").read_text())
    (root / "broken").mkdir()
    (root / "broken" / "config.json").write_text("[1, 2")
    return {"RUN": run, "EMPTY": root / "empty", "NO_ITERATION": root / "no_iteration", "BROKEN_CONFIG": root / "broken"}


def build(verb: tuple[str, str], base: dict, bad: str | None, value, tmp: Path, places: dict[str, Path]) -> list[str]:
    """The argument vector of ``base`` with option ``bad`` set to ``value`` (none with None)."""
    def place(text: str) -> str:  # RUN, EMPTY, ... -> the directories of the lspo_run fixture
        return ":".join(str(places.get(part, part)) for part in text.split(":"))

    opts = dict(base)
    if bad is not None:
        opts[bad] = value
    argv = list(verb)
    if "run" in opts:
        argv.append(place(opts.pop("run")))
    for key, val in opts.items():
        if key == "--out" and val == "DIR":
            val = str(tmp)
        argv += [key] if val is None else [key, place(val)]
    if verb != ("werewolf", "play") and verb != ("werewolf", "rpsls") and "--out" not in opts:
        argv += ["--out", str(tmp / "run")]
    return argv


@pytest.mark.parametrize("verb", sorted(VERBS), ids=" ".join)
def test_the_base_commands_are_valid(verb, lspo_run, tmp_path):
    # each fuzz case corrupts one option of these: they must succeed as they are
    assert main(build(verb, VERBS[verb][0], None, None, tmp_path, lspo_run)) == 0


CASES_RUN: list[list[str]] = []  # counted in the session summary (tests/conftest.py)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=argv_cases())
def test_one_bad_ingredient_is_one_error_line(case, lspo_run, tmp_path_factory, capsys):
    tmp = tmp_path_factory.mktemp("fuzz")
    argv = build(*case, tmp, lspo_run)
    assert_one_error_line(argv, CASES_RUN, capsys)
    assert not (tmp / "run").exists(), (argv, "left a run directory (or results file) behind")
    assert list(tmp.iterdir()) == [], (argv, "wrote into the directory given as --out")


# -- align train: every option checked before the (seconds-long) set-up ---------------------------
TRAIN_ALGOS = {"nash-mp", "inpo", "apo", "fdpg", "nash-md"}
NOT_COUNTS = st.one_of(st.integers(max_value=0).map(str), NOT_INTS)
ALIGN_TRAIN = {
    "--algo": ({}, words(TRAIN_ALGOS)),
    "--steps": ({}, counts()),
    "--rounds": ({}, counts(10**6)),
    "--lr": ({}, floats_outside(0.0, float("inf"), low_ok=False)),
    "--beta": ({}, floats_outside(0.0, float("inf"), low_ok=False)),
    "--batch-size": ({}, counts(1 << 20)),
    "--grad-accum": ({}, NOT_COUNTS),
    "--lora": ({}, st.one_of(st.integers(max_value=-1).map(str), st.integers(min_value=(1 << 16) + 1).map(str), NOT_INTS)),
    "--seed": ({}, seeds(2**32 - 1)),
    "--pretrain-steps": ({}, st.one_of(st.integers(max_value=-1).map(str), NOT_INTS)),
    "--eval-every": ({}, NOT_COUNTS),
    "--save-every": ({}, NOT_COUNTS),
    "--game": ({}, GAMES),
    "--param": ({}, st.sampled_from(["max_new_tokens=abc", "max_new_tokens=0", "per_device_train_batch_size=-1",
                                     "learning_rate=nan", "learning_rate=inf", "learning_rate=0", "bogus=1", "=1", "x",
                                     "bf16=2", "num_iterations=1.5", "eta=abc"])),
    "--report-to": ({}, words({"none", "all", "tensorboard", ""}, norm=lambda s: s.strip())),
    "--dataset": ({}, st.sampled_from(["prompts.jsonl", "", "漢"])),  # needs --model
    "--preference": ({}, st.sampled_from(["reward:/x", "game:cyclic:3", ""])),  # needs --model
    "--model": ({"--preference": "reward:/nonexistent", "--dataset": "/nonexistent.jsonl"},
                st.sampled_from(["/nonexistent/model", "/etc/passwd", "漢"])),
    "--out": ({}, OUTS),
    "--resume": ({}, st.none()),
}
TRAIN_BASE = {"--steps": "2", "--pretrain-steps": "5", "-q": None}  # valid: tests/test_trainers_cli.py trains such runs


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bad=st.sampled_from(sorted(ALIGN_TRAIN)), data=st.data())
def test_align_train_one_bad_ingredient_is_one_error_line(bad, data, tmp_path_factory, capsys):
    pytest.importorskip("transformers")
    extra, values = ALIGN_TRAIN[bad]
    value = data.draw(values)
    tmp = tmp_path_factory.mktemp("fuzztrain")
    argv = build(("align", "train"), {**TRAIN_BASE, **extra}, bad, value, tmp, {})
    assert_one_error_line(argv, CASES_RUN, capsys)
    assert not (tmp / "run").exists(), (argv, "left a run directory behind")
