"""External-sampling MCCFR on the Werewolf abstraction (alignment/lspo/mccfr.py): keys, emission,
policies and q-values, seeding, what it learns, its approximate gap record."""

from __future__ import annotations

import random

import numpy as np
import pytest

from alignment.lspo.abstraction import AbstractWerewolf
from alignment.lspo.cfr_policy import MCCFRPolicy
from alignment.lspo.infostates import discussion_key, target_key, view_from_engine, view_from_info
from alignment.lspo.mccfr import MCCFRConfig, MCCFRSolver
from games.werewolf import WerewolfEngine, info_state
from gtlearn.core.driver import drive
from gtlearn.core.errors import GtlearnError
from gtlearn.core.metrics import Metrics

KS = {"werewolf": 3, "seer": 2, "doctor": 2, "villager": 2}


def _game(k_pub=3):
    em = {r: np.full((k, k_pub), 1.0 / k_pub) for r, k in KS.items()}
    return AbstractWerewolf(KS, em)


def _solve(config: MCCFRConfig) -> tuple[MCCFRSolver, MCCFRPolicy]:
    solver = MCCFRSolver(_game(), config)
    drive(solver, config.traversals, eval_every=config.traversals)
    return solver, solver.average_policy()


def test_keys_from_engine_equal_keys_from_info_state():
    """The solver's fast engine view and the agent's InfoState view give identical keys."""
    rng = random.Random(0)
    checked = 0
    for seed in range(60):
        eng = WerewolfEngine()
        eng.reset(seed)
        while not eng.done:
            joint = {}
            for p in eng.actors():
                a = view_from_engine(eng, p)
                b = view_from_info(info_state(eng, p), label_of=lambda s: int(s))
                if eng.phase == "discussion":
                    assert discussion_key(a) == discussion_key(b)
                    joint[p] = rng.randrange(3)
                else:
                    d = eng.decision(p)
                    legal = eng.legal_actions(p)
                    assert [target_key(a, d, j) for j in legal] == [target_key(b, d, j) for j in legal]
                    joint[p] = rng.choice(legal)
                checked += 1
            eng.step(joint)
    assert checked > 1000


def test_views_hide_other_roles():
    eng = WerewolfEngine()
    eng.reset(5)
    villager = next(i for i in range(7) if eng.roles[i] == "villager")
    v = view_from_engine(eng, villager)
    assert v.teammates == () and v.checks == {}
    wolf = next(i for i in range(7) if eng.roles[i] == "werewolf")
    assert len(view_from_engine(eng, wolf).teammates) == 1


def test_emission_sampling_matches_probabilities():
    em = {r: np.tile([0.2, 0.8, 0.0], (k, 1)) for r, k in KS.items()}
    g = AbstractWerewolf(KS, em)
    rng = random.Random(0)
    draws = [g.emit("seer", 1, rng) for _ in range(5000)]
    assert draws.count(2) == 0 and abs(draws.count(1) / 5000 - 0.8) < 0.03


def test_mccfr_outputs_policies_and_q_values(tmp_path):
    solver, pol = _solve(MCCFRConfig(traversals=120, seed=3))
    assert solver.iteration == 120
    assert pol.disc_avg and pol.tgt_avg and pol.q
    for key, q in pol.q.items():
        assert q.shape == (KS[key[1]],) and pol.q_count[key] > 0
    for key in pol.disc_avg:
        p = pol.discussion_probs(key, key[1])
        assert p.shape == (KS[key[1]],) and abs(p.sum() - 1) < 1e-9
    # the regret-matching current policy is a distribution
    some = next(iter(solver.disc_regret))
    sig = solver._disc_sigma(some, KS[some[1]])
    assert abs(sig.sum() - 1) < 1e-12 and (sig >= 0).all()
    pol.save(tmp_path / "s.npz")
    back = MCCFRPolicy.load(tmp_path / "s.npz")
    assert set(back.disc_avg) == set(pol.disc_avg) and set(back.tgt_avg) == set(pol.tgt_avg)
    for k in pol.q:
        assert np.allclose(back.q[k], pol.q[k]) and back.q_count[k] == pol.q_count[k]
    for k in list(pol.tgt_avg)[:50]:
        assert back.tgt_avg[k] == pytest.approx(pol.tgt_avg[k])


def test_mccfr_is_seeded():
    a = _solve(MCCFRConfig(traversals=40, seed=1))[1]
    b = _solve(MCCFRConfig(traversals=40, seed=1))[1]
    assert set(a.tgt_avg) == set(b.tgt_avg)
    assert all(a.tgt_avg[k] == b.tgt_avg[k] for k in a.tgt_avg)


def test_mccfr_learns_that_the_seer_votes_a_found_wolf():
    """With the shaped utility (+20 for a village vote on a wolf, -20 otherwise), regret
    matching must put more than uniform weight on voting a player the Seer checked as a wolf."""
    solver, pol = _solve(MCCFRConfig(traversals=400, seed=0))
    wolf_keys = [k for k in pol.tgt_avg if k[1] == "seer" and k[2] == "vote" and len(k) > 5 and k[4] == 1]
    clean_keys = [k for k in pol.tgt_avg if k[1] == "seer" and k[2] == "vote" and len(k) > 5 and k[4] == 2]
    assert wolf_keys and clean_keys
    # regrets of voting a found wolf are positive on the whole, of voting a cleared player negative
    assert sum(solver.tgt_regret.get(k, 0) for k in wolf_keys) > 0
    assert sum(solver.tgt_regret.get(k, 0) for k in clean_keys) < 0


def test_bad_utility_is_a_user_error():
    with pytest.raises(GtlearnError):
        MCCFRSolver(_game(), MCCFRConfig(utility="elo"))
    with pytest.raises(GtlearnError):
        MCCFRSolver(_game(), MCCFRConfig(averaging="exponential"))


def test_gap_is_the_average_positive_regret_per_key():
    solver = MCCFRSolver(_game(), MCCFRConfig(traversals=30, seed=4))
    assert solver.gap().gap == 0.0  # nothing visited yet
    record = drive(solver, 30, eval_every=10).records[-1]
    assert isinstance(record, Metrics) and record.iteration == 30 and record.gap_name == "avg_regret_per_infoset"
    disc = [max(float(r.max()), 0.0) for r in solver.disc_regret.values()]
    tgt = [max(float(r), 0.0) for r in solver.tgt_regret.values()]
    assert record.gap == pytest.approx((sum(disc) + sum(tgt)) / ((len(disc) + len(tgt)) * 30), rel=1e-12)
    assert record.extra["discussion_keys"] == len(disc) and record.extra["target_keys"] == len(tgt)
    assert record.extra["nodes"] == solver.nodes > 0


def test_current_policy_is_regret_matching():
    solver, _ = _solve(MCCFRConfig(traversals=30, seed=4))
    current = solver.current_policy()
    for key, regrets in list(solver.disc_regret.items())[:20]:
        assert np.allclose(current.discussion_probs(key, key[1]), solver._disc_sigma(key, KS[key[1]]), atol=1e-15)
    keys = list(solver.tgt_regret)[:5]
    assert np.allclose(current.target_probs(keys), solver._tgt_sigma(keys), atol=1e-15)


def test_step_traverses_every_living_player_of_a_root_once():
    solver = MCCFRSolver(_game(), MCCFRConfig(traversals=10, seed=7))
    solver.step()
    root, pending = solver._root, list(solver._pending)
    assert pending == root.living()[1:]
    for _ in pending:
        solver.step()
    assert solver._root is root and solver._pending == [] and solver.iteration == len(root.living())
