"""APO with the trainer's defaults (He et al., arXiv:2410.06293; docs/trainers.md, APO).

α = 0.3, DPO inner loss with β = 0.1, 3 rounds, K = 8 samples per prompt (best/worst or
tournament pairs as in INPO), learning rate 5e-7 with a cosine schedule, global batch 128, bf16.
α, β and the learning rate are our choices, not verified against the paper (which may use
β ≈ 0.01); the reported ~31.7% LC AlpacaEval 2 win rate is not reproduced here.
"""
import sys

from align_common import run

PAPER = dict(alpha=0.3, inner_loss="dpo", beta=0.1, num_iterations=3, num_samples_per_prompt=8,
             learning_rate=5e-7, lr_scheduler_type="cosine", warmup_steps=0.03, per_device_train_batch_size=8,
             gradient_accumulation_steps=16, max_new_tokens=512, temperature=0.9, pair_mode="auto", bf16=True,
             num_train_epochs=1, steps=0)

if __name__ == "__main__":
    sys.exit(run("apo", PAPER, __doc__))
