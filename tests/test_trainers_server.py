"""Generation (docs/trainers.md, "Generation"): keyed batched sampling with the KV cache, and
the server backend against a real HTTP server on 127.0.0.1 — an OpenAI-compatible
``/v1/completions`` endpoint written here that answers from a tiny model, the way ``vllm
serve`` answers TRL's online trainers.

The server samples with the same keyed sampler (its ``seed`` is the prompt's key), so what it
returns must be token for token what local generation draws; a trainer with
``generation_backend="server"`` and a server holding the trainer's own model (colocated: the
weights are the same tensors) must then train exactly as with local generation.
"""

from __future__ import annotations

import copy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("datasets")

from alignment.synthetic import cached_task  # noqa: E402
from alignment.trainers.logprobs import position_ids_from_mask, tokenize_prompts  # noqa: E402
from alignment.trainers.pipeline import make_trainer, quiet_trainer, trainer_config  # noqa: E402
from alignment.trainers.sampling import decode, generate, inverse_cdf  # noqa: E402
from alignment.trainers.server import CompletionsServer  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def task():
    return cached_task(pretrain_steps=60)


class _Completions(BaseHTTPRequestHandler):
    """POST /v1/completions: ``prompt`` as token ids, ``n`` samples, ``seed``; replies with the
    text, ``finish_reason`` and (unless the server's ``token_ids`` is off) the token ids
    without the final EOS, as vLLM does."""

    def do_POST(self):  # noqa: N802
        srv = self.server
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])).decode())
        srv.requests.append({"path": self.path, "body": body})
        tok = srv.tokenizer
        with srv.lock:
            c = generate(srv.model[0], tok, [tok.decode(body["prompt"])], num_samples=body["n"],
                         max_new_tokens=body["max_tokens"], temperature=body["temperature"],
                         top_p=body.get("top_p", 1.0), seeds=[body["seed"]] if "seed" in body else None)
        choices = []
        for j in range(body["n"]):
            ids = c.completion_ids[j][c.completion_mask[j].bool()].tolist()
            stop = bool(c.has_eos[j])
            ids = ids[:-1] if stop else ids
            choice = {"index": j, "text": tok.decode(ids), "finish_reason": "stop" if stop else "length"}
            if srv.token_ids:
                choice["token_ids"] = ids
            choices.append(choice)
        data = json.dumps({"object": "text_completion", "model": body["model"], "choices": choices[::-1]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture()
def server(task):
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Completions)
    srv.requests, srv.tokenizer, srv.model, srv.token_ids, srv.lock = [], task.tokenizer, [task.model], True, threading.Lock()
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/v1"
    yield srv
    srv.shutdown()
    srv.server_close()


def test_keyed_sampling_uses_the_kv_cache_correctly_and_is_batch_invariant(task):
    """The cached loop draws the tokens a loop without cache (a full forward per token) draws
    from the same uniforms; a prompt's samples do not depend on the rest of the batch; the
    samples follow the model's exact answer distribution."""
    tok, model = task.tokenizer, task.model
    prompts = task.contexts * 2
    seeds = list(range(100, 100 + len(prompts)))
    c = generate(model, tok, prompts, max_new_tokens=4, num_samples=2, seeds=seeds)

    def full_forward(inp, mask, pos):  # no cache: the whole sequence every step
        full_forward.ids = inp if full_forward.ids is None else torch.cat([full_forward.ids, inp], 1)
        return model(input_ids=full_forward.ids, attention_mask=mask, position_ids=position_ids_from_mask(mask)).logits[:, -1]

    full_forward.ids = None
    from alignment.trainers.rng import derive_seed, keyed_uniform

    rep = [p for p in prompts for _ in range(2)]
    pid, pm = tokenize_prompts(tok, rep)
    u = keyed_uniform([derive_seed(s, j) for s in seeds for j in range(2)], 4)
    with torch.no_grad():
        ref = decode(full_forward, pid, pm, tok, max_new_tokens=4, temperature=1.0, uniforms=u)
    assert torch.equal(ref, c.completion_ids)
    alone = generate(model, tok, prompts[3:4], max_new_tokens=4, num_samples=2, seeds=seeds[3:4])
    assert alone.texts == c.texts[6:8]
    # 2000 keyed samples of one prompt: frequencies within 4 standard errors of the exact ones
    pi, _ = task.answer_distribution(model)
    many = generate(model, tok, [task.contexts[0]] * 400, max_new_tokens=3, num_samples=5, seeds=list(range(400)))
    for a, p in zip(task.answers, pi[0]):
        freq = sum(t == a for t in many.texts) / 2000
        assert abs(freq - p) <= 4 * (p * (1 - p) / 2000) ** 0.5 + 1e-3, a
    # nucleus: top_p below the largest probability leaves only the mode
    probs = torch.tensor([[0.1, 0.6, 0.3]])
    assert inverse_cdf(probs, torch.tensor([0.99]), top_p=0.5).tolist() == [1]
    assert inverse_cdf(probs, torch.tensor([0.05]), top_p=1.0).tolist() == [0]


@pytest.mark.parametrize("token_ids", [True, False])
def test_server_generation_equals_local_keyed_generation(task, server, token_ids):
    server.token_ids = token_ids  # False: the client tokenizes the returned text
    tok = task.tokenizer
    prompts = task.contexts + task.contexts[:2]
    seeds = [11, 22, 33, 44, 55, 66]
    remote = CompletionsServer(server.url, "tiny").generate(tok, prompts, max_new_tokens=3, num_samples=3, seeds=seeds)
    local = generate(task.model, tok, prompts, max_new_tokens=3, num_samples=3, seeds=seeds)
    assert torch.equal(remote.completion_ids, local.completion_ids) and torch.equal(remote.has_eos, local.has_eos)
    assert remote.texts == local.texts and torch.equal(remote.prompt_ids, local.prompt_ids)
    assert len(server.requests) == len(prompts)
    assert sorted(r["body"]["seed"] for r in server.requests) == seeds  # requests run concurrently
    first = next(r for r in server.requests if r["body"]["seed"] == seeds[0])
    assert first["path"] == "/v1/completions" and first["body"]["model"] == "tiny" and first["body"]["n"] == 3
    assert first["body"]["prompt"] == tok(prompts[0], add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize("algo", ["nash-mp", "inpo"])
def test_trainer_with_the_server_backend_trains_as_with_local_generation(task, server, algo, tmp_path):
    """A colocated server (it samples from the trainer's own model) gives the losses of local
    generation, step for step; every policy sample came over HTTP."""
    fields = {"nash-mp": dict(max_steps=4, num_generations=2),
              "inpo": dict(max_steps=2, num_iterations=2, eta=0.75, num_samples_per_prompt=4, pair_mode="iid",
                           prompts_per_round=4)}[algo]
    runs = {}
    for backend in ("local", "server"):
        base = dict(output_dir=str(tmp_path / backend), per_device_train_batch_size=4, max_new_tokens=3,
                    temperature=1.0, learning_rate=1e-2, use_cpu=True, disable_tqdm=True, logging_steps=1,
                    save_strategy="no", seed=0, beta=0.25, report_to="none", generation_backend=backend,
                    server_base_url=server.url if backend == "server" else None, dataloader_pin_memory=False)
        trainer = make_trainer(algo, copy.deepcopy(task.model), trainer_config(algo, {**base, **fields}),
                               tokenizer=task.tokenizer, prompts=task.dataset(8), preference=task.oracle)
        server.model[0] = trainer.model
        losses = []
        compute_loss = trainer.compute_loss

        def recording(*args, _f=compute_loss, **kwargs):
            loss = _f(*args, **kwargs)
            losses.append(float(loss.detach()))
            return loss

        trainer.compute_loss = recording
        before = len(server.requests)
        quiet_trainer(trainer).train()
        runs[backend] = (losses, len(server.requests) - before)
    assert runs["local"][1] == 0 and runs["server"][1] == (16 if algo == "nash-mp" else 8)
    assert runs["server"][0] == pytest.approx(runs["local"][0], abs=1e-6)
    server.model[0] = task.model


def test_server_failures_are_one_line_errors(task):
    from gtlearn.core.errors import GtlearnError

    dead = CompletionsServer("http://127.0.0.1:9/v1", timeout=2)
    dead.client.retries = 0
    with pytest.raises(GtlearnError, match="generation server at http://127.0.0.1:9/v1 failed after 1 tries"):
        dead.generate(task.tokenizer, task.contexts[:1], max_new_tokens=2, seeds=[1])
