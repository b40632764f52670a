"""The PSRO meta-solver task inside the sandbox (docs/evolve.md, Tasks): answers one meta-solver
call per request. PSRO itself, the payoffs and the exploitability stay in the parent
(:mod:`evolve.tasks.psro`)."""

from __future__ import annotations

import numpy as np

FUNCS = ("train_meta_solver", "eval_meta_solver")


class ChildDriver:
    def __init__(self, init: dict):
        self.states = {"train": {}, "eval": {}}

    def load(self, ns: dict) -> None:
        missing = [f for f in FUNCS if not callable(ns.get(f))]
        if missing:
            raise TypeError(f"candidate defines no {', '.join(missing)}")
        self.train, self.eval = ns[FUNCS[0]], ns[FUNCS[1]]

    def handle(self, msg: dict, payoffs: list) -> tuple[dict, list]:
        op = msg["op"]
        if op == "reset":
            self.states = {"train": {}, "eval": {}}
            return {}, []
        if op == "train":
            out = self.train(payoffs, int(msg["t"]), self.states["train"])
        elif op == "eval":
            out = self.eval(payoffs, self.states["eval"])
        else:
            raise ValueError(f"unknown op {op!r}")
        return {}, [np.asarray(w, dtype=np.float64) for w in out]
