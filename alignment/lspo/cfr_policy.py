"""The output of MCCFR on the LSPO abstraction: per-role average policies over latent indices
and targets, and for each discussion key the counterfactual values ``q(I, z)`` averaged over the
last half of the traversals (docs/lspo.md). Saved as ``solver.npz`` (no pickle).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np

from alignment.lspo.infostates import KeyView, target_key
from gtlearn.core.io import atomic_save_npz


def regret_matching(regrets: np.ndarray) -> np.ndarray:
    """The positive part of the regrets, normalized (uniform if none is positive)."""
    pos = np.maximum(regrets, 0.0)
    s = pos.sum()
    return pos / s if s > 0 else np.full(len(regrets), 1.0 / len(regrets))


def sample_index(probs, rng: random.Random) -> int:
    """An index drawn from ``probs`` with one ``rng.random()`` (inverse CDF)."""
    u = rng.random()
    acc = 0.0
    for i, p in enumerate(probs):
        acc += p
        if u < acc:
            return i
    return len(probs) - 1



class MCCFRPolicy:
    """Average policies and discussion q-values of a finished MCCFR run."""

    def __init__(self, ks: dict[str, int], disc_avg: dict, tgt_avg: dict, q: dict, q_count: dict) -> None:
        self.ks = ks
        self.disc_avg = disc_avg
        self.tgt_avg = tgt_avg
        self.q = q
        self.q_count = q_count

    def discussion_probs(self, key: tuple, role: str) -> np.ndarray:
        a = self.disc_avg.get(key)
        if a is None or a.sum() <= 0:
            return np.full(self.ks[role], 1.0 / self.ks[role])
        return a / a.sum()

    def target_probs(self, keys: list[tuple]) -> np.ndarray:
        w = np.array([self.tgt_avg.get(k, 0.0) for k in keys])
        s = w.sum()
        return w / s if s > 0 else np.full(len(keys), 1.0 / len(keys))

    def q_values(self, key: tuple) -> np.ndarray | None:
        """``q(I, .)`` for the key, else for its coarse key (the multiset dropped), else None."""
        for k in (key, key[:5]):
            if k in self.q and self.q_count[k] > 0:
                return self.q[k] / self.q_count[k]
        return None

    def act(self, view: KeyView, decision: str, legal: list, rng: random.Random):
        keys = [target_key(view, decision, j) for j in legal]
        return legal[sample_index(self.target_probs(keys), rng)]

    def save(self, path: str | Path) -> None:
        def pack(table: dict, width: int | None):
            keys = sorted(table, key=json.dumps)
            vals = [np.asarray(table[k], dtype=np.float64).reshape(-1) for k in keys]
            w = width or max((len(v) for v in vals), default=1)
            arr = np.full((len(keys), w), np.nan)
            for i, v in enumerate(vals):
                arr[i, : len(v)] = v
            return np.array([json.dumps(list(k)) for k in keys], dtype=str), arr

        dk, dv = pack(self.disc_avg, None)
        tk, tv = pack(self.tgt_avg, 1)
        qk, qv = pack(self.q, None)
        qc = np.array([self.q_count[json_key] for json_key in sorted(self.q, key=json.dumps)], dtype=np.float64)
        atomic_save_npz(path, disc_keys=dk, disc_vals=dv, tgt_keys=tk, tgt_vals=tv, q_keys=qk, q_vals=qv, q_counts=qc,
                        ks=np.array(json.dumps(self.ks)))

    @classmethod
    def load(cls, path: str | Path) -> MCCFRPolicy:
        with np.load(path, allow_pickle=False) as d:
            def unpack(keys, vals, scalar=False):
                out = {}
                for k, v in zip(keys, vals):
                    key = tuple(json.loads(str(k)))
                    v = v[~np.isnan(v)]
                    out[key] = float(v[0]) if scalar else v
                return out

            ks = json.loads(str(d["ks"]))
            q = unpack(d["q_keys"], d["q_vals"])
            qc = {tuple(json.loads(str(k))): float(c) for k, c in zip(d["q_keys"], d["q_counts"])}
            return cls(ks, unpack(d["disc_keys"], d["disc_vals"]), unpack(d["tgt_keys"], d["tgt_vals"], True), q, qc)
