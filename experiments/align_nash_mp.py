"""Nash-MP with the trainer's defaults (Tiapkin et al., arXiv:2505.19731; docs/trainers.md, Nash-MP).

β = 0.1, λ = 0.5, one inner step per half (the memory-light extragradient mode), snapshot
anchors, learning rate 5e-7, 64 new tokens at temperature 0.9 (TRL's online defaults), sequence
KL estimator, bf16. The paper's experimental settings are not verified: these are our choices.
"""
import sys

from align_common import run

PAPER = dict(beta=0.1, prox_coef=0.5, inner_steps_half=1, inner_steps_full=1, learning_rate=5e-7,
             max_new_tokens=64, temperature=0.9, kl_estimator="sequence", per_device_train_batch_size=8,
             gradient_accumulation_steps=4, bf16=True, steps=1000)

if __name__ == "__main__":
    sys.exit(run("nash-mp", PAPER, __doc__))
