"""What a new user gets from ``gtlearn align train --algo X`` with its defaults, and how fast.

1. **KL to the target at the default step count**, 3 seeds: each trainer runs exactly as the
   CLI runs it with no options but ``--seed`` (the offline synthetic task,
   ``alignment.synthetic``: a tiny in-process Qwen2 answering 4 prompts with 5 words, an
   intransitive cyclic preference game whose reference is the LM itself). The target is the
   exact regularized Nash π*_β (f-DPG: the EBM whose normalization is π*_β); KL(π*_β‖π_θ) is
   measured exactly at step 0 and at the last step. APO has no KL anchor to π_ref, so on the
   intransitive game its documented drift is shown (KL to π*_β grows), and on a Bradley–Terry
   game (``--game bt:5,contexts=4,ref=1,seed=0``) its convergence to that game's equilibrium,
   the Condorcet winner (the maximal lottery ML: KL(ML‖π) = −log π(winner), and the
   unregularized exploitability e_0), beside α = 0 (iterative DPO) and a run 4× as long (its
   winners beat the runners-up with P ≈ 0.6 only, so sampled labels are noisy and e_0 falls
   slowly).
2. **Throughput against TRL's DPOTrainer**, same tiny model, same process, one after the
   other: optimizer steps per second of each trainer in its default synthetic configuration
   (generation, preference queries and, for INPO/APO, round building included) and of
   ``trl.DPOTrainer`` on a fixed pair dataset of the same prompts and answers with APO's batch
   (16 pairs), with and without precomputed reference log-probs. One torch thread throughout.

    python experiments/trainer_defaults.py        # -> experiments/results/trainer_defaults.{json,md}
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "experiments" / "results"
BT_GAME = "bt:5,contexts=4,ref=1,seed=0"
# (label, algorithm, extra CLI arguments)
ROWS = [
    ("nash-mp", "nash-mp", []),
    ("inpo", "inpo", []),
    ("nash-md", "nash-md", []),
    ("fdpg", "fdpg", []),
    ("apo (cyclic game)", "apo", []),
    ("apo (Bradley-Terry game)", "apo", ["--game", BT_GAME]),
    ("iterative DPO = apo alpha=0 (Bradley-Terry game)", "apo", ["--game", BT_GAME, "--param", "alpha=0"]),
    # Longer: the winner beats the runner-up with P = 0.59-0.66 only, so sampled labels are
    # noisy and the convergence of e_0 is slow; 4x the rounds shows where it goes.
    ("apo (Bradley-Terry game, 800 steps)", "apo", ["--game", BT_GAME, "--steps", "800"]),
]


def run_cli(algo: str, extra: list[str], seed: int, out: Path) -> dict:
    """One ``gtlearn align train`` run with the defaults; the first and last metric records."""
    from gtlearn.cli import main

    t, c = time.perf_counter(), time.process_time()
    code = main(["align", "train", "--algo", algo, "--seed", str(seed), "--out", str(out), "--overwrite", "--quiet",
                 *extra])
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    if code != 0:
        raise SystemExit(f"gtlearn align train --algo {algo} {' '.join(extra)} --seed {seed} failed ({code})")
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    keys = ("kl_nash_pi", "kl_maximal_lottery_pi", "exploitability", "exploitability_reg", "in_set_mass")
    return {"seed": seed, "wall_s": wall, "cpu_s": cpu, "train_s": rows[-1]["wall_time"], "steps": rows[-1]["iteration"],
            "first": {k: rows[0][k] for k in keys}, "last": {k: rows[-1][k] for k in keys}}


def _mean_sd(xs: list[float]) -> tuple[float, float]:
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def kl_table(seeds: list[int], tmp: Path) -> list[dict]:
    out = []
    for label, algo, extra in ROWS:
        runs = [run_cli(algo, extra, s, tmp / f"{algo}-{len(out)}-{s}") for s in seeds]
        row = {"label": label, "algo": algo, "args": extra, "runs": runs}
        for key in ("kl_nash_pi", "kl_maximal_lottery_pi", "exploitability"):
            row[key + "_0"] = _mean_sd([r["first"][key] for r in runs])
            row[key] = _mean_sd([r["last"][key] for r in runs])
        row["ratio"] = [r["first"]["kl_nash_pi"] / max(r["last"]["kl_nash_pi"], 1e-12) for r in runs]
        row["wall_s"] = _mean_sd([r["wall_s"] for r in runs])
        row["cpu_s"] = _mean_sd([r["cpu_s"] for r in runs])
        row["train_s"] = _mean_sd([r["train_s"] for r in runs])
        print(f"{label:48s} KL {row['kl_nash_pi_0'][0]:.4f} -> {row['kl_nash_pi'][0]:.4f} ± {row['kl_nash_pi'][1]:.4f}"
              f" (x{min(row['ratio']):.1f}..x{max(row['ratio']):.1f}); KL(ML) {row['kl_maximal_lottery_pi'][0]:.3f}; "
              f"{row['wall_s'][0]:.0f} s wall, {row['cpu_s'][0]:.0f} s CPU", flush=True)
        out.append(row)
    return out


class _StepTimer:
    """Steps per second after ``warmup`` optimizer steps (counted across rounds)."""

    def __init__(self, warmup: int):
        from transformers import TrainerCallback

        outer = self
        self.count, self.t0, self.t1, self.n0 = 0, None, None, 0
        self.c0 = self.c1 = None

        class CB(TrainerCallback):
            def on_step_end(self, args, state, control, **kw):
                outer.count += 1
                if outer.count == warmup:
                    outer.t0, outer.c0, outer.n0 = time.perf_counter(), time.process_time(), outer.count
                outer.t1, outer.c1 = time.perf_counter(), time.process_time()

        self.cb = CB()

    def steps_per_s(self) -> float:
        return (self.count - self.n0) / (self.t1 - self.t0)

    def steps_per_cpu_s(self) -> float:
        return (self.count - self.n0) / (self.c1 - self.c0)


def throughput(steps: int, warmup: int, tmp: Path) -> dict:
    """Steps/s of every trainer's synthetic defaults and of TRL's DPOTrainer, same model."""
    import copy

    import torch
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    from alignment.synthetic import cached_task, synthetic_config
    from alignment.trainers.models import frozen_copy
    from alignment.trainers.pipeline import quiet_trainer, synthetic_trainer

    task = cached_task(seed=0)
    out = {}
    for algo in ("nash-mp", "inpo", "nash-md", "fdpg", "apo"):
        cfg = synthetic_config(algo, task, steps=max(steps, 50), output_dir=str(tmp / f"tp-{algo}"), seed=0,
                               logging_steps=10 ** 6)
        timer = _StepTimer(warmup)
        trainer = quiet_trainer(synthetic_trainer(algo, task, cfg, callbacks=[timer.cb]))
        trainer.train()
        per_step = cfg["per_device_train_batch_size"] * cfg.get("num_generations", 1)
        out[algo] = {"steps_per_s": timer.steps_per_s(), "steps_per_cpu_s": timer.steps_per_cpu_s(), "samples_per_step": per_step, "steps": timer.count}
        print(f"throughput {algo:8s} {out[algo]['steps_per_s']:.2f} steps/s", flush=True)
    g = torch.Generator().manual_seed(0)
    rows = []
    for i in range(512):
        a, b = (int(j) for j in torch.randint(0, len(task.answers), (2,), generator=g))
        rows.append({"prompt": task.contexts[i % len(task.contexts)], "chosen": task.answers[a],
                     "rejected": task.answers[b]})
    pairs = Dataset.from_list(rows)
    for name, precompute in (("trl_dpo", False), ("trl_dpo_precomputed_ref", True)):
        timer = _StepTimer(warmup)
        cfg = DPOConfig(output_dir=str(tmp / f"tp-{name}"), per_device_train_batch_size=16, max_steps=max(steps, 50),
                        learning_rate=3e-3, beta=0.1, report_to="none", save_strategy="no", logging_steps=10 ** 6,
                        disable_tqdm=True, use_cpu=True, seed=0, gradient_checkpointing=False,
                        precompute_ref_log_probs=precompute, dataloader_pin_memory=False)
        model = copy.deepcopy(task.model)
        trainer = DPOTrainer(model=model, ref_model=frozen_copy(model), args=cfg, train_dataset=pairs,
                             processing_class=task.tokenizer, callbacks=[timer.cb])
        quiet_trainer(trainer).train()
        out[name] = {"steps_per_s": timer.steps_per_s(), "steps_per_cpu_s": timer.steps_per_cpu_s(), "samples_per_step": 16, "steps": timer.count}
        print(f"throughput {name} {out[name]['steps_per_s']:.2f} steps/s", flush=True)
    return out


def write(table: list[dict], tp: dict, meta: dict, out: Path) -> None:
    from gtlearn.core.io import atomic_write_bytes, atomic_write_json

    atomic_write_json(out.with_suffix(".json"), {"meta": meta, "kl": table, "throughput": tp})
    lines = [
        "# `gtlearn align train` defaults: KL to the target at the default step count, and throughput",
        "",
        f"Each row is `gtlearn align train --algo ALGO [ARGS] --seed S` with every other option at its default "
        f"(the offline synthetic task, at the algorithm's default step count), seeds {meta['seeds']}, mean ± sd "
        f"over the seeds. "
        f"KL(π*‖π) is the exact ρ-averaged KL from the regularized Nash π*_β (β = 0.25) to the model's answer "
        f"distribution; KL(ML‖π) the same from the maximal lottery (the unregularized equilibrium; for the "
        f"Bradley–Terry game the Condorcet winner); e_0 the unregularized exploitability. 'cut' is KL at step 0 "
        f"over KL at the end, per seed (min–max). Wall time: the whole command (building the task included); "
        f"CPU time: the process's user + system time over the same span (all threads); train s: training alone "
        f"(wall). Machine: {meta['machine']} (shared; other jobs ran alongside), torch {meta['torch']}, "
        f"transformers {meta['transformers']}, trl {meta['trl']}, one torch thread. No GPU was lent to this task.",
        "",
        "| run | steps | KL(π*‖π) step 0 | KL(π*‖π) end | cut (min–max) | KL(ML‖π) step 0 | KL(ML‖π) end | "
        "e_0 step 0 | e_0 end | wall s | CPU s | train s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in table:
        args = " ".join(r["args"])
        lines.append(
            f"| `{r['algo']}{' ' + args if args else ''}` | {r['runs'][0]['steps']} | {r['kl_nash_pi_0'][0]:.4f} | "
            f"{r['kl_nash_pi'][0]:.4f} ± "
            f"{r['kl_nash_pi'][1]:.4f} | ×{min(r['ratio']):.1f}–×{max(r['ratio']):.1f} | "
            f"{r['kl_maximal_lottery_pi_0'][0]:.3f} | {r['kl_maximal_lottery_pi'][0]:.3f} ± "
            f"{r['kl_maximal_lottery_pi'][1]:.3f} | {r['exploitability_0'][0]:.4f} | {r['exploitability'][0]:.4f} ± "
            f"{r['exploitability'][1]:.4f} | {r['wall_s'][0]:.0f} ± "
            f"{r['wall_s'][1]:.0f} | {r['cpu_s'][0]:.0f} ± {r['cpu_s'][1]:.0f} | {r['train_s'][0]:.0f} ± {r['train_s'][1]:.0f} |")
    lines += ["", "Per seed (KL(π*‖π) step 0 → end; KL(ML‖π) step 0 → end; e_0 step 0 → end):", ""]
    for r in table:
        cells = "; ".join(f"seed {x['seed']}: {x['first']['kl_nash_pi']:.4f} → {x['last']['kl_nash_pi']:.4f} "
                          f"({x['first']['kl_maximal_lottery_pi']:.3f} → {x['last']['kl_maximal_lottery_pi']:.3f}; "
                          f"{x['first']['exploitability']:.3f} → {x['last']['exploitability']:.3f})"
                          for x in r["runs"])
        lines.append(f"- {r['label']}: {cells}")
    base = tp["trl_dpo"]["steps_per_s"]
    lines += [
        "", "## Throughput, same tiny model, same process", "",
        f"Optimizer steps per second after {meta['warmup']} warm-up steps, each trainer in its default synthetic "
        "configuration (what a step holds differs: the online trainers generate and query the preference model "
        "inside the step; INPO/APO build each round's pairs — sampling K = 8 per prompt, pairing, frozen "
        "log-prob columns — between rounds, included here), TRL's `DPOTrainer` on fixed pairs of the same prompts "
        "and answers, batch 16 pairs.", "",
        "| trainer | steps/s (wall) | steps per CPU s | samples or pairs per step | samples or pairs per s (wall) | "
        "ratio to DPOTrainer steps/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in tp.items():
        lines.append(f"| {name} | {r['steps_per_s']:.2f} | {r['steps_per_cpu_s']:.2f} | {r['samples_per_step']} | "
                     f"{r['steps_per_s'] * r['samples_per_step']:.0f} | {r['steps_per_s'] / base:.2f} |")
    lines += ["", "Samples per step: completions scored by the loss (Nash-MP, Nash-MD: prompts × "
              "`num_generations`; f-DPG: prompts); INPO, APO and DPOTrainer: preference pairs."]
    atomic_write_bytes(out.with_suffix(".md"), ("\n".join(lines) + "\n").encode())
    print("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--throughput-steps", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--tmp", default="/tmp/gtlearn_trainer_defaults")
    ap.add_argument("--out", default=str(RESULTS / "trainer_defaults"))
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    import transformers
    import trl

    # One torch thread, as the CLI's synthetic task uses (gtlearn/cli/align_train.py): the tiny
    # model's matmuls gain nothing from intra-op threads, and TRL's DPOTrainer gets the same.
    torch.set_num_threads(1)
    tmp = Path(args.tmp)
    table = kl_table(args.seeds, tmp)
    tp = throughput(args.throughput_steps, args.warmup, tmp)
    meta = {"machine": f"{platform.machine()} {os.cpu_count()} logical CPUs", "python": platform.python_version(),
            "torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__,
            "seeds": args.seeds, "warmup": args.warmup, "torch_threads": 1,
            "load_average_at_end": os.getloadavg(), "argv": sys.argv[1:]}
    write(table, tp, meta, Path(args.out))


if __name__ == "__main__":
    main()
