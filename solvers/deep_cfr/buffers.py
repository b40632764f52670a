"""Reservoir buffers (Vitter's Algorithm R) for Deep CFR's advantage and strategy samples.

A buffer keeps a uniform sample of at most ``capacity`` items of the stream it was offered,
as three preallocated arrays: the info-state tensor (float32), the iteration that produced the
item and the target (sampled regrets, or the strategy). The replacement draws come from the
generator the caller passes, so the buffer's content is a function of what was offered and
of those draws (OpenSpiel's ``ReservoirBuffer`` conventions).
"""

from __future__ import annotations

import numpy as np


class ReservoirBuffer:
    def __init__(self, capacity: int, input_size: int, output_size: int) -> None:
        self.capacity = int(capacity)
        self.info_state = np.zeros((0, input_size), dtype=np.float32)
        self.iteration = np.zeros(0, dtype=np.float32)
        self.target = np.zeros((0, output_size), dtype=np.float32)
        self.add_calls = 0

    def __len__(self) -> int:
        return min(self.add_calls, self.capacity)

    def _grow(self, need: int) -> None:
        size = self.info_state.shape[0]
        if need <= size:
            return
        new = min(self.capacity, max(need, 2 * size, 1024))
        for name in ("info_state", "iteration", "target"):
            old = getattr(self, name)
            buf = np.zeros((new,) + old.shape[1:], dtype=old.dtype)
            buf[:size] = old
            setattr(self, name, buf)

    def extend(self, states: np.ndarray, iteration: int, targets: np.ndarray, rng: np.random.Generator) -> None:
        """Offer the rows of ``states``/``targets`` in order (all from ``iteration``)."""
        for x, y in zip(states, targets):
            if self.add_calls < self.capacity:
                slot = self.add_calls
                self._grow(slot + 1)
            else:
                slot = int(rng.integers(0, self.add_calls + 1))
            if slot < self.capacity:
                self.info_state[slot] = x
                self.iteration[slot] = iteration
                self.target[slot] = y
            self.add_calls += 1

    def sample(self, batch: int | None, rng: np.random.Generator):
        """(states, iterations, targets): ``batch`` items without replacement (all if None or
        more than held)."""
        n = len(self)
        if batch is None or batch >= n:
            idx = rng.permutation(n)
        else:
            idx = rng.choice(n, size=batch, replace=False)
        return self.info_state[idx], self.iteration[idx], self.target[idx]

    def state_dict(self, prefix: str) -> dict[str, np.ndarray]:
        n = len(self)
        return {f"{prefix}/info_state": self.info_state[:n].copy(), f"{prefix}/iteration": self.iteration[:n].copy(),
                f"{prefix}/target": self.target[:n].copy(), f"{prefix}/add_calls": np.array(self.add_calls)}

    def load_state_dict(self, data: dict, prefix: str) -> None:
        states = np.asarray(data[f"{prefix}/info_state"], dtype=np.float32)
        self.info_state = states.copy()
        self.iteration = np.asarray(data[f"{prefix}/iteration"], dtype=np.float32).copy()
        self.target = np.asarray(data[f"{prefix}/target"], dtype=np.float32).copy()
        self.add_calls = int(data[f"{prefix}/add_calls"])
