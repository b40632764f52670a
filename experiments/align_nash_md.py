"""Nash-MD with the trainer's defaults (Munos et al., ICML 2024, arXiv:2312.00886; docs/trainers.md),
TRL's former NashMDTrainer defaults: β = 0.1, mixture_coef = 0.5, learning rate 5e-7, 2 samples
per prompt, missing_eos_penalty = 1.0, 64 new tokens at temperature 0.9, bf16.
"""
import sys

from align_common import run

PAPER = dict(beta=0.1, mixture_coef=0.5, learning_rate=5e-7, num_generations=2, missing_eos_penalty=1.0,
             max_new_tokens=64, temperature=0.9, per_device_train_batch_size=8, gradient_accumulation_steps=4,
             bf16=True, steps=1000)

if __name__ == "__main__":
    sys.exit(run("nash-md", PAPER, __doc__))
