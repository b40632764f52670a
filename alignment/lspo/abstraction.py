"""The abstracted Werewolf game of LSPO and the bridge from language back to it (docs/lspo.md).

:class:`AbstractWerewolf` is the Werewolf engine with each discussion turn replaced by a latent
strategy index ``z`` in ``[0, k_role)``; the listeners observe a *public label*
``c ~ P(c | role, z)`` (see :mod:`alignment.lspo.cluster` for why not ``z`` itself); secret
actions, votes, transitions and rewards are unchanged. :func:`abstract_game` builds it from a
fitted latent space.

At play time (documented split of duties; the paper does not state it) heard statements are
mapped to public labels by embedding them and taking the nearest public centroid
(:class:`PublicLabeler`), and :class:`CFRActor` takes secret actions and votes from the CFR
average policy; unseen information-state keys fall back to the uniform policy over the legal
targets.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np

from alignment.lspo.cluster import LatentSpace
from alignment.lspo.infostates import view_from_info
from games.werewolf.rules import ROLES, WerewolfConfig


@dataclass
class AbstractWerewolf:
    """Werewolf with latent discussion actions: ``ks[role]`` strategies per role and the
    emission ``P(public label | role, z)`` (rows sum to 1)."""

    ks: dict[str, int]
    emission: dict[str, np.ndarray]
    config: WerewolfConfig = field(default_factory=WerewolfConfig)

    def __post_init__(self) -> None:
        self._cum = {r: np.cumsum(e, axis=1) for r, e in self.emission.items()}

    def emit(self, role: str, z: int, rng: random.Random) -> int:
        cum = self._cum[role][z]
        return int(min(np.searchsorted(cum, rng.random() * cum[-1], side="right"), len(cum) - 1))


def abstract_game(latent: LatentSpace, config: WerewolfConfig | None = None) -> AbstractWerewolf:
    """The abstracted game of a latent space. A role that never spoke in the iteration's
    self-play (possible with a handful of games: its players died first) has no clusters; it
    gets one latent strategy that emits a uniformly drawn public label (documented choice), so
    the solver can still reach its discussion turns."""
    ks, emission = dict(latent.ks), dict(latent.emission)
    labels = len(latent.public_centroids)
    for role in ROLES:
        if role not in ks:
            ks[role], emission[role] = 1, np.full((1, labels), 1.0 / labels)
    return AbstractWerewolf(ks=ks, emission=emission, config=config or WerewolfConfig())


class PublicLabeler:
    """Statement text -> public label, memoized."""

    def __init__(self, latent: LatentSpace, embed) -> None:
        self.latent = latent
        self.embed = embed
        self.cache: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        hit = self.cache.get(text)
        if hit is None:
            hit = int(self.latent.public(self.embed([text]))[0])
            self.cache[text] = hit
        return hit


class CFRActor:
    """Secret and vote actions from an MCCFR average policy
    (:class:`alignment.lspo.cfr_policy.MCCFRPolicy`)."""

    def __init__(self, solver_policy, labeler: PublicLabeler) -> None:
        self.policy = solver_policy
        self.labeler = labeler

    def act(self, state, rng: random.Random):
        view = view_from_info(state, self.labeler)
        return self.policy.act(view, state.decision, state.legal, rng)
