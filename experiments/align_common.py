"""Shared driver of the ``experiments/align_<algo>.py`` scripts.

Each script carries one paper's hyperparameters (``PAPER``) and runs them through
``gtlearn align train`` on a real model::

    python experiments/align_inpo.py --model Qwen/Qwen2-0.5B-Instruct \\
        --preference reward:PATH_TO_REWARD_MODEL --dataset PROMPTS.jsonl --out runs/inpo
    accelerate launch --num_processes 8 experiments/align_inpo.py --model ... (multi-GPU)

``--smoke`` runs the same hyperparameters for a few steps on the offline synthetic task (no
model, no data, CPU) to check the wiring; with learning rates of ~1e-6 nothing visible is
learned there — that is what ``experiments/align_synthetic.py`` is for.
"""

from __future__ import annotations

import argparse
import sys


def run(algo: str, paper: dict, doc: str, argv: list[str] | None = None) -> int:
    from gtlearn.cli import main

    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model")
    ap.add_argument("--preference")
    ap.add_argument("--dataset")
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=paper.get("steps", 1000))
    ap.add_argument("--lora", type=int, default=0)
    ap.add_argument("--smoke", action="store_true", help="4 steps on the synthetic task (CPU)")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--overwrite", action="store_true")
    a = ap.parse_args(argv)
    params = {k: v for k, v in paper.items() if k != "steps"}
    cli = ["align", "train", "--algo", algo, "--out", a.out, "--quiet"]
    if a.smoke:
        params = {k: v for k, v in params.items() if k not in ("bf16",)}
        params.update(max_new_tokens=4, per_device_train_batch_size=4, gradient_accumulation_steps=1)
        if algo in ("inpo", "apo"):
            params.update(num_samples_per_prompt=4, prompts_per_round=8)
        cli += ["--steps", "4", "--eval-every", "2", "--save-every", "2"]
        if algo in ("inpo", "apo"):
            cli += ["--rounds", "2"]
    else:
        if not (a.model and a.preference and a.dataset):
            ap.error("--model, --preference and --dataset are required (or --smoke)")
        cli += ["--model", a.model, "--preference", a.preference, "--dataset", a.dataset, "--steps", str(a.steps)]
        if a.lora:
            cli += ["--lora", str(a.lora)]
    if a.resume:
        cli.append("--resume")
    if a.overwrite:
        cli.append("--overwrite")
    for k, v in params.items():
        cli += ["--param", f"{k}={v}"]
    print("gtlearn " + " ".join(cli), flush=True)
    return main(cli)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run one of the experiments/align_<algo>.py scripts")
