"""f-DPG with the authors' reference-library defaults (Go et al., ICML 2023, arXiv:2302.08215;
docs/trainers.md, f-DPG): Jensen–Shannon divergence, Adam lr 1.41e-5, constant schedule with 12 warm-up steps,
1024 gradient steps, proposal refresh check every 16 steps. The library's 1024 samples per step
(16 contexts) are approximated by 64 prompts per device × 16 accumulation steps. With a reward
model the target is a·exp(r/β) (the RLHF target); β = 0.1 here (unverified).
"""
import sys

from align_common import run

PAPER = dict(divergence="js", learning_rate=1.41e-5, lr_scheduler_type="constant_with_warmup", warmup_steps=12,
             proposal="offline", proposal_update_interval=16, baseline_window=1024, beta=0.1,
             per_device_train_batch_size=64, gradient_accumulation_steps=16, max_new_tokens=64, temperature=1.0,
             bf16=True, steps=1024)

if __name__ == "__main__":
    sys.exit(run("fdpg", PAPER, __doc__))
