"""What a CFR rule's output may break, with one code table for every backend.

Every rule output is checked against the contract of docs/cfr.md: finite, zero on illegal
actions and, for policies, non-negative rows summing to 1. The NumPy path, the Numba check
kernel and the CUDA check kernel all report a violation as one of these bit codes, and
:func:`describe` turns a code into the message of :class:`~gtlearn.core.errors.InvalidRuleOutput`.
"""

from __future__ import annotations

NON_FINITE = 1
ILLEGAL_NONZERO = 2
NEGATIVE = 4
NOT_NORMALISED = 8

MESSAGES = {
    NON_FINITE: "returned non-finite values",
    ILLEGAL_NONZERO: "returned non-zero values on illegal actions",
    NEGATIVE: "returned negative probabilities",
    NOT_NORMALISED: "returned rows that do not sum to 1",
}


def describe(code: int) -> str:
    """The message of the first (most basic) violation in the bit set ``code``."""
    return next(message for bit, message in MESSAGES.items() if code & bit)
