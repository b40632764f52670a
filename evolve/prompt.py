"""Prompt rendering (specs/evolve.md §3). The renderer receives a *public* view only: public
metrics of the parent, the inspirations and the baselines. Private (held-out) metrics are
never passed in, so they cannot leak into a prompt by construction."""

from __future__ import annotations

import re

from evolve.patch import block_texts

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
KEYLIKE = re.compile(r"(sk-[A-Za-z0-9_\-]{8,}|(?i:api[_-]?key|token|secret|password)\s*[=:]\s*\S+|[A-Za-z0-9+/_\-]{32,})")

SYSTEM = """You improve a tabular CFR rule for imperfect-information games.
Contract (one module, only the code between # EVOLVE-BLOCK-START and # EVOLVE-BLOCK-END may change):
  update_regrets(cum_regret, inst_regret, legal, t, state) -> (I, A) array   # R^t from R^{t-1} and r^t
  policy_from_regrets(cum_regret, legal, t, state) -> (I, A) array           # sigma^{t+1}: rows are distributions over legal actions
  accumulate_average(avg_acc, policy, reach, legal, t, state) -> (I, A) array # S^t; the average policy is S normalized per row
Arrays hold all infosets of the acting player; legal is a boolean mask; reach is (I,); t is 1-based; state is a per-player
dict of numpy arrays/scalars that persists across iterations. Rules: imports only math, numpy, itertools, functools; no I/O;
deterministic; vectorized (no Python loop over infosets); permutation-equivariant in rows and in actions within a row.
Fitness: mean over training games of -log10(exploitability after {T} iterations / CFR+'s); higher is better, 0 = CFR+."""

SYSTEM_PSRO = """You improve the meta-strategy solvers of PSRO (policy-space response oracles).
Contract (one module, only the code between # EVOLVE-BLOCK-START and # EVOLVE-BLOCK-END may change):
  train_meta_solver(payoffs, t, state) -> list of weight vectors   # the mixture the next best responses target
  eval_meta_solver(payoffs, state) -> list of weight vectors       # the mixture whose exploitability is reported
payoffs[p] has one axis per player's population (newest strategy last); t is the 1-based PSRO iteration; state is a
dict persisted across calls. Return one non-negative vector per player (normalized by the engine). Imports only math,
numpy, itertools, functools; no I/O; deterministic.
Fitness: mean over training games of a mix of -log10(final exploitability / regret matching's) and the same on the
area under the log-exploitability curve; higher is better, 0 = the baseline."""

FORMAT_DIFF = """Answer with one or more SEARCH/REPLACE blocks:
<<<<<<< SEARCH
exact lines from the current program (inside an EVOLVE block)
=======
new lines
>>>>>>> REPLACE"""

FORMAT_FN = "Answer with complete replacement functions in ```python fenced blocks (keep each signature unchanged)."


def scrub(text: str, limit: int) -> str:
    text = ANSI.sub("", text or "")
    text = KEYLIKE.sub("[redacted]", text)
    b = text.encode()[-limit:] if limit else b""
    return b.decode(errors="ignore")


def _metrics_line(pub: dict | None) -> str:
    if not pub or "games" not in pub:
        return "  (no public metrics)"
    out = [f"  mean fitness {pub['fitness']:+.3f}"]
    for g, m in pub["games"].items():
        out.append(f"  {g}: exploitability {m['expl']:.3e} (CFR+ {m['baseline']:.3e}, fitness {m['fitness']:+.3f})")
    return "\n".join(out)


def render(parent_code: str, parent_public: dict | None, inspirations: list[tuple[str, dict | None]],
           feedback: list[str], rng, cfg: dict, horizon: int) -> list[dict]:
    """Messages for one proposal; ``inspirations`` are (code, public metrics) pairs."""
    variant = int(rng.integers(2))
    fmt = FORMAT_DIFF if rng.random() < cfg["search"]["patch_mix"]["diff"] else FORMAT_FN
    parts = ["Current program:", "```python", parent_code, "```", "Its public metrics:", _metrics_line(parent_public)]
    for i, (code, pub) in enumerate(inspirations):
        parts += [f"Inspiration {i + 1} (EVOLVE blocks only):", "```python", "\n# ...\n".join(block_texts(code)), "```",
                  _metrics_line(pub)]
    if feedback:
        fb = scrub("\n".join(feedback), int(cfg["prompt"]["artifact_bytes"]))
        parts += ["Feedback from earlier children of this program that failed:", fb]
    ask = ("Propose one focused change that lowers exploitability." if variant == 0
           else "Think about regret discounting, optimism and averaging weights; propose one improvement.")
    parts += [ask, fmt]
    system = SYSTEM_PSRO if cfg["run"]["task"] == "psro" else SYSTEM.replace("{T}", str(horizon))
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n".join(parts)}]
