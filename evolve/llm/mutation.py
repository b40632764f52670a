"""The offline default proposer: AST mutation operators inside EVOLVE blocks (no LLM).

Operators (one per proposal, drawn with the item's RNG):

* scale a numeric constant (x0.5, x0.8, x1.25, x1.5, x2, or +-1 for exponents);
* swap ``+``/``-``, ``np.maximum``/``np.minimum``, ``**2``/``np.abs``;
* add or remove a clamp ``np.maximum(x, 0.0)`` around a function's return value;
* swap a building block from a library (regret matching <-> RM+ <-> discounted regrets,
  uniform <-> linear <-> quadratic <-> delayed averaging weights, optimism on/off (a two-function
  edit: store r^t in ``state`` and add it to the regrets that define the next policy));
* cross over a whole function with an inspiration's.

The result is emitted in the same formats an LLM would use (SEARCH/REPLACE blocks or a fenced
whole function, mixed as configured), so the whole pipeline is exercised offline.
"""

from __future__ import annotations

import ast
import copy

import numpy as np

from evolve.llm.base import Backend, Completion
from evolve.normalize import replace_node
from evolve.patch import blocks_of

UPDATE = {
    "rm+": "return np.where(legal, np.maximum(cum_regret + inst_regret, 0.0), 0.0)",
    "rm": "return np.where(legal, cum_regret + inst_regret, 0.0)",
    "dcfr": ("r = cum_regret + inst_regret\n"
             "pos = t ** {a} / (t ** {a} + 1.0)\n"
             "neg = t ** {b} / (t ** {b} + 1.0)\n"
             "return np.where(legal, np.where(r > 0, r * pos, r * neg), 0.0)"),
    "discounted_rm+": ("d = t ** {a} / (t ** {a} + 1.0)\n"
                       "return np.where(legal, np.maximum(cum_regret * d + inst_regret, 0.0), 0.0)"),
}
POLICY = {
    "rm": "return _rm(cum_regret, legal)",
    "rm_q": "return _rm(cum_regret, legal, {q})",
    "optimistic": "return _rm(cum_regret + {c} * state.get('last', 0.0), legal)",
    "optimistic_q": "return _rm(cum_regret + {c} * state.get('last', 0.0), legal, {q})",
}
AVERAGE = {
    "uniform": "return avg_acc + reach[:, None] * policy",
    "linear": "return avg_acc + t * reach[:, None] * policy",
    "poly": "return avg_acc + t ** {g} * reach[:, None] * policy",
    "delayed": "w = t ** {g} if t > {d} else 0.0\nreturn avg_acc + w * reach[:, None] * policy",
    "discounted": "return avg_acc * ((t - 1.0) / t) ** {g} + reach[:, None] * policy",
}
SIGS = {
    "update_regrets": "def update_regrets(cum_regret, inst_regret, legal, t, state):",
    "policy_from_regrets": "def policy_from_regrets(cum_regret, legal, t, state):",
    "accumulate_average": "def accumulate_average(avg_acc, policy, reach, legal, t, state):",
}
STORE_LAST = "state['last'] = inst_regret"

# PSRO meta-solver building blocks (both slots share them; the helper _payoff_vs(payoffs, x, p)
# of the seed gives player p's payoff vector against the others' mixtures).
META = {
    "uniform": "return [np.ones(n) / n for n in payoffs[0].shape]",
    "recency": "return [(1.0 + np.arange(n)) ** {g} for n in payoffs[0].shape]",
    "rm": ("sizes = payoffs[0].shape\n"
           "x = [np.ones(n) / n for n in sizes]\n"
           "reg = [np.zeros(n) for n in sizes]\n"
           "avg = [np.zeros(n) for n in sizes]\n"
           "for _ in range({k}):\n"
           "    for p in range(len(sizes)):\n"
           "        u = _payoff_vs(payoffs, x, p)\n"
           "        reg[p] = np.maximum(reg[p] + u - u @ x[p], 0.0)\n"
           "        s = reg[p].sum()\n"
           "        x[p] = reg[p] / s if s > 0 else np.ones(sizes[p]) / sizes[p]\n"
           "        avg[p] = avg[p] + x[p]\n"
           "return [a + {e} for a in avg]"),
    "softmax": ("sizes = payoffs[0].shape\n"
                "x = [np.ones(n) / n for n in sizes]\n"
                "out = []\n"
                "for p in range(len(sizes)):\n"
                "    u = _payoff_vs(payoffs, x, p)\n"
                "    z = np.exp((u - u.max()) * {c})\n"
                "    out.append(z / z.sum())\n"
                "return out"),
}
META_SIGS = {"train_meta_solver": "def train_meta_solver(payoffs, t, state):",
             "eval_meta_solver": "def eval_meta_solver(payoffs, state):"}


def _params(rng) -> dict:
    return {"k": int(rng.choice([10, 50, 200, 1000])), "e": float(rng.choice([0.0, 1e-3, 0.01])),
            "a": float(rng.choice([1.0, 1.5, 2.0, 3.0])), "b": float(rng.choice([0.0, -0.5, 0.5, -1.0])),
            "q": float(rng.choice([1.5, 2.0, 0.5])), "c": float(rng.choice([1.0, 0.5, 2.0])),
            "g": float(rng.choice([2.0, 3.0, 1.5, 4.0])), "d": int(rng.choice([0, 10, 50, 100]))}


def _fn(name: str, body: str) -> str:
    return {**SIGS, **META_SIGS}[name] + "\n" + "\n".join("    " + l for l in body.split("\n"))


def _functions(code: str) -> dict:
    """name -> (FunctionDef, source text) for functions inside EVOLVE blocks."""
    lines = code.split("\n")
    blocks = blocks_of(lines)
    out = {}
    for node in ast.parse(code).body:
        if isinstance(node, ast.FunctionDef):
            a, b = node.lineno - 1, node.end_lineno - 1
            if any(s < a and b < e for s, e in blocks):
                out[node.name] = (node, "\n".join(lines[a : b + 1]))
    return out


class _Collect(ast.NodeVisitor):
    def __init__(self):
        self.nums, self.binops, self.calls, self.pows = [], [], [], []
        self._skip = 0

    def visit_Subscript(self, node):
        self.visit(node.value)  # indices (e.g. [:, None]) are shape plumbing, not constants

    def visit_keyword(self, node):
        if node.arg not in ("axis", "keepdims"):
            self.visit(node.value)

    def visit_Constant(self, node):
        if isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            self.nums.append(node)

    def visit_BinOp(self, node):
        if isinstance(node.op, (ast.Add, ast.Sub)):
            self.binops.append(node)
        if isinstance(node.op, ast.Pow):
            self.pows.append(node)
        self.generic_visit(node)

    def visit_Call(self, node):
        f = node.func
        if isinstance(f, ast.Attribute) and f.attr in ("maximum", "minimum"):
            self.calls.append(node)
        self.generic_visit(node)


def _mutate_fn(node: ast.FunctionDef, op: str, rng) -> ast.FunctionDef | None:
    node = copy.deepcopy(node)
    col = _Collect()
    for s in node.body:
        col.visit(s)
    if op == "scale_constant" and col.nums:
        c = col.nums[int(rng.integers(len(col.nums)))]
        v = c.value
        if v == 0:
            c.value = float(rng.choice([0.1, -0.1, 1.0]))
        else:
            c.value = round(float(v) * float(rng.choice([0.5, 0.8, 1.25, 1.5, 2.0])), 6)
        return node
    if op == "swap_addsub" and col.binops:
        b = col.binops[int(rng.integers(len(col.binops)))]
        b.op = ast.Sub() if isinstance(b.op, ast.Add) else ast.Add()
        return node
    if op == "swap_maxmin" and col.calls:
        c = col.calls[int(rng.integers(len(col.calls)))]
        c.func.attr = "minimum" if c.func.attr == "maximum" else "maximum"
        return node
    if op == "pow_abs":
        sq = [p for p in col.pows if isinstance(p.right, ast.Constant) and p.right.value == 2]
        if sq:
            p = sq[int(rng.integers(len(sq)))]
            new = ast.parse(f"np.abs({ast.unparse(p.left)})", mode="eval").body
            replace_node(node, p, new)
            return node
    if op == "clamp":
        rets = [s for s in ast.walk(node) if isinstance(s, ast.Return) and s.value is not None]
        if rets:
            r = rets[-1]
            v = r.value
            if isinstance(v, ast.Call) and isinstance(v.func, ast.Attribute) and v.func.attr == "maximum" and len(v.args) == 2:
                r.value = v.args[0]
            else:
                r.value = ast.parse(f"np.maximum({ast.unparse(v)}, 0.0)", mode="eval").body
            return node
    return None


class MutationBackend(Backend):
    """Deterministic given ``seed``: the same item always gets the same mutation."""

    name = "mutation"

    def __init__(self, patch_mix: dict | None = None):
        mix = patch_mix or {"diff": 0.7, "function": 0.3}
        self.p_diff = float(mix.get("diff", 0.7)) / max(1e-9, float(mix.get("diff", 0.7)) + float(mix.get("function", 0.3)))

    def complete(self, messages, *, model, temperature, max_tokens, seed, context=None):
        ctx = context or {}
        rng = np.random.default_rng([int(seed), 2027])
        parent = ctx["parent_code"]
        inspirations = ctx.get("inspirations", [])
        fns = _functions(parent)
        edits = None
        for _ in range(20):
            edits = self._propose(fns, inspirations, rng)
            if edits and any(_norm(new) != _norm(fns[name][1]) for name, new in edits.items()):
                break
            edits = None
        if edits is None:
            return Completion("I could not find a useful mutation.", 0, 0, 0.0, 0.0)
        if rng.random() < self.p_diff:
            parts = [f"<<<<<<< SEARCH\n{fns[name][1]}\n=======\n{new}\n>>>>>>> REPLACE" for name, new in edits.items()]
        else:
            parts = [f"```python\n{new}\n```" for new in edits.values()]
        return Completion("Mutation:\n\n" + "\n\n".join(parts) + "\n", 0, 0, 0.0, 0.0)

    def _propose(self, fns: dict, inspirations: list[str], rng) -> dict | None:
        ops = ["scale_constant", "scale_constant", "swap_addsub", "swap_maxmin", "pow_abs", "clamp",
               "block", "block", "block", "optimism", "crossover"]
        op = ops[int(rng.integers(len(ops)))]
        names = [n for n in ("update_regrets", "policy_from_regrets", "accumulate_average", "_rm",
                             "train_meta_solver", "eval_meta_solver") if n in fns]
        if op in ("block", "optimism") and "train_meta_solver" in fns:
            which = ["train_meta_solver", "eval_meta_solver"][int(rng.integers(2))]
            key = list(META)[int(rng.integers(len(META)))]
            return {which: _fn(which, META[key].format(**_params(rng)))}
        if op == "block":
            which = ["update_regrets", "policy_from_regrets", "accumulate_average"][int(rng.integers(3))]
            if which not in fns:
                return None
            lib = {"update_regrets": UPDATE, "policy_from_regrets": POLICY, "accumulate_average": AVERAGE}[which]
            key = list(lib)[int(rng.integers(len(lib)))]
            body = lib[key].format(**_params(rng))
            if which == "update_regrets" and STORE_LAST in fns[which][1]:
                body = STORE_LAST + "\n" + body
            return {which: _fn(which, body)}
        if op == "optimism":
            if "update_regrets" not in fns or "policy_from_regrets" not in fns:
                return None
            upd_src = fns["update_regrets"][1]
            if STORE_LAST in upd_src:  # switch off
                return {"update_regrets": upd_src.replace("    " + STORE_LAST + "\n", ""),
                        "policy_from_regrets": _fn("policy_from_regrets", POLICY["rm"])}
            node = copy.deepcopy(fns["update_regrets"][0])
            node.body.insert(0, ast.parse(STORE_LAST).body[0])
            p = _params(rng)
            return {"update_regrets": ast.unparse(node),
                    "policy_from_regrets": _fn("policy_from_regrets", POLICY["optimistic"].format(**p))}
        if op == "crossover":
            if not inspirations:
                return None
            other = _functions(inspirations[int(rng.integers(len(inspirations)))])
            common = [n for n in names if n in other and _norm(other[n][1]) != _norm(fns[n][1])]
            if not common:
                return None
            n = common[int(rng.integers(len(common)))]
            return {n: other[n][1]}
        name = names[int(rng.integers(len(names)))]
        new = _mutate_fn(fns[name][0], op, rng)
        return None if new is None else {name: ast.unparse(new)}


def _norm(src: str) -> str:
    try:
        return ast.unparse(ast.parse(src))
    except SyntaxError:
        return src
