"""The modern rules (pcfr+, pdcfr+, hs-pcfr+, aod-cfr, vad-cfr) against updates computed by hand.

"By hand" here means: scalar, per-action Python written directly from the formulas of
docs/cfr.md (no array code, nothing shared with the rule modules), driven
on (1) rock-paper-scissors as a one-shot extensive game (OpenSpiel ``matrix_rps``, wrapped
turn-based: player 1 does not see player 0's move), whose instantaneous regrets are written out
from the payoff matrix, and (2) Kuhn poker, whose regrets come from an independent recursive
walk over pyspiel states. A few iteration-1 values on RPS are also spelled out as literals.
"""

from __future__ import annotations

import math

import numpy as np
import pyspiel
import pytest

from games.tree import compile_game
from solvers.cfr import CFRSolver

RPS = [[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]]  # row player's payoff, actions R, P, S
SIGMA1 = [0.5, 0.3, 0.2]  # a non-uniform sigma^1: from the uniform start RPS is a fixed point


def rm(z, q=1.0):
    w = [max(v, 0.0) ** q for v in z]
    s = sum(w)
    return [x / s for x in w] if s > 0 else [1.0 / len(z)] * len(z)


def dpow(x, e):
    if x <= 0:
        return 0.0
    return x**e / (x**e + 1.0)


class HandRule:
    """Scalar per-infoset update, straight from the spec tables. One object per infoset."""

    def __init__(self, rule, n):
        self.rule, self.n = rule, n
        self.R = [0.0] * n
        self.S = [0.0] * n
        self.E = 0.0  # vad: volatility EWMA
        self.ema = [0.0] * n  # aod: EMA of R

    def step(self, r, x, sigma_used, t):
        """Returns sigma^{t+1}; updates R and S."""
        rule, R, S = self.rule, self.R, self.S
        if rule == "pcfr+":
            self.R = [max(a + b, 0.0) for a, b in zip(R, r)]
            self.S = [s * ((t - 1) / t) ** 2 + x * p for s, p in zip(S, sigma_used)]
            return rm([max(a + b, 0.0) for a, b in zip(self.R, r)])
        if rule == "pdcfr+":
            self.R = [max(dpow(t - 1, 2.3) * a + b, 0.0) for a, b in zip(R, r)]
            self.S = [s * ((t - 1) / t) ** 5 + x * p for s, p in zip(S, sigma_used)]
            return rm([max(dpow(t, 2.3) * a + b, 0.0) for a, b in zip(self.R, r)])
        if rule == "hs-pcfr+":
            g = 30.0 - 5.0 * (t - 1) / 1000.0
            self.R = [max(a + b, 0.0) for a, b in zip(R, r)]
            self.S = [s * ((t - 1) / t) ** g + x * p for s, p in zip(S, sigma_used)]
            return rm([max(a + b, 0.0) for a, b in zip(self.R, r)])
        if rule == "aod-cfr":
            lam = min(1.0, (t - 1) / 500.0)
            al, be, ga = 1.0 + 1.5 * lam, 0.5 - 0.5 * lam, 1.0 + 4.0 * lam
            new = []
            for a, b in zip(R, r):
                sa = "+" if a > 1e-9 else "-" if a < -1e-9 else "0"
                sb = "+" if b > 1e-9 else "-" if b < -1e-9 else "0"
                c = {"++": 1.1, "+-": 0.9, "-+": 0.7, "--": 1.2}.get(sa + sb, 1.0)
                d = t**al / (t**al + 1) if a > 0 else t**be / (t**be + 1)
                new.append(d * a + c * b)
            self.R = new
            tg = t**ga
            self.S = [s * tg / (tg + 1) + tg * x * p for s, p in zip(S, sigma_used)]
            P = [a + 0.5 * (a - e) for a, e in zip(new, self.ema)]
            w = [max(v, 0.0) ** 2 for v in P]
            sigma = [v / sum(w) for v in w] if sum(w) > 1e-12 else [1.0 / self.n] * self.n
            self.ema = [0.1 * a + 0.9 * e for a, e in zip(new, self.ema)]
            return sigma
        if rule == "vad-cfr":
            m = max(abs(v) for v in r)
            self.E = m if t == 1 else 0.1 * m + 0.9 * self.E
            v = min(1.0, self.E / 2.0)
            al = max(0.1, 1.5 - 0.5 * v)
            be = min(al, -0.1 - 0.5 * v)
            dp, dn = t**al / (t**al + 1), t**be / (t**be + 1)
            rb = [1.1 * b if b > 0 else b for b in r]
            self.R = [max(-20.0, (dp if a >= 0 else dn) * a + b) for a, b in zip(R, rb)]
            if t >= 501:
                g = min(4.0, 2.0 + 1.5 * min(1.0, m / 2.0))
                w = t**g / (1 + m**1.5) * max(0.1, math.sqrt(1 + m / 2.0))
                self.S = [s + w * x * p for s, p in zip(S, sigma_used)]
            o = max(0.0, 1 - 0.5 * v) / (1 + (t - 1) / 100.0)
            return rm([(dp if a >= 0 else dn) * a + o * b for a, b in zip(self.R, rb)], q=1.5)
        raise AssertionError(rule)


RULES = ["pcfr+", "pdcfr+", "hs-pcfr+", "aod-cfr", "vad-cfr"]


# -- rock-paper-scissors -----------------------------------------------------------------
def rps_hand(rule, iterations):
    """Alternating passes on RPS: r_0(a) = u_0(a) - sigma_0.u_0, u_0 = A sigma_1; then player 1
    against the *updated* sigma_0, u_1(b) = -sum_a sigma_0(a) A[a][b]. Own reach x = 1."""
    sig = [list(SIGMA1), list(SIGMA1)]
    hand = [HandRule(rule, 3), HandRule(rule, 3)]
    for t in range(1, iterations + 1):
        for p in (0, 1):
            o = sig[1 - p]
            u = [sum(RPS[a][b] * o[b] for b in range(3)) for a in range(3)] if p == 0 else \
                [-sum(o[a] * RPS[a][b] for a in range(3)) for b in range(3)]
            v = sum(s * x for s, x in zip(sig[p], u))
            r = [x - v for x in u]
            sig[p] = hand[p].step(r, 1.0, sig[p], t)
    return hand, sig


def rps_solver(rule, iterations, **kw):
    tree = compile_game("matrix_rps")
    assert tree.num_players == 2 and tree.legal.shape == (2, 3)
    # the compiled payoffs are the RPS matrix (leaves in (a0, a1) order; equal payoff rows are
    # stored once, so each leaf names its row)
    leaf_rows = tree.terminal[tree.terminal >= 0]
    assert np.array_equal(tree.payoffs[leaf_rows, 0].reshape(3, 3), np.array(RPS))
    solver = CFRSolver(tree, rule=rule, rule_kwargs=kw)
    solver.policy[:] = np.array([SIGMA1, SIGMA1])
    for _ in range(iterations):
        solver.step()
    return solver


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("iterations", [1, 2, 5])
def test_rps_matches_hand(rule, iterations):
    hand, sig = rps_hand(rule, iterations)
    solver = rps_solver(rule, iterations)
    for p in (0, 1):
        np.testing.assert_allclose(solver.regrets[p][0], hand[p].R, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(solver.avg_acc[p][0], hand[p].S, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(solver.current_policy()[p], sig[p], rtol=1e-12, atol=1e-14)


def test_rps_iteration_one_literals():
    # Player 0 against sigma_1 = (.5, .3, .2): u_0 = (-.1, .3, -.2), v = 0, so r^1 = (-.1, .3, -.2).
    s = rps_solver("pcfr+", 1)
    np.testing.assert_allclose(s.regrets[0][0], [0.0, 0.3, 0.0], atol=1e-15)
    # sigma^2 = RM([R + r]_+) = RM(0, .6, 0) = paper; S^1 = x sigma^1 (the factor 0^2 kills S^0)
    np.testing.assert_allclose(s.current_policy()[0], [0.0, 1.0, 0.0])
    np.testing.assert_allclose(s.avg_acc[0][0], SIGMA1)
    # player 1 then faces paper: u_1 = (-1, 0, 1), v_1 = .5(-1) + .2(1) = -.3 -> r = (-.7, .3, 1.3)
    np.testing.assert_allclose(s.regrets[1][0], [0.0, 0.3, 1.3], atol=1e-15)
    np.testing.assert_allclose(s.current_policy()[1], [0.0, 0.6 / 3.2, 2.6 / 3.2])
    # PDCFR+ at t = 1: d(0) = 0, so R^1 = [r]_+; the policy uses d(1) = 1/2: RM(.15 + .3) on paper
    s = rps_solver("pdcfr+", 1)
    np.testing.assert_allclose(s.regrets[0][0], [0.0, 0.3, 0.0], atol=1e-15)
    np.testing.assert_allclose(s.current_policy()[0], [0.0, 1.0, 0.0])
    # AOD-CFR at t = 1: alpha=1, beta=.5, R^0 = 0 -> d = 1/2 and c = 1 ("0" sign): R^1 = r^1;
    # P = R + .5 R = 1.5 R -> [P]_+^2 = (0, .2025, 0) -> paper
    s = rps_solver("aod-cfr", 1)
    np.testing.assert_allclose(s.regrets[0][0], [-0.1, 0.3, -0.2], atol=1e-15)
    np.testing.assert_allclose(s.current_policy()[0], [0.0, 1.0, 0.0])
    np.testing.assert_allclose(s.avg_acc[0][0], SIGMA1)  # t^1 = 1, factor 1/2 on S^0 = 0
    # VAD-CFR at t = 1: E = m = .3, v = .15, alpha = 1.425, beta = -.175; R^0 = 0 >= 0 -> d+ = 1/2
    # R^1 = (-.1, .33, -.2); o = 1 - .075 = .925; P = (.5*0 ... ) = d(R) R + o rb
    s = rps_solver("vad-cfr", 1)
    np.testing.assert_allclose(s.regrets[0][0], [-0.1, 0.33, -0.2], atol=1e-15)
    dn = 1.0 / 2.0  # 1^beta = 1 for any beta
    P = [dn * -0.1 + 0.925 * -0.1, 0.5 * 0.33 + 0.925 * 0.33, dn * -0.2 + 0.925 * -0.2]
    np.testing.assert_allclose(s.current_policy()[0], rm(P, 1.5))
    np.testing.assert_allclose(s.avg_acc[0][0], 0.0)  # hard warm start


# -- Kuhn poker, regrets from an independent pyspiel walk -------------------------------
def walk_regrets(game, policy, p):
    """r^t(I, .) and x_p(I) for player p by recursion over pyspiel states (policy: key -> list)."""
    regrets, reach_p = {}, {}

    def walk(state, own, others):
        if state.is_terminal():
            return state.returns()[p]
        if state.is_chance_node():
            return sum(prob * walk(state.child(a), own, others * prob) for a, prob in state.chance_outcomes())
        q = state.current_player()
        key = state.information_state_string(q)
        sigma = policy[key]
        vals = []
        for a, s in zip(state.legal_actions(), sigma):
            vals.append(walk(state.child(a), own * s if q == p else own, others if q == p else others * s))
        v = sum(s * x for s, x in zip(sigma, vals))
        if q == p:
            acc = regrets.setdefault(key, [0.0] * len(vals))
            for k, x in enumerate(vals):
                acc[k] += others * (x - v)
            reach_p[key] = own
        return v

    walk(game.new_initial_state(), 1.0, 1.0)
    return regrets, reach_p


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("game_string", ["kuhn_poker", "kuhn_poker(players=3)"])
def test_kuhn_first_iterations_match_hand(rule, game_string):
    game = pyspiel.load_game(game_string)
    tree = compile_game(game_string)
    keys = [str(k) for k in tree.keys]
    n_act = tree.legal.sum(axis=1)
    policy = {k: [1.0 / a] * a for k, a in zip(keys, n_act)}
    hand = {k: HandRule(rule, a) for k, a in zip(keys, n_act)}
    solver = CFRSolver(tree, rule=rule)
    for t in range(1, 4):
        for p in range(game.num_players()):
            regrets, reach = walk_regrets(game, policy, p)
            block = tree.infosets_of(p)
            new = {}
            for k in keys[block]:
                new[k] = hand[k].step(regrets[k], reach[k], policy[k], t)
            policy.update(new)
        solver.step()
        R = np.concatenate(solver.regrets)
        S = np.concatenate(solver.avg_acc)
        sig = solver.current_policy()
        for i, k in enumerate(keys):
            a = n_act[i]
            np.testing.assert_allclose(R[i, :a], hand[k].R, rtol=1e-10, atol=1e-13, err_msg=f"R {k} t={t}")
            np.testing.assert_allclose(S[i, :a], hand[k].S, rtol=1e-10, atol=1e-13, err_msg=f"S {k} t={t}")
            np.testing.assert_allclose(sig[i, :a], policy[k], rtol=1e-10, atol=1e-13, err_msg=f"sigma {k} t={t}")


def test_hs_pcfr_plus_variants_by_hand():
    """The two open readings of the schedule (form, index), on RPS, iteration 3."""
    from solvers.cfr.rules.hs_pcfr_plus import HSPCFRPlus

    assert HSPCFRPlus().gamma_at(1) == 30.0 and HSPCFRPlus().gamma_at(1001) == 25.0
    assert HSPCFRPlus(index="t").gamma_at(1) == pytest.approx(29.995)
    # weight form: S^3 = sum_k k^{gamma_k} sigma^k (x = 1); policies are PCFR+'s
    pcfr = rps_solver("pcfr+", 3)
    s = rps_solver("hs-pcfr+", 3, form="weight", horizon=10)
    np.testing.assert_allclose(s.current_policy(), pcfr.current_policy())
    sig = [np.array(SIGMA1)]
    ref = rps_solver("pcfr+", 1)
    sig.append(ref.current_policy()[0])
    sig.append(rps_solver("pcfr+", 2).current_policy()[0])
    expected = sum(k ** (30 - 5 * (k - 1) / 10) * sig[k - 1] for k in (1, 2, 3))
    np.testing.assert_allclose(s.avg_acc[0][0], expected, rtol=1e-12)
