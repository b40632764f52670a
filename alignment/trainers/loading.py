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


def load_prompts(spec: str, split: str = "train"):
    """A ``datasets.Dataset`` with one ``prompt`` column, from a local .json/.jsonl/.csv/
    .parquet file or a ``datasets`` name (``split`` applies to names)."""
    from datasets import Dataset, load_dataset

    try:
        if Path(spec).exists():
            ext = Path(spec).suffix.lstrip(".")
            ext = {"jsonl": "json"}.get(ext, ext)
            ds = load_dataset(ext, data_files=spec, split="train")
        else:
            ds = load_dataset(spec, split=split)
    except Exception as exc:  # datasets raises many kinds for a bad name / file
        raise GtlearnError(f"cannot load the prompt dataset {spec!r}: {exc}") from None
    if not isinstance(ds, Dataset) or "prompt" not in ds.column_names:
        raise GtlearnError(f"the dataset {spec!r} needs a 'prompt' column")
    return ds.select_columns(["prompt"])


def load_preference(spec: str):
    """A :class:`~alignment.preference_models.PreferenceOracle` from ``reward:PATH``
    (Bradley–Terry from a sequence-classification reward model) or ``judge:URL[,model=NAME]``
    (an LLM judge over an OpenAI-compatible endpoint)."""
    from alignment.preference_models import BradleyTerryPreference, LLMJudgePreference

    kind, _, rest = spec.partition(":")
    if kind == "reward" and rest:
        from transformers import AutoModelForSequenceClassification

        try:
            rm = AutoModelForSequenceClassification.from_pretrained(rest, num_labels=1)
            tok = load_tokenizer(rest)
        except (OSError, ValueError) as exc:
            raise GtlearnError(f"cannot load the reward model {rest!r}: {exc}") from None
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        rm.config.pad_token_id = tok.pad_token_id
        return BradleyTerryPreference(rm.eval(), tok)
    if kind == "judge" and rest:
        url, *opts = rest.split(",")
        kw = dict(o.split("=", 1) for o in opts if "=" in o)
        return LLMJudgePreference(url, model=kw.get("model", "judge"))
    raise GtlearnError(f"bad preference {spec!r}; use reward:PATH or judge:URL[,model=NAME]")


__all__ = ["load_tokenizer", "load_causal_lm", "load_prompts", "load_preference"]
