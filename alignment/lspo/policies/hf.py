"""Hugging Face causal-LM statement policy (``LSPOConfig.policy = "hf"``) and its DPO step.

* Loading: ``AutoModelForCausalLM.from_pretrained(path, local_files_only=True)`` -- no hub
  downloads -- or an in-memory ``(model, tokenizer)`` pair.
* Generation: sampling with temperature 0.8 and top-p 0.95 (the paper gives no decoding
  settings; documented choice), seeded per call from the caller's RNG.
* DPO: TRL's :class:`trl.DPOTrainer` on ``prompt``/``chosen``/``rejected`` columns with the
  paper's beta 0.1, learning rate 1e-6, 2 epochs, batch 64; the reference model is a frozen
  copy of the policy at the start of the iteration (with LoRA: the base model, adapters off).
  ``lora=True`` trains a peft LoRA adapter instead of all weights (default false; the paper
  does not say which it used).

:func:`tiny_model_and_tokenizer` builds a randomly initialized 2-layer GPT-2 and a byte-level
BPE tokenizer in-process; it exercises the pipeline in tests and has no strategic quality.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass
class HFDecoding:
    temperature: float = 0.8
    top_p: float = 0.95
    max_new_tokens: int = 48
    max_prompt_tokens: int = 1024  # longer prompts keep their end (the legal actions)


class HFPolicy:
    kind = "hf"

    def __init__(self, model, tokenizer, decoding: HFDecoding | None = None) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.decoding = decoding or HFDecoding()
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

    @classmethod
    def from_path(cls, path: str, decoding: HFDecoding | None = None) -> HFPolicy:
        import os

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from gtlearn.core.errors import GtlearnError

        try:
            tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
        except OSError as exc:
            raise GtlearnError(f"cannot load a local causal LM from {path!r}: {exc}") from exc
        return cls(model, tok, decoding)

    def generate(self, prompt: str, rng: random.Random) -> str:
        import torch

        torch.manual_seed(rng.randrange(2**31))
        enc = self.tokenizer(prompt, return_tensors="pt")
        max_ctx = getattr(self.model.config, "n_positions", None) or getattr(
            self.model.config, "max_position_embeddings", 1024)
        keep = max(8, min(self.decoding.max_prompt_tokens, max_ctx - self.decoding.max_new_tokens))
        ids = enc["input_ids"][:, -keep:]
        mask = enc["attention_mask"][:, -keep:]
        self.model.eval()
        with torch.no_grad():
            out = self.model.generate(
                input_ids=ids,
                attention_mask=mask,
                do_sample=True,
                temperature=self.decoding.temperature,
                top_p=self.decoding.top_p,
                max_new_tokens=self.decoding.max_new_tokens,
                pad_token_id=self.tokenizer.pad_token_id,
            )
        return self.tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)

    def save(self, directory) -> None:
        self.model.save_pretrained(directory)
        self.tokenizer.save_pretrained(directory)


@dataclass
class DPOSettings:
    beta: float = 0.1
    learning_rate: float = 1e-6
    epochs: int = 2
    batch_size: int = 64
    lora: bool = False
    max_length: int = 512
    seed: int = 0


def _dpo_dataset(policy: HFPolicy, pairs: list[dict], settings: DPOSettings):
    """The ``prompt``/``chosen``/``rejected`` dataset, prompts cut to fit ``max_length``."""
    from datasets import Dataset

    tok = policy.tokenizer

    def fit_prompt(p: dict) -> str:
        # TRL drops examples whose prompt alone fills max_length; keep the prompt's end (the
        # current situation and the instructions) so that prompt + completion fits.
        longest = max(len(tok(p["chosen"])["input_ids"]), len(tok(p["rejected"])["input_ids"]))
        room = max(8, settings.max_length - longest - 2)
        ids = tok(p["prompt"])["input_ids"]
        return p["prompt"] if len(ids) <= room else tok.decode(ids[-room:])

    return Dataset.from_dict(
        {
            "prompt": [fit_prompt(p) for p in pairs],
            "chosen": [p["chosen"] for p in pairs],
            "rejected": [p["rejected"] for p in pairs],
        }
    )


def dpo_hf(policy: HFPolicy, pairs: list[dict], settings: DPOSettings, output_dir: str) -> dict:
    """One DPO pass with TRL over ``pairs``; updates ``policy.model`` in place."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from trl import DPOConfig, DPOTrainer

    if not pairs:
        return {"pairs": 0, "steps": 0}
    data = _dpo_dataset(policy, pairs, settings)
    args = DPOConfig(
        output_dir=output_dir,
        beta=settings.beta,
        learning_rate=settings.learning_rate,
        num_train_epochs=settings.epochs,
        per_device_train_batch_size=settings.batch_size,
        max_length=settings.max_length,
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        use_cpu=True,
        seed=settings.seed,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    peft_config = None
    if settings.lora:
        from peft import LoraConfig

        peft_config = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, task_type="CAUSAL_LM")
    ref_model = None
    if not settings.lora:
        import copy

        # The reference is the policy as it enters this iteration, frozen.
        ref_model = copy.deepcopy(policy.model).eval()
        for prm in ref_model.parameters():
            prm.requires_grad_(False)
    trainer = DPOTrainer(
        model=policy.model,
        ref_model=ref_model,
        args=args,
        train_dataset=data,
        processing_class=policy.tokenizer,
        peft_config=peft_config,
    )
    result = trainer.train()
    policy.model = trainer.model
    logs = [h for h in trainer.state.log_history if "loss" in h]
    return {
        "pairs": len(pairs),
        "steps": int(trainer.state.global_step),
        "train_loss": float(result.training_loss),
        "loss_first": logs[0]["loss"] if logs else None,
        "loss_last": logs[-1]["loss"] if logs else None,
    }


def tiny_model_and_tokenizer(seed: int = 0, corpus: list[str] | None = None):
    """A randomly initialized tiny GPT-2 and a byte-level BPE tokenizer, built in-process."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    from alignment.lspo.statements import PHRASINGS

    corpus = corpus or (
        [p.replace("{j}", f"player_{i}") for ps in PHRASINGS.values() for p in ps for i in range(7)]
        + ['{"reasoning": "x", "statement": "y"}', '{"reasoning": "x", "action": "vote for player_1"}',
           "You are playing the Werewolf game. Legal actions: do not vote, kill, save, see."]
    )
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus, trainer)
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>",
                                     bos_token="<|endoftext|>")
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=len(hf_tok), n_positions=1024, n_embd=32, n_layer=2, n_head=2,
                        bos_token_id=hf_tok.bos_token_id, eos_token_id=hf_tok.eos_token_id)
    return GPT2LMHeadModel(config), hf_tok
