"""VAD-CFR: the spec §5.4 tests (hand-computed single-infoset cases, the hard warm start, the
bridge between ``vad-cfr`` and ``vad-cfr-reference``, the per-history reference and its switches)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from games.tree import compile_game
from solvers.cfr import CFRSolver
from solvers.cfr.rules.vad_cfr import VADCFR, volatility_discounts
from solvers.cfr.vad_cfr_reference import AverageComponent, Node, PolicyComponent, RegretComponent, VADCFRReference


def one(values):
    """A single infoset (1, A) with all actions legal."""
    a = np.array([values], dtype=float)
    return a, np.ones_like(a, dtype=bool)


def d(t, e):
    return t**e / (t**e + 1.0)


def test_first_iteration_ewma_reset_and_discounts():
    rule, state = VADCFR(), {}
    R0, legal = one([0.0, 0.0, 0.0])
    r, _ = one([4.0, -1.0, 0.5])
    R1 = rule.update_regrets(R0, r, legal, 1, state)
    # t = 1: E = m = 4 (reset, no 0.9 * 0 blend); v = min(1, 4/2) = 1; alpha = 1.0, beta = -0.6
    assert state["ewma"][0] == 4.0 and state["v"][0] == 1.0
    assert state["d_pos"][0] == pytest.approx(0.5) and state["d_neg"][0] == pytest.approx(0.5)  # 1^x = 1
    np.testing.assert_allclose(R1, [[4.4, -1.0, 0.55]])  # boost 1.1 on positive regrets only
    # t = 2: E = .1 m + .9 E_prev = .1 * 2 + .9 * 4 = 3.8 -> v = 1 -> alpha 1, beta -.6
    r2, _ = one([-2.0, 1.0, 0.0])
    R2 = rule.update_regrets(R1, r2, legal, 2, state)
    assert state["ewma"][0] == pytest.approx(3.8)
    dp, dn = d(2, 1.0), d(2, -0.6)
    np.testing.assert_allclose(R2, [[dp * 4.4 - 2.0, dn * -1.0 + 1.1, dp * 0.55]])
    # policy: o = max(0, 1 - .5 v) / (1 + (t-1)/100) = .5 / 1.01; P = d(R) R + o rb; RM_1.5
    sigma = rule.policy_from_regrets(R2, legal, 2, state)
    o = 0.5 / 1.01
    P = [(dp if x >= 0 else dn) * x + o * b for x, b in zip(R2[0], [-2.0, 1.1, 0.0])]
    w = [max(x, 0.0) ** 1.5 for x in P]
    np.testing.assert_allclose(sigma, [[x / sum(w) for x in w]])


def test_beta_clamp_and_parameter_ranges():
    # beta = min(alpha, -0.1 - 0.5 v): with the published constants the clamp never binds
    # (alpha >= 1 > -0.1 >= beta), so beta is the unclamped value; alpha in [1, 1.5], beta in [-.6, -.1]
    ewma = np.linspace(0.0, 10.0, 101)
    v, dp, dn = volatility_discounts(np, ewma, 7)
    alpha = np.maximum(0.1, 1.5 - 0.5 * v)
    beta = -0.1 - 0.5 * v
    np.testing.assert_allclose(dp, 7.0**alpha / (7.0**alpha + 1))
    np.testing.assert_allclose(dn, 7.0**beta / (7.0**beta + 1))
    assert alpha.min() == pytest.approx(1.0) and alpha.max() == pytest.approx(1.5)
    assert beta.min() == pytest.approx(-0.6) and beta.max() == pytest.approx(-0.1)
    # negative regrets decay fast: d- -> 0 as t grows
    assert volatility_discounts(np, np.array([0.0]), 1000)[2][0] < 0.34
    assert volatility_discounts(np, np.array([2.0]), 1000)[2][0] < 0.02
    # gamma = min(4, 2 + 1.5 min(1, m/2)) lies in [2, 3.5]: never reaches the cap 4
    from solvers.cfr.rules.vad_cfr import average_weight

    for m in (0.0, 1.0, 2.0, 100.0):
        g = min(4.0, 2.0 + 1.5 * min(1.0, m / 2.0))
        assert 2.0 <= g <= 3.5
        assert average_weight(np, np.array([m]), 600)[0] == pytest.approx(
            600**g / (1 + m**1.5) * max(0.1, math.sqrt(1 + m / 2)))


def test_negative_cap_at_minus_20():
    rule, state = VADCFR(), {}
    R, legal = one([-20.0, -19.0, 5.0])
    r, _ = one([-15.0, -0.5, 0.0])
    state["ewma"] = np.array([0.0])
    out = rule.update_regrets(R, r, legal, 2, state)
    # E = .1 * 15 + 0 = 1.5 -> v = .75, beta = -.475: d-(2) * -20 - 15 < -20 -> capped
    dn = d(2, -0.1 - 0.5 * 0.75)
    assert dn * -20 - 15 < -20
    np.testing.assert_allclose(out, [[-20.0, max(-20.0, dn * -19.0 - 0.5), d(2, 1.5 - 0.375) * 5.0]])


def test_warm_up_edge_500_501():
    rule = VADCFR()
    S0, legal = one([0.0, 0.0])
    sigma, _ = one([0.25, 0.75])
    reach = np.array([0.4])
    for t in (1, 250, 500):
        assert np.array_equal(rule.accumulate_average(S0, sigma, reach, legal, t, {"m": np.array([1.0])}), S0)
    m = 1.0
    S = rule.accumulate_average(S0, sigma, reach, legal, 501, {"m": np.array([m])})
    g = 2.0 + 1.5 * 0.5
    w = 501**g / (1 + 1.0) * math.sqrt(1.5)
    np.testing.assert_allclose(S, [[w * 0.4 * 0.25, w * 0.4 * 0.75]])


def test_hard_warm_start_average_uniform_until_500():
    tree = compile_game("kuhn_poker")
    solver = CFRSolver(tree, rule="vad-cfr")
    for _ in range(500):
        solver.step()
    assert all(not np.any(s) for s in solver.avg_acc)  # nothing accumulated in t = 1..500
    np.testing.assert_array_equal(solver.average_policy(), tree.legal / tree.legal.sum(axis=1, keepdims=True))
    assert solver.exploitability() == pytest.approx(0.4583333333333333)  # exploitability of uniform Kuhn
    solver.step()  # t = 501: the first accumulation is sigma^501 itself
    assert all(np.any(s) for s in solver.avg_acc)
    sigma_used = solver.avg_acc[0] / solver.avg_acc[0].sum(axis=1, keepdims=True)
    assert np.all(np.isfinite(sigma_used))


@pytest.mark.parametrize("game_string", ["kuhn_poker", "kuhn_poker(players=3)", "leduc_poker"])
def test_bridge_mode_reproduces_vad_cfr(game_string):
    """vad-cfr-reference(granularity=infoset, ewma=per_infoset) == vad-cfr for 50 iterations.
    The warm-up is shortened to 10 (both sides) so that the averages are compared too.

    The two compute r^t in different summation orders (level-by-level bincounts vs a recursive
    walk), so they start 1e-17 apart; RM_1.5 renormalizes tiny positive regrets and amplifies
    such differences about 10x per 5 iterations. Agreement is 1e-10 through iteration 30 on
    every game and through 50 on Kuhn; on Leduc at 50 the policies are 5e-10 apart (1e-8 bound).
    """
    tree = compile_game(game_string)
    for warmup in (500, 10):
        fast = CFRSolver(tree, rule="vad-cfr", rule_kwargs={"warmup": warmup})
        ref = VADCFRReference(tree, granularity="infoset", ewma="per_infoset", warmup=warmup)
        for t in range(1, 51):
            fast.step()
            ref.step()
            if t in (1, 10, 30, 50):
                tol = 1e-10 if (t <= 30 or "leduc" not in game_string) else 1e-8
                scale = max(1.0, np.abs(ref.regrets()).max())
                np.testing.assert_allclose(np.concatenate(fast.regrets), ref.regrets(), atol=tol * scale, rtol=0)
                np.testing.assert_allclose(fast.current_policy(), ref.current_policy(), atol=tol, rtol=0)
                np.testing.assert_allclose(fast.average_policy(), ref.average_policy(), atol=tol, rtol=0)


def test_reference_components_share_one_ewma():
    """Published components: one EWMA per instance, updated on every call, reset at i = 0."""
    rc = RegretComponent()
    a, b = Node(2), Node(2)
    rc(a, 0, [3.0, 0.0])
    assert rc.ewma == 3.0
    rc(b, 0, [0.0, 0.5])
    assert rc.ewma == 0.5  # every call of iteration 0 resets it
    rc(a, 1, [1.0, 0.0])
    assert rc.ewma == pytest.approx(0.1 * 1.0 + 0.9 * 0.5)  # mixes infosets
    avg = AverageComponent()
    node = Node(2)
    avg(node, 499, [0.5, 0.5], [1.0, 0.0], 1.0)
    assert node.avg == [0.0, 0.0]
    avg(node, 500, [0.5, 0.5], [0.0, 0.0], 1.0)  # m = 0: w = 501^2 * 1 * 1
    assert node.avg == pytest.approx([501**2 * 0.5] * 2)
    pc = PolicyComponent()
    assert pc(Node(3), 0, [0.0, 0.0, 0.0]) == [1 / 3] * 3


def test_reference_history_mode_rps_by_hand():
    """RPS from sigma^1 = (.5, .3, .2), iteration 1, per history, after_pass. Player 0 has one
    history: as vad-cfr. Player 1's infoset has 3 histories (after R, P, S), visited in that
    order against sigma_0^2 = (0, 1, 0); the histories after R and S have player 0 reach 0 but
    player 1 reach 1, so they are visited with rho = 0 (and reset the EWMA to 0 at i = 0)."""
    tree = compile_game("matrix_rps")
    ref = VADCFRReference(tree)
    ref.sigma = [[0.5, 0.3, 0.2], [0.5, 0.3, 0.2]]
    ref.step()
    np.testing.assert_allclose(ref.nodes[0].regret, [-0.1, 0.33, -0.2])
    assert ref.sigma[0] == pytest.approx([0.0, 1.0, 0.0])
    # after R: R = .5 * 0 + 0; after P: rho = 1 * (u_1 - v_1) = (-.7, .3, 1.3) (v_1 = -.3)
    # -> R = (-.7, .33, 1.43); after S: rho = 0 -> R = .5 R (d = 1/2 at t = 1 for any exponent)
    np.testing.assert_allclose(ref.nodes[1].regret, [-0.35, 0.165, 0.715])
    # last visit wins: its EWMA is 0 -> v = 0, o = 1, P = .5 R + 0
    w = [0.0, 0.0825**1.5, 0.3575**1.5]
    np.testing.assert_allclose(ref.sigma[1], [x / sum(w) for x in w])
    # vad-cfr (per infoset) would have R = (-.7, .33, 1.43) instead
    fast = CFRSolver(tree, rule="vad-cfr")
    fast.policy[:] = np.array([[0.5, 0.3, 0.2]] * 2)
    fast.step()
    np.testing.assert_allclose(fast.regrets[1][0], [-0.7, 0.33, 1.43])


def test_reference_switches():
    tree = compile_game("kuhn_poker")
    base = VADCFRReference(tree)
    immediate = VADCFRReference(tree, policy_write="immediate")
    one_based = VADCFRReference(tree, index_base=1)
    for s in (base, immediate, one_based):
        for _ in range(500):
    # after_pass and immediate differ on Kuhn (its infosets hold 2 histories each)
            s.step()
    assert np.abs(base.current_policy() - immediate.current_policy()).max() > 1e-6
    # index_base = 1: the warm-up ends one iteration earlier (accumulates at t = 500)
    assert not np.any([n.avg for n in base.nodes])
    assert np.any([n.avg for n in one_based.nodes])
    assert not np.any([n.avg for n in immediate.nodes])
    with pytest.raises(Exception, match="policy_write"):
        VADCFRReference(tree, policy_write="later")


def test_reference_checkpoint_roundtrip():
    tree = compile_game("kuhn_poker(players=3)")
    a = VADCFRReference(tree)
    for _ in range(30):
        a.step()
    b = VADCFRReference(tree)
    b.load_state_dict(a.state_dict())
    for _ in range(5):
        a.step()
    for _ in range(5):
        b.step()
    np.testing.assert_array_equal(a.regrets(), b.regrets())
    np.testing.assert_array_equal(a.current_policy(), b.current_policy())


@pytest.mark.slow
def test_history_reference_3p_kuhn_1000_side_by_side():
    """CI-slow: the per-history reference on 3p Kuhn for 1000 iterations, next to vad-cfr."""
    tree = compile_game("kuhn_poker(players=3)")
    ref = VADCFRReference(tree)
    fast = CFRSolver(tree, rule="vad-cfr")
    curves = {"vad-cfr": [], "vad-cfr-reference": []}
    for t in range(1, 1001):
        ref.step()
        fast.step()
        if t in (10, 100, 500, 501, 600, 800, 1000):
            curves["vad-cfr"].append((t, fast.exploitability()))
            curves["vad-cfr-reference"].append((t, ref.exploitability()))
    print(curves)
    # both are uniform (exploitability of the uniform profile) through t = 500, then drop
    assert curves["vad-cfr"][2][1] == pytest.approx(curves["vad-cfr-reference"][2][1])
    assert curves["vad-cfr"][-1][1] < 1e-3 and curves["vad-cfr-reference"][-1][1] < 1e-2
    # the two drivers are genuinely different algorithms
    assert np.abs(ref.regrets() - np.concatenate(fast.regrets)).max() > 1e-6
