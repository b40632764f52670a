"""Round-based training, shared by INPO and APO (docs/trainers.md, "Round-based trainers").

Round t trains on pairs sampled from the frozen round-start policy: sample K responses per
prompt, pair them, precompute the frozen sequence log-probs the loss needs as dataset columns,
then run an ordinary ``Trainer.train`` on them (a fresh optimizer and learning-rate schedule
per round, like the papers' per-iteration training runs). During a round only π_θ runs.

Per round t the run directory ``<output_dir>/round-t/`` holds the pair dataset (``data/``),
the inner ``Trainer``'s checkpoints, the final policy (``policy.pt``) and a ``done.json``
marker; ``train(resume_from_checkpoint=True)`` skips finished rounds, reloads the last finished
policy and resumes the unfinished round from its last checkpoint. ``max_steps`` /
``num_train_epochs`` of the config apply to each round; logged steps count across rounds.

In several processes each builds the pairs of its block of the round's prompts (draws keyed by
the prompt's place in the round) and the rows are gathered in process order, so every process
trains on the pair dataset one process would build; the main process writes the files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from datasets import Dataset, load_from_disk
from datasets.utils.logging import disable_progress_bar
from transformers import Trainer, set_seed

from alignment.trainers.config import TrainerConfig
from alignment.trainers.distributed import gather_lists, gather_objects, on_main, shard
from alignment.trainers.draws import PAIRS, POLICY, DrawsMixin
from alignment.trainers.logprobs import Completions, unwrap
from alignment.trainers.mixins import CheckpointStateMixin, MetricsMixin, check_processes, last_checkpoint
from alignment.trainers.models import ReferenceMixin, check_sharding, check_tokenizer, frozen_copy, is_peft, prepare_models
from alignment.trainers.pairs import PairsOf, build_pairs, dataset_logprobs, pair_collator, pair_logprobs, pair_rows
from gtlearn.core.errors import GtlearnError
from gtlearn.core.io import atomic_write_json

# Seed offsets per round: a resumed run rebuilds and reshuffles a round as an uninterrupted one.
_DATA_SEED, _SHUFFLE_SEED = 7919, 104729


@dataclass
class RoundTrainerConfig(TrainerConfig):
    """Fields of the round-based trainers (INPO, APO)."""

    num_iterations: int = field(default=3, metadata={"help": "Rounds T."})
    num_samples_per_prompt: int = field(default=8, metadata={"help": "K samples per prompt per round."})
    pair_mode: str = field(default="auto", metadata={"help": "auto | best_worst | tournament | iid."})
    prompts_per_round: int = field(default=0, metadata={"help": "Fresh prompts per round (0 = the whole dataset)."})
    lr_scheduler_type: str = "cosine"
    warmup_steps: float = 0.03
    label_mode: str = "sample"

    def __post_init__(self):
        super().__post_init__()
        if self.num_samples_per_prompt < 2:
            raise GtlearnError("num_samples_per_prompt must be >= 2")


class RoundTrainer(ReferenceMixin, DrawsMixin, MetricsMixin, CheckpointStateMixin, Trainer):
    """Base of INPO and APO: ``num_iterations`` rounds of (:meth:`build_round`, train).

    Subclasses implement :meth:`build_round` (the round's pair rows with their frozen
    columns) and :meth:`pair_loss` (the loss of a batch of those rows).

    Args:
        model: the policy (a causal LM, possibly a ``PeftModel``).
        ref_model: frozen reference; ``None`` means a frozen copy of ``model`` — or, for a PEFT
            model, the base with the adapter disabled (no copy).
        args: the trainer's config.
        processing_class: the tokenizer.
        train_dataset: a ``datasets.Dataset`` with a ``"prompt"`` column (strings or chat lists).
        preference: a :class:`alignment.preference_models.PreferenceOracle`.
        peft_config: if given, ``model`` is wrapped with ``peft.get_peft_model``.
    """

    def __init__(self, model, ref_model=None, args: RoundTrainerConfig | None = None, processing_class=None,
                 train_dataset=None, preference=None, callbacks=None, peft_config=None, **kwargs):
        if args is None:
            raise GtlearnError(f"{type(self).__name__} needs a config")
        check_tokenizer(type(self).__name__, processing_class)
        if train_dataset is None or "prompt" not in train_dataset.column_names:
            raise GtlearnError(f"{type(self).__name__} needs a prompt dataset with a 'prompt' column")
        model, ref_model = prepare_models(model, ref_model, peft_config)
        self.is_peft = is_peft(model)
        self.prompts_dataset = train_dataset
        self.preference = preference
        self.round = 0
        self.steps_before_round = 0
        self.root_dir = args.output_dir
        super().__init__(model=model, args=args, data_collator=pair_collator(processing_class.pad_token_id),
                         train_dataset=None, processing_class=processing_class, callbacks=callbacks, **kwargs)
        self.ref_model = ref_model.to(self.args.device) if ref_model is not None else None
        check_processes(self.args)
        check_sharding(self, needs_full_weights=True)  # it saves and reloads the policy per round
        self.prompt_offset = 0
        self.log_history: list[dict] = []  # every round's records (each round's TrainerState has its own)

    # -- the algorithm -----------------------------------------------------------------------
    def build_round(self, t: int) -> list[dict]:
        """Round t's pair rows, with every column :meth:`pair_loss` reads."""
        raise NotImplementedError

    def pair_loss(self, chosen_logp, rejected_logp, inputs) -> tuple[torch.Tensor, dict]:
        """``(loss, stats)`` of a batch from the policy's chosen/rejected log-probs and the
        batch's frozen columns."""
        raise NotImplementedError

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None, **kwargs):
        c, r = pair_logprobs(model, inputs, self.args.logprob_reduction)
        loss, stats = self.pair_loss(c, r, inputs)
        self._record("", stats)
        return (loss, None) if return_outputs else loss

    # -- building blocks of a round ----------------------------------------------------------
    def round_prompts(self, t: int) -> list:
        """This process's block of round t's fresh slice of ``prompts_per_round`` prompts
        (cycling through the dataset); :attr:`prompt_offset` is the block's place in the slice."""
        n = len(self.prompts_dataset)
        m = int(self.args.prompts_per_round or n)
        start, stop = shard(m)
        self.prompt_offset = start
        return [self.prompts_dataset[(t * m + i) % n]["prompt"] for i in range(start, stop)]

    def sample(self, prompts: list, model=None) -> Completions:
        """K = ``num_samples_per_prompt`` samples per prompt from ``model`` (default: the current,
        round-start policy), keyed by the round and the prompt's place in it."""
        return self.draw_completions(model if model is not None else self.model, prompts, (self.round, POLICY),
                                     num_samples=self.args.num_samples_per_prompt, start=self.prompt_offset,
                                     policy=model is None)

    def pairs(self, c: Completions, pairs_of: PairsOf | None = None) -> list[dict]:
        """Pair rows of the round's samples, by ``pairs_of`` (default: ``pair_mode`` with the
        preference model, labels keyed by the round and the prompt); logs the pair count (of
        all processes), keep rate and comparisons per prompt."""
        args = self.args
        if pairs_of is None:
            def pairs_of(i, prompt, texts):
                rng = self.pair_generator((self.round, PAIRS), self.prompt_offset + i)
                return build_pairs(prompt, texts, self.preference, args.pair_mode, args.label_mode, rng)
        rows, comparisons = pair_rows(c, args.num_samples_per_prompt, pairs_of)
        num_prompts = max(1, len(c) // args.num_samples_per_prompt)
        self._record("round/", {"pairs": sum(gather_objects(len(rows))), "keep_rate": len(rows) / num_prompts,
                                "comparisons_per_prompt": comparisons / num_prompts})
        return rows

    def frozen_logprobs(self, model, rows: list[dict], context=None):
        """Chosen/rejected sequence log-probs of ``rows`` under a frozen ``model``."""
        return dataset_logprobs(model, rows, self.processing_class.pad_token_id, reduction=self.args.logprob_reduction,
                                context=context)

    def round_dir(self, t: int) -> Path:
        return Path(self.root_dir) / f"round-{t}"

    def policy_state(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().cpu().clone() for k, v in unwrap(self.model).state_dict().items()}

    def load_policy(self, path: Path) -> None:
        unwrap(self.model).load_state_dict(torch.load(path, map_location="cpu", weights_only=True))

    def frozen_from(self, path: Path) -> torch.nn.Module:
        """A frozen copy of the policy architecture loaded with saved weights."""
        m = frozen_copy(self.model)
        m.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return m.to(self.args.device)

    # -- the loop ----------------------------------------------------------------------------
    def train(self, resume_from_checkpoint=None, **kwargs):
        resume = resume_from_checkpoint not in (None, False)
        root = Path(self.root_dir)
        root.mkdir(parents=True, exist_ok=True)
        init = root / "policy-init.pt"
        if not (resume and init.exists()):
            state = self.policy_state()
            on_main(lambda: torch.save(state, init))
        start = self._finished_rounds() if resume else 0
        output = None
        for t in range(start, int(self.args.num_iterations)):
            output = self._train_round(t, resume, **kwargs) or output
        self.args.output_dir = str(root)
        return output

    def _finished_rounds(self) -> int:
        """Skip the finished rounds: reload the last one's policy and count its steps."""
        start = 0
        while (self.round_dir(start) / "done.json").exists():
            start += 1
        if start > 0:
            self.load_policy(self.round_dir(start - 1) / "policy.pt")
        self.steps_before_round = sum(
            json.loads((self.round_dir(t) / "done.json").read_text())["steps"] for t in range(start))
        return start

    def _round_data(self, t: int, resume: bool):
        """Round t's pair dataset: built, or read back from disk when resuming."""
        data_dir = self.round_dir(t) / "data"
        if resume and (data_dir / "dataset_info.json").exists():
            return load_from_disk(str(data_dir))
        set_seed(int(self.args.seed) + _DATA_SEED * (t + 1))
        rows = gather_lists(self.build_round(t))
        if not rows:
            raise GtlearnError(f"round {t} produced no training pairs (every pair was dropped)")
        data = Dataset.from_list(rows)
        disable_progress_bar()
        on_main(lambda: data.save_to_disk(str(data_dir)))
        return data

    def _train_round(self, t: int, resume: bool, **kwargs):
        self.round = t
        rdir = self.round_dir(t)
        data = self._round_data(t, resume)
        self.train_dataset = data
        self.optimizer, self.lr_scheduler = None, None
        # The shuffling sampler takes its seed from torch's initial seed: fix it per round so
        # that a fresh process (resume) and a continuing one shuffle alike.
        set_seed(int(self.args.seed) + _SHUFFLE_SEED * (t + 1))
        self.args.output_dir = str(rdir)
        ckpt = last_checkpoint(rdir) if resume else None
        self._restore_extra(ckpt)
        output = None
        if not self._finished_checkpoint(ckpt):
            output = super().train(resume_from_checkpoint=ckpt, **kwargs)
        state, steps = self.policy_state(), int(self.state.global_step)

        def write() -> None:
            torch.save(state, rdir / "policy.pt")
            atomic_write_json(rdir / "done.json", {"round": t, "steps": steps, "pairs": len(data)})

        on_main(write)
        self.steps_before_round += steps
        return output

    def log(self, logs: dict[str, float], *args, **kwargs) -> None:
        # Log (log_history, report_to) at the step counted over all rounds; each round's inner
        # Trainer counts from 0.
        self.state.global_step += self.steps_before_round
        try:
            super().log(logs, *args, **kwargs)
        finally:
            self.state.global_step -= self.steps_before_round
        self.log_history.append(self.state.log_history[-1])


__all__ = ["RoundTrainerConfig", "RoundTrainer"]
