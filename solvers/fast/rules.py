"""One fused, threaded pass for the rule step of the built-in rules cfr, cfr+, lcfr and dcfr.

The engine's rule step is three NumPy expressions per player (update_regrets,
accumulate_average, policy_from_regrets) plus three validation passes: about ten sweeps over
the (I, A) arrays and their temporaries, serial, which on the large benchmark games cost as
much as the tree traversal itself. For the four built-in rules, whose functions act on each
infoset's row alone, this kernel does the whole step in one pass over the rows under
``prange``, with the **same floating-point operations in the same order** as the NumPy code of
``solvers/cfr/rules/cfr.py``, ``cfr_plus.py`` and ``dcfr.py`` (row sums included: NumPy sums a
row of 8 or more entries with eight partial sums, :func:`_row_sum` does the same), so the
iterates are bit-identical to the NumPy rules (tested) whatever the thread count. The outputs
are validated in the same pass, with the checks of :func:`solvers.fast.kernels.check_rule_output`.

This module imports numba at import time; import it through :mod:`solvers.fast`.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

CFR, CFR_PLUS, LCFR, DCFR_ADD_THEN_DISCOUNT, DCFR_DISCOUNT_THEN_ADD = 0, 1, 2, 3, 4
MAX_ACTIONS = 128  # NumPy's pairwise summation block: wider rows are summed recursively


@njit(cache=True, nogil=True, inline="always")
def _row_sum(w, n):
    """sum(w[:n]) exactly as NumPy's pairwise summation does it for n <= 128."""
    if n < 8:
        s = 0.0
        for j in range(n):
            s += w[j]
        return s
    r0, r1, r2, r3, r4, r5, r6, r7 = w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]
    j = 8
    while j + 8 <= n:
        r0 += w[j]
        r1 += w[j + 1]
        r2 += w[j + 2]
        r3 += w[j + 3]
        r4 += w[j + 4]
        r5 += w[j + 5]
        r6 += w[j + 6]
        r7 += w[j + 7]
        j += 8
    s = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while j < n:
        s += w[j]
        j += 1
    return s


@njit(cache=True, nogil=True, inline="always")
def _maximum0(x):
    """np.maximum(x, 0.0): NaN propagates."""
    return x if (x >= 0.0 or x != x) else 0.0


@njit(cache=True, nogil=True, inline="always")
def _check_row(row, legal_row, cumulative):
    """check_rule_output's code for one row (0: valid)."""
    total = 0.0
    for a in range(row.shape[0]):
        x = row[a]
        if not np.isfinite(x):
            return 1
        if not legal_row[a] and x != 0.0:
            return 2
        if not cumulative and x < 0.0:
            return 3
        total += x
    if not cumulative and abs(total - 1.0) > 1e-9:
        return 4
    return 0


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _rule_row(i, kind, pos_factor, neg_factor, avg_weight, cum, inst, avg, sigma, reach, legal, validate, out_r, out_s,
              out_sigma, codes):
    """Row i of :func:`rule_step`."""
    n_act = cum.shape[1]
    w = out_sigma[i]  # the row is its own scratch: [R]_+ first, then normalized in place
    n_legal = 0
    for a in range(n_act):
        c = cum[i, a]
        r = inst[i, a]
        if kind == CFR:
            x = c + r
        elif kind == CFR_PLUS:
            x = _maximum0(c + r) if legal[i, a] else 0.0
        elif kind == LCFR:
            x = (c + r) * pos_factor
        elif kind == DCFR_ADD_THEN_DISCOUNT:
            q = c + r
            x = q * (pos_factor if q >= 0 else neg_factor) if legal[i, a] else 0.0
        else:
            x = c * (pos_factor if c > 0 else neg_factor) + r if legal[i, a] else 0.0
        out_r[i, a] = x
        if kind == CFR:
            out_s[i, a] = avg[i, a] + reach[i] * sigma[i, a]
        else:
            out_s[i, a] = avg[i, a] + (avg_weight * reach[i]) * sigma[i, a]
        w[a] = _maximum0(x) if legal[i, a] else 0.0  # sigma[i, a] was read above
        if legal[i, a]:
            n_legal += 1
    total = _row_sum(w, n_act)
    for a in range(n_act):
        if total > 0:
            w[a] = w[a] / total
        else:
            w[a] = (1.0 if legal[i, a] else 0.0) / n_legal
    if validate:
        codes[0, i] = _check_row(out_r[i], legal[i], True)
        codes[1, i] = _check_row(out_s[i], legal[i], True)
        codes[2, i] = _check_row(w, legal[i], False)


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def rule_step(kind, t, pos_factor, neg_factor, avg_weight, cum, inst, avg, sigma, reach, legal, validate, out_r, out_s,
              out_sigma, codes):
    """R^t, S^t and sigma^{t+1} of one player's infosets.

    ``kind``: one of the constants above. ``pos_factor`` / ``neg_factor``: DCFR's discounts (for
    R >= 0 / R < 0 after the add, or R^{t-1} > 0 / <= 0 before it); LCFR's t/(t+1) as
    ``pos_factor``. ``avg_weight``: the average's weight of iteration t (1 for cfr).
    ``sigma`` is the policy used in the pass; it may be the same memory as ``out_sigma`` (each
    row is read before it is written). ``codes`` (3, I) int8: check_rule_output's code of each
    row for the three outputs, when ``validate``."""
    for i in prange(cum.shape[0]):
        _rule_row(i, kind, pos_factor, neg_factor, avg_weight, cum, inst, avg, sigma, reach, legal, validate, out_r,
                  out_s, out_sigma, codes)


@njit(cache=True, nogil=True, error_model="numpy")
def rule_step_serial(kind, t, pos_factor, neg_factor, avg_weight, cum, inst, avg, sigma, reach, legal, validate, out_r,
                     out_s, out_sigma, codes):
    """:func:`rule_step` on one thread, the same operations: for small games, where waking the
    other threads costs more than the step."""
    for i in range(cum.shape[0]):
        _rule_row(i, kind, pos_factor, neg_factor, avg_weight, cum, inst, avg, sigma, reach, legal, validate, out_r,
                  out_s, out_sigma, codes)

