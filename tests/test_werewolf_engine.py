"""Rules of the 7-player Werewolf engine (docs/lspo.md): every rule scripted and checked."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest

from games.werewolf import (
    DRAW,
    VILLAGE,
    WOLVES,
    WerewolfConfig,
    WerewolfEngine,
    info_state,
    replay,
    vector,
    vector_size,
)
from games.werewolf.render import render

# player:      0          1       2         3           4           5           6
ROLES = ["werewolf", "seer", "doctor", "villager", "werewolf", "villager", "villager"]


def fresh(roles=ROLES, seed=0, **cfg):
    eng = WerewolfEngine(WerewolfConfig(**cfg))
    eng.reset(seed, roles=list(roles))
    return eng


def night(eng, kill, see=None, save=None, propose=None):
    """Play one night: the proposal (if two wolves), then the joint kill/see/save step."""
    if eng.phase == "night_propose":
        eng.step({eng.actors()[0]: kill if propose is None else propose})
    joint = {}
    for p in eng.actors():
        role = eng.roles[p]
        joint[p] = kill if role == "werewolf" else (see if role == "seer" else save)
    eng.step(joint)


def talk(eng, text="hello"):
    while eng.phase == "discussion":
        eng.step({eng.actors()[0]: text})


def vote(eng, votes):
    eng.step({p: votes.get(p) for p in eng.actors()})


def test_deal_is_seeded_and_uniform():
    eng = WerewolfEngine()
    eng.reset(3)
    first = list(eng.roles)
    assert sorted(first) == sorted(WerewolfConfig().deck())
    eng.reset(3)
    assert eng.roles == first
    counts = Counter()
    for s in range(2000):
        eng.reset(s)
        counts[eng.roles.index("seer")] += 1
    # each seat is the Seer with probability 1/7: 2000/7 = 286, sd ~ 16
    assert all(220 < counts[i] < 350 for i in range(7))


def test_wolf_proposal_then_decider_may_override():
    eng = fresh()
    assert eng.phase == "night_propose" and eng.actors() == [0]  # the smaller-ID wolf proposes
    assert eng.legal_actions(0) == [1, 2, 3, 5, 6]  # living non-wolves only
    eng.step({0: 3})
    # the proposal is visible to the teammate, not to the village
    assert info_state(eng, 4).rounds[-1].proposal == 3
    assert "Werewolf proposal: kill player_3" in render(info_state(eng, 4))
    assert info_state(eng, 1).rounds[-1].proposal is None
    assert eng.actors() == [1, 2, 4]  # decider wolf, seer, doctor act together
    eng.step({4: 5, 1: 0, 2: 2})  # the decider overrides the proposal
    assert eng.nights[0].target == 5 and not eng.alive[5] and eng.alive[3]


def test_lone_wolf_decides_alone():
    eng = fresh()
    night(eng, kill=3, see=0, save=2)
    talk(eng)
    vote(eng, {p: 0 for p in eng.living() if p != 0} | {0: 1})  # wolf 0 eliminated
    assert not eng.alive[0]
    assert eng.phase == "night" and eng.actors() == [1, 2, 4]
    assert eng.decision(4) == "kill"


def test_doctor_self_save_and_no_target_leak():
    eng = fresh()
    night(eng, kill=2, see=3, save=2)
    assert eng.alive[2] and eng.nights[0].killed is None
    text = render(info_state(eng, 2))
    assert "Night: nobody was killed." in text
    assert "targeted" not in text  # the Doctor is never told the wolves' target
    assert info_state(eng, 2).rounds[0].wolf_target is None


def test_doctor_may_choose_self_and_seer_not_self():
    eng = fresh()
    eng.step({0: 3})
    assert 2 in eng.legal_actions(2)
    assert 1 not in eng.legal_actions(1)
    assert 0 not in eng.legal_actions(4) and 4 not in eng.legal_actions(4)


def test_seer_learns_only_wolf_or_not():
    eng = fresh()
    night(eng, kill=3, see=4, save=2)
    s = info_state(eng, 1)
    assert s.checks == {4: True}
    assert "player_4 is a werewolf" in render(s)
    eng2 = fresh()
    night(eng2, kill=3, see=2, save=2)
    text = render(info_state(eng2, 1))
    assert "player_2 is not a werewolf" in text and "doctor" not in text.replace("Your role is seer", "")


def test_discussion_one_statement_each_in_id_order():
    eng = fresh()
    night(eng, kill=3, see=4, save=2)
    order = []
    while eng.phase == "discussion":
        p = eng.actors()[0]
        order.append(p)
        eng.step({p: f"I am player {p}"})
    assert order == [0, 1, 2, 4, 5, 6]
    assert eng.phase == "vote"


def test_votes_simultaneous_with_abstain_and_legality():
    eng = fresh()
    night(eng, kill=3, see=4, save=2)
    talk(eng)
    assert eng.actors() == [0, 1, 2, 4, 5, 6]
    legal = eng.legal_actions(1)
    assert None in legal and 1 not in legal and 3 not in legal  # abstain ok; no self, no dead
    with pytest.raises(ValueError):
        eng.step({0: 1})  # every living player must vote in the same step
    with pytest.raises(ValueError):
        eng.step({p: (3 if p == 0 else None) for p in eng.actors()})  # a dead target
    # while voting nobody sees today's votes
    assert info_state(eng, 5).rounds[-1].votes is None
    vote(eng, {0: 1, 1: 4, 2: 4, 4: None, 5: 4, 6: None})
    assert not eng.alive[4]
    s = info_state(eng, 6)
    assert s.rounds[0].votes == {0: 1, 1: 4, 2: 4, 4: None, 5: 4, 6: None}  # full tally is public
    assert "player_4 -> abstain" in render(s)


def test_all_abstain_eliminates_nobody():
    eng = fresh()
    night(eng, kill=3, see=4, save=2)
    talk(eng)
    alive_before = list(eng.alive)
    vote(eng, {})
    assert eng.alive == alive_before and eng.days[0].eliminated is None
    assert "Nobody was eliminated." in render(info_state(eng, 5))


@pytest.mark.parametrize("tied", [(1, 5), (1, 5, 6)])
def test_tie_break_is_uniform(tied):
    counts = Counter()
    n = 3000
    for seed in range(n):
        eng = fresh(seed=seed)
        night(eng, kill=3, see=4, save=2)
        talk(eng)
        voters = [p for p in eng.actors()]
        votes = {}
        # one vote for each tied player, everyone else abstains
        for t, v in zip(tied, [p for p in voters if p not in tied][: len(tied)]):
            votes[v] = t
        vote(eng, votes)
        counts[eng.days[0].eliminated] += 1
    assert set(counts) == set(tied)
    expected = n / len(tied)
    sd = np.sqrt(n * (1 / len(tied)) * (1 - 1 / len(tied)))
    for t in tied:
        assert abs(counts[t] - expected) < 4 * sd


def test_no_role_reveal_on_death():
    """Swapping the Seer and a villager never changes another villager's observations."""
    a = ["werewolf", "seer", "doctor", "villager", "werewolf", "villager", "villager"]
    b = ["werewolf", "villager", "doctor", "villager", "werewolf", "seer", "villager"]
    engines = [fresh(a), fresh(b)]
    # scripted identical public play: night kill of player_1, then vote out player_5
    for eng in engines:
        eng.step({0: 1})
        joint = {p: (1 if eng.roles[p] == "werewolf" else (6 if eng.roles[p] == "seer" else 2)) for p in eng.actors()}
        eng.step(joint)
        talk(eng)
        vote(eng, {p: 5 for p in eng.living() if p != 5} | {5: 0})
    for observer in (3, 6):
        ta = render(info_state(engines[0], observer))
        tb = render(info_state(engines[1], observer))
        assert ta == tb
        assert np.array_equal(vector(info_state(engines[0], observer)), vector(info_state(engines[1], observer)))
    text = render(info_state(engines[0], 3))
    assert "player_1 was killed" in text and "player_5 was eliminated" in text
    for role in ("seer", "werewolf", "doctor"):
        assert role not in text.replace("Your role is villager", "")


def test_village_wins_when_both_wolves_die():
    eng = fresh()
    night(eng, kill=3, see=4, save=2)
    talk(eng)
    vote(eng, {p: 0 for p in eng.living() if p != 0} | {0: 1})
    night(eng, kill=5, see=4, save=5)  # saved
    talk(eng)
    vote(eng, {p: 4 for p in eng.living() if p != 4} | {4: 1})
    assert eng.done and eng.winner == VILLAGE


def test_wolves_win_at_parity_after_night_and_after_vote():
    # after a night kill: 2 wolves vs 2 others remaining at dawn
    eng = fresh()
    night(eng, kill=3, see=4, save=2)
    talk(eng)
    vote(eng, {p: 5 for p in eng.living() if p != 5} | {5: 6})  # 2 wolves vs 3 others
    assert not eng.done
    night(eng, kill=6, see=0, save=2)
    assert eng.done and eng.winner == WOLVES  # 2 vs 2
    # after a vote: 2 wolves vs 3 others, village votes out a villager
    eng = fresh()
    night(eng, kill=3, see=4, save=2)
    talk(eng)
    vote(eng, {p: 5 for p in eng.living() if p != 5} | {5: 6})
    night(eng, kill=6, see=0, save=6)  # saved: 2 vs 3
    assert not eng.done
    talk(eng)
    vote(eng, {p: 1 for p in eng.living() if p != 1} | {1: 0})
    assert eng.done and eng.winner == WOLVES


def test_round_cap_is_a_draw_without_win_reward():
    eng = fresh(max_rounds=2)
    for _ in range(2):
        night(eng, kill=3, see=4, save=3)  # always saved
        talk(eng)
        vote(eng, {})  # everyone abstains
    assert eng.done and eng.winner == DRAW
    # only survival (+5 per day) was paid: 2 days x 5
    assert eng.returns == [10.0] * 7


def test_reward_accounting_scripted_game():
    eng = fresh()
    night(eng, kill=3, see=4, save=2)  # player_3 dies at night: no outcome terms (documented)
    talk(eng)
    vote(eng, {0: 1, 1: 4, 2: 4, 4: 1, 5: 0, 6: 4})  # player_4 (wolf) eliminated
    r = eng.returns
    # village votes: 1->4 +20, 2->4 +20, 5->0 +20, 6->4 +20; wolves' votes earn nothing
    # outcome: eliminated wolf -10; living village +5 each; living teammate (0) -5
    # survival: every living player +5
    assert r[4] == -10
    assert r[0] == -5 + 5
    assert r[1] == r[2] == r[5] == r[6] == 20 + 5 + 5
    assert r[3] == 0
    night(eng, kill=5, see=0, save=5)  # saved
    talk(eng)
    vote(eng, {0: 1, 1: 0, 2: 0, 5: 6, 6: 0})  # the last wolf is eliminated: village wins
    assert eng.winner == VILLAGE
    assert eng.returns[4] == -10 - 300  # dead wolves lose too
    assert eng.returns[3] == 300  # dead villagers win too
    assert eng.returns[5] == 30 + (-20) + 5 + 5 + 300  # voted a non-wolf on day 2
    assert eng.returns[0] == 0 + (-10) - 300


def test_observation_rendering_snapshot():
    eng = fresh()
    eng.step({0: 3})
    s = info_state(eng, 4)
    assert render(s) == "\n".join([
        "You are player_4. Your role is werewolf.",
        "Round 1, night. Remaining players: player_0, player_1, player_2, player_3, player_4, player_5, player_6.",
        "Your werewolf teammate: player_0.",
        "-- Round 1 --",
        "[private] Werewolf proposal: kill player_3.",
        "Legal actions: kill player_1, kill player_2, kill player_3, kill player_5, kill player_6.",
    ])
    eng.step({4: 3, 1: 4, 2: 2})
    talk(eng, "I suspect player_0.")
    s = info_state(eng, 2)
    assert render(s).splitlines()[-2:] == [
        "player_6 said: I suspect player_0.",
        ("Legal actions: vote for player_0, vote for player_1, vote for player_4, "
         "vote for player_5, vote for player_6, do not vote."),
    ]
    assert "[private] You chose to save player_2." in render(s)


def test_vector_layouts_golden():
    assert vector_size(7, "paper211") == 211
    assert vector_size(7, "extended", k_max=5) == 211 + 21 + 7 + 105
    eng = fresh()
    night(eng, kill=3, see=4, save=2)
    talk(eng)
    vote(eng, {0: 1, 1: 4, 2: 4, 4: None, 5: 4, 6: 4})
    s = info_state(eng, 1)  # the Seer, round 2 night
    v = vector(s, "paper211")
    assert v.shape == (211,)
    assert v[1] == 1 and v[:7].sum() == 1  # ID
    assert v[7 + 1] == 1 and v[7:11].sum() == 1  # role: seer
    assert v[11] == pytest.approx(2 / 3)  # round / 3
    assert list(v[12:15]) == [1, 0, 0]  # night
    assert list(v[15:22]) == [1, 1, 1, 0, 0, 1, 1]  # alive
    assert v[22 + 4] == 1 and v[22:43].sum() == 1  # secret action, round 1 slot
    assert v[43 + 3] == 1 and v[43:64].sum() == 1  # announcement: player_3 killed
    votes = v[64:211].reshape(3, 7, 7)
    assert votes[0, 1, 4] == 1 and votes[0, 0, 1] == 1 and votes[0, 4].sum() == 0  # abstention row
    assert votes.sum() == 5
    ext = vector(s)
    assert np.array_equal(ext[:211], v)
    checks = ext[211:232].reshape(3, 7)
    assert checks[0, 4] == 1.0 and checks.sum() == 1.0
    assert ext[232:239].sum() == 0  # the seer has no teammates
    wolf = vector(info_state(eng, 0))
    assert wolf[232 + 4] == 1 and wolf[232:239].sum() == 1
    # latent history from integer statements (abstracted game)
    eng2 = fresh()
    night(eng2, kill=3, see=4, save=2)
    for z in (0, 1, 2, 3, 4, 0):
        eng2.step({eng2.actors()[0]: z})
    lat = vector(info_state(eng2, 5))[239:].reshape(3, 7, 5)
    assert lat[0, 0, 0] == 1 and lat[0, 1, 1] == 1 and lat[0, 6, 0] == 1 and lat.sum() == 6


def _random_game(eng, seed):
    rng = random.Random(seed)
    eng.reset(seed)
    while not eng.done:
        joint = {}
        for p in eng.actors():
            legal = eng.legal_actions(p)
            joint[p] = f"s{rng.randrange(9)}" if eng.phase == "discussion" else rng.choice(legal)
        eng.step(joint)
    return eng


def test_seeded_game_replays_identically():
    a = _random_game(WerewolfEngine(), 42)
    b = _random_game(WerewolfEngine(), 42)
    assert a.history == b.history and a.returns == b.returns and a.roles == b.roles
    c = replay(42, a.history)
    assert c.winner == a.winner and c.returns == a.returns and c.alive == a.alive
    assert render(info_state(c, 0)) == render(info_state(a, 0))


def test_clone_is_independent():
    eng = fresh()
    eng.step({0: 3})
    twin = eng.clone()
    twin.step({4: 5, 1: 0, 2: 2})
    assert eng.phase == "night" and twin.phase == "discussion" and eng.alive[5]


def test_four_player_composition():
    cfg = {"num_werewolves": 1, "num_seers": 1, "num_doctors": 0, "num_villagers": 2}
    eng = WerewolfEngine(WerewolfConfig(**cfg))
    for s in range(50):
        _random_game(eng, s)
        assert eng.winner in (WOLVES, VILLAGE, DRAW)


def test_bad_config_is_a_user_error():
    from gtlearn.core.errors import GtlearnError

    with pytest.raises(GtlearnError):
        WerewolfConfig(num_werewolves=3, num_villagers=1)


def test_many_random_games_without_error():
    eng = WerewolfEngine()
    winners = Counter(_random_game(eng, s).winner for s in range(1000))
    assert sum(winners.values()) == 1000 and set(winners) <= {WOLVES, VILLAGE, DRAW}


@pytest.mark.slow
def test_ten_thousand_random_games_without_error():
    eng = WerewolfEngine()
    winners = Counter(_random_game(eng, s).winner for s in range(10_000))
    assert sum(winners.values()) == 10_000
