"""The latent strategy space: per-role k-means over statement embeddings (docs/lspo.md).

* Cluster schedule: iteration ``t`` (1-based) uses ``k[role] = base[role] + t - 1`` with
  ``base = {werewolf: 3, seer: 2, doctor: 2, villager: 2}`` (3/4/5 and 2/3/4 over 3 iterations).
* k-means (scikit-learn, ``n_init=10``, seeded) runs separately per role on the L2-normalized
  embeddings of every candidate statement (all 3 per turn); it is refitted from scratch each
  iteration (no warm start: documented choice). k-means runs over the *distinct* statements,
  unweighted (``weighted=False``, default; documented deviation): with count weights -- the
  same objective as clustering every duplicate -- k-means prefers splitting a frequent
  statement family by its phrasing over separating two rare strategies, so a rare but
  strategically distinct statement (the Spock of the RPSLS check) never gets its own cluster.
  ``weighted=True`` restores the duplicate-weighted objective. ``k`` is capped at the number of
  distinct statements.
* A statement maps to the strategy of its nearest centroid.

**Public labels (deviation, documented).** The paper's abstracted game shows the table
"player_j used strategy z", with ``z`` indexing the *speaker's role's* strategy set -- which
would tell every listener the speaker's role set and so its role. We instead cluster all
roles' statements together into ``k_public`` public labels (default: the largest per-role k),
and a listener observes the *public label* of a statement; in the abstracted game a speaker's
latent ``z`` emits public label ``c`` with the empirical frequency ``P(c | role, z)`` measured on
the self-play candidates. At play time the listener embeds the heard text and takes the nearest
public centroid. This keeps exactly the information the text carries.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from games.werewolf.engine import ROLES

BASE_K = {"werewolf": 3, "seer": 2, "doctor": 2, "villager": 2}


def cluster_schedule(iteration: int, base: dict[str, int] | None = None) -> dict[str, int]:
    """k per role at (1-based) LSPO ``iteration``."""
    if iteration < 1:
        raise ValueError("LSPO iterations are numbered from 1")
    base = base or BASE_K
    return {role: k + iteration - 1 for role, k in base.items()}


def kmeans(x: np.ndarray, k: int, seed: int, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(centroids, labels) by scikit-learn's KMeans (n_init=10); k capped at len(x)."""
    from sklearn.cluster import KMeans

    k = max(1, min(k, len(x)))
    km = KMeans(n_clusters=k, n_init=10, random_state=seed)
    km.fit(x, sample_weight=weights)
    return km.cluster_centers_.astype(np.float32), km.labels_.astype(np.int64)


def nearest(centroids: np.ndarray, x: np.ndarray) -> np.ndarray:
    d = (x * x).sum(1)[:, None] - 2 * x @ centroids.T + (centroids * centroids).sum(1)[None, :]
    return d.argmin(1)


@dataclass
class LatentSpace:
    ks: dict[str, int]
    centroids: dict[str, np.ndarray]
    sizes: dict[str, list[int]]
    exemplars: dict[str, list[list[str]]]
    public_centroids: np.ndarray
    emission: dict[str, np.ndarray]  # role -> (k_role, k_public) P(public label | role, z)
    embedder_manifest: dict = field(default_factory=dict)

    @property
    def k_public(self) -> int:
        return int(self.public_centroids.shape[0])

    def assign(self, role: str, x: np.ndarray) -> np.ndarray:
        return nearest(self.centroids[role], x)

    def public(self, x: np.ndarray) -> np.ndarray:
        return nearest(self.public_centroids, x)

    def save(self, directory: str | Path) -> None:
        from gtlearn.core.io import atomic_write_bytes, atomic_write_json

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        for role, c in self.centroids.items():
            _save_npy(d / f"centroids_{role}.npy", c, atomic_write_bytes)
        _save_npy(d / "centroids_public.npy", self.public_centroids, atomic_write_bytes)
        atomic_write_json(
            d / "latent.json",
            {
                "ks": self.ks,
                "sizes": self.sizes,
                "exemplars": self.exemplars,
                "emission": {r: e.tolist() for r, e in self.emission.items()},
                "embedder": self.embedder_manifest,
            },
        )

    @classmethod
    def load(cls, directory: str | Path) -> LatentSpace:
        d = Path(directory)
        meta = json.loads((d / "latent.json").read_text())
        cents = {r: np.load(d / f"centroids_{r}.npy", allow_pickle=False) for r in meta["ks"]}
        return cls(
            ks={r: int(k) for r, k in meta["ks"].items()},
            centroids=cents,
            sizes=meta["sizes"],
            exemplars=meta["exemplars"],
            public_centroids=np.load(d / "centroids_public.npy", allow_pickle=False),
            emission={r: np.asarray(e) for r, e in meta["emission"].items()},
            embedder_manifest=meta.get("embedder", {}),
        )


def _save_npy(path: Path, arr: np.ndarray, writer) -> None:
    import io

    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    writer(path, buf.getvalue())


def fit_latent_space(
    statements: dict[str, list[str]],
    embed,
    ks: dict[str, int],
    seed: int,
    k_public: int | None = None,
    n_exemplars: int = 5,
    embedder_manifest: dict | None = None,
    weighted: bool = False,
) -> LatentSpace:
    """Cluster each role's candidate statements; ``embed(texts) -> unit rows``."""
    centroids, sizes, exemplars, emission = {}, {}, {}, {}
    all_texts: list[str] = []
    for role in ROLES:
        texts = statements.get(role, [])
        if not texts:
            continue
        uniq, counts = np.unique(np.asarray(texts, dtype=object), return_counts=True)
        uniq = list(uniq)
        x = embed(uniq)
        c, labels = kmeans(x, ks[role], seed, counts.astype(float) if weighted else None)
        centroids[role] = c
        sizes[role] = [int(counts[labels == z].sum()) for z in range(len(c))]
        ex = []
        for z in range(len(c)):
            members = np.flatnonzero(labels == z)
            d = ((x[members] - c[z]) ** 2).sum(1)
            ex.append([uniq[i] for i in members[np.argsort(d, kind="stable")[:n_exemplars]]])
        exemplars[role] = ex
        all_texts += texts
    uniq_all, counts_all = np.unique(np.asarray(all_texts, dtype=object), return_counts=True)
    k_pub = k_public or max(ks.values())
    pub_c, _ = kmeans(embed(list(uniq_all)), k_pub, seed + 1, counts_all.astype(float) if weighted else None)
    for role, c in centroids.items():
        texts = statements[role]
        uniq, inv = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
        x = embed(list(uniq))
        z = nearest(c, x)[inv]
        pub = nearest(pub_c, x)[inv]
        m = np.zeros((len(c), len(pub_c)))
        np.add.at(m, (z, pub), 1.0)
        emission[role] = m / np.maximum(m.sum(1, keepdims=True), 1.0)
    return LatentSpace(
        ks={r: len(c) for r, c in centroids.items()},
        centroids=centroids,
        sizes=sizes,
        exemplars=exemplars,
        public_centroids=pub_c,
        emission=emission,
        embedder_manifest=embedder_manifest or {},
    )
