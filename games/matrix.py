"""Normal-form games and PSRO meta-games as lists of payoff tensors.

An N-player normal-form game is ``payoffs = [M_0, ..., M_{N-1}]``, each of shape
(n_0, ..., n_{N-1}), ``M_p[j_0, ..., j_{N-1}]`` the payoff to player p. Every meta-solver of
:mod:`solvers.psro.meta_solvers` works on this representation, with any array namespace ``xp``
(NumPy or CuPy).
"""

from __future__ import annotations

import numpy as np

from gtlearn.core.backend import namespace


def contract_others(tensor, strategies, player: int):
    """u_p(.|sigma_-p): ``tensor`` contracted with ``strategies[q]`` along axis q for every
    q != ``player``, from the highest axis to the lowest so the axis numbers stay valid
    (docs/psro.md). Returns a vector of length ``tensor.shape[player]``."""
    xp = namespace(tensor)
    out = tensor
    for q in range(tensor.ndim - 1, -1, -1):
        if q == player:
            continue
        if q == out.ndim - 1:
            out = out @ strategies[q]
        elif q == 0:
            out = (strategies[q] @ out.reshape(out.shape[0], -1)).reshape(out.shape[1:])
        else:
            out = xp.tensordot(out, strategies[q], axes=([q], [0]))
    return out


def expected_payoffs(payoffs, strategies) -> np.ndarray:
    """Expected payoff of every player under the product of the mixed ``strategies``."""
    out = []
    for p, m in enumerate(payoffs):
        out.append(float(contract_others(m, strategies, p) @ strategies[p]))
    return np.array(out)


def nash_conv(payoffs, strategies) -> float:
    """Sum over players of the best pure deviation gain against the mixed profile."""
    total = 0.0
    for p, m in enumerate(payoffs):
        u = contract_others(m, strategies, p)
        total += float(u.max() - u @ strategies[p])
    return total


def rock_paper_scissors() -> list[np.ndarray]:
    m = np.array([[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]])
    return [m, -m]


def random_zero_sum(rows: int, cols: int, seed: int = 0) -> list[np.ndarray]:
    m = np.random.default_rng(seed).uniform(-1.0, 1.0, size=(rows, cols))
    return [m, -m]


def random_game(shape: tuple[int, ...], seed: int = 0) -> list[np.ndarray]:
    """A general-sum game with i.i.d. uniform(-1, 1) payoffs, one tensor per player."""
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1.0, 1.0, size=shape) for _ in shape]
