"""Property-based fuzzing of the command line (hypothesis): argument vectors with one bad
ingredient -- a wrong type, a negative, zero or huge count, an empty or unicode string, a missing
or unwritable path, a malformed game string or parameter, a broken rule file -- always end in
exit status 2 with exactly one ``error:`` line, no traceback, and no run directory left behind.

Each example starts from a small valid command and corrupts one option, so a pass means the
CLI validated that option before doing any work. The number of cases run is printed.
"""

from __future__ import annotations

import string
from pathlib import Path

from _cli_helpers import assert_one_error_line
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

COUNTS = st.one_of(
    st.integers(max_value=0).map(str),
    st.integers(min_value=10**9 + 1, max_value=10**40).map(str),
    st.sampled_from(["ten", "", "1.5", "nan", "-", "0x10", "1e3", "∞", "１e"]),
    st.text(alphabet=string.ascii_letters + "äß€漢", min_size=1, max_size=8),
)
NON_NEGATIVE = st.one_of(
    st.integers(max_value=-1).map(str),
    st.integers(min_value=10**9 + 1, max_value=10**40).map(str),
    st.sampled_from(["ten", "", "1.5", "nan"]),
)
GAMES = st.one_of(
    st.sampled_from(["", "nonexistent_game", "kuhn_poker(players=", "kuhn_poker(players=abc)", "kuhn_poker(players=99)",
                     "leduc_poker(bogus=1)", "кун", "kuhn_poker)", "(", "python_kuhn_poker(players=1)"]),
    st.text(alphabet=string.ascii_letters + "()=,_ äö漢", min_size=1, max_size=20).filter(
        lambda s: s.strip().lower() not in {"kuhn_poker", "leduc_poker", "liars_dice", "tiny_hanabi"}),
)
PARAMS = st.sampled_from(["alpha", "=1", "1x=2", "alpha=abc", "bogus=1", "alpha=", " =3", "é=1"])
DEVICES = st.sampled_from(["gpu", "", "cuda:7", "tpu", "CPU "])
OUTS = st.sampled_from(["/etc/passwd/run", "/proc/version/run"])
BAD_RULE_FILES = st.sampled_from(["syntax", "missing-name", "not-a-rule", "no-file", "no-colon"])


def rule_spec(kind: str, tmp: Path) -> str:
    path = tmp / "rule.py"
    if kind == "syntax":
        path.write_text("def update_regrets(:\n")
    elif kind in ("missing-name", "not-a-rule"):
        path.write_text("X = 3\n")
    return {"syntax": f"{path}:R", "missing-name": f"{path}:Missing", "not-a-rule": f"{path}:X",
            "no-file": f"{tmp}/nowhere.py:R", "no-colon": str(path)}[kind]


@st.composite
def argv_cases(draw):
    verb = draw(st.sampled_from(["solve", "compare", "psro", "bench"]))
    if verb == "solve":
        base = {"game": "kuhn_poker", "-n": "2", "--eval-every": "1", "--algo": "cfr+"}
        bad = draw(st.sampled_from(["game", "-n", "--eval-every", "--algo", "--rule", "-p", "--device", "--out",
                                    "--max-nodes"]))
    elif verb == "compare":
        base = {"game": "kuhn_poker", "-n": "2", "--algos": "cfr,cfr+", "--points": "2"}
        bad = draw(st.sampled_from(["game", "-n", "--algos", "--points", "--device", "--out", "--max-nodes"]))
    elif verb == "psro":
        base = {"game": "kuhn_poker", "-n": "1", "--train-meta": "uniform"}
        bad = draw(st.sampled_from(["game", "-n", "--train-meta", "--eval-meta", "--train-param", "--checkpoint-every",
                                    "--initial-policy", "--device", "--out", "--max-nodes"]))
    else:
        base = {"--game": "kuhn_poker", "--rounds": "1", "--round-budget": "0.01", "--no-peers": None}
        bad = draw(st.sampled_from(["--game", "--rounds", "--round-budget", "--peer", "--vad-iterations", "--out"]))
    value = {
        "game": GAMES, "--game": GAMES, "-n": COUNTS, "--eval-every": COUNTS, "--rounds": COUNTS,
        "--checkpoint-every": COUNTS, "--points": NON_NEGATIVE, "--vad-iterations": NON_NEGATIVE,
        "--max-nodes": st.sampled_from(["0", "-1", "ten", "3"]),  # 3: every game is larger
        "--algo": st.text(alphabet=string.ascii_letters + "+-_ é", max_size=12).filter(lambda s: s.strip().lower() not in {
            "cfr", "cfr+", "lcfr", "dcfr", "pcfr+", "pdcfr+", "dpcfr+", "hs-pcfr+", "vad-cfr", "aod-cfr", "vad-cfr-reference"}),
        "--algos": st.sampled_from(["", ",", "cfr,cfr", "cfr,nope", "cfr,,", "vad-cfr,cfr++"]),
        "--rule": BAD_RULE_FILES, "-p": PARAMS, "--train-param": PARAMS, "--device": DEVICES, "--out": OUTS,
        "--train-meta": st.sampled_from(["", "nope", "shor-nope", "x.py:Y", "nash-eval"]),
        "--eval-meta": st.sampled_from(["", "nope", "shor-train", "x.py:Y"]),
        "--initial-policy": st.sampled_from(["", "random", "best response"]),
        "--round-budget": st.sampled_from(["0", "-1", "abc", "nan"]),
        "--peer": st.sampled_from(["nope", "", "OpenSpiel2"]),
    }[bad]
    return verb, base, bad, draw(value)


def build(verb: str, base: dict, bad: str, value: str, tmp: Path) -> list[str]:
    opts = dict(base)
    if bad == "--rule":
        value = rule_spec(value, tmp)
    if bad == "-p":
        opts["--algo"] = "dcfr"
    if bad == "--train-param":
        opts["--train-meta"] = "prd"
    opts[bad] = value
    argv = [verb]
    if "game" in opts:
        argv.append(opts.pop("game"))
    for key, val in opts.items():
        argv += [key] if val is None else [key, val]
    if verb != "bench" and bad != "--out":
        argv += ["--out", str(tmp / "run")]
    if verb != "bench":
        argv.append("-q")
    return argv


CASES_RUN: list[list[str]] = []  # counted in the session summary (tests/conftest.py)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=argv_cases())
def test_one_bad_ingredient_is_one_error_line(case, tmp_path_factory, capsys):
    tmp = tmp_path_factory.mktemp("fuzz")
    argv = build(*case, tmp)
    assert_one_error_line(argv, CASES_RUN, capsys)
    assert not (tmp / "run").exists(), (argv, "left a run directory behind")

