"""GPU check: every alignment trainer runs 20 steps on a ~0.5B-parameter Qwen2 model in bf16.

The model is built from a Qwen2-0.5B-shaped config (hidden 896, 24 layers, 14 heads, 2 KV
heads, intermediate 4864, vocabulary 151,936, tied embeddings: ~494M parameters) with random
weights — no download. Prompts and preferences come from the synthetic task's tokenizer and
game oracle (a random model's completions are mostly outside the answer set; the oracle scores
those too), so the check measures the trainers' machinery at realistic model size: generation
with ``max_new_tokens`` tokens, sequence log-probs, the frozen copies, the optimizer step.

Per trainer it reports the median step time (steps 3..N), the peak GPU memory
(``torch.cuda.max_memory_allocated``) and, for INPO/APO, the round-building time (sampling K
responses per prompt, pairing, precomputing the frozen columns). It writes
``experiments/results/gpu_align_check.{json,md}``.

    python experiments/gpu_align_check.py                 # on a GPU machine (~5 minutes on an H100)
    python experiments/gpu_align_check.py --tiny          # CPU smoke test with a tiny config
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "experiments" / "results"
ALGOS = ("nash-mp", "nash-md", "fdpg", "inpo", "apo")

QWEN2_05B = dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                 num_key_value_heads=2, vocab_size=151936, max_position_embeddings=32768, rope_theta=1000000.0,
                 tie_word_embeddings=True, rms_norm_eps=1e-6)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="tiny config on CPU (smoke test of this script)")
    ap.add_argument("--steps", type=int, default=None, help="steps per trainer (default 20; 3 with --tiny)")
    ap.add_argument("--batch", type=int, default=8, help="prompts per step")
    ap.add_argument("--max-new-tokens", type=int, default=None, help="default 32 (4 with --tiny)")
    ap.add_argument("--algos", nargs="+", default=list(ALGOS), choices=ALGOS)
    ap.add_argument("--out", default=None)
    ap.add_argument("--tmp", default="/tmp/gtlearn_gpu_align_check")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from alignment.synthetic import build_synthetic_task, tiny_causal_lm
    from alignment.trainers.pipeline import synthetic_trainer
    from gtlearn.core.io import atomic_write_bytes, atomic_write_json

    cuda = torch.cuda.is_available() and not args.tiny
    if not cuda and not args.tiny:
        raise SystemExit("no CUDA device: run with --tiny for the CPU smoke test")
    steps = args.steps or (3 if args.tiny else 20)
    new_tokens = args.max_new_tokens or (4 if args.tiny else 32)
    out = args.out or str(RESULTS / ("gpu_align_check_tiny" if args.tiny else "gpu_align_check"))
    # tokenizer, prompts and oracle of the synthetic task (its tiny model is not used)
    task = build_synthetic_task(pretrain_steps=1)
    tok = task.tokenizer
    shape = dict(hidden_size=32, num_layers=2) if args.tiny else dict(
        hidden_size=QWEN2_05B["hidden_size"], num_layers=QWEN2_05B["num_hidden_layers"])
    extra = {} if args.tiny else {k: v for k, v in QWEN2_05B.items()
                                  if k not in ("hidden_size", "num_hidden_layers")}
    big = tiny_causal_lm(tok, seed=0, **shape, **extra)
    n_params = sum(p.numel() for p in big.parameters())
    device_name = torch.cuda.get_device_name(0) if cuda else "cpu"
    print(f"model: {n_params / 1e6:.1f}M parameters on {device_name}", flush=True)
    if cuda:
        big = big.to("cuda")
    task.model = big  # the trainers train a deep copy of task.model

    results = {}
    for algo in args.algos:
        times: list[float] = []
        from transformers import TrainerCallback

        class Timer(TrainerCallback):
            def on_step_begin(self, a, state, control, **kw):
                self.t = time.perf_counter()

            def on_step_end(self, a, state, control, **kw):
                if cuda:
                    torch.cuda.synchronize()
                times.append(time.perf_counter() - self.t)

        cfg = dict(output_dir=f"{args.tmp}/{algo}", per_device_train_batch_size=args.batch, max_new_tokens=new_tokens,
                   temperature=1.0, learning_rate=1e-6, beta=0.1, seed=0, use_cpu=not cuda, bf16=cuda,
                   disable_tqdm=True, logging_steps=10 ** 6, save_strategy="no", lr_scheduler_type="constant",
                   warmup_steps=0, max_steps=steps)
        if algo in ("inpo", "apo"):
            cfg.update(num_iterations=1, num_samples_per_prompt=4, pair_mode="iid", label_mode="sample",
                       prompts_per_round=steps * args.batch)  # 2 pairs per prompt: 2 epochs' worth of pairs
        if algo == "inpo":
            cfg.update(eta=0.005, beta=0.005 / 3)  # INPO's beta is τ (the paper's η/3)
        if algo == "apo":
            cfg.update(alpha=0.3)
        if cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        tr = synthetic_trainer(algo, task, cfg, callbacks=[Timer()], num_prompts=max(64, steps * args.batch))
        tr.train()
        total = time.perf_counter() - t0
        steady = times[2:] if len(times) > 3 else times
        r = {"steps": len(times), "step_time_s_median": statistics.median(steady), "step_time_s_all": times,
             "total_s": total, "round_build_s": total - sum(times) if algo in ("inpo", "apo") else None}
        if cuda:
            r["peak_mem_gib"] = torch.cuda.max_memory_allocated() / 2 ** 30
        results[algo] = r
        print(f"{algo:8s} {r['steps']} steps, median step {r['step_time_s_median']:.3f}s"
              + (f", peak {r['peak_mem_gib']:.2f} GiB" if cuda else "") + f", total {total:.1f}s", flush=True)
        del tr
        import gc

        gc.collect()
    meta = {"device": device_name, "parameters": n_params, "bf16": cuda, "batch_prompts": args.batch,
            "max_new_tokens": new_tokens, "steps": steps, "tiny": args.tiny, "torch": torch.__version__}
    atomic_write_json(Path(out + ".json"), {"meta": meta, "results": results})
    lines = [f"# Alignment trainers on a {n_params / 1e6:.1f}M-parameter Qwen2 model ({'bf16' if cuda else 'fp32, CPU'})",
             "", f"Device: {device_name}; {args.batch} prompts per step, up to {new_tokens} new tokens, {steps} steps "
             "per trainer; weights random (built from the config, no download).", "",
             "| trainer | steps | median step s | peak GPU memory GiB | round build s |", "|---|---:|---:|---:|---:|"]
    for a, r in results.items():
        pk = f"{r['peak_mem_gib']:.2f}" if "peak_mem_gib" in r else "n/a"
        rb = f"{r['round_build_s']:.1f}" if r["round_build_s"] is not None else ""
        lines.append(f"| {a} | {r['steps']} | {r['step_time_s_median']:.3f} | {pk} | {rb} |")
    atomic_write_bytes(Path(out + ".md"), ("\n".join(lines) + "\n").encode())
    print("\n".join(lines))
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
