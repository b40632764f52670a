"""The base of every tabular preference-learning algorithm: a solver (gtlearn.core.solver) on a
finite preference game (docs/preference_games.md).

An algorithm is built from a :class:`~games.preference.PreferenceGame` and its config
dataclass, plus how preferences are asked (``mode``, ``samples``, ``seed``: see
:mod:`alignment.tabular.source`) and an optional starting policy. It holds ``log_pi`` ``[X, n]``
(the last iterate) and the uniform average of the iterates; a subclass implements
:meth:`TabularAlgorithm._update`, which returns the next ``log_pi`` up to a per-context
constant, and :meth:`TabularAlgorithm.step` does the bookkeeping.

:meth:`TabularAlgorithm.gap` measures both policies with :func:`alignment.measures.measures`
against the exact regularized Nash π*_β of the game; the headline ``gap`` is the regularized
exploitability e_β of the last iterate, or the unregularized e_0 for the algorithms whose
update has no KL-to-reference term (``gap_name = "exploitability"``).
"""

from __future__ import annotations

import typing
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from alignment.measures import measures
from alignment.tabular.source import PreferenceSource, log_normalize
from games.preference import PreferenceGame, regularized_nash
from gtlearn.core.errors import GtlearnError
from gtlearn.core.metrics import Metrics


@dataclass
class TabularConfig:
    """Fields every tabular algorithm shares."""

    beta: float = 0.1  # regularization of the game the algorithm solves (τ in INPO)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


MAX_STEPS = 10**9  # inner iteration counts (Newton, loss fits): anything larger is a typo


def check_field_types(config: Any, owner: str) -> None:
    """Each field of the dataclass ``config`` holds a value of its annotated type: ``float``
    fields a finite int or float, ``int`` fields an int, ``str`` and ``bool`` fields their own
    type, ``X | None`` fields also None. Config values can come from ``--param name=value``,
    so a string where a number belongs must be a one-line error, not a TypeError mid-run."""
    hints = typing.get_type_hints(type(config))
    for f in fields(config):
        value = getattr(config, f.name)
        kinds = typing.get_args(hints[f.name]) or (hints[f.name],)
        if value is None and type(None) in kinds:
            continue
        if float in kinds:
            ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
                and bool(np.isfinite(value))
            want = "a finite number"
        elif int in kinds:
            ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool) and 0 <= value <= MAX_STEPS
            want = f"an integer in [0, {MAX_STEPS:,}]"
        elif bool in kinds or str in kinds:
            ok = isinstance(value, tuple(k for k in kinds if k in (bool, str)))
            want = "true or false" if bool in kinds else "a string"
        else:
            continue
        if not ok:
            raise GtlearnError(f"{owner}: {f.name} must be {want}, got {value!r}")


class TabularAlgorithm:
    """Base class of the tabular algorithms (see the module docstring)."""

    name = "base"
    config_class: type = TabularConfig
    gap_name = "exploitability_reg"

    def __init__(self, game: PreferenceGame, config: Any = None, *, mode: str = "exact", samples: int = 64,
                 seed: int = 0, init: np.ndarray | None = None) -> None:
        self.game = game
        self.config = config if config is not None else self.config_class()
        if not isinstance(self.config, self.config_class):
            raise GtlearnError(f"{self.name} expects a {self.config_class.__name__}")
        self._validate()
        self.source = PreferenceSource(game, mode, samples, seed)
        start = game.ref if init is None else np.asarray(init, dtype=np.float64)
        self.log_pi = np.log(start)
        self.iteration = 0
        self._avg = np.exp(self.log_pi)
        self._nash: np.ndarray | None = None

    # -- overridable -------------------------------------------------------------------------
    def _validate(self) -> None:
        """Every config field has its declared type (numbers finite); subclasses add ranges."""
        check_field_types(self.config, self.name)
        beta = getattr(self.config, "beta", None)
        if beta is not None and not beta > 0:
            raise GtlearnError(f"beta must be a positive finite number, got {beta}")

    def _require_positive(self, *names: str) -> None:
        """The config fields ``names`` (already type-checked) are > 0."""
        for name in names:
            value = getattr(self.config, name)
            if value is not None and not value > 0:
                raise GtlearnError(f"{self.name}: {name} must be positive, got {value}")

    def _update(self) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def extra_metrics(self) -> dict[str, float]:
        """Algorithm-specific values logged beside the measures (e.g. the current step)."""
        return {}

    def _extra_state(self) -> dict[str, np.ndarray]:
        """Algorithm-specific state the following iterations read (for :meth:`state_dict`)."""
        return {}

    def _load_extra_state(self, state: dict[str, np.ndarray]) -> None:
        """Inverse of :meth:`_extra_state`."""

    # -- the solver contract -------------------------------------------------------------------
    @property
    def beta(self) -> float:
        return float(self.config.beta)

    @property
    def mode(self) -> str:
        return self.source.mode

    @property
    def queries(self) -> int:
        return self.source.queries

    def step(self) -> None:
        self.log_pi = log_normalize(self._update())
        self.iteration += 1
        self._avg = self._avg + (np.exp(self.log_pi) - self._avg) / (self.iteration + 1)

    def current_policy(self) -> np.ndarray:
        """The last iterate π_t, ``[X, n]``."""
        return np.exp(self.log_pi)

    def average_policy(self) -> np.ndarray:
        """The uniform average (1/(t+1))·Σ_{s ≤ t} π_s, ``[X, n]``."""
        return self._avg

    def nash(self) -> np.ndarray:
        """The exact regularized Nash π*_β of the game at the config's β (computed once)."""
        if self._nash is None:
            self._nash = regularized_nash(self.game, self.beta)
        return self._nash

    def gap(self) -> Metrics:
        """The measures of the last and the average iterate (``avg_`` prefix), the query count
        and :meth:`extra_metrics`; the headline gap is the last iterate's ``gap_name``."""
        nash = self.nash()
        last = measures(self.game, self.current_policy(), self.beta, nash)
        avg = measures(self.game, self.average_policy(), self.beta, nash)
        extra = {"queries": self.queries, **last, **{f"avg_{k}": v for k, v in avg.items()}, **self.extra_metrics()}
        return Metrics(iteration=self.iteration, gap=float(last[self.gap_name]), gap_name=self.gap_name, extra=extra)

    def artifacts(self) -> dict[str, np.ndarray]:
        """The arrays a run keeps (``policy.npz``): last iterate, average and π*_β."""
        return {"policy": self.current_policy(), "average_policy": self.average_policy(), "nash": self.nash()}

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"iteration": np.array(self.iteration), "log_pi": self.log_pi.copy(), "average": self._avg.copy(),
                **self.source.state_dict(), **self._extra_state()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.iteration = int(state["iteration"])
        self.log_pi = np.array(state["log_pi"], dtype=np.float64)
        self._avg = np.array(state["average"], dtype=np.float64)
        self.source.load_state_dict(state)
        self._load_extra_state(state)
