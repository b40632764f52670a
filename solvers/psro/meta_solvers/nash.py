"""Nash meta-solver for two-player constant-sum meta-games, by linear programming (HiGHS).

The row player solves max v s.t. x^T M_0[:, j] >= v for all j, sum x = 1, x >= 0; the column
player min w s.t. M_0[i, :] y <= w for all i, sum y = 1, y >= 0 (docs/psro.md). LP
round-off negatives are clipped to 0 and the vectors renormalised, as OpenSpiel's
``nash_strategy`` does. With several equilibria the one returned is HiGHS's (dual simplex)
vertex; OpenSpiel's cvxpy/ECOS interior-point solver may return another one.
"""

from __future__ import annotations

import numpy as np

from gtlearn.core.backend import to_numpy
from gtlearn.core.errors import GtlearnError
from solvers.psro.meta_solvers.base import MetaSolver


def solve_zero_sum(m: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Maximin strategies (x, y) and the value of the zero-sum game with row payoffs ``m``."""
    from scipy.optimize import linprog

    m = np.asarray(m, dtype=np.float64)
    rows, cols = m.shape
    # Variables (x_1..x_rows, v); minimise -v.
    c = np.zeros(rows + 1)
    c[-1] = -1.0
    a_ub = np.hstack([-m.T, np.ones((cols, 1))])  # v - x^T M[:, j] <= 0
    a_eq = np.hstack([np.ones((1, rows)), np.zeros((1, 1))])
    bounds = [(0, None)] * rows + [(None, None)]
    res_x = linprog(c, A_ub=a_ub, b_ub=np.zeros(cols), A_eq=a_eq, b_eq=[1.0], bounds=bounds, method="highs")
    # Variables (y_1..y_cols, w); minimise w.
    c = np.zeros(cols + 1)
    c[-1] = 1.0
    a_ub = np.hstack([m, -np.ones((rows, 1))])  # M[i, :] y - w <= 0
    a_eq = np.hstack([np.ones((1, cols)), np.zeros((1, 1))])
    bounds = [(0, None)] * cols + [(None, None)]
    res_y = linprog(c, A_ub=a_ub, b_ub=np.zeros(rows), A_eq=a_eq, b_eq=[1.0], bounds=bounds, method="highs")
    if res_x.status != 0 or res_y.status != 0:
        raise GtlearnError(f"the Nash LP failed: {res_x.message} / {res_y.message}")
    x = np.clip(res_x.x[:rows], 0.0, None)
    y = np.clip(res_y.x[:cols], 0.0, None)
    return x / x.sum(), y / y.sum(), float(res_x.x[-1])


class Nash(MetaSolver):
    """Exact Nash equilibrium of a two-player constant-sum meta-game (Lanctot et al. 2017 / PSRO-Nash)."""

    name = "nash"
    stateless = True

    def __init__(self, tol: float = 1e-9) -> None:
        super().__init__()
        self.tol = tol

    def solve(self, payoffs, t=None):
        if len(payoffs) != 2:
            raise GtlearnError(f"the nash meta-solver needs a two-player game, this one has {len(payoffs)} players")
        m0, m1 = (np.asarray(to_numpy(m), dtype=np.float64) for m in payoffs)
        total = m0 + m1
        if total.size and np.max(np.abs(total - total.flat[0])) > self.tol:
            raise GtlearnError("the nash meta-solver needs a constant-sum meta-game (M_0 + M_1 is not constant)")
        x, y, _ = solve_zero_sum(m0)
        return [x, y]
