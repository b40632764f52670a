"""Train an LM trainer end to end into a Run directory (docs/trainers.md, "Running").

Two jobs, one layout: ``<out>/config.json`` and ``<out>/metrics.jsonl`` (the toolkit's
:class:`~gtlearn.core.metrics.Metrics` records), ``<out>/trainer/`` (the ``Trainer``'s
checkpoints) and ``<out>/model/`` (the final policy and its tokenizer).

* :class:`SyntheticJob` — the offline synthetic task (:mod:`alignment.synthetic`): a tiny LM
  built in-process, preferences from a tabular intransitive game, and the exact KL(π*_β‖π_θ)
  of the answer distribution logged as the gap every ``eval_every`` steps.
* :class:`PretrainedJob` — a Hugging Face causal LM, a prompt dataset and a preference model
  (:mod:`alignment.trainers.loading`); the ``Trainer``'s logged loss is the gap.

The trainers keep ``transformers.Trainer``'s loop; these jobs only wire it to a Run.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from alignment.synthetic import (
    DEFAULT_BETA,
    DEFAULT_GAME,
    SyntheticTask,
    build_synthetic_task,
    default_steps,
    eval_callback,
    synthetic_config,
)
from alignment.trainers.loading import load_causal_lm, load_preference, load_prompts
from alignment.trainers.logprobs import render_prompt
from alignment.trainers.mixins import last_checkpoint
from alignment.trainers.registry import TRAINERS
from alignment.trainers.rounds import RoundTrainer
from gtlearn.core.errors import GtlearnError
from gtlearn.core.metrics import Metrics
from gtlearn.core.run import Run

COMMAND = "align train"  # the Run's config.json records it (resume compares configs)


# ------------------------------------------------------------------------------------------
# Pieces both jobs use
# ------------------------------------------------------------------------------------------
def is_round_based(algo: str) -> bool:
    """Whether ``algo`` trains in rounds (INPO, APO: ``num_iterations`` applies)."""
    return issubclass(TRAINERS[algo].cls, RoundTrainer)


def check_fields(algo: str, fields: dict[str, Any]) -> None:
    """Raise on config fields that ``algo``'s config class does not have."""
    cfg_cls = TRAINERS[algo].config_cls
    bad = sorted(set(fields) - {f.name for f in dataclasses.fields(cfg_cls)})
    if bad:
        raise GtlearnError(f"unknown config field(s) {bad} for {cfg_cls.__name__}")


def lora_config(rank: int):
    """A LoRA config on every linear layer (``None`` for rank 0: full fine-tuning)."""
    if not rank:
        return None
    from peft import LoraConfig

    return LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")


def trainer_config(algo: str, fields: dict[str, Any]):
    """``algo``'s config dataclass from its fields."""
    check_fields(algo, fields)
    return TRAINERS[algo].config_cls(**fields)


def make_trainer(algo: str, model, config, *, tokenizer, prompts, preference, target=None, callbacks=None,
                 peft_config=None):
    """``algo``'s trainer on ``model`` with ``config``; f-DPG takes its ``target``
    (``(prompts, completions) -> log b``)."""
    kwargs = dict(args=config, processing_class=tokenizer, train_dataset=prompts, preference=preference,
                  callbacks=callbacks, peft_config=peft_config)
    if algo == "fdpg":
        kwargs["target"] = target
    return TRAINERS[algo].cls(model, **kwargs)


def synthetic_trainer(algo: str, task: SyntheticTask, fields: dict[str, Any], *, callbacks=None, peft_config=None,
                      num_prompts: int = 256):
    """``algo``'s trainer on a fresh copy of the synthetic task's (reference) model; f-DPG's
    target is the EBM whose normalization is π*_β."""
    return make_trainer(algo, copy.deepcopy(task.model), trainer_config(algo, fields), tokenizer=task.tokenizer,
                        prompts=task.dataset(num_prompts), preference=task.oracle, target=task.fdpg_log_score,
                        callbacks=callbacks, peft_config=peft_config)


def save_final(trainer, path: Path) -> None:
    """The trained policy and its tokenizer, loadable with ``from_pretrained``."""
    trainer.args.output_dir = str(path)
    trainer.save_model(str(path))
    if trainer.args.should_save:
        trainer.processing_class.save_pretrained(str(path))


def last_checkpoint_step(trainer_dir: Path, round_based: bool) -> int:
    """The optimizer step (over all rounds) that a resumed trainer continues from."""
    if not round_based:
        ck = last_checkpoint(trainer_dir)
        if ck is None:
            raise GtlearnError(f"cannot resume: no checkpoint in {trainer_dir} yet; start over with --overwrite")
        return int(Path(ck).name.split("-")[-1])
    done, t = 0, 0
    while (trainer_dir / f"round-{t}" / "done.json").exists():
        done += json.loads((trainer_dir / f"round-{t}" / "done.json").read_text())["steps"]
        t += 1
    rdir = trainer_dir / f"round-{t}"
    ck = last_checkpoint(rdir)
    return done + (int(Path(ck).name.split("-")[-1]) if ck else 0)


def _base_fields(fields: dict[str, Any], out: Path, seed: int) -> dict[str, Any]:
    import torch

    cuda = torch.cuda.is_available()
    # Without a GPU: train on the CPU (also under accelerate launch, where it selects gloo) and
    # do not pin memory (it only warns).
    base = {"dataloader_pin_memory": cuda, **({} if cuda else {"use_cpu": True})}
    return {**base, **fields, "seed": seed, "output_dir": str(out / "trainer")}


def is_main_process() -> bool:
    """Whether this is the main process of an ``accelerate launch`` (or the only one): it alone
    writes the Run directory."""
    return os.environ.get("RANK", "0") == "0"


def quiet_trainer(trainer):
    """Drop the ``Trainer``'s own console output (raw log dicts or a tqdm bar): the caller shows
    progress its own way; logs still reach ``log_history`` and ``report_to``."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    return trainer


def open_run(out: Path, config: dict[str, Any], *, resume: bool, overwrite: bool) -> Run | None:
    """The Run directory on the main process (None on the others)."""
    if not is_main_process():
        return None
    return Run(out, config, resume=resume, overwrite=overwrite, resume_may_change=())


# ------------------------------------------------------------------------------------------
# The synthetic task
# ------------------------------------------------------------------------------------------
@dataclass
class SyntheticJob:
    """One trainer on the synthetic task; :meth:`build` makes the task (minutes of CPU at most),
    :meth:`train` runs it into ``out``."""

    algo: str
    out: Path
    task: SyntheticTask
    config: dict[str, Any]  # the trainer config's fields
    game: str
    seed: int
    pretrain_steps: int
    lora: int

    @classmethod
    def build(cls, algo: str, out: str | Path, fields: dict[str, Any] | None = None, *, game: str = DEFAULT_GAME,
              beta: float = DEFAULT_BETA, steps: int | None = None, rounds: int | None = None, seed: int = 0,
              pretrain_steps: int = 300, lora: int = 0) -> SyntheticJob:
        """``steps`` optimizer steps in total (over the rounds for INPO/APO; default
        :func:`alignment.synthetic.default_steps`); ``fields`` override
        :func:`alignment.synthetic.synthetic_config`'s."""
        out = Path(out)
        steps = default_steps(algo) if steps is None else steps
        fields = _base_fields(fields or {}, out, seed)
        if rounds is not None:
            fields["num_iterations"] = rounds
            fields.setdefault("max_steps", max(1, steps // rounds))
        check_fields(algo, fields)
        if beta <= 0:
            raise GtlearnError(f"beta must be positive, got {beta}")
        task = build_synthetic_task(game, beta, seed=seed, pretrain_steps=pretrain_steps)
        return cls(algo, out, task, synthetic_config(algo, task, steps=steps, **fields), game, seed, pretrain_steps,
                   lora)

    @property
    def total_steps(self) -> int:
        return int(self.config["max_steps"]) * int(self.config.get("num_iterations", 1))

    def run_config(self) -> dict[str, Any]:
        return {"command": COMMAND, "algo": self.algo, "model": None, "game": self.game, "beta": self.task.beta,
                "pretrain_steps": self.pretrain_steps, "steps": self.total_steps, "seed": self.seed,
                "config": {k: v for k, v in self.config.items() if k != "output_dir"}, "lora": self.lora}

    def train(self, *, eval_every: int = 20, resume: bool = False, overwrite: bool = False,
              on_eval: Callable[[int, dict[str, float]], None] | None = None, callbacks=()):
        """Train, logging the exact measures every ``eval_every`` steps (``on_eval(step,
        measures)`` after each record, on the main process); returns ``(run, trainer)``, the run
        None on the other processes of a multi-process launch."""
        run = open_run(self.out, self.run_config(), resume=resume, overwrite=overwrite)
        if run is not None and resume:
            run.truncate_metrics(last_checkpoint_step(Path(self.config["output_dir"]), is_round_based(self.algo)))

        def sink(step: int, m: dict[str, float]) -> None:
            if run is None:
                return
            run.log(Metrics(iteration=step, gap=m["kl_nash_pi"], gap_name="kl_nash_pi", extra=m))
            if on_eval is not None:
                on_eval(step, m)

        holder: list = []
        cb = eval_callback(self.task, holder, eval_every, sink)
        trainer = synthetic_trainer(self.algo, self.task, self.config, callbacks=[cb, *callbacks],
                                    peft_config=lora_config(self.lora))
        holder.append(quiet_trainer(trainer))
        trainer.train(resume_from_checkpoint=True if resume else None)
        save_final(trainer, self.out / "model")
        return run, trainer


# ------------------------------------------------------------------------------------------
# A pretrained model
# ------------------------------------------------------------------------------------------
@dataclass
class PretrainedJob:
    """One trainer on a Hugging Face causal LM; :meth:`load` loads the model, prompts and
    preference model, :meth:`train` runs it into ``out``."""

    algo: str
    out: Path
    config: Any  # the trainer's config dataclass
    run_config: dict[str, Any]
    model: Any
    tokenizer: Any
    prompts: Any
    preference: Any
    lora: int

    @classmethod
    def load(cls, algo: str, out: str | Path, fields: dict[str, Any] | None = None, *, model: str, preference: str,
             dataset: str, split: str = "train", steps: int = 0, rounds: int | None = None, beta: float | None = None,
             seed: int = 0, lora: int = 0) -> PretrainedJob:
        """``steps`` optimizer steps per round (0: ``num_train_epochs`` per round)."""
        out = Path(out)
        fields = _base_fields(fields or {}, out, seed)
        if rounds is not None:
            fields["num_iterations"] = rounds
        check_fields(algo, fields)
        policy, tok = load_causal_lm(model)
        prompts = load_prompts(dataset, split, tokenizer=tok)
        contexts = None
        if preference.startswith("game:"):
            contexts = list(dict.fromkeys(render_prompt(tok, p) for p in prompts["prompt"]))
        oracle = load_preference(preference, contexts=contexts)
        if beta is not None:
            fields["beta"] = beta
        fields["max_steps"] = steps if steps > 0 else -1
        config = trainer_config(algo, fields)
        if algo == "fdpg" and not getattr(oracle, "has_reward", False):
            raise GtlearnError("f-DPG needs a reward model (reward:PATH) for its target a*exp(r/beta)")
        run_config = {"command": COMMAND, "algo": algo, "model": model, "preference": preference, "dataset": dataset,
                      "steps": steps, "seed": seed, "lora": lora,
                      "config": {k: v for k, v in fields.items() if k != "output_dir"}}
        return cls(algo, out, config, run_config, policy, tok, prompts, oracle, lora)

    def train(self, *, resume: bool = False, overwrite: bool = False, callbacks=()):
        """Train; the ``Trainer``'s logged losses become the Run's metric records. Returns
        ``(run, trainer)``, the run None on the other processes of a multi-process launch."""
        run = open_run(self.out, self.run_config, resume=resume, overwrite=overwrite)
        beta = self.config.beta
        trainer = make_trainer(self.algo, self.model, self.config, tokenizer=self.tokenizer, prompts=self.prompts,
                               preference=self.preference, peft_config=lora_config(self.lora), callbacks=list(callbacks),
                               target=lambda xs, ys: self.preference.reward(xs, ys) / beta)
        quiet_trainer(trainer).train(resume_from_checkpoint=True if resume else None)
        if run is not None:
            for rec in getattr(trainer, "log_history", trainer.state.log_history):
                if "loss" in rec:
                    run.log(Metrics(iteration=int(rec.get("step", 0)), gap=float(rec["loss"]), gap_name="loss",
                                    extra={k: v for k, v in rec.items() if isinstance(v, (int, float))}))
        save_final(trainer, self.out / "model")
        return run, trainer


__all__ = ["SyntheticJob", "PretrainedJob", "trainer_config", "make_trainer", "synthetic_trainer", "is_round_based",
           "check_fields", "lora_config", "save_final", "last_checkpoint_step", "quiet_trainer", "is_main_process",
           "open_run"]
