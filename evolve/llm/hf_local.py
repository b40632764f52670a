"""A local Hugging Face causal LM (``transformers``) loaded from a local path only
(``local_files_only=True``); token counts come from the tokenizer, GPU seconds are reported
as latency for the ledger. Greedy decoding when temperature is 0, else sampling seeded by the
item's seed."""

from __future__ import annotations

import time

from evolve.llm.base import Backend, Completion, LLMError


class HFLocalBackend(Backend):
    name = "transformers"

    def __init__(self, path: str):
        try:
            import torch  # noqa: F401
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:
            raise LLMError("the transformers backend needs `pip install gtlearn[llm]`") from exc
        if not path:
            raise LLMError("the transformers backend needs models[].path (a local model directory)")
        self.tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
        self.model.eval()

    def complete(self, messages, *, model, temperature, max_tokens, seed, context=None):
        import torch

        if getattr(self.tok, "chat_template", None):
            prompt = self.tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        else:
            prompt = "\n\n".join(f"{m['role']}: {m['content']}" for m in messages) + "\n\nassistant:"
        ids = self.tok(prompt, return_tensors="pt")
        torch.manual_seed(int(seed))
        t0 = time.monotonic()
        with torch.no_grad():
            out = self.model.generate(**ids, max_new_tokens=int(max_tokens), do_sample=temperature > 0,
                                      temperature=max(float(temperature), 1e-5) if temperature > 0 else None,
                                      pad_token_id=self.tok.pad_token_id or self.tok.eos_token_id)
        new = out[0, ids["input_ids"].shape[1]:]
        return Completion(self.tok.decode(new, skip_special_tokens=True), int(ids["input_ids"].shape[1]), int(new.shape[0]),
                          None, time.monotonic() - t0)
