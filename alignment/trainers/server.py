"""The server generation backend: completions sampled by an OpenAI-compatible ``/completions``
endpoint — e.g. ``vllm serve MODEL`` — the way TRL's online trainers use vLLM
(docs/trainers.md, "Generation").

One request per prompt asks for its ``n`` samples, with the prompt as token ids (so the server
sees exactly the tokens the trainer scores), ``seed`` the prompt's key under keyed sampling and
``return_token_ids`` (vLLM): completions come back as token ids when the server sends them, else
their text is tokenized; ``finish_reason == "stop"`` means the server stopped at EOS, which is
appended. Requests run concurrently. The server's weights are its own: the trainer does not
push its updates there (see the docs for keeping the two in step).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from alignment.openai_client import OpenAIClient
from alignment.trainers.logprobs import Completions, completions_from_ids, tokenize_prompts
from alignment.trainers.pairs import token_lists


class CompletionsServer:
    """Samples completions from ``{base_url}/completions``."""

    def __init__(self, base_url: str, model: str = "policy", *, api_key: str | None = None, timeout: float = 120.0,
                 retries: int = 2, max_concurrency: int = 8) -> None:
        self.client = OpenAIClient(base_url, api_key=api_key, timeout=timeout, retries=retries,
                                   name="generation server")
        self.model = model
        self.max_concurrency = max_concurrency

    def generate(self, tokenizer, prompts: list, *, max_new_tokens: int, temperature: float = 1.0, top_p: float = 1.0,
                 num_samples: int = 1, max_prompt_length: int | None = None, seeds: list[int] | None = None,
                 device=None) -> Completions:
        """``num_samples`` completions per prompt, rows grouped by prompt as in
        :func:`alignment.trainers.sampling.generate`."""
        rep = [p for p in prompts for _ in range(num_samples)]
        pid, pmask = tokenize_prompts(tokenizer, rep, device, max_prompt_length)
        prompt_tokens = token_lists(pid[::num_samples], pmask[::num_samples])
        eos = tokenizer.eos_token_id

        def one(i: int) -> list[list[int]]:
            body = {"model": self.model, "prompt": prompt_tokens[i], "n": num_samples, "max_tokens": max_new_tokens,
                    "temperature": temperature, "top_p": top_p, "return_token_ids": True}
            if seeds is not None:
                body["seed"] = int(seeds[i])
            choices = self.client.post("/completions", body, parse=lambda reply: _choices(reply, num_samples))
            return [_completion_tokens(c, tokenizer, eos, max_new_tokens) for c in choices]

        with ThreadPoolExecutor(max_workers=max(1, min(self.max_concurrency, len(prompts)))) as pool:
            rows = [ids for group in pool.map(one, range(len(prompts))) for ids in group]
        comp = [ids or [tokenizer.pad_token_id] for ids in rows]
        return completions_from_ids(tokenizer, rep, pid, pmask, comp)

    @property
    def requests(self) -> int:
        return self.client.requests


def _choices(reply: dict, n: int) -> list[dict]:
    choices = sorted(reply["choices"], key=lambda c: c.get("index", 0))
    if len(choices) != n:
        raise ValueError(f"asked for {n} completions, got {len(choices)}")
    return choices


def _completion_tokens(choice: dict, tokenizer, eos: int, max_new_tokens: int) -> list[int]:
    ids = choice.get("token_ids")
    if ids is None:
        ids = tokenizer(choice.get("text") or "", add_special_tokens=False)["input_ids"]
    ids = [int(t) for t in ids]
    if choice.get("finish_reason") == "stop" and (not ids or ids[-1] != eos):
        ids.append(eos)
    return ids[:max_new_tokens]


def server_for(args) -> CompletionsServer | None:
    """The server backend of a trainer config (None for local generation)."""
    if args.generation_backend != "server":
        return None
    return CompletionsServer(args.server_base_url, args.server_model, timeout=args.server_timeout)


__all__ = ["CompletionsServer", "server_for"]
