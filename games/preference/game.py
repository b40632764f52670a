"""A finite preference game: contexts with weights, a preference tensor and a reference policy.

A preference game has contexts x (prompts) with weights ρ(x), a finite response set
Y = {0..n-1} per context, a preference tensor ``P[x, y, y'] = P(y ≻ y' | x)`` with
``P + Pᵀ = 1`` (so ``P(y ≻ y) = ½``), and a reference policy ``ref[x, y] = π_ref(y|x)``
(docs/preference_games.md). Files are ``.npz`` (arrays + a JSON metadata string, loaded with
``allow_pickle=False``) or ``.json``.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gtlearn.core.errors import GtlearnError
from gtlearn.core.io import atomic_save_npz, atomic_write_json


@dataclass
class PreferenceGame:
    """A finite preference game (see module docstring).

    Attributes:
        P: ``[X, n, n]`` preference tensor, ``P[x, i, j] = P(i ≻ j | x)``.
        ref: ``[X, n]`` reference policy, rows on the simplex with full support.
        rho: ``[X]`` context weights (normalized to sum to one).
        responses: optional response strings, one list of ``n`` strings per context.
        name: a label (the generator string for generated games).
    """

    P: np.ndarray
    ref: np.ndarray
    rho: np.ndarray | None = None
    responses: list[list[str]] | None = None
    name: str = "preference"

    def __post_init__(self) -> None:
        P = np.asarray(self.P, dtype=np.float64)
        if P.ndim == 2:
            P = P[None]
        if P.ndim != 3 or P.shape[1] != P.shape[2]:
            raise GtlearnError(f"preference tensor must have shape [contexts, n, n], got {P.shape}")
        X, n, _ = P.shape
        if n < 2:
            raise GtlearnError("a preference game needs at least 2 responses per context")
        if not np.all(np.isfinite(P)) or P.min() < -1e-12 or P.max() > 1 + 1e-12:
            raise GtlearnError("preference probabilities must lie in [0, 1]")
        if np.max(np.abs(P + np.swapaxes(P, 1, 2) - 1.0)) > 1e-9:
            raise GtlearnError("preference tensor must satisfy P + P^T = 1 (hence P(y > y) = 1/2)")
        # Make P + Pᵀ = 1 hold exactly: keep the upper triangle, derive the rest. (Idempotent,
        # so a saved game reloads bit for bit.)
        iu, ju = np.triu_indices(n, 1)
        P = P.copy()
        P[:, ju, iu] = 1.0 - P[:, iu, ju]
        P[:, np.arange(n), np.arange(n)] = 0.5
        ref = np.asarray(self.ref, dtype=np.float64)
        if ref.ndim == 1:
            ref = np.broadcast_to(ref, (X, n)).copy()
        if ref.shape != (X, n):
            raise GtlearnError(f"reference policy must have shape {(X, n)}, got {ref.shape}")
        if not np.all(np.isfinite(ref)) or ref.min() <= 0:
            raise GtlearnError("reference policy must have full support (all probabilities > 0)")
        if np.max(np.abs(ref.sum(axis=1) - 1.0)) > 1e-12:
            ref = ref / ref.sum(axis=1, keepdims=True)
        rho = np.full(X, 1.0 / X) if self.rho is None else np.asarray(self.rho, dtype=np.float64).reshape(-1)
        if rho.shape != (X,) or rho.min() < 0 or rho.sum() <= 0:
            raise GtlearnError(f"context weights must be {X} non-negative numbers with a positive sum")
        if abs(rho.sum() - 1.0) > 1e-12:
            rho = rho / rho.sum()
        if self.responses is not None:
            if len(self.responses) != X or any(len(r) != n for r in self.responses):
                raise GtlearnError(f"responses must be {X} lists of {n} strings")
            self.responses = [[str(s) for s in r] for r in self.responses]
        self.P, self.ref, self.rho = P, ref, rho

    # -- shape ----------------------------------------------------------------------------
    @property
    def num_contexts(self) -> int:
        return int(self.P.shape[0])

    @property
    def num_responses(self) -> int:
        return int(self.P.shape[1])

    # -- preferences between policies ------------------------------------------------------
    def win_prob(self, pi: np.ndarray) -> np.ndarray:
        """``P(y ≻ π | x)`` for every response: ``[X, n]``."""
        return win_prob(self.P, pi)

    def preference(self, pi: np.ndarray, mu: np.ndarray) -> np.ndarray:
        """``P(π ≻ μ | x)`` per context: ``[X]``."""
        return np.einsum("xi,xij,xj->x", np.asarray(pi, np.float64), self.P, np.asarray(mu, np.float64))

    def uniform(self) -> np.ndarray:
        return np.full((self.num_contexts, self.num_responses), 1.0 / self.num_responses)

    # -- persistence -------------------------------------------------------------------------
    def _meta(self) -> dict[str, Any]:
        return {"name": self.name, "responses": self.responses, "format": "gtlearn.preference/1"}

    def save(self, path: str | Path) -> Path:
        """Write the game to ``.npz`` (default) or ``.json`` (chosen by the suffix)."""
        path = Path(path)
        if path.suffix == ".json":
            atomic_write_json(path, {**self._meta(), "P": self.P.tolist(), "ref": self.ref.tolist(), "rho": self.rho.tolist()})
        else:
            if path.suffix != ".npz":
                path = path.with_suffix(".npz")
            atomic_save_npz(path, P=self.P, ref=self.ref, rho=self.rho, meta=np.array(json.dumps(self._meta())))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "PreferenceGame":
        path = Path(path)
        if not path.is_file():
            raise GtlearnError(f"no preference game file at {path}")
        try:
            if path.suffix == ".json":
                d = json.loads(path.read_text())
                if not isinstance(d, dict):
                    raise ValueError("not a JSON object")
                return cls(P=np.array(d["P"]), ref=np.array(d["ref"]), rho=np.array(d["rho"]),
                           responses=d.get("responses"), name=d.get("name", path.stem))
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"])) if "meta" in data.files else {}
                return cls(P=data["P"], ref=data["ref"], rho=data["rho"] if "rho" in data.files else None,
                           responses=meta.get("responses"), name=meta.get("name", path.stem))
        except (KeyError, ValueError, TypeError, EOFError, OSError, zipfile.BadZipFile) as exc:
            # a truncated, foreign or unreadable file: one line, whatever numpy / json raised
            raise GtlearnError(f"{path} is not a preference game file ({type(exc).__name__}: {exc})") from None


@dataclass
class MatrixPreference:
    """A preference oracle over a tabular tensor: ``prob(x, y, y')`` and Bernoulli
    labels. ``queries`` counts every sampled label (one label = one preference query)."""

    P: np.ndarray
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    queries: int = 0

    def prob(self, x, y, y2) -> np.ndarray:
        return self.P[x, y, y2]

    def sample(self, x, y, y2) -> np.ndarray:
        """One Bernoulli(P(y ≻ y'|x)) label per (x, y, y') triple (1 = y wins)."""
        p = np.asarray(self.P[x, y, y2])
        self.queries += int(p.size)
        return (self.rng.random(p.shape) < p).astype(np.float64)


def win_prob(P: np.ndarray, pi: np.ndarray) -> np.ndarray:
    """``P(y ≻ π | x) = Σ_{y'} P[x, y, y'] π(y'|x)``."""
    return np.einsum("xij,xj->xi", P, np.asarray(pi, dtype=np.float64))
