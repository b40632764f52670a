"""The RPSLS toy check of LSPO (Xu et al., ICML 2025, arXiv 2502.04686, §5.1; docs/lspo.md).

Rock-Paper-Scissors-Lizard-Spock is a symmetric two-player zero-sum game with value 0 and the
unique equilibrium uniform(1/5). Its "language" version: a statement announces a throw in one
of three phrasings that share their carrier text (so the throw dominates the embedding), and a
deterministic parser maps text back to the throw.

One LSPO iteration ``t`` (k = 3, 4, 5 for t = 1, 2, 3):

1. the statement policy (softmax logits over throws) generates ``N = 3`` candidates per turn,
   throws drawn without replacement (Gumbel-top-k), phrasings uniformly;
2. all candidates are embedded and clustered by k-means into ``k`` latent strategies; each
   cluster has an empirical composition ``M[z, a]`` over throws (by the parser);
3. the cluster-level matrix game ``M A M^T`` is solved by tabular CFR+ (regret matching+ with
   alternating updates and linear averaging, Tammelin 2014, which is CFR+ on a one-shot game);
   it is a k x k matrix game, so it is solved here directly instead of through the tree engine
   of ``solvers.cfr`` (the tests check it against a linear-programming solution);
4. the evaluated policy is the latent equilibrium pushed through the compositions,
   ``pi = x M``; its exploitability is the best-response payoff ``max_b (A pi)_b``, exact;
5. candidates are scored by the value gap of their cluster, ``g(z) = max (M A M^T y) - (M A M^T y)_z``
   (``y`` = the opponent's equilibrium strategy); pairs in different clusters with the lower gap
   chosen feed the template DPO update (beta 0.1, lr 0.1, 2 epochs, batch 64).

The initial generator is biased towards Rock, Paper and Scissors with probabilities
0.53 / 0.29 / 0.14 / 0.02 / 0.02 for Rock / Paper / Scissors / Lizard / Spock (the paper's
ReAct bars; which bar belongs to which throw is not stated: documented choice).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np

from alignment.lspo.cluster import kmeans, nearest
from alignment.lspo.config import require, require_embedder
from alignment.lspo.embed import make_embedder
from gtlearn.core.errors import GtlearnError

THROWS = ("rock", "paper", "scissors", "lizard", "spock")
# BEATS[a] = the throws that a beats.
BEATS = {
    "rock": ("scissors", "lizard"),
    "paper": ("rock", "spock"),
    "scissors": ("paper", "lizard"),
    "lizard": ("paper", "spock"),
    "spock": ("rock", "scissors"),
}
# The phrasings differ only in punctuation, and the throw is said twice, so that the throw and
# not the carrier dominates any bag-of-n-grams embedding.
CARRIERS = (
    "My throw: {t}. I throw {t}.",
    "My throw: {t}! I throw {t}!",
    "My throw: {t}. I throw {t}!",
)
INITIAL_PROBS = (0.53, 0.29, 0.14, 0.02, 0.02)
MAX_TURNS = 10**6  # three statements per turn are kept in memory
MAX_ITERATIONS = 99
MAX_SEED = (2**32 - 1 - MAX_ITERATIONS) // 100  # k-means seeds are seed·100 + iteration: 32 bits


def payoff_matrix() -> np.ndarray:
    """A[a, b] = payoff of throwing a against b (+1 win, -1 loss, 0 tie)."""
    n = len(THROWS)
    a = np.zeros((n, n))
    for i, x in enumerate(THROWS):
        for j, y in enumerate(THROWS):
            if y in BEATS[x]:
                a[i, j] = 1.0
            elif x in BEATS[y]:
                a[i, j] = -1.0
    return a


def parse_throw(text: str) -> int:
    t = text.lower()
    hits = [i for i, w in enumerate(THROWS) if w in t]
    if len(hits) != 1:
        raise ValueError(f"no unique throw in {text!r}")
    return hits[0]


def exploitability(policy: np.ndarray, a: np.ndarray | None = None) -> float:
    """Best-response payoff against ``policy`` in the symmetric zero-sum game (value 0)."""
    a = payoff_matrix() if a is None else a
    return float(np.max(a @ policy))


def cfr_plus_matrix(m: np.ndarray, iterations: int = 20000) -> tuple[np.ndarray, np.ndarray]:
    """CFR+ on a two-player zero-sum matrix game ``m`` (row player's payoff): regret
    matching+, alternating updates, linear averaging. Returns (row, column) average strategies."""
    r, c = m.shape
    qx, qy = np.zeros(r), np.zeros(c)
    sx, sy = np.zeros(r), np.zeros(c)

    def rm(q):
        s = q.sum()
        return q / s if s > 0 else np.full(len(q), 1.0 / len(q))

    for t in range(1, iterations + 1):
        x = rm(qx)
        y = rm(qy)
        ux = m @ y
        qx = np.maximum(qx + ux - x @ ux, 0.0)
        x = rm(qx)
        sx += t * x
        uy = -(x @ m)
        qy = np.maximum(qy + uy - y @ uy, 0.0)
        sy += t * rm(qy)
    return sx / sx.sum(), sy / sy.sum()


@dataclass
class RPSLSConfig:
    iterations: int = 3
    turns: int = 200  # candidate-generating turns per iteration
    candidates: int = 3
    base_k: int = 3
    embedder: str = "hashing"
    cfr_iterations: int = 20000
    beta: float = 0.1
    learning_rate: float = 0.1
    epochs: int = 2
    batch_size: int = 64
    weighted: bool = False  # k-means over distinct statements (see cluster.py)
    delta: float = 1e-3  # gaps closer than this are ties (CFR+ leaves ~1e-5 noise on equal values)
    seed: int = 0

    def validate(self) -> None:
        """Ranges and packages, checked before the first iteration (one-line errors)."""
        bounds = {"iterations": (1, MAX_ITERATIONS), "turns": (1, MAX_TURNS), "candidates": (2, len(THROWS)),
                  "base_k": (1, 1000), "cfr_iterations": (1, 10**9), "epochs": (1, 10**9),
                  "batch_size": (1, 10**9), "seed": (0, MAX_SEED)}
        for name, (low, high) in bounds.items():
            value = getattr(self, name)
            if not (isinstance(value, int) and not isinstance(value, bool) and low <= value <= high):
                raise GtlearnError(f"{name} must be an integer in [{low}, {high:,}], got {value!r}")
        for name, sign in (("beta", "positive"), ("learning_rate", "positive"), ("delta", "non-negative")):
            value = getattr(self, name)
            number = isinstance(value, (int, float)) and not isinstance(value, bool) and bool(np.isfinite(value))
            if not (number and (value > 0 or (sign == "non-negative" and value == 0))):
                raise GtlearnError(f"{name} must be a {sign} finite number, got {value!r}")
        require(("sklearn",), "lspo", "the RPSLS check (k-means)")
        require_embedder(self.embedder)


@dataclass
class RPSLSIteration:
    iteration: int
    k: int
    exploitability: float
    policy: list[float]
    generator: list[float]
    purity: float
    compositions: list[list[float]]
    pairs: int
    latent_equilibrium: list[float] = field(default_factory=list)


def purity(labels: np.ndarray, throws: np.ndarray) -> float:
    """Fraction of points whose throw is the majority throw of their cluster."""
    total = 0
    for z in np.unique(labels):
        total += np.bincount(throws[labels == z]).max()
    return total / len(labels)


def _candidates(logits: np.ndarray, cfg: RPSLSConfig, rng: random.Random) -> list[list[str]]:
    """``cfg.candidates`` statements per turn: throws by Gumbel-top-k, phrasings uniformly."""
    turns = []
    for _ in range(cfg.turns):
        g = [logits[i] - np.log(-np.log(rng.random() or 1e-300)) for i in range(len(THROWS))]
        picks = sorted(range(len(THROWS)), key=lambda i: -g[i])[: cfg.candidates]
        turns.append([CARRIERS[rng.randrange(len(CARRIERS))].format(t=THROWS[i]) for i in picks])
    return turns


def _pairs(turns: list[list[str]], labels: np.ndarray, throws: np.ndarray, gap: np.ndarray,
           delta: float) -> list[tuple[int, int]]:
    """(chosen, rejected) throws: candidates of a turn in different clusters, the lower gap chosen."""
    pairs = []
    pos = 0
    for turn in turns:
        zs = labels[pos : pos + len(turn)]
        ts = throws[pos : pos + len(turn)]
        pos += len(turn)
        for i in range(len(turn)):
            for j in range(i + 1, len(turn)):
                if zs[i] == zs[j] or abs(gap[zs[i]] - gap[zs[j]]) <= delta:
                    continue
                c, r = (i, j) if gap[zs[i]] < gap[zs[j]] else (j, i)
                pairs.append((ts[c], ts[r]))
    return pairs


def run_rpsls(config: RPSLSConfig | None = None) -> list[RPSLSIteration]:
    """The toy check's iterations (module docstring)."""
    cfg = config or RPSLSConfig()
    cfg.validate()
    rng = random.Random(cfg.seed)
    a = payoff_matrix()
    logits = np.log(np.asarray(INITIAL_PROBS))
    out = []
    for it in range(1, cfg.iterations + 1):
        k = cfg.base_k + it - 1
        turns = _candidates(logits, cfg, rng)  # 1. candidates
        texts = [s for turn in turns for s in turn]
        # 2. latent space
        emb = make_embedder(cfg.embedder).fit(texts)
        uniq, inv, counts = np.unique(np.asarray(texts, dtype=object), return_inverse=True, return_counts=True)
        x = emb.transform(list(uniq))
        cents, _ = kmeans(x, k, cfg.seed * 100 + it, counts.astype(float) if cfg.weighted else None)
        labels = nearest(cents, x)[inv]
        throws = np.array([parse_throw(t) for t in texts])
        kk = len(cents)
        comp = np.zeros((kk, len(THROWS)))
        np.add.at(comp, (labels, throws), 1.0)
        comp /= np.maximum(comp.sum(1, keepdims=True), 1.0)
        # 3. CFR+ on the cluster-level game
        m = comp @ a @ comp.T
        xz, yz = cfr_plus_matrix(m, cfg.cfr_iterations)
        policy = xz @ comp
        # 4. back to language: value gaps and pairs
        q = m @ yz
        pairs = _pairs(turns, labels, throws, q.max() - q, cfg.delta)
        generator = np.exp(logits - logits.max())
        out.append(
            RPSLSIteration(
                iteration=it,
                k=kk,
                exploitability=exploitability(policy, a),
                policy=policy.tolist(),
                generator=(generator / generator.sum()).tolist(),
                purity=purity(labels, throws),
                compositions=comp.tolist(),
                pairs=len(pairs),
                latent_equilibrium=xz.tolist(),
            )
        )
        logits = _dpo_logits(logits, pairs, cfg, rng)
    return out


def _dpo_logits(logits: np.ndarray, pairs: list[tuple[int, int]], cfg: RPSLSConfig, rng: random.Random) -> np.ndarray:
    """The template policy's DPO update (see policies/template.py) on the throw logits."""
    logits = logits.copy()
    ref = logits.copy()
    m = np.zeros_like(logits)
    v = np.zeros_like(logits)
    step = 0
    for _ in range(cfg.epochs):
        order = list(range(len(pairs)))
        rng.shuffle(order)
        for s in range(0, len(order), cfg.batch_size):
            batch = [pairs[i] for i in order[s : s + cfg.batch_size]]
            g = np.zeros_like(logits)
            for c, r in batch:
                margin = cfg.beta * ((logits[c] - ref[c]) - (logits[r] - ref[r]))
                coef = -cfg.beta / (1.0 + np.exp(margin)) / len(batch)
                g[c] += coef
                g[r] -= coef
            step += 1
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * g * g
            logits -= cfg.learning_rate * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
    return logits
