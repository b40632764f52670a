"""The CFR-rule task inside the sandbox (docs/evolve.md, Tasks and Trusted scoring).

The candidate's three functions are all this process computes. The CFR engine, the game trees
and the permutation that hides which row is which infoset stay in the parent
(:mod:`evolve.tasks.cfr_remote`), which calls the functions one at a time through a narrow
interface: ``begin`` a key (one player of one run, or one stage-0 case) with its legal mask and
initial regrets and averages, then one ``pass`` per iteration: the instantaneous regrets, the
policy used and the reach in; the three functions called in the engine's order
(``update_regrets``, ``accumulate_average``, ``policy_from_regrets``); the new regrets, average
accumulator and policy out. The child keeps, per key, its last outputs and the candidate's
``state`` dict; every call gets fresh copies, as the in-process engine would pass them.
"""

from __future__ import annotations

import numpy as np

FUNCS = ("update_regrets", "policy_from_regrets", "accumulate_average")
ALLOWED_TYPES = (int, float, bool, np.ndarray, np.generic)


def state_nbytes(state: dict) -> int:
    total = 0
    for k, v in state.items():
        if not isinstance(k, str) or not isinstance(v, ALLOWED_TYPES):
            raise TypeError(f"state values must be numpy arrays or scalars (key {k!r} holds {type(v).__name__})")
        total += v.nbytes if isinstance(v, np.ndarray) else 8
    return total


class _Key:
    def __init__(self, legal, regrets, avg_acc):
        self.legal, self.R, self.S, self.state = legal, regrets, avg_acc, {}


class ChildDriver:
    """Answers the parent's calls for one candidate inside the sandbox child."""

    def __init__(self, init: dict):
        self.state_cap = int(init.get("state_cap_mb", 64)) << 20
        self.keys: dict[str, _Key] = {}

    def load(self, ns: dict) -> None:
        missing = [f for f in FUNCS if not callable(ns.get(f))]
        if missing:
            raise TypeError(f"candidate defines no {', '.join(missing)}")
        self.fns = tuple(ns[f] for f in FUNCS)

    def handle(self, msg: dict, arrays: list) -> tuple[dict, list]:
        op, key = msg["op"], str(msg.get("key"))
        if op == "begin":
            legal, regrets, avg_acc = arrays
            self.keys[key] = _Key(legal.astype(bool), regrets, avg_acc)
            return {}, []
        k, t = self.keys[key], int(msg["t"])
        upd, pol, acc = self.fns
        if op != "pass":
            raise ValueError(f"unknown op {op!r}")
        r, sigma, reach = arrays
        k.R = np.array(upd(k.R.copy(), r, k.legal, t, k.state), dtype=np.float64)
        self._check_state(k)
        k.S = np.array(acc(k.S.copy(), sigma, reach, k.legal, t, k.state), dtype=np.float64)
        self._check_state(k)
        policy = np.array(pol(k.R.copy(), k.legal, t, k.state), dtype=np.float64)
        self._check_state(k)
        return {}, [k.R, k.S, policy]

    def _check_state(self, k: _Key) -> None:
        if state_nbytes(k.state) > self.state_cap:
            raise MemoryError("state dict over its size cap")
