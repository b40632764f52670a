"""Statement intents, their phrasings, and a parser that reads claims back out of statements.

The template policy (:mod:`alignment.lspo.policies.template`) realizes an *intent* (claim
villager, stay vague, accuse j, ...) as one of at least three phrasings. Deceptive wolf intents
reuse the honest phrasings on purpose -- a fake Seer claim reads exactly like a real
one -- so that the text, and therefore the embedding, carries no role tell that a real
deceiver would avoid.

:func:`parse_claims` is the rule-based agent's reading of *any* statement: a claimed role,
accused and defended players, and announced check results. It is keyword based, so it reads
template statements exactly and free text approximately.
"""

from __future__ import annotations

import re
from functools import lru_cache

from games.werewolf.engine import DOCTOR, SEER, VILLAGER, WEREWOLF

COMMON = ["claim_villager", "vague", "accuse", "defend", "question", "follow_vote"]
INTENTS = {
    WEREWOLF: COMMON + ["fake_seer", "claim_doctor", "defend_teammate", "redirect"],
    SEER: COMMON + ["reveal_check", "hint", "coordinate_vote"],
    DOCTOR: COMMON + ["claim_doctor", "vouch_saved"],
    VILLAGER: list(COMMON),
}

# {j}: a player name. Each list has at least three phrasings.
PHRASINGS = {
    "claim_villager": [
        "I am a simple villager and I have nothing to hide.",
        "Just a villager here, trying to find the wolves with all of you.",
        "I'm a villager; let's think carefully before we vote.",
    ],
    "vague": [
        "It is too early to tell who the wolves are.",
        "I have no strong read yet; let us listen to everyone first.",
        "Hard to say anything certain right now, I will keep my eyes open.",
    ],
    "accuse": [
        "I suspect {j} is a werewolf.",
        "{j} seems suspicious to me, I think {j} is a wolf.",
        "My vote goes to {j}; I believe {j} is a werewolf.",
    ],
    "defend": [
        "I trust {j}; {j} is not a werewolf.",
        "{j} looks innocent to me.",
        "Leave {j} alone, I believe {j} is innocent.",
    ],
    "question": [
        "{j}, why were you so quiet? Explain yourself.",
        "I want to hear more from {j} before deciding anything.",
        "{j}, who do you suspect and why?",
    ],
    "follow_vote": [
        "Most of us point at {j}; let us all vote for {j}.",
        "I agree with the others, vote for {j}.",
        "Let's unite and eliminate {j} today.",
    ],
    "reveal_wolf": [
        "I am the Seer. I checked {j} and {j} is a werewolf.",
        "Listen, I am the Seer: my check says {j} is a werewolf.",
        "As the Seer I saw the truth, {j} is a werewolf, vote {j} out.",
    ],
    "reveal_clean": [
        "I am the Seer. I checked {j} and {j} is not a werewolf.",
        "Listen, I am the Seer: my check says {j} is not a werewolf.",
        "As the Seer I saw the truth, {j} is not a werewolf, trust {j}.",
    ],
    "hint": [
        "I have information that {j} deserves a close look.",
        "Believe me, watch {j} closely today.",
        "Without saying too much: {j} is worth voting.",
    ],
    "coordinate_vote": [
        "Everyone, coordinate with me and vote for {j} today.",
        "Let us all put our votes on {j}, together we can win.",
        "Follow my lead this round: vote for {j}.",
    ],
    "claim_doctor": [
        "I am the Doctor; keep me alive and I will protect you.",
        "I am the Doctor, do not vote for me, I can save the village.",
        "As the Doctor I protect someone every night, so spare me.",
    ],
    "vouch_saved": [
        "I am the Doctor and I saved {j} last night, so {j} is innocent.",
        "I am the Doctor; {j} was attacked and I saved {j}, trust {j}.",
        "As the Doctor I protected {j} from the wolves, {j} is innocent.",
    ],
    "redirect": [
        "We are wasting time, the real threat is {j}.",
        "Look at {j} instead, {j} has been steering the votes.",
        "Suspicion is misplaced; {j} is the wolf.",
    ],
}

_PLAYER = re.compile(r"player_(\d+)")
_SENT = re.compile(r"[.;!?:]\s*")
_DEFEND = ("not a werewolf", "not a wolf", "innocent", "trust ", "leave ")
_ACCUSE = (
    "werewolf", "wolf", "suspect", "suspicious", "vote for", "vote ", "eliminate", "threat",
    "look at", "watch", "close look", "worth voting", "votes on",
)


@lru_cache(maxsize=65536)
def parse_claims(text: str) -> dict:
    """Read a statement: ``{"role": claimed role | None, "accuse": [...], "defend": [...],
    "checks": {player: is_wolf}}``. Questions count as neither accusation nor defence."""
    t = text.lower()
    role = None
    if "i am the seer" in t or "as the seer" in t:
        role = SEER
    elif "i am the doctor" in t or "as the doctor" in t:
        role = DOCTOR
    elif "i am a simple villager" in t or "i'm a villager" in t or "just a villager" in t:
        role = VILLAGER
    accuse: list[int] = []
    defend: list[int] = []
    checks: dict[int, bool] = {}
    for sentence in re.split(r"(?<=[.!?;])\s+", t):
        players = [int(m) for m in _PLAYER.findall(sentence)]
        if not players or sentence.rstrip().endswith("?"):
            continue
        j = players[-1]
        if any(k in sentence for k in _DEFEND):
            defend.append(j)
            if role == SEER:
                checks[j] = False
        elif any(k in sentence for k in _ACCUSE):
            accuse.append(j)
            if role == SEER and ("werewolf" in sentence or "wolf" in sentence):
                checks[j] = True
    # Cached and shared between callers: treat the result as read-only.
    return {"role": role, "accuse": sorted(set(accuse)), "defend": sorted(set(defend)), "checks": checks}
