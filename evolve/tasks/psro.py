"""The PSRO meta-solver task (specs/evolve.md §2.2): evolve a training-time and an
evaluation-time meta-solver (the interface of specs/psro.md §6), seeded with uniform for both,
as in the paper (arXiv:2602.16928, SHOR-PSRO).

PSRO itself runs in **trusted** code (:class:`solvers.psro.loop.PSROSolver`, exact best
responses, exact meta-game payoffs). The candidate is queried through a step protocol: one JSON
request per meta-solver call, answered by one long-lived sandboxed child per candidate (never
reused for another). The answer is only a weight vector per player; the parent validates it
(exact shape, finite, non-negative, positive sum; never repaired) and the engine normalises it
(psro spec §6). Exploitability is computed by the trusted loop.

Fitness per game: ``(1 - auc_weight) * final + auc_weight * auc`` with
``final = -log10(expl_K / baseline_K)`` and ``auc = -(mean_k log10 expl_k - mean_k log10 baseline_k)``
(the normalized area under the log-exploitability curve). Baseline: regret matching in both
slots (specs/psro.md §6.4) with ``baseline_iterations`` inner iterations (default 2,000 instead
of OpenSpiel's 100,000, to keep the search affordable; documented deviation).
Population order carries age, so permutation equivariance is not enforced (spec).
"""

from __future__ import annotations

import math

import numpy as np

from evolve.scoring import FLOOR, InvalidPayload, decode, encode

FUNCS = ("train_meta_solver", "eval_meta_solver")

SEED = '''"""Uniform meta-solvers for both PSRO slots (the seed of the gtlearn PSRO meta-solver search).

Load with ``gtlearn psro --train-meta FILE:train_meta_solver --eval-meta FILE:eval_meta_solver``.
"""

import numpy as np

# EVOLVE-BLOCK-START


def _payoff_vs(payoffs, x, p):
    u = payoffs[p]
    for q in reversed(range(len(x))):
        if q != p:
            u = np.tensordot(u, x[q], axes=([q], [0]))
    return u


def train_meta_solver(payoffs, t, state):
    return [np.ones(n) / n for n in payoffs[0].shape]


def eval_meta_solver(payoffs, state):
    return [np.ones(n) / n for n in payoffs[0].shape]


# EVOLVE-BLOCK-END
'''


def stages(cfg: dict) -> list[dict]:
    cas = cfg["cascade"]
    s1, s2, ho = cas["stage1"], cas["stage2"], cas["heldout"]
    out = [{"stage": 0},
           {"stage": 1, "games": [{"game": g, "steps": int(s1["iterations"])} for g in s1["games"]], "epsilon": s1["epsilon"]},
           {"stage": 2, "games": [{"game": g, "steps": int(s2["iterations"])} for g in s2["games"]]}]
    if ho["games"]:
        out.append({"stage": 3, "games": [{"game": g, "steps": int(s2["iterations"]) * int(ho["horizon_mult"])} for g in ho["games"]],
                    "seeds": [0]})
    for s in out:
        s["auc_weight"] = float(cfg["cascade"].get("auc_weight", 0.5))
        s["baseline_iterations"] = int(cfg["cascade"].get("baseline_iterations", 2000))
    return out


# -- inside the sandbox ---------------------------------------------------------------------
class ChildDriver:
    def __init__(self, init: dict):
        self.states = {"train": {}, "eval": {}}

    def load(self, ns: dict) -> None:
        missing = [f for f in FUNCS if not callable(ns.get(f))]
        if missing:
            raise TypeError(f"candidate defines no {', '.join(missing)}")
        self.train, self.eval = ns[FUNCS[0]], ns[FUNCS[1]]

    def handle(self, msg: dict) -> dict:
        op = msg["op"]
        if op == "reset":
            self.states = {"train": {}, "eval": {}}
            return {}
        payoffs = [decode(p) for p in msg["payoffs"]]
        if op == "train":
            out = self.train(payoffs, int(msg["t"]), self.states["train"])
        elif op == "eval":
            out = self.eval(payoffs, self.states["eval"])
        else:
            raise ValueError(f"unknown op {op!r}")
        return {"weights": [encode(np.asarray(w, dtype=np.float64)) for w in out]}


# -- in the parent (trusted) ----------------------------------------------------------------
def _check_weights(resp: dict, sizes) -> list[np.ndarray]:
    ws = resp.get("weights")
    if not isinstance(ws, list) or len(ws) != len(sizes):
        raise InvalidPayload(f"meta-solver returned {len(ws) if isinstance(ws, list) else 'no'} vectors for {len(sizes)} players")
    out = []
    for w, n in zip(ws, sizes):
        w = decode(w, shape=(n,))
        if not np.all(np.isfinite(w)):
            raise InvalidPayload("meta-distribution has NaN or infinite entries")
        if np.any(w < 0):
            raise InvalidPayload("meta-distribution has negative entries")
        if not w.sum() > 0:
            raise InvalidPayload("meta-distribution sums to 0")
        out.append(w)
    return out


def _sandboxed_solver(sb, slot: str):
    from solvers.psro.meta_solvers.base import MetaSolver

    class Sandboxed(MetaSolver):
        name = f"candidate-{slot}"
        slots = (slot,)

        def solve(self, payoffs, t=None):
            payoffs = [np.asarray(p, dtype=np.float64) for p in payoffs]
            msg = {"op": slot, "payoffs": [encode(p) for p in payoffs]}
            if slot == "train":
                msg["t"] = int(t)
                self.state["calls"] = int(t)
            resp = sb.request(msg)
            if not resp.get("ok"):
                raise InvalidPayload(f"{slot} meta-solver: {resp.get('error', '?')}")
            return _check_weights(resp, payoffs[0].shape)

    return Sandboxed()


def curve(tree, train, evaluate, steps: int) -> list[float]:
    from solvers.psro.loop import PSROConfig, PSROSolver

    s = PSROSolver(tree, PSROConfig(train_meta=train, eval_meta=evaluate))
    s.run(steps)
    return [float(r.exploitability) for r in s.history]


def baseline_curves(job: dict) -> dict:
    from evolve.evaluator import get_tree
    from solvers.psro.meta_solvers import RM

    out = {}
    for s in job["stages"]:
        if s["stage"] == 0:
            continue
        it = s["baseline_iterations"]
        out[str(s["stage"])] = {g["game"]: curve(get_tree(g["game"]), RM(iterations=it), RM(iterations=it), g["steps"]) for g in s["games"]}
    return out


def fitness(cand: list[float], base: list[float], w: float) -> dict:
    c = np.log10(np.maximum(cand, FLOOR))
    b = np.log10(np.maximum(base, FLOOR))
    final = -(c[-1] - b[-1])
    auc = -(c.mean() - b.mean())
    return {"final": float(final), "auc": float(auc), "fitness": float((1 - w) * final + w * auc)}


def evaluate(job: dict) -> dict:
    import time

    from evolve.evaluator import get_tree
    from evolve.sandbox.launcher import Sandbox, SandboxCrash, SandboxLimits, SandboxTimeout

    if job["kind"] == "baselines":
        return baseline_curves(job)
    t0 = time.time()
    wanted = [s for s in job["stages"] if (s["stage"] in (1, 2)) == (job["kind"] == "cascade") and s["stage"] != 0]
    sb = Sandbox("psro", job["code"], SandboxLimits(**job["limits"]))
    records, state, reason = [], "evaluated", None
    cur = 0 if job["kind"] == "cascade" else 3
    try:
        ready = sb.start()
        if not ready.get("ok"):
            raise InvalidPayload(f"load failed: {ready.get('error', '?')}")
        if job["kind"] == "cascade":
            rng = np.random.default_rng([int(job["seed"]), 5])
            s0 = time.time()
            for shape in ((3, 4), (2, 2, 3)):
                pay = [rng.normal(size=shape) for _ in shape]
                outs = []
                for _ in range(2):
                    sb.request({"op": "reset"})
                    for slot in ("train", "eval"):
                        msg = {"op": slot, "payoffs": [encode(p) for p in pay], "t": 1}
                        resp = sb.request(msg)
                        if not resp.get("ok"):
                            raise InvalidPayload(f"stage 0: {resp.get('error', '?')}")
                        outs.append(_check_weights(resp, shape))
                if not all(np.array_equal(a, b) for x, y in zip(outs[:2], outs[2:]) for a, b in zip(x, y)):
                    raise InvalidPayload("stage 0: meta-solver is not deterministic")
            records.append({"stage": 0, "valid": True, "public": {"props": "pass"}, "wall_s": time.time() - s0})
        for s in wanted:
            cur = s["stage"]
            s0 = time.time()
            per_game, fits = {}, []
            for g in s["games"]:
                sb.request({"op": "reset"})
                c = curve(get_tree(g["game"]), _sandboxed_solver(sb, "train"), _sandboxed_solver(sb, "eval"), g["steps"])
                base = job["baselines"][str(cur)][g["game"]]
                f = fitness(c, base, s["auc_weight"])
                per_game[g["game"]] = {"expl": c[-1], "baseline": base[-1], "fitness": f["fitness"], "final": f["final"],
                                       "auc": f["auc"], "curve": c, "iterations": g["steps"]}
                fits.append(f["fitness"])
            m = {"fitness": float(np.mean(fits)), "games": per_game}
            rec = {"stage": cur, "valid": True, "wall_s": time.time() - s0}
            if cur == 3:
                rec["private"] = {**m, "ci_low": m["fitness"], "ci_high": m["fitness"], "seeds": [m]}
            else:
                rec["public"] = m
            records.append(rec)
            if cur == 1 and job.get("gate_ref") is not None and m["fitness"] < float(job["gate_ref"]) - math.log10(1.0 + float(s.get("epsilon", 1.0))):
                state, reason = "failed", f"stage 1 gate: fitness {m['fitness']:.3f} below the seed band"
                records[-1]["valid"] = False
                break
    except SandboxTimeout as exc:
        state, reason = "timeout", str(exc)
    except (SandboxCrash, InvalidPayload) as exc:
        state, reason = "failed", str(exc)
    finally:
        sb.close()
    if state != "evaluated" and (not records or records[-1]["valid"]):
        records.append({"stage": cur, "valid": False, "wall_s": 0.0})
    u = sb.usage()
    records[-1].update({k: u[k] for k in ("cpu_s", "peak_rss_mb", "exit_code")})
    records[-1]["stderr_tail"] = (sb.stderr_tail or "")[-2000:]
    if reason:
        records[-1]["error"] = reason
    return {"program_id": job["program_id"], "attempt": job["attempt"], "kind": job["kind"], "state": state, "reason": reason,
            "stages": records, "wall_s": time.time() - t0, "profile": sb.profile}
