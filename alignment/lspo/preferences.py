"""Preference pairs from candidate regrets (docs/lspo.md).

The regret of a candidate is the value gap ``g(I, z) = max_z' q(I, z') - q(I, z)`` of its
cluster ``z`` (nearest centroid of the speaker's role) at the turn's discussion key ``I``, with
``q`` the MCCFR counterfactual values averaged over the last half of the traversals. The gap is
non-negative and 0 for the best strategy, which fixes the sign the paper leaves ambiguous
("lower regret is preferred"; documented choice). An unseen key falls back to the coarse key
without the latent multiset; if that is unseen too the turn is dropped.

Within a turn every pair of candidates in *different* clusters with ``g(a) < g(b) - delta``
yields ``(prompt, chosen=a, rejected=b)`` (default ``delta = 0``); same-cluster candidates and
ties yield nothing, so a turn gives at most 3 pairs (documented choice). The prompt is the
turn's base statement prompt (without the earlier candidates).
"""

from __future__ import annotations

import numpy as np

from alignment.lspo.agents import speak_prompt


def turn_key(turn: dict, labels_earlier: list[int]) -> tuple:
    spoken = ",".join(str(c) for c in sorted(labels_earlier))
    return ("d", turn["role"], min(turn["round"], 3), turn["position"], turn["knowledge"], spoken)


def preference_pairs(turns: list[dict], latent, embed, solver_policy, delta: float = 0.0) -> tuple[list[dict], dict]:
    pairs: list[dict] = []
    stats = {"turns": len(turns), "dropped": 0, "coarse": 0, "same_cluster": 0, "ties": 0}
    for turn in turns:
        role = turn["role"]
        texts = [c["statement"] for c in turn["candidates"]]
        z = latent.assign(role, embed(texts))
        earlier = [int(c) for c in latent.public(embed(turn["earlier"]))] if turn["earlier"] else []
        key = turn_key(turn, earlier)
        if key in solver_policy.q and solver_policy.q_count.get(key, 0) > 0:
            q = solver_policy.q[key] / solver_policy.q_count[key]
        else:
            q = solver_policy.q_values(key)
            if q is None:
                stats["dropped"] += 1
                continue
            stats["coarse"] += 1
        gaps = float(np.max(q)) - q[z]
        prompt = speak_prompt(turn["obs_text"], [])
        n = len(texts)
        for a in range(n):
            for b in range(a + 1, n):
                if z[a] == z[b]:
                    stats["same_cluster"] += 1
                    continue
                if gaps[a] < gaps[b] - delta:
                    c, r = a, b
                elif gaps[b] < gaps[a] - delta:
                    c, r = b, a
                else:
                    stats["ties"] += 1
                    continue
                ca, cr = turn["candidates"][c], turn["candidates"][r]
                pairs.append(
                    {
                        "prompt": prompt,
                        "chosen": ca["completion"],
                        "rejected": cr["completion"],
                        "chosen_meta": ca.get("meta", {}),
                        "rejected_meta": cr.get("meta", {}),
                        "gap_chosen": float(gaps[c]),
                        "gap_rejected": float(gaps[r]),
                        "z_chosen": int(z[c]),
                        "z_rejected": int(z[r]),
                        "role": role,
                    }
                )
    stats["pairs"] = len(pairs)
    return pairs, stats
