"""Trusted-side data handling: quoting what a candidate says, policy validation and the fitness.

Invalid data is rejected with a reason, never repaired (docs/evolve.md, Trusted scoring); the
arrays themselves cross the sandbox boundary in the frames of :mod:`evolve.sandbox.wire`.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np


class InvalidPayload(Exception):
    pass


_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]")


def untrusted(text, limit: int = 300) -> str:
    """Text that came from a candidate (an exception message, a print), made safe to store and
    to show to a model: control characters and escape sequences removed, cut to ``limit``
    characters, and quoted as one JSON string literal (newlines and non-ASCII escaped), so it
    reads as data and cannot start a line or a section of its own."""
    text = _CONTROL.sub("", str(text if text is not None else "?"))
    if len(text) > limit:
        text = text[:limit] + "..."
    return json.dumps(text, ensure_ascii=True)


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
