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
    beta: Optional[float] = typer.Option(None, "--beta", "-b", help="Regularization β (synthetic default 0.25; "
                                         "INPO: τ)."),
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
    _check_options(algo, model, steps, eval_every, save_every, grad_accum, resume, overwrite)
    from alignment.trainers.pipeline import is_round_based

    if rounds is not None and not is_round_based(algo):
        raise GtlearnError("--rounds applies to inpo and apo only")
    fields = parse_params(param)
    if lr is not None:
        fields["learning_rate"] = lr
    if batch_size is not None:
        fields["per_device_train_batch_size"] = batch_size
    fields.update(gradient_accumulation_steps=grad_accum, bf16=bf16, save_strategy="steps", save_steps=save_every)
    out = out or default_out(algo, "synthetic" if model is None else Path(model).name)
    common = dict(steps=steps, rounds=rounds, seed=seed, lora=lora, resume=resume, overwrite=overwrite)
    if model is None:
        if dataset is not None or preference is not None:
            raise GtlearnError("--dataset and --preference need --model (the synthetic task brings its own)")
        _train_synthetic(algo, out, fields, game=game, beta=beta, pretrain_steps=pretrain_steps,
                         eval_every=eval_every, quiet=quiet, **common)
    else:
        if preference is None or dataset is None:
            raise GtlearnError("--model needs --preference (reward:PATH or judge:URL) and --dataset")
        if game is not None:
            raise GtlearnError("--game applies to the synthetic task only (omit --model)")
        _train_pretrained(algo, out, fields, model=model, preference=preference, dataset=dataset, split=split,
                          beta=beta, **common)


def _check_options(algo, model, steps, eval_every, save_every, grad_accum, resume, overwrite) -> None:
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
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        raise GtlearnError("align train needs the llm extra: pip install 'gtlearn[llm]'") from None


def _train_synthetic(algo: str, out: Path, fields: dict, *, game, beta, steps, rounds, seed, lora, pretrain_steps,
                     eval_every, resume, overwrite, quiet) -> None:
    from rich.console import Console

    from alignment.synthetic import DEFAULT_BETA, DEFAULT_GAME
    from alignment.trainers.pipeline import SyntheticJob
    from gtlearn.plots import plot_run
    from gtlearn.progress import progress

    console = Console(stderr=True)
    game = game or DEFAULT_GAME
    beta = DEFAULT_BETA if beta is None else beta
    console.print(f"building the synthetic task ({game}, beta={beta}) ...")
    job = SyntheticJob.build(algo, out, fields, game=game, beta=beta, steps=steps, rounds=rounds, seed=seed,
                             pretrain_steps=pretrain_steps, lora=lora)
    info, g = job.task.info, job.task.game
    console.print(f"tiny LM: {info['parameters']:,} parameters; KL(pi*||pi_ref) = {info['kl_nash_ref']:.4f} on "
                  f"{g.num_contexts} prompts x {g.num_responses} answers")
    shown = [0]
    with progress(job.total_steps, algo, gap_name="KL(nash||pi)", disable=quiet) as update:
        def on_eval(step: int, m: dict) -> None:
            update(step - shown[0], m["kl_nash_pi"])
            shown[0] = step

        run, _ = job.train(eval_every=eval_every, resume=resume, overwrite=overwrite, on_eval=on_eval)
    rows = run.read_metrics()
    plot_run(run.dir, title=f"{algo} on the synthetic task ({game}, beta={beta})")
    console.print(f"KL(pi*||pi): {rows[0]['gap']:.4f} at step 0 -> [bold]{rows[-1]['gap']:.4f}[/] at step "
                  f"{rows[-1]['iteration']}")
    console.print(f"run: {run.dir}  (metrics.jsonl, plot.png, model/, trainer/)")


def _train_pretrained(algo: str, out: Path, fields: dict, *, model, preference, dataset, split, beta, steps, rounds,
                      seed, lora, resume, overwrite) -> None:
    from rich.console import Console

    from alignment.trainers.pipeline import PretrainedJob

    console = Console(stderr=True)
    job = PretrainedJob.load(algo, out, fields, model=model, preference=preference, dataset=dataset, split=split,
                             steps=steps, rounds=rounds, beta=beta, seed=seed, lora=lora)
    console.print(f"{algo}: {model} on {len(job.prompts):,} prompts; preference {preference}")
    run, _ = job.train(resume=resume, overwrite=overwrite)
    console.print(f"run: {run.dir}  (metrics.jsonl, model/, trainer/)")
