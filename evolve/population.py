"""MAP-Elites x islands (docs/evolve.md, Islands and MAP-Elites): cells, parent selection, inspirations,
migration and the reset of stagnant islands. All functions run inside the controller's
transaction and draw randomness only from the item's own generator.

Features of a cell: the AST node count in fixed bins, and the FunSearch score signature
(per-training-game public fitness rounded to ``signature_step`` and capped to
``signature_buckets`` buckets per game). Edges are fixed in the config, so cells are stable
across resume.
"""

from __future__ import annotations

import math

import numpy as np

from evolve.db import DB


def cell_key(ast_nodes: int, per_game: list[float], feats: dict) -> str:
    edges = feats["ast_nodes"]
    b = int(np.searchsorted(edges, ast_nodes, side="right"))
    step, nb = float(feats["signature_step"]), int(feats["signature_buckets"])
    sig = [int(np.clip(math.floor(f / step), -1, nb - 2)) for f in per_game]
    return f"{b}|" + ",".join(map(str, sig))


def members(db: DB, island: int) -> list:
    return db.island_members(island)


def add_member(db: DB, island: int, pid: int, fitness: float, key: str, migrant: int = 0) -> bool:
    """Add ``pid`` to the island and offer it to its cell (replaces the occupant only if strictly
    fitter). Skips a program whose normalized code is already on the island."""
    if db.island_has_code(island, db.program(pid)["code_norm_sha"]):
        return False
    db.insert_member(island, pid, migrant)
    row = db.cell_occupant(island, key)
    if row is None or fitness > row[1]:
        db.set_cell(island, key, pid)
        db.event("cell", pid, island=island, cell=key, replaced=row[0] if row else None)
    return True


def elites(db: DB, island: int) -> list[int]:
    return db.cell_programs(island)


def select_parent(db: DB, island: int, rng: np.random.Generator, cfg: dict) -> int | None:
    ms = members(db, island)
    if not ms:
        return None
    u = rng.random()
    pc = cfg["search"]["parent"]
    if u < pc["explore"]:
        return int(ms[rng.integers(len(ms))][0])
    if u < pc["explore"] + pc["elite"]:
        el = elites(db, island)
        if el:
            return int(el[rng.integers(len(el))])
    f = np.array([m[1] for m in ms], dtype=float)
    med = np.median(f)
    mad = np.median(np.abs(f - med)) or 1.0
    lam = float(pc["lambda"])
    w = 1.0 / (1.0 + np.exp(-lam * (f - med) / mad))
    w *= np.array([1.0 / (1.0 + db.children_count(m[0])) for m in ms])
    w = w / w.sum()
    return int(ms[rng.choice(len(ms), p=w)][0])


def inspirations(db: DB, island: int, parent: int, rng: np.random.Generator, cfg: dict) -> list[int]:
    pc = cfg["prompt"]
    ms = sorted(members(db, island), key=lambda m: (-m[1], m[0]))
    top = [m[0] for m in ms if m[0] != parent][: pc["num_top"]]
    others = [p for p in elites(db, island) if p != parent and p not in top]
    div = [others[i] for i in rng.permutation(len(others))[: pc["num_diverse"]]] if others else []
    out = top + div
    if out and rng.random() < 0.1:
        k = cfg["search"]["islands"]
        other = (island + 1 + int(rng.integers(max(k - 1, 1)))) % k
        el = [p for p in elites(db, other) if p != parent and p not in out]
        if el:
            out[-1] = el[int(rng.integers(len(el)))]
    return [int(p) for p in out]


def on_evaluated(db: DB, island: int, pid: int, fitness: float | None, key: str | None, cfg: dict, seed: int) -> None:
    """Bookkeeping after an island child was evaluated (in the result's transaction):
    membership and cell, stagnation counters, migration and stagnant-island reset."""
    s = cfg["search"]
    k = s["islands"]
    st = db.kv_get("islands", None) or {"best": [None] * k, "since": [0] * k, "children": [0] * k, "resets": 0, "evaluated": 0}
    st["children"][island] += 1
    st["evaluated"] += 1
    if fitness is not None:
        add_member(db, island, pid, fitness, key)
        if st["best"][island] is None or fitness > st["best"][island]:
            st["best"][island] = fitness
            st["since"][island] = 0
        else:
            st["since"][island] += 1
    else:
        st["since"][island] += 1
    if s["migration_interval"] and st["children"][island] % int(s["migration_interval"]) == 0:
        _migrate(db, island, cfg)
    stagnant = [i for i in range(k) if st["since"][i] >= int(s["stagnation"])]
    periodic = s["reset_period"] and st["evaluated"] % int(s["reset_period"]) == 0
    if k > 1 and (len(stagnant) * 2 >= k or periodic):
        _reset(db, st, np.random.default_rng([seed, 99991, st["resets"]]), cfg)
    db.kv_set("islands", st)


def _migrate(db: DB, island: int, cfg: dict) -> None:
    k = cfg["search"]["islands"]
    if k < 2:
        return
    ms = [m for m in members(db, island) if not m[4]]
    n = max(1, int(math.ceil(cfg["search"]["migration_rate"] * len(ms)))) if ms else 0
    top = sorted(ms, key=lambda m: (-m[1], m[0]))[:n]
    for dst in sorted({(island - 1) % k, (island + 1) % k} - {island}):
        for m in top:
            key = db.kv_get(f"cell:{m[0]}")
            if key is None:
                continue
            if add_member(db, dst, m[0], m[1], key, migrant=1):
                db.event("migrate", m[0], src=island, dst=dst)


def _reset(db: DB, st: dict, rng: np.random.Generator, cfg: dict) -> None:
    k = cfg["search"]["islands"]
    best = [b if b is not None else -np.inf for b in st["best"]]
    order = sorted(range(k), key=lambda i: (best[i], i))
    cleared, survivors = order[: k // 2], order[k // 2:]
    for i in cleared:
        src = survivors[int(rng.integers(len(survivors)))]
        ms = members(db, src)
        if not ms:
            continue
        champ = max(ms, key=lambda m: (m[1], -m[0]))
        db.clear_island(i)
        key = db.kv_get(f"cell:{champ[0]}")
        add_member(db, i, champ[0], champ[1], key, migrant=1)
        st["best"][i], st["since"][i] = champ[1], 0
        db.event("reset", champ[0], island=i, from_island=src)
    for i in range(k):
        st["since"][i] = 0
    st["resets"] += 1
