"""The patch applier (EVOLVE-BLOCK enforcement, atomicity), normalization/dedup and the static screen."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evolve.normalize import code_norm_sha
from evolve.patch import END, START, PatchError, apply_patch, outside_text, parse_response
from evolve.screen import ScreenError, screen
from evolve.tasks.cfr import FUNCS, SEED


def sr(search, replace):
    return f"<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n"


def test_search_replace_applies_inside_block():
    child = apply_patch(SEED, sr("    return avg_acc + t * reach[:, None] * policy", "    return avg_acc + t ** 2 * reach[:, None] * policy"), FUNCS)
    assert "t ** 2 * reach" in child
    assert outside_text(child) == outside_text(SEED)


def test_zero_matches_rejects_whole_patch_with_hint():
    good = sr("    return avg_acc + t * reach[:, None] * policy", "    return avg_acc + reach[:, None] * policy")
    bad = sr("    return avg_acc + t * reach[:, None] * polcy", "    return 0")
    with pytest.raises(PatchError, match="matches nothing.*nearest lines"):
        apply_patch(SEED, good + bad, FUNCS)


def test_multiple_matches_rejected():
    code = SEED.replace("def update_regrets(cum_regret, inst_regret, legal, t, state):\n",
                        "def update_regrets(cum_regret, inst_regret, legal, t, state):\n    x = 1\n").replace(
        "def policy_from_regrets(cum_regret, legal, t, state):\n", "def policy_from_regrets(cum_regret, legal, t, state):\n    x = 1\n")
    with pytest.raises(PatchError, match="matches 2 places"):
        apply_patch(code, sr("    x = 1", "    x = 2"), FUNCS)


def test_search_outside_block_rejected():
    with pytest.raises(PatchError, match="outside the EVOLVE blocks"):
        apply_patch(SEED, sr("    update_regrets = staticmethod(update_regrets)", "    update_regrets = None"), FUNCS)


def test_signature_change_rejected():
    with pytest.raises(PatchError, match="signature of update_regrets changed"):
        apply_patch(SEED, sr("def update_regrets(cum_regret, inst_regret, legal, t, state):",
                             "def update_regrets(cum_regret, inst_regret, legal, t, state, extra=1):"), FUNCS)


def test_marker_removal_rejected():
    with pytest.raises(PatchError):
        apply_patch(SEED, sr("    return avg_acc + t * reach[:, None] * policy\n\n\n# EVOLVE-BLOCK-END",
                             "    return avg_acc + t * reach[:, None] * policy"), FUNCS)


def test_indentation_aware_fallback():
    child = apply_patch(SEED, sr("return _rm(cum_regret, legal)", "return _rm(cum_regret, legal, 2.0)"), FUNCS)
    assert "    return _rm(cum_regret, legal, 2.0)" in child


def test_whole_function_replacement_and_helper():
    resp = ("Here:\n```python\ndef accumulate_average(avg_acc, policy, reach, legal, t, state):\n"
            "    return avg_acc + _w(t) * reach[:, None] * policy\n\ndef _w(t):\n    return t ** 2\n```")
    child = apply_patch(SEED, resp, FUNCS)
    assert "def _w(t)" in child and outside_text(child) == outside_text(SEED)
    ns = {}
    exec(compile(child, "c", "exec"), ns)
    assert ns["accumulate_average"].__code__.co_names  # it compiles and references the helper


def test_whole_function_signature_change_rejected():
    resp = "```python\ndef policy_from_regrets(cum_regret, legal, t):\n    return cum_regret\n```"
    with pytest.raises(PatchError, match="signature"):
        apply_patch(SEED, resp, FUNCS)


def test_malformed_responses():
    for text in ("no code here", "<<<<<<< SEARCH\nfoo\n>>>>>>> REPLACE", "```python\ndef f(:\n```"):
        with pytest.raises(PatchError):
            apply_patch(SEED, text, FUNCS)


def test_parse_prefers_diff():
    p = parse_response(sr("a", "b") + "```python\ndef f():\n    pass\n```")
    assert p.kind == "diff"


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(list("ab #\n=<>-_:()") + [START, END, "EVOLVE", "    "]), max_size=30).map("".join),
       st.sampled_from(["    return avg_acc + t * reach[:, None] * policy", "    return _rm(cum_regret, legal)",
                        "# EVOLVE-BLOCK-END", "import numpy as np", "\n"]))
def test_property_applier_never_corrupts_markers(replacement, search):
    """Any patch either is rejected or leaves the text outside the blocks and the markers intact
    (ShinkaEvolve's #183 was an insertion diff that corrupted markers)."""
    try:
        child = apply_patch(SEED, sr(search, replacement), FUNCS)
    except PatchError:
        return
    assert outside_text(child) == outside_text(SEED)
    assert child.count(START) == SEED.count(START) and child.count(END) == SEED.count(END)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["x = 1", "y = x", "return 0", START, END, "def f():", "pass"]), max_size=6))
def test_property_whole_function_never_escapes(body_lines):
    body = "\n".join("    " + b for b in body_lines) or "    pass"
    resp = f"```python\ndef update_regrets(cum_regret, inst_regret, legal, t, state):\n{body}\n```"
    try:
        child = apply_patch(SEED, resp, FUNCS)
    except PatchError:
        return
    assert outside_text(child) == outside_text(SEED)


def test_normalization_dedups_cosmetic_changes():
    a = SEED
    b = SEED.replace("    w = np.where(legal, np.maximum(z, 0.0), 0.0) ** q\n    total = w.sum(axis=1, keepdims=True)",
                     "    # a comment\n    weights = np.where(legal, np.maximum(z, 0.0), 0.0) ** q\n    total = weights.sum(axis=1,   keepdims=True)")
    b = b.replace("w / np.where", "weights / np.where")
    assert b != a and code_norm_sha(a) == code_norm_sha(b)
    c = SEED.replace("t * reach", "t ** 2 * reach")
    assert code_norm_sha(c) != code_norm_sha(a)


@pytest.mark.parametrize("snippet", [
    "import os", "import subprocess", "from os import system", "open('x')", "exec('1')", "eval('1')",
    "__import__('os')", "x = (1).__class__", "getattr(np, name)", "np.load('x')", "globals()", "import socket",
    "from numpy import ctypeslib", "breakpoint()",
])
def test_screen_rejects(snippet):
    with pytest.raises(ScreenError):
        screen("import numpy as np\nname = 'x'\n" + snippet + "\n")


def test_screen_accepts_seed():
    screen(SEED)
