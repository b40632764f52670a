"""The play-time LSPO agent (spec §3.6) and the abstracted game built from a latent space.

Documented split of duties (the paper does not state it):

* statements come from the (DPO-tuned) statement policy, one generation per turn;
* secret actions and votes come from the final CFR average policy
  (``actions_from="cfr"``, default) or from the policy's own actor (``"policy"``);
* heard statements are mapped to public labels by embedding them and taking the nearest
  public centroid (:class:`alignment.lspo.cluster.LatentSpace`); unseen information-state keys
  fall back to the uniform policy over legal targets.

The ``latent_fewshot`` variant (the paper's "w/o fine-tuning" ablation) is not implemented.
"""

from __future__ import annotations

import random

from alignment.lspo.cluster import LatentSpace
from games.werewolf.engine import WerewolfConfig
from solvers.mccfr import AbstractWerewolf, MCCFRPolicy, view_from_info


def abstract_game(latent: LatentSpace, config: WerewolfConfig | None = None) -> AbstractWerewolf:
    return AbstractWerewolf(ks=dict(latent.ks), emission=dict(latent.emission), config=config or WerewolfConfig())


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
    """Secret and vote actions from an MCCFR average policy."""

    def __init__(self, solver_policy: MCCFRPolicy, labeler: PublicLabeler) -> None:
        self.policy = solver_policy
        self.labeler = labeler

    def act(self, state, rng: random.Random):
        view = view_from_info(state, self.labeler)
        return self.policy.act(view, state.decision, state.legal, rng)


class LSPOAgent:
    name = "lspo"

    def __init__(self, policy, actor=None, actions_from: str = "cfr") -> None:
        from gtlearn.core.errors import GtlearnError

        if actions_from not in ("cfr", "policy"):
            raise GtlearnError(f"unknown agent.actions_from {actions_from!r}; use cfr or policy")
        if actions_from == "cfr" and actor is None:
            raise GtlearnError("actions_from=cfr needs a CFR policy (run at least one LSPO iteration)")
        from alignment.lspo.agents import LanguageAgent

        self.language = LanguageAgent(policy, action_policy=actor if actions_from == "cfr" else None)

    def speak(self, state, rng: random.Random) -> str:
        return self.language.speak(state, rng)

    def act(self, state, rng: random.Random):
        return self.language.act(state, rng)

    @property
    def fallbacks(self) -> dict:
        return self.language.fallbacks
