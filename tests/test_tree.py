import numpy as np
import pytest

from games.openspiel import load_game
from games.tree import CHANCE, TERMINAL, GameTree, compile_game, compile_tree, estimate_tree_size
from gtlearn.core.errors import GameTooLargeError, GtlearnError

GAMES = ["kuhn_poker", "kuhn_poker(players=3)", "leduc_poker", "goofspiel_4"]


def _count_nodes(game):
    """(number of nodes, the terminals' returns) by a plain walk."""
    stack, n, returns = [game.new_initial_state()], 0, []
    while stack:
        s = stack.pop()
        n += 1
        if s.is_terminal():
            returns.append(s.returns())
            continue
        acts = [a for a, _ in s.chance_outcomes()] if s.is_chance_node() else s.legal_actions()
        stack.extend(s.child(a) for a in acts)
    return n, np.array(returns)


@pytest.mark.parametrize("game_string", GAMES)
def test_tree_structure(game_string):
    tree = compile_game(game_string, use_cache=False)
    game = load_game(game_string)
    n, returns = _count_nodes(game)
    assert tree.num_nodes == n
    assert tree.num_players == game.num_players()
    # level order: a parent always sits on the previous level
    for d, s in enumerate(tree.levels()):
        if d == 0:
            assert s == slice(0, 1) and tree.parent[0] == -1
            continue
        par = tree.parent[s]
        assert np.all((par >= tree.level_ptr[d - 1]) & (par < tree.level_ptr[d]))
        assert np.all(np.diff(par) >= 0), "children must be contiguous, in parent order"
    # infosets are numbered player by player
    assert np.all(np.diff(tree.infoset_player) >= 0)
    for p in range(tree.num_players):
        assert np.all(tree.infoset_player[tree.infosets_of(p)] == p)
    dec = tree.player >= 0
    assert np.all(tree.infoset_player[tree.infoset[dec]] == tree.player[dec])
    assert np.all(tree.infoset[~dec] == -1)
    # chance probabilities of each chance node's children sum to 1
    chance_children = tree.player[np.maximum(tree.parent, 0)] == CHANCE
    chance_children[0] = False
    sums = np.bincount(tree.parent[chance_children], weights=tree.chance_prob[chance_children], minlength=tree.num_nodes)
    assert np.allclose(sums[tree.player == CHANCE], 1.0)
    # terminals point at shared payoff rows; the multiset of payoffs is the game's
    assert np.array_equal(tree.terminal >= 0, tree.player == TERMINAL)
    assert np.unique(tree.payoffs, axis=0).shape == tree.payoffs.shape
    ours = tree.payoffs[tree.terminal[tree.terminal >= 0]]
    assert np.array_equal(np.sort(ours.view([("", float)] * ours.shape[1]), axis=0),
                          np.sort(returns.view([("", float)] * returns.shape[1]), axis=0))
    # every representative node belongs to its infoset
    assert np.all(tree.infoset[tree.rep_node] == np.arange(tree.num_infosets))


def test_infoset_keys_and_actions_match_openspiel():
    tree = compile_game("leduc_poker", use_cache=False)
    game = load_game("leduc_poker")
    index = tree.infoset_index()
    state = game.new_initial_state()
    while state.is_chance_node():
        state.apply_action(state.chance_outcomes()[0][0])
    i = index[state.information_state_string()]
    assert list(tree.actions[i][tree.legal[i]]) == state.legal_actions()


def test_cache_roundtrip(tmp_path, monkeypatch):
    monkeypatch.setenv("GTLEARN_CACHE", str(tmp_path))
    a = compile_game("kuhn_poker(players=3)")
    files = list((tmp_path / "trees").glob("*.npz"))
    assert len(files) == 1
    b = compile_game("kuhn_poker(players=3)")
    for name in ("parent", "player", "infoset", "edge_slot", "chance_prob", "payoffs", "legal", "keys", "rep_node"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    c = GameTree.load(files[0])
    assert c.game_string == "kuhn_poker(players=3)" and c.uniform_depth == a.uniform_depth
    # a corrupt cache file is rebuilt, not trusted
    files[0].write_bytes(b"not an npz")
    d = compile_game("kuhn_poker(players=3)")
    assert np.array_equal(d.parent, a.parent)


def test_simultaneous_games_are_wrapped():
    tree = compile_game("matrix_rps", use_cache=False)
    assert tree.num_players == 2 and tree.num_infosets == 2 and tree.legal.sum() == 6


def test_size_guard_refuses_before_enumerating():
    est = estimate_tree_size(load_game("leduc_poker"), probes=512)
    assert 0.5 * 9457 < est < 2.0 * 9457
    with pytest.raises(GameTooLargeError, match="estimated"):
        compile_game("leduc_poker", max_nodes=1000, use_cache=False)


def test_compile_tree_accepts_python_games():
    # OpenSpiel's pure-Python Kuhn poker implements the same API as the C++ games.
    from open_spiel.python.games import kuhn_poker as py_kuhn

    tree = compile_tree(py_kuhn.KuhnPokerGame())
    ref = compile_game("kuhn_poker", use_cache=False)
    assert tree.num_nodes == ref.num_nodes and tree.num_infosets == ref.num_infosets


def test_unknown_and_malformed_games():
    with pytest.raises(GtlearnError, match="unknown game"):
        compile_game("no_such_game", use_cache=False)
    with pytest.raises(GtlearnError, match="cannot load game"):
        compile_game("leduc_poker(players=x)", use_cache=False)


def test_memory_per_node():
    tree = compile_game("leduc_poker", use_cache=False)
    assert tree.nbytes() / tree.num_nodes < 100
