"""The meta-solver interface of docs/psro.md

A meta-solver maps a meta-game (one payoff tensor per player, see :mod:`games.matrix`) to one
non-negative weight vector per player. The PSRO loop owns one instance per slot and run:

* training slot: ``solver(payoffs, t)`` with ``t`` the 1-based PSRO iteration, called exactly
  once per iteration;
* evaluation slot: ``solver(payoffs)``.

``solver.state`` is a dict owned by the instance and persisted for the run. ``stateless``
solvers (their output depends on the meta-game alone) let the loop reuse the evaluation
output of the previous iteration as the next training output when the same solver with the
same parameters sits in both slots: the meta-game has not changed in between, so the result
is bit-identical and the work is halved.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np

from gtlearn.core.backend import namespace, to_numpy
from gtlearn.core.errors import GtlearnError


class MetaSolver:
    """Base class. Subclasses implement :meth:`solve`; ``slots`` lists where they may sit."""

    name = "meta-solver"
    slots: tuple[str, ...] = ("train", "eval")
    stateless = False

    def __init__(self) -> None:
        self.state: dict = {}

    def solve(self, payoffs, t: int | None):  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, payoffs, t: int | None = None):
        return self.solve(payoffs, t)

    def state_dict(self) -> dict[str, np.ndarray]:
        """``state`` as npz-friendly arrays, no pickle: array values as they are (moved to the
        host), everything else as one JSON string (exact for ints, floats, bools, strings, and
        lists / dicts of them). Subclasses whose state holds other objects override this pair."""
        arrays, plain = {}, {}
        for key, value in self.state.items():
            if not isinstance(key, str):
                raise GtlearnError(f"cannot checkpoint meta-solver {self.name!r}: state key {key!r} is not a string")
            if isinstance(value, np.ndarray) or namespace(value) is not np:
                value = np.asarray(to_numpy(value))
                if value.dtype.kind not in "biufcUS":
                    raise GtlearnError(f"cannot checkpoint meta-solver {self.name!r}: state[{key!r}] has dtype {value.dtype}")
                arrays[key] = value
            else:
                plain[key] = value
        try:
            text = json.dumps({"plain": plain, "arrays": list(arrays)}, default=_json_scalar)
        except (TypeError, ValueError) as exc:
            raise GtlearnError(
                f"cannot checkpoint meta-solver {self.name!r}: its state must hold arrays or JSON values ({exc})"
            ) from exc
        out = {"json": np.array(text)}
        for i, value in enumerate(arrays.values()):
            out[f"array_{i}"] = value
        return out

    def load_state_dict(self, arrays: dict[str, np.ndarray]) -> None:
        meta = json.loads(str(arrays["json"]))
        state = dict(meta["plain"])
        for i, key in enumerate(meta["arrays"]):
            state[key] = np.array(arrays[f"array_{i}"])
        self.state = state

    def params(self) -> dict:
        """The parameters that define the solver's output (for caching and run configs)."""
        return {k: v for k, v in vars(self).items() if k not in ("state", "xp") and not k.startswith("_")}

    def key(self):
        return (type(self).__name__, tuple(sorted((k, repr(v)) for k, v in self.params().items())))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


class EarlyStopping:
    """Mixin for meta-solvers with the opt-in certified early stop of
    :mod:`solvers.psro.meta_solvers._fast` (``early_stop=True``, checked every ``check_every``
    steps). ``steps_run`` records the inner steps each call ran (diagnostics, not state). The two
    parameters appear in :meth:`params` (and so in ``repr`` and checkpoints) only when the stop is
    switched on, so default solvers keep their identity."""

    def set_early_stopping(self, early_stop: bool, check_every: int) -> None:
        if int(check_every) < 1:
            raise ValueError("check_every must be >= 1")
        self.early_stop, self.check_every = bool(early_stop), int(check_every)
        self.steps_run: list[int] = []

    def params(self) -> dict:
        out = {k: v for k, v in super().params().items() if k != "steps_run"}
        if not self.early_stop:
            out.pop("early_stop", None)
            out.pop("check_every", None)
        return out


class FunctionMetaSolver(MetaSolver):
    """Wraps user functions with the signatures of docs/psro.md:
    ``train(payoffs, t, state)`` and ``evaluate(payoffs, state)``."""

    def __init__(self, fn: Callable, slot: str, name: str = "user") -> None:
        super().__init__()
        self._fn = fn
        self.slot = slot
        self.name = name
        self.slots = (slot,)

    def solve(self, payoffs, t=None):
        if self.slot == "train":
            return self._fn(payoffs, t, self.state)
        return self._fn(payoffs, self.state)


def normalise(weights, sizes: tuple[int, ...], who: str = "meta-solver") -> list[np.ndarray]:
    """The engine's normalisation (docs/psro.md): each vector divided by its sum, uniform
    for an all-zero vector; negative, non-finite or wrongly shaped output is rejected."""
    if not isinstance(weights, (list, tuple)) or len(weights) != len(sizes):
        raise GtlearnError(f"{who} must return a list of {len(sizes)} weight vectors")
    out = []
    for p, (w, n) in enumerate(zip(weights, sizes)):
        w = np.asarray(to_numpy(w) if namespace(w) is not np else w, dtype=np.float64).reshape(-1)
        if w.shape != (n,):
            raise GtlearnError(f"{who} returned {w.shape[0]} weights for player {p}, who has {n} policies")
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise GtlearnError(f"{who} returned negative or non-finite weights for player {p}")
        s = w.sum()
        out.append(w / s if s > 0 else np.full(n, 1.0 / n))
    return out


def _json_scalar(obj):
    if isinstance(obj, np.generic):  # NumPy scalars: their Python value is exact
        return obj.item()
    raise TypeError(f"{type(obj).__name__} is not an array or a JSON value")
