"""``gtlearn align train``: train a causal LM with Nash-MP, INPO, APO, f-DPG or Nash-MD.

With no ``--model`` it runs the offline synthetic task (``alignment.synthetic``): a tiny LM
built in-process whose answers are a finite set of words, preferences from a tabular
intransitive game, and the exact regularized Nash as the yardstick — the run logs the exact
KL(π*_β‖π_θ) of the answer distribution, so a new user sees real learning on a CPU in minutes.

With ``--model NAME_OR_PATH`` it loads a Hugging Face causal LM (and its tokenizer), prompts
from ``--dataset`` (a ``datasets`` name or a local .json/.jsonl/.csv/.parquet file with a
``prompt`` column) and preferences from ``--preference``:

* ``reward:PATH`` — Bradley–Terry from a sequence-classification reward model;
* ``judge:URL[,model=NAME]`` — an LLM judge over an OpenAI-compatible endpoint (key from
  ``$OPENAI_API_KEY``).

Multi-GPU: ``accelerate launch -m gtlearn.cli align train ...`` (the trainers are
``transformers.Trainer`` subclasses and pick up the accelerate launch).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from gtlearn.cli.common import default_out, parse_params
from gtlearn.core.errors import GtlearnError

TRAIN_ALGOS = ("nash-mp", "inpo", "apo", "fdpg", "nash-md")


def _parse_preference(spec: str, tokenizer_fallback=None):
    """``reward:PATH`` or ``judge:URL[,model=NAME]`` → a PreferenceOracle."""
    from alignment.preference_models import BradleyTerryPreference, LLMJudgePreference

    kind, _, rest = spec.partition(":")
    if kind == "reward" and rest:
        from transformers import AutoModelForSequenceClassification

        try:
            rm = AutoModelForSequenceClassification.from_pretrained(rest, num_labels=1)
            tok = _load_tokenizer(rest)
        except (OSError, ValueError) as exc:
            raise GtlearnError(f"cannot load the reward model {rest!r}: {exc}") from None
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        rm.config.pad_token_id = tok.pad_token_id
        return BradleyTerryPreference(rm.eval(), tok)
    if kind == "judge" and rest:
        url, *opts = rest.split(",")
        kw = dict(o.split("=", 1) for o in opts if "=" in o)
        return LLMJudgePreference(url, model=kw.get("model", "judge"))
    raise GtlearnError(f"bad --preference {spec!r}; use reward:PATH or judge:URL[,model=NAME]")


def _load_tokenizer(path: str):
    """``AutoTokenizer``, except that a tokenizer saved as a plain ``tokenizers`` backend (e.g. the
    synthetic task's word-level one) is loaded as such: transformers 5 would otherwise rebuild
    it as the model type's tokenizer class from ``config.json``."""
    import json

    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    cfg = Path(path) / "tokenizer_config.json"
    if cfg.exists():
        cls = json.loads(cfg.read_text()).get("tokenizer_class")
        if cls in ("TokenizersBackend", "PreTrainedTokenizerFast"):
            return PreTrainedTokenizerFast.from_pretrained(path, padding_side="left")
    return AutoTokenizer.from_pretrained(path, padding_side="left")


def _load_prompts(spec: str, split: str):
    from datasets import Dataset, load_dataset

    try:
        if Path(spec).exists():
            ext = Path(spec).suffix.lstrip(".")
            ext = {"jsonl": "json"}.get(ext, ext)
            ds = load_dataset(ext, data_files=spec, split="train")
        else:
            ds = load_dataset(spec, split=split)
    except Exception as exc:  # datasets raises many kinds for a bad name / file
        raise GtlearnError(f"cannot load the prompt dataset {spec!r}: {exc}") from None
    if not isinstance(ds, Dataset) or "prompt" not in ds.column_names:
        raise GtlearnError(f"the dataset {spec!r} needs a 'prompt' column")
    return ds.select_columns(["prompt"])


def train(
    algo: str = typer.Option("inpo", "--algo", "-a", help="|".join(TRAIN_ALGOS)),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Hugging Face causal LM name or path; "
                                        "omitted: the offline synthetic task with a tiny in-process LM."),
    preference: Optional[str] = typer.Option(None, "--preference", help="reward:PATH | judge:URL[,model=NAME] "
                                             "(synthetic task: the game's exact oracle)."),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="Prompt dataset (name or local file with a "
                                          "'prompt' column); synthetic task: generated."),
    split: str = typer.Option("train", "--split", help="Dataset split."),
    game: Optional[str] = typer.Option(None, "--game", help="Synthetic task: the preference game (default "
                                       "cyclic:5,contexts=4,ref=1,seed=0)."),
    beta: Optional[float] = typer.Option(None, "--beta", "-b", help="Regularization β (synthetic default 0.25)."),
    steps: int = typer.Option(200, "--steps", "-n", help="Optimizer steps (INPO/APO: in total over the rounds "
                              "on the synthetic task, per round with --model, where 0 means num_train_epochs)."),
    rounds: Optional[int] = typer.Option(None, "--rounds", help="INPO/APO: number of rounds."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Learning rate."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Prompts per device per micro-batch."),
    grad_accum: int = typer.Option(1, "--grad-accum", help="Gradient accumulation steps."),
    lora: int = typer.Option(0, "--lora", help="LoRA rank (0: full fine-tuning); the reference is then the "
                             "base model with the adapter disabled."),
    bf16: bool = typer.Option(False, "--bf16", help="bf16 mixed precision (GPU)."),
    param: Optional[list[str]] = typer.Option(None, "--param", "-p", help="Any other config field name=value."),
    pretrain_steps: int = typer.Option(300, "--pretrain-steps", help="Synthetic task: steps fitting the tiny LM "
                                       "to the game's reference."),
    eval_every: int = typer.Option(20, "--eval-every", help="Synthetic task: evaluate every N steps."),
    save_every: int = typer.Option(50, "--save-every", help="Checkpoint every N steps."),
    seed: int = typer.Option(0, "--seed", help="Seed."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run directory (default runs/<algo>_<time>)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last checkpoint."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run in --out."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Train a language model toward the Nash equilibrium of a preference game (or an f-DPG target)."""
    import os

    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    if algo not in TRAIN_ALGOS:
        raise GtlearnError(f"unknown --algo {algo!r}; use one of {', '.join(TRAIN_ALGOS)}")
    if steps < 0 or (steps == 0 and (model is None or algo not in ("inpo", "apo"))):
        raise GtlearnError(f"--steps must be positive (0 = one pass per round: inpo/apo with --model), got {steps}")
    if eval_every < 1 or save_every < 1 or grad_accum < 1:
        raise GtlearnError("--eval-every, --save-every and --grad-accum must be positive")
    if resume and overwrite:
        raise GtlearnError("--resume and --overwrite exclude each other")
    from rich.console import Console

    from gtlearn.core.metrics import Metrics
    from gtlearn.core.run import Run
    from gtlearn.plots import plot_run
    from gtlearn.progress import progress

    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        raise GtlearnError("align train needs the llm extra: pip install 'gtlearn[llm]'") from None

    out = out or default_out(algo, "synthetic" if model is None else Path(model).name)
    extra = parse_params(param)
    console = Console(stderr=True)
    peft_config = None
    if lora:
        from peft import LoraConfig

        peft_config = LoraConfig(r=lora, lora_alpha=2 * lora, lora_dropout=0.0, target_modules="all-linear",
                                 task_type="CAUSAL_LM")
    trainer_dir = str(Path(out) / "trainer")
    overrides = dict(extra)
    if lr is not None:
        overrides["learning_rate"] = lr
    if batch_size is not None:
        overrides["per_device_train_batch_size"] = batch_size
    if rounds is not None:
        if algo not in ("inpo", "apo"):
            raise GtlearnError("--rounds applies to inpo and apo only")
        overrides["num_iterations"] = rounds
    overrides.update(gradient_accumulation_steps=grad_accum, bf16=bf16, seed=seed, save_strategy="steps",
                     save_steps=save_every, output_dir=trainer_dir)

    import dataclasses

    from alignment.trainers import TRAINERS

    known = {f.name for f in dataclasses.fields(TRAINERS[algo][0])}
    bad = sorted(set(overrides) - known)
    if bad:
        raise GtlearnError(f"unknown config field(s) {bad} for {TRAINERS[algo][0].__name__}")

    if model is None:
        if dataset is not None or preference is not None:
            raise GtlearnError("--dataset and --preference need --model (the synthetic task brings its own)")
        from alignment.synthetic import (
            DEFAULT_BETA,
            DEFAULT_GAME,
            build_synthetic_task,
            eval_callback,
            synthetic_config,
            synthetic_trainer,
        )

        game_spec = game or DEFAULT_GAME
        b = DEFAULT_BETA if beta is None else beta
        if b <= 0:
            raise GtlearnError(f"--beta must be positive, got {b}")
        console.print(f"building the synthetic task ({game_spec}, beta={b}) ...")
        task = build_synthetic_task(game_spec, b, seed=seed, pretrain_steps=pretrain_steps)
        if rounds is not None and algo in ("inpo", "apo"):
            overrides.setdefault("max_steps", max(1, steps // rounds))
        cfg = synthetic_config(algo, task, steps=steps, **overrides)
        total = int(cfg["max_steps"]) * int(cfg.get("num_iterations", 1))
        config = {"command": "align train", "algo": algo, "model": None, "game": game_spec, "beta": b,
                  "pretrain_steps": pretrain_steps,
                  "steps": total, "seed": seed, "config": {k: v for k, v in cfg.items() if k != "output_dir"},
                  "lora": lora}
        run = Run(out, config, resume=resume, overwrite=overwrite, resume_may_change=())
        if resume:
            _truncate_to_checkpoint(run, trainer_dir, algo)
        console.print(f"tiny LM: {task.info['parameters']:,} parameters; KL(pi*||pi_ref) = "
                      f"{task.info['kl_nash_ref']:.4f} on {task.game.num_contexts} prompts x "
                      f"{task.game.num_responses} answers")
        holder: list = []
        with progress(total, algo, gap_name="KL(nash||pi)", disable=quiet) as update:
            done = {"step": 0}

            def sink(step: int, m: dict) -> None:
                run.log(Metrics(iteration=step, gap=m["kl_nash_pi"], gap_name="kl_nash_pi", extra=m))
                update(step - done["step"], m["kl_nash_pi"])
                done["step"] = step

            cb = eval_callback(task, holder, eval_every, sink)
            trainer = synthetic_trainer(algo, task, cfg, callbacks=[cb], peft_config=peft_config)
            holder.append(trainer)
            trainer.train(resume_from_checkpoint=True if resume else None)
        rows = run.read_metrics()
        plot_run(run.dir, title=f"{algo} on the synthetic task ({game_spec}, beta={b})")
        _save_final(trainer, Path(out) / "model")
        console.print(f"KL(pi*||pi): {rows[0]['gap']:.4f} at step 0 -> [bold]{rows[-1]['gap']:.4f}[/] at step "
                      f"{rows[-1]['iteration']}")
        console.print(f"run: {run.dir}  (metrics.jsonl, plot.png, model/, trainer/)")
        return

    # -- a real model -------------------------------------------------------------------------
    if preference is None or dataset is None:
        raise GtlearnError("--model needs --preference (reward:PATH or judge:URL) and --dataset")
    if game is not None:
        raise GtlearnError("--game applies to the synthetic task only (omit --model)")
    from transformers import AutoModelForCausalLM

    try:
        tok = _load_tokenizer(model)
        policy = AutoModelForCausalLM.from_pretrained(model)
    except (OSError, ValueError) as exc:
        raise GtlearnError(f"cannot load the model {model!r}: {str(exc).splitlines()[0]}") from None
    if tok.pad_token is None or tok.pad_token_id == tok.eos_token_id:
        tok.add_special_tokens({"pad_token": "<|gtlearn_pad|>"})
        policy.resize_token_embeddings(len(tok))
    oracle = _parse_preference(preference)
    prompts = _load_prompts(dataset, split)
    if beta is not None:
        overrides["beta"] = beta
    overrides["max_steps"] = steps if steps > 0 else -1  # -1: num_train_epochs per round
    cfg_cls, tr_cls = TRAINERS[algo]
    cfg = cfg_cls(**overrides)
    config = {"command": "align train", "algo": algo, "model": model, "preference": preference, "dataset": dataset,
              "steps": steps, "seed": seed, "lora": lora,
              "config": {k: v for k, v in overrides.items() if k != "output_dir"}}
    run = Run(out, config, resume=resume, overwrite=overwrite, resume_may_change=())
    kwargs = dict(args=cfg, processing_class=tok, train_dataset=prompts, preference=oracle, peft_config=peft_config)
    if algo == "fdpg":
        if not getattr(oracle, "has_reward", False):
            raise GtlearnError("f-DPG needs a reward model (--preference reward:PATH) for its target a*exp(r/beta)")
        kwargs["target"] = lambda xs, ys: oracle.reward(xs, ys) / cfg.beta
    trainer = tr_cls(policy, **kwargs)
    console.print(f"{algo}: {model} on {len(prompts):,} prompts; preference {preference}")
    trainer.train(resume_from_checkpoint=True if resume else None)
    for rec in trainer.state.log_history:
        if "loss" in rec:
            run.log(Metrics(iteration=int(rec.get("step", 0)), gap=float(rec["loss"]), gap_name="loss",
                            extra={k: v for k, v in rec.items() if isinstance(v, (int, float))}))
    _save_final(trainer, Path(out) / "model")
    console.print(f"run: {run.dir}  (metrics.jsonl, model/, trainer/)")


def _save_final(trainer, path: Path) -> None:
    trainer.args.output_dir = str(path)
    trainer.save_model(str(path))
    trainer.processing_class.save_pretrained(str(path))


def _truncate_to_checkpoint(run, trainer_dir: str, algo: str) -> None:
    """Drop metrics logged after the checkpoint the trainer will resume from."""
    import json

    from transformers.trainer_utils import get_last_checkpoint

    root = Path(trainer_dir)
    if algo in ("inpo", "apo"):
        done, t = 0, 0
        while (root / f"round-{t}" / "done.json").exists():
            done += json.loads((root / f"round-{t}" / "done.json").read_text())["steps"]
            t += 1
        ck = get_last_checkpoint(str(root / f"round-{t}")) if (root / f"round-{t}").exists() else None
        last = done + (int(Path(ck).name.split("-")[-1]) if ck else 0)
    else:
        ck = get_last_checkpoint(str(root)) if root.exists() else None
        if ck is None:
            raise GtlearnError(f"cannot resume: no checkpoint in {root}")
        last = int(Path(ck).name.split("-")[-1])
    run.truncate_metrics(last)
