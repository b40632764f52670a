"""Regret and average-policy storage keyed by information state string, in compact arrays.

An :class:`InfosetTable` gives every information state it has seen a *row*: one dict lookup
from the key, then the row's ``n_actions`` accumulators are a contiguous run of two flat
``array('d')`` buffers (cumulative regret R and average-policy numerator S), at
``offset[row]``. Rows are numbered in order of first update, so a table built from the same
updates in the same order is the same table. Nothing is stored per history and nothing is
padded: a row costs 16 bytes per action plus its key.

:class:`Updates` is what one traversal produces: per visited infoset the regret and average
increments, in visit order. Traversals only *read* a table (the policy is regret matching of
R), and the updates are applied afterwards in traversal order, so running traversals in
another process (:mod:`solvers.distributed`) gives the same table bit for bit.
"""

from __future__ import annotations

from array import array

import numpy as np


def regret_matching(regret, lo: int, n: int) -> list[float]:
    """sigma(I) = [R]_+ normalized over the n legal actions (uniform when all are <= 0)."""
    pos = [r if r > 0.0 else 0.0 for r in regret[lo: lo + n]]
    total = sum(pos)
    if total > 0.0:
        return [x / total for x in pos]
    return [1.0 / n] * n


class InfosetTable:
    """R and S per information state (see the module docstring)."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.keys: list[str] = []
        self.offset = array("q")
        self.n_actions = array("i")
        self.regret = array("d")
        self.average = array("d")

    def __len__(self) -> int:
        return len(self.keys)

    def find(self, key: str) -> int:
        """The row of ``key``, or -1 when it was never updated."""
        return self.index.get(key, -1)

    def row(self, key: str, n_actions: int) -> int:
        """The row of ``key``, created (zeros) on first use."""
        r = self.index.get(key)
        if r is None:
            r = self.index[key] = len(self.keys)
            self.keys.append(key)
            self.offset.append(len(self.regret))
            self.n_actions.append(n_actions)
            zeros = array("d", bytes(8 * n_actions))
            self.regret.extend(zeros)
            self.average.extend(zeros)
        return r

    def policy(self, key: str, n_actions: int) -> list[float]:
        """Regret matching of R(I) (uniform for an unseen infoset)."""
        r = self.index.get(key)
        if r is None:
            return [1.0 / n_actions] * n_actions
        return regret_matching(self.regret, self.offset[r], n_actions)

    def average_policy(self, key: str, n_actions: int) -> list[float]:
        """S(I) normalized (uniform for an unseen infoset or an all-zero row)."""
        r = self.index.get(key)
        if r is not None:
            lo = self.offset[r]
            s = self.average[lo: lo + n_actions]
            total = sum(s)
            if total > 0.0:
                return [x / total for x in s]
        return [1.0 / n_actions] * n_actions

    # -- arrays --------------------------------------------------------------------------------
    def padded(self, which: str, max_actions: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(values, legal): ``which`` ("regret" or "average") as a (rows, A) array, 0-padded."""
        n = np.frombuffer(self.n_actions, dtype=np.int32) if len(self) else np.zeros(0, np.int32)
        width = int(max(n.max(initial=1), max_actions or 1))
        legal = np.arange(width)[None, :] < n[:, None]
        out = np.zeros((len(self), width))
        out[legal] = np.frombuffer(getattr(self, which), dtype=np.float64) if len(self) else 0.0
        return out, legal

    def state_dict(self, prefix: str = "") -> dict[str, np.ndarray]:
        encoded = [k.encode() for k in self.keys]
        key_offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(k) for k in encoded], out=key_offsets[1:])
        return {
            f"{prefix}key_blob": np.frombuffer(b"".join(encoded), dtype=np.uint8).copy(),
            f"{prefix}key_offsets": key_offsets,
            f"{prefix}n_actions": np.array(self.n_actions, dtype=np.int32),
            f"{prefix}regret": np.array(self.regret, dtype=np.float64),
            f"{prefix}average": np.array(self.average, dtype=np.float64),
        }

    @classmethod
    def from_state_dict(cls, data: dict, prefix: str = "") -> InfosetTable:
        table = cls()
        blob = np.asarray(data[f"{prefix}key_blob"], dtype=np.uint8).tobytes()
        off = np.asarray(data[f"{prefix}key_offsets"]).tolist()
        table.keys = [blob[a:b].decode() for a, b in zip(off[:-1], off[1:])]
        table.index = {k: i for i, k in enumerate(table.keys)}
        table.n_actions = array("i", np.asarray(data[f"{prefix}n_actions"], dtype=np.int32).tobytes())
        starts = np.concatenate([[0], np.cumsum(np.asarray(data[f"{prefix}n_actions"], dtype=np.int64))[:-1]])
        table.offset = array("q", starts.astype(np.int64).tobytes()) if len(table.keys) else array("q")
        table.regret = array("d", np.asarray(data[f"{prefix}regret"], dtype=np.float64).tobytes())
        table.average = array("d", np.asarray(data[f"{prefix}average"], dtype=np.float64).tobytes())
        return table


class Updates:
    """The increments one traversal produced, in visit order: (key, n_actions, kind, values)
    with kind 0 = regret, 1 = average policy."""

    __slots__ = ("records",)

    def __init__(self) -> None:
        self.records: list[tuple[str, int, int, list[float]]] = []

    def regret(self, key: str, n: int, values: list[float]) -> None:
        self.records.append((key, n, 0, values))

    def average(self, key: str, n: int, values: list[float]) -> None:
        self.records.append((key, n, 1, values))

    def apply(self, table: InfosetTable, regret_floor: float | None = None) -> None:
        """Add the increments to ``table`` in order; ``regret_floor=0.0`` clips R at 0 after each
        regret increment (regret matching+)."""
        for key, n, kind, values in self.records:
            r = table.row(key, n)
            lo = table.offset[r]
            buf = table.regret if kind == 0 else table.average
            for a in range(n):
                buf[lo + a] += values[a]
            if kind == 0 and regret_floor is not None:
                for a in range(n):
                    if buf[lo + a] < regret_floor:
                        buf[lo + a] = regret_floor
