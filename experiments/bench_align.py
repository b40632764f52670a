"""Steps per second and peak memory of the INPO and APO losses against TRL's ``DPOTrainer``,
on the same tiny causal LM, the same pairs and the same batch, measured in the same run; and
the speed of the two samplers (``transformers``' ``generate`` and the trainers' keyed KV-cache
loop) on that model. End-to-end steps/s of every trainer's synthetic defaults against
``DPOTrainer`` are in ``experiments/trainer_defaults.py``.

All three train on one fixed pair dataset (prompt, chosen, rejected), batch size B, for N
optimizer steps; the first W steps are warm-up and not timed. The reference log-probs are
precomputed for everyone (INPO/APO store them as dataset columns — docs/trainers.md — and
``DPOTrainer`` gets ``precompute_ref_log_probs=True``); a second DPO row keeps TRL's default of a
reference forward pass per step. ``DPOConfig`` enables gradient checkpointing by default; it is
turned off here because none of the others use it (a like-for-like comparison).

Each configuration runs in its own subprocess (so that the peak resident memory belongs to it
alone), ``--repeats`` times, interleaved, and the median steps/s is reported. On a GPU the peak
is ``torch.cuda.max_memory_allocated``; on CPU it is the increase of the process's peak RSS
over its value just before training.

    python experiments/bench_align.py            # writes experiments/results/bench_align.{json,md}
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "experiments" / "results"
CONFIGS = ("dpo_trl_precomputed", "dpo_trl_ref_forward", "inpo", "apo")


def _model_and_data(args):
    import torch
    from datasets import Dataset

    from alignment.synthetic import build_tokenizer, tiny_causal_lm

    answers = ["rock", "paper", "scissors", "lizard", "spock", "fire", "water", "air"]
    tok = build_tokenizer(8, answers)
    model = tiny_causal_lm(tok, hidden_size=args.hidden, num_layers=args.layers, seed=0)
    g = torch.Generator().manual_seed(0)
    rows = []
    for i in range(args.pairs):
        x = f"question q{i % 8} answer"
        c = " ".join(answers[int(j)] for j in torch.randint(0, len(answers), (args.completion_len,), generator=g))
        r = " ".join(answers[int(j)] for j in torch.randint(0, len(answers), (args.completion_len,), generator=g))
        rows.append({"prompt": x, "chosen": c, "rejected": r})
    return tok, model, Dataset.from_list(rows)


class _Timer:
    def __init__(self, warmup):
        from transformers import TrainerCallback

        outer = self

        class CB(TrainerCallback):
            def on_step_end(self, args, state, control, **kw):
                if state.global_step == warmup:
                    outer.t0 = time.perf_counter()
                    outer.s0 = state.global_step
                outer.t1 = time.perf_counter()
                outer.s1 = state.global_step

        self.cb = CB()
        self.t0 = self.t1 = None
        self.s0 = self.s1 = 0

    def steps_per_s(self):
        return (self.s1 - self.s0) / (self.t1 - self.t0)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def worker(args) -> dict:
    import torch

    from alignment.trainers import APOTrainer, APOTrainerConfig, INPOTrainer, INPOTrainerConfig
    from alignment.trainers.models import frozen_copy
    from alignment.trainers.pairs import dataset_logprobs

    torch.set_num_threads(args.threads)
    tok, model, data = _model_and_data(args)
    cuda = torch.cuda.is_available() and not args.cpu
    dev = "cuda" if cuda else "cpu"
    common = dict(output_dir=str(Path(args.tmp) / args.config), per_device_train_batch_size=args.batch,
                  max_steps=args.steps, learning_rate=1e-5, report_to="none", save_strategy="no", logging_steps=10 ** 6,
                  disable_tqdm=True, use_cpu=not cuda, bf16=cuda, seed=0, remove_unused_columns=False,
                  lr_scheduler_type="constant", warmup_steps=0)
    timer = _Timer(args.warmup)
    if args.config.startswith("dpo"):
        from trl import DPOConfig, DPOTrainer

        cfg = DPOConfig(**common, beta=0.1, gradient_checkpointing=False,
                        precompute_ref_log_probs=args.config == "dpo_trl_precomputed")
        trainer = DPOTrainer(model=model, ref_model=frozen_copy(model), args=cfg, train_dataset=data,
                             processing_class=tok, callbacks=[timer.cb])
    else:
        enc = lambda s: tok(s, add_special_tokens=False)["input_ids"]  # noqa: E731
        eos = tok.eos_token_id
        rows = [{"prompt_ids": enc(r["prompt"]), "chosen_ids": enc(r["chosen"]) + [eos],
                 "rejected_ids": enc(r["rejected"]) + [eos]} for r in data]
        ref = frozen_copy(model).to(dev)
        t_pre = time.perf_counter()
        rc, rr = dataset_logprobs(ref, rows, tok.pad_token_id, batch_size=64)
        for k, r in enumerate(rows):
            r.update(ref_chosen_logps=float(rc[k]), ref_rejected_logps=float(rr[k]), prev_chosen_logps=float(rc[k]),
                     prev_rejected_logps=float(rr[k]), shift_chosen=0.0)
        precompute_s = time.perf_counter() - t_pre
        from datasets import Dataset

        pairs = Dataset.from_list(rows)
        prompts = Dataset.from_dict({"prompt": data["prompt"]})
        if args.config == "inpo":
            cfg = INPOTrainerConfig(**common, eta=0.005)
            trainer = INPOTrainer(model, ref_model=ref, args=cfg, processing_class=tok, train_dataset=prompts,
                                  callbacks=[timer.cb])
        else:
            cfg = APOTrainerConfig(**common, alpha=0.3, beta=0.1)
            trainer = APOTrainer(model, ref_model=ref, args=cfg, processing_class=tok, train_dataset=prompts,
                                 callbacks=[timer.cb])
        trainer.train_dataset = pairs  # one round's pairs, columns precomputed: time the loss only
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    rss0 = _peak_rss_mb()
    from transformers import Trainer

    Trainer.train(trainer)
    out = {"config": args.config, "steps_per_s": timer.steps_per_s(), "timed_steps": timer.s1 - timer.s0,
           "device": torch.cuda.get_device_name(0) if cuda else "cpu"}
    if cuda:
        out["peak_mem_mb"] = torch.cuda.max_memory_allocated() / 2 ** 20
    else:
        out["peak_mem_mb"] = max(0.0, _peak_rss_mb() - rss0)
        out["peak_rss_mb"] = _peak_rss_mb()
    if args.config in ("inpo", "apo"):
        out["precompute_s"] = precompute_s
    return out


def generation_bench(args) -> dict:
    """Completions per second of the two samplers on the benchmark's tiny model: ``transformers``'
    ``generate`` (torch's global generator) and the trainers' keyed KV-cache loop (the default),
    ``--gen-batch`` prompts × ``--gen-tokens`` new tokens, median of ``--repeats`` timings."""
    import torch

    from alignment.trainers.sampling import generate

    torch.set_num_threads(args.threads)
    tok, model, data = _model_and_data(args)
    prompts = [data[i % len(data)]["prompt"] for i in range(args.gen_batch)]
    out = {}
    for name, seeds in (("hf_generate", None), ("keyed_kv_cache", list(range(args.gen_batch)))):
        times = []
        for rep in range(args.repeats + 1):  # the first call warms up
            t = time.perf_counter()
            c = generate(model, tok, prompts, max_new_tokens=args.gen_tokens, temperature=1.0, seeds=seeds)
            if rep:
                times.append(time.perf_counter() - t)
        out[name] = {"completions_per_s": args.gen_batch / statistics.median(times),
                     "mean_length": float(c.completion_mask.sum(-1).float().mean())}
    return out


def summarize(runs: dict[str, list[dict]]) -> dict:
    """Medians per configuration, and ratios to DPO with precomputed reference log-probs."""
    summary = {}
    for c, rs in runs.items():
        summary[c] = {"steps_per_s_median": statistics.median(r["steps_per_s"] for r in rs),
                      "steps_per_s_all": [r["steps_per_s"] for r in rs],
                      "peak_mem_mb_median": statistics.median(r["peak_mem_mb"] for r in rs),
                      "device": rs[0]["device"]}
        if "precompute_s" in rs[0]:
            summary[c]["precompute_s_median"] = statistics.median(r["precompute_s"] for r in rs)
    base = summary["dpo_trl_precomputed"]
    for c in CONFIGS:
        summary[c]["speed_ratio_vs_dpo_precomputed"] = summary[c]["steps_per_s_median"] / base["steps_per_s_median"]
        summary[c]["mem_ratio_vs_dpo_precomputed"] = (summary[c]["peak_mem_mb_median"] / base["peak_mem_mb_median"]
                                                      if base["peak_mem_mb_median"] > 0 else None)
    return summary


def write_report(args, meta: dict, summary: dict, gen: dict) -> None:
    """``<out>.md``: the loss table and the generation table."""
    from gtlearn.core.io import atomic_write_bytes

    base = summary["dpo_trl_precomputed"]
    lines = [
        "# INPO and APO losses vs TRL DPOTrainer: steps/s and peak memory",
        "",
        f"Same tiny Qwen2 LM (hidden {args.hidden}, {args.layers} layers), same {args.pairs} pairs "
        f"(completions of {args.completion_len} words + EOS), batch {args.batch}, {args.steps} steps "
        f"({args.warmup} warm-up steps not timed), median of {args.repeats} interleaved repeats, "
        f"each configuration in its own process; device: {base['device']}, torch threads per process: {args.threads}.",
        f"Machine: {meta['machine']}; torch {meta['torch']}, transformers {meta['transformers']}, trl {meta['trl']}. "
        f"Load average at the end: {', '.join(f'{x:.1f}' for x in meta['load_average_at_end'])} (the machine is shared; "
        "interleaved repeats and medians reduce, not remove, the noise).",
        "",
        "| configuration | steps/s (median) | ratio vs DPO (precomputed ref) | peak memory MB | memory ratio |",
        "|---|---:|---:|---:|---:|",
    ]
    for c in CONFIGS:
        s = summary[c]
        mr = s["mem_ratio_vs_dpo_precomputed"]
        lines.append(f"| {c} | {s['steps_per_s_median']:.2f} | {s['speed_ratio_vs_dpo_precomputed']:.2f} | "
                     f"{s['peak_mem_mb_median']:.1f} | {'n/a' if mr is None else f'{mr:.2f}'} |")
    lines += [
        "",
        "Peak memory on CPU is the growth of the worker's peak RSS during `train()` (the model, data and "
        "libraries loaded before it are excluded); on GPU it is `torch.cuda.max_memory_allocated`.",
        "INPO/APO precompute their reference columns once before training (median "
        f"{summary['inpo'].get('precompute_s_median', float('nan')):.2f} s for INPO here), like "
        "`DPOTrainer(precompute_ref_log_probs=True)`; that time is outside the timed steps for both.",
    ]
    hf = gen["hf_generate"]["completions_per_s"]
    lines += [
        "",
        f"## Generation: {args.gen_batch} prompts x {args.gen_tokens} new tokens, same model, in-process",
        "",
        "| sampler | completions/s (median) | ratio | mean length |",
        "|---|---:|---:|---:|",
    ] + [f"| {name} | {g['completions_per_s']:.1f} | {g['completions_per_s'] / hf:.2f} | {g['mean_length']:.1f} |"
         for name, g in gen.items()] + [
        "",
        "`hf_generate` is `transformers`' `generate` (torch's global generator, `sampling_rng=\"global\"`); "
        "`keyed_kv_cache` is the trainers' default sampler (per-row keyed uniforms, inverse-CDF, KV cache).",
    ]
    atomic_write_bytes(Path(args.out + ".md"), ("\n".join(lines) + "\n").encode())
    print("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--pairs", type=int, default=512)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--completion-len", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cpu", action="store_true", help="force CPU even if CUDA is available")
    ap.add_argument("--gen-batch", type=int, default=64, help="prompts per generation call")
    ap.add_argument("--gen-tokens", type=int, default=16, help="new tokens per completion")
    ap.add_argument("--config", choices=CONFIGS, help=argparse.SUPPRESS)
    ap.add_argument("--tmp", default="/tmp/gtlearn_bench_align")
    ap.add_argument("--out", default=str(RESULTS / "bench_align"))
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.config:
        print("RESULT " + json.dumps(worker(args)), flush=True)
        return
    runs: dict[str, list[dict]] = {c: [] for c in CONFIGS}
    passthrough = [f"--steps={args.steps}", f"--warmup={args.warmup}", f"--batch={args.batch}", f"--pairs={args.pairs}",
                   f"--hidden={args.hidden}", f"--layers={args.layers}", f"--completion-len={args.completion_len}",
                   f"--threads={args.threads}", f"--tmp={args.tmp}"] + (["--cpu"] if args.cpu else [])
    for rep in range(args.repeats):
        for c in CONFIGS:
            p = subprocess.run([sys.executable, __file__, f"--config={c}", *passthrough], capture_output=True, text=True,
                               cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
            line = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
            if p.returncode != 0 or not line:
                sys.stderr.write(p.stdout[-3000:] + p.stderr[-3000:])
                raise SystemExit(f"benchmark worker {c} failed")
            r = json.loads(line[0][7:])
            runs[c].append(r)
            print(f"repeat {rep}: {c:22s} {r['steps_per_s']:8.2f} steps/s  peak {r['peak_mem_mb']:8.1f} MB", flush=True)
    summary = summarize(runs)
    gen = generation_bench(args)
    import torch
    import transformers
    import trl

    meta = {"machine": f"{platform.machine()} {os.cpu_count()} logical CPUs", "python": platform.python_version(),
            "torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__,
            "settings": {k: v for k, v in vars(args).items() if k not in ("config", "tmp", "out")},
            "load_average_at_end": os.getloadavg()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    from gtlearn.core.io import atomic_write_json

    atomic_write_json(Path(args.out + ".json"), {"meta": meta, "summary": summary, "runs": runs, "generation": gen})
    write_report(args, meta, summary, gen)


if __name__ == "__main__":
    main()
