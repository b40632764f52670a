"""Loading what a trainer trains on from names and paths: a causal LM with its tokenizer, a
prompt dataset, and a preference model from a spec string (docs/trainers.md, "Running")."""

from __future__ import annotations

import json
from pathlib import Path

from gtlearn.core.errors import GtlearnError


def load_tokenizer(path: str):
    """``AutoTokenizer`` with left padding, except that a tokenizer saved as a plain
    ``tokenizers`` backend (e.g. the synthetic task's word-level one) is loaded as such:
    transformers 5 would otherwise rebuild it as the model type's tokenizer class from
    ``config.json``."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    cfg = Path(path) / "tokenizer_config.json"
    if cfg.exists():
        cls = json.loads(cfg.read_text()).get("tokenizer_class")
        if cls in ("TokenizersBackend", "PreTrainedTokenizerFast"):
            return PreTrainedTokenizerFast.from_pretrained(path, padding_side="left")
    return AutoTokenizer.from_pretrained(path, padding_side="left")


def load_causal_lm(name: str):
    """``(model, tokenizer)`` of a Hugging Face causal LM; a tokenizer without a pad token
    distinct from EOS gets one (and the embeddings grow to match), since completions are
    masked by their pad tokens."""
    from transformers import AutoModelForCausalLM

    try:
        tok = load_tokenizer(name)
        model = AutoModelForCausalLM.from_pretrained(name)
    except (OSError, ValueError) as exc:
        raise GtlearnError(f"cannot load the model {name!r}: {str(exc).splitlines()[0]}") from None
    if tok.pad_token is None or tok.pad_token_id == tok.eos_token_id:
        tok.add_special_tokens({"pad_token": "<|gtlearn_pad|>"})
        model.resize_token_embeddings(len(tok))
    return model, tok


DATA_SUFFIXES = (".json", ".jsonl", ".csv", ".parquet")


def load_prompts(spec: str, split: str = "train", tokenizer=None):
    """A ``datasets.Dataset`` with one ``prompt`` column in TRL's prompt-only formats — standard
    (a string per row) or conversational (a list of ``{"role", "content"}`` messages per row,
    rendered later with the tokenizer's chat template) — from a local ``.json``/``.jsonl``/
    ``.csv``/``.parquet`` file, a directory written by ``save_to_disk`` (a ``DatasetDict``'s
    ``split``), or a ``datasets`` name (``split`` applies). Other columns (e.g. a preference
    dataset's ``chosen``/``rejected``) are dropped. With ``tokenizer``, conversational prompts
    need its chat template."""
    from datasets import Dataset, DatasetDict, load_dataset, load_from_disk

    path = Path(spec)
    try:
        if path.is_dir() and any((path / f).exists() for f in ("dataset_info.json", "dataset_dict.json", "state.json")):
            ds = load_from_disk(str(path))
            if isinstance(ds, DatasetDict):
                if split not in ds:
                    raise GtlearnError(f"the dataset {spec!r} has no split {split!r} (it has {sorted(ds)})")
                ds = ds[split]
        elif path.is_file():
            ext = {"jsonl": "json"}.get(path.suffix.lstrip("."), path.suffix.lstrip("."))
            ds = load_dataset(ext, data_files=str(path), split="train")
        elif path.suffix in DATA_SUFFIXES or path.is_absolute() or spec.startswith("."):
            raise GtlearnError(f"cannot load the prompt dataset {spec!r}: no such file or directory")
        else:
            ds = load_dataset(spec, split=split)
    except GtlearnError:
        raise
    except Exception as exc:  # datasets raises many kinds for a bad name / file
        raise GtlearnError(f"cannot load the prompt dataset {spec!r}: {str(exc).splitlines()[0]}") from None
    if not isinstance(ds, Dataset) or "prompt" not in ds.column_names:
        raise GtlearnError(f"the dataset {spec!r} needs a 'prompt' column (TRL's prompt-only format)")
    ds = ds.select_columns(["prompt"])
    if len(ds) == 0:
        raise GtlearnError(f"the dataset {spec!r} has no rows")
    if is_conversational(ds[0]["prompt"]) and tokenizer is not None and not getattr(tokenizer, "chat_template", None):
        raise GtlearnError(f"the dataset {spec!r} holds conversations, but the tokenizer has no chat template")
    return ds


def is_conversational(prompt) -> bool:
    """Whether a prompt is a list of chat messages (TRL's conversational format)."""
    return isinstance(prompt, (list, tuple)) and bool(prompt) and isinstance(prompt[0], dict)


def load_preference(spec: str, *, contexts: list[str] | None = None):
    """A :class:`~alignment.preference_models.PreferenceOracle` from a spec string:

    * ``reward:PATH[,temperature=T]`` — Bradley–Terry from a sequence-classification reward model;
    * ``judge:URL[,model=NAME]`` — an LLM judge over an OpenAI-compatible endpoint (key from
      ``$OPENAI_API_KEY``);
    * ``python:MODULE_OR_FILE.py:NAME`` — a Python callable ``f(prompt, y, y') -> P(y ≻ y')``, or
      a ``PreferenceOracle`` (an instance, or a zero-argument factory returning one);
    * ``game:GAME`` — the exact oracle of a preference game (``games.preference.make_game``):
      ``contexts`` (the distinct rendered prompts, in order) map to the game's contexts, and
      completions to its responses (its own strings, else the synthetic task's words).
    """
    kind, _, rest = spec.partition(":")
    if not rest:
        raise GtlearnError(f"bad preference {spec!r}; use reward:PATH, judge:URL, python:MODULE:NAME or game:GAME")
    if kind == "reward":
        return _reward_preference(rest)
    if kind == "judge":
        from alignment.preference_models import LLMJudgePreference

        url, *opts = rest.split(",")
        kw = _options(opts, spec)
        return LLMJudgePreference(url, model=kw.get("model", "judge"))
    if kind == "python":
        return _python_preference(rest)
    if kind == "game":
        return _game_preference(rest, contexts)
    raise GtlearnError(f"bad preference {spec!r}; use reward:PATH, judge:URL, python:MODULE:NAME or game:GAME")


def _options(opts: list[str], spec: str) -> dict[str, str]:
    bad = [o for o in opts if "=" not in o]
    if bad:
        raise GtlearnError(f"bad option(s) {bad} in preference {spec!r}; expected key=value")
    return dict(o.split("=", 1) for o in opts)


def _reward_preference(rest: str):
    from transformers import AutoModelForSequenceClassification

    from alignment.preference_models import BradleyTerryPreference

    path, *opts = rest.split(",")
    kw = _options(opts, rest)
    try:
        rm = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1)
        tok = load_tokenizer(path)
    except (OSError, ValueError) as exc:
        raise GtlearnError(f"cannot load the reward model {path!r}: {str(exc).splitlines()[0]}") from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    rm.config.pad_token_id = tok.pad_token_id
    return BradleyTerryPreference(rm.eval(), tok, temperature=float(kw.get("temperature", 1.0)))


def _python_preference(rest: str):
    import importlib
    import importlib.util

    from alignment.preference_models import PairwisePreference, PreferenceOracle

    where, _, name = rest.rpartition(":")
    if not where or not name:
        raise GtlearnError(f"bad python preference {rest!r}; use python:MODULE:NAME or python:FILE.py:NAME")
    try:
        if where.endswith(".py"):
            spec = importlib.util.spec_from_file_location(Path(where).stem, where)
            if spec is None or not Path(where).is_file():
                raise FileNotFoundError(where)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
        obj = getattr(module, name)
    except (ImportError, FileNotFoundError, AttributeError) as exc:
        raise GtlearnError(f"cannot load the preference {rest!r}: {exc}") from None
    if isinstance(obj, PreferenceOracle):
        return obj
    if isinstance(obj, type) and issubclass(obj, PreferenceOracle):
        return obj()
    if callable(obj):
        return PairwisePreference(obj)
    raise GtlearnError(f"the preference {rest!r} is neither a callable nor a PreferenceOracle")


def _game_preference(game_spec: str, contexts: list[str] | None):
    from alignment.preference_models import GamePreference
    from alignment.synthetic import answer_words
    from games.preference import make_game

    game = make_game(game_spec)
    if contexts is None or len(contexts) != game.num_contexts:
        have = "no prompts" if contexts is None else f"{len(contexts)} distinct prompts"
        raise GtlearnError(f"the game {game_spec!r} has {game.num_contexts} contexts but the dataset has {have}")
    responses = game.responses or [answer_words(game.num_responses)] * game.num_contexts
    return GamePreference(game, contexts, responses)


__all__ = ["load_tokenizer", "load_causal_lm", "load_prompts", "is_conversational", "load_preference"]
