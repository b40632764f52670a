import dataclasses

import numpy as np
import pyspiel
import pytest
from open_spiel.python.algorithms import exploitability as os_exploitability

from games.openspiel import load_game
from games.tree import compile_game
from solvers.best_response import (
    best_response,
    expected_values,
    exploitability,
    from_openspiel_policy,
    nash_conv,
    to_openspiel_policy,
)

GOOF4 = "turn_based_simultaneous_game(game=goofspiel(imp_info=True,num_cards=4,points_order=descending))"
GAMES = [
    "kuhn_poker",
    "kuhn_poker(players=3)",
    "kuhn_poker(players=4)",
    "leduc_poker",
    "liars_dice(dice_sides=4)",
    GOOF4,
]


def random_policy(tree, seed):
    rng = np.random.default_rng(seed)
    p = rng.random(tree.legal.shape) ** 3 * tree.legal
    return p / p.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("game_string", GAMES)
def test_nash_conv_equals_openspiel(game_string):
    tree = compile_game(game_string)
    game = load_game(game_string)
    for seed in range(2):
        policy = random_policy(tree, seed)
        os_policy = to_openspiel_policy(tree, policy, game)
        ours = nash_conv(tree, policy)
        # OpenSpiel's C++ nash_conv on the same policy.
        theirs = pyspiel.nash_conv(game, os_policy.to_dict())
        assert abs(ours - theirs) < 1e-9, (ours, theirs)
        assert exploitability(tree, policy) == pytest.approx(ours / tree.num_players, abs=1e-15)


def test_nash_conv_equals_openspiel_python_on_uniform():
    tree = compile_game("leduc_poker")
    game = load_game("leduc_poker")
    uniform = tree.uniform_policy()
    assert nash_conv(tree, uniform) == pytest.approx(
        os_exploitability.nash_conv(game, to_openspiel_policy(tree, uniform, game)), abs=1e-12
    )


def test_policy_roundtrip_through_openspiel():
    tree = compile_game("leduc_poker")
    policy = random_policy(tree, 3)
    assert np.array_equal(from_openspiel_policy(tree, to_openspiel_policy(tree, policy)), policy)


@pytest.mark.parametrize("game_string", ["kuhn_poker(players=3)", "leduc_poker"])
def test_best_response_policy_attains_its_value(game_string):
    tree = compile_game(game_string)
    policy = random_policy(tree, 7)
    on = expected_values(tree, policy)
    for player in range(tree.num_players):
        value, br = best_response(tree, policy, player)
        assert value >= on[player] - 1e-12
        assert expected_values(tree, br)[player] == pytest.approx(value, abs=1e-12)
        value_u, br_u = best_response(tree, policy, player, tie_break="uniform")
        assert value_u == pytest.approx(value, abs=1e-12)
        assert expected_values(tree, br_u)[player] == pytest.approx(value, abs=1e-12)


def test_uniform_tie_break_mixes_over_tied_actions():
    # In rock-paper-scissors every action is a best response to uniform play.
    tree = compile_game("matrix_rps")
    _, br = best_response(tree, tree.uniform_policy(), 0, tie_break="uniform")
    assert np.allclose(br[tree.infosets_of(0)], 1 / 3)
    _, br_first = best_response(tree, tree.uniform_policy(), 0)
    assert np.array_equal(br_first[tree.infosets_of(0)], [[1.0, 0.0, 0.0]])


def test_multi_sweep_path_agrees_with_single_sweep():
    # Trees whose infosets span several depths use repeated sweeps; force that path on a
    # game where both apply and check that they agree.
    tree = compile_game("leduc_poker")
    forced = dataclasses.replace(tree, uniform_depth=False)
    policy = random_policy(tree, 11)
    assert nash_conv(forced, policy) == pytest.approx(nash_conv(tree, policy), abs=1e-12)
