"""Trusted-side data handling: the JSON array codec, policy validation and the fitness.

Arrays cross the sandbox boundary as ``{"dtype": "<f8", "shape": [...], "b64": ...}`` and
are decoded with ``np.frombuffer`` at an exact length; nothing is ever unpickled. Invalid
data is rejected with a reason, never repaired (docs/evolve.md, Trusted scoring).
"""

from __future__ import annotations

import base64
import math

import numpy as np

_DTYPES = {"<f8": np.float64, "|b1": np.bool_, "<i8": np.int64}


class InvalidPayload(Exception):
    pass


def encode(a) -> dict:
    a = np.ascontiguousarray(a)
    dt = {np.dtype(np.float64): "<f8", np.dtype(np.bool_): "|b1", np.dtype(np.int64): "<i8"}.get(a.dtype)
    if dt is None:
        a = a.astype(np.float64)
        dt = "<f8"
    return {"dtype": dt, "shape": list(a.shape), "b64": base64.b64encode(a.astype(_DTYPES[dt], copy=False).tobytes()).decode()}


def decode(obj, *, shape=None, dtype="<f8") -> np.ndarray:
    if not isinstance(obj, dict) or set(obj) != {"dtype", "shape", "b64"}:
        raise InvalidPayload("array is not a {dtype, shape, b64} object")
    if obj["dtype"] != dtype:
        raise InvalidPayload(f"array dtype {obj['dtype']!r}, expected {dtype!r}")
    shp = obj["shape"]
    if not isinstance(shp, list) or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shp):
        raise InvalidPayload("bad array shape")
    if shape is not None and tuple(shp) != tuple(shape):
        raise InvalidPayload(f"array shape {tuple(shp)}, expected {tuple(shape)}")
    try:
        raw = base64.b64decode(obj["b64"], validate=True)
    except Exception:  # noqa: BLE001
        raise InvalidPayload("array payload is not base64") from None
    n = int(np.prod(shp)) if shp else 1
    np_dt = np.dtype(_DTYPES[dtype])
    if len(raw) != n * np_dt.itemsize:
        raise InvalidPayload(f"array payload has {len(raw)} bytes, expected {n * np_dt.itemsize}")
    return np.frombuffer(raw, dtype=np_dt).reshape(shp).copy()


def validate_policy(policy: np.ndarray, legal: np.ndarray, tol: float = 1e-6) -> None:
    """Finite, non-negative, zero on illegal actions, rows summing to 1 within ``tol``."""
    if policy.shape != legal.shape:
        raise InvalidPayload(f"policy shape {policy.shape}, expected {legal.shape}")
    if not np.all(np.isfinite(policy)):
        raise InvalidPayload("policy has NaN or infinite entries")
    if np.any(policy < 0):
        raise InvalidPayload(f"policy has negative entries (min {policy.min():.3g})")
    if np.any(policy[~legal] != 0):
        raise InvalidPayload("policy puts mass on illegal actions")
    sums = policy.sum(axis=1)
    worst = float(np.max(np.abs(sums - 1.0))) if sums.size else 0.0
    if worst > tol:
        raise InvalidPayload(f"policy rows do not sum to 1 (worst deviation {worst:.3g})")


FLOOR = 1e-12


def log_ratio_fitness(expl: float, baseline: float) -> float:
    """-log10(max(expl, 1e-12) / baseline): 0 = baseline quality, +1 = ten times better."""
    return -math.log10(max(expl, FLOOR) / max(baseline, FLOOR))
