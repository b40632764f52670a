"""``gtlearn align train``: train a causal LM with Nash-MP, INPO, APO, f-DPG or Nash-MD.

With no ``--model`` it runs the offline synthetic task (``alignment.synthetic``): a tiny LM
built in-process whose answers are a finite set of words, preferences from a tabular
intransitive game, and the exact regularized Nash as the yardstick — the run logs the exact
KL(π*_β‖π_θ) of the answer distribution, so a new user sees real learning on a CPU in minutes.

With ``--model NAME_OR_PATH`` it loads a Hugging Face causal LM (and its tokenizer), prompts
from ``--dataset`` (TRL's prompt-only format, standard or conversational: a ``datasets`` name,
a ``save_to_disk`` directory or a local .json/.jsonl/.csv/.parquet file with a ``prompt``
column) and preferences from ``--preference``:

* ``reward:PATH`` — Bradley–Terry from a sequence-classification reward model;
* ``judge:URL[,model=NAME]`` — an LLM judge over an OpenAI-compatible endpoint (key from
  ``$OPENAI_API_KEY``);
* ``python:MODULE_OR_FILE.py:NAME`` — a Python callable P(y ≻ y' | x) or a preference oracle;
* ``game:GAME`` — the exact oracle of a preference game (one context per distinct prompt).

Output: a rich progress bar and a summary on stderr, nothing else (the ``Trainer``'s raw log
dicts and the libraries' progress bars are off; ``--quiet`` leaves only errors); metrics go to
the run directory and, with ``--report-to tensorboard``, to ``<out>/tensorboard``.

Multi-process: ``accelerate launch [--config_file examples/accelerate/ddp.yaml] -m gtlearn.cli
align train ...`` (the trainers are ``transformers.Trainer`` subclasses and pick up the launch;
only the main process writes and prints).
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
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
    preference: Optional[str] = typer.Option(None, "--preference", help="reward:PATH | judge:URL[,model=NAME] | "
                                             "python:MODULE:NAME | game:GAME (synthetic task: the game's exact "
                                             "oracle)."),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="Prompt dataset with a 'prompt' column, TRL "
                                          "standard or conversational: a datasets name, a save_to_disk directory "
                                          "or a .json/.jsonl/.csv/.parquet file; synthetic task: generated."),
    split: str = typer.Option("train", "--split", help="Dataset split."),
    game: Optional[str] = typer.Option(None, "--game", help="Synthetic task: the preference game (default "
                                       "cyclic:5,contexts=4,ref=1,seed=0)."),
    beta: Optional[float] = typer.Option(None, "--beta", "-b", help="Regularization β (synthetic default 0.25; "
                                         "INPO: τ)."),
    steps: Optional[int] = typer.Option(None, "--steps", "-n", help="Optimizer steps (INPO/APO: in total over the "
                                        "rounds on the synthetic task, per round with --model, where 0 means "
                                        "num_train_epochs). Default: the synthetic task's for the algorithm "
                                        "(400 for nash-mp, whose iterations take two steps; else 200), 200 with "
                                        "--model."),
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
    report_to: str = typer.Option("none", "--report-to", help="Logging integrations, comma-separated "
                                  "(tensorboard, wandb, ...; 'none'); TensorBoard logs to <out>/tensorboard."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing but errors."),
) -> None:
    """Train a language model toward the Nash equilibrium of a preference game (or an f-DPG target)."""
    out = _check_values(out, model=model, game=game, beta=beta, lr=lr, steps=steps, batch_size=batch_size, rounds=rounds,
                        lora=lora, seed=seed, pretrain_steps=pretrain_steps, param=param, resume=resume,
                        overwrite=overwrite)
    _check_options(algo, model, steps, eval_every, save_every, grad_accum, resume, overwrite)
    _check_report_to(report_to)
    _check_param_types(algo, param)
    if steps is None:
        from alignment.synthetic import default_steps

        steps = default_steps(algo) if model is None else 200
    _silence_libraries(quiet)
    from alignment.trainers.pipeline import is_round_based

    if resume and not is_round_based(algo) and _before_first_checkpoint(out):
        resume, overwrite = False, True  # stopped before its first checkpoint: start over (as `drive` does)
    if rounds is not None and not is_round_based(algo):
        raise GtlearnError("--rounds applies to inpo and apo only")
    fields = _config_fields(param, lr=lr, batch_size=batch_size, grad_accum=grad_accum, bf16=bf16,
                            save_every=save_every, report_to=report_to)
    out = out or default_out(algo, "synthetic" if model is None else Path(model).name)
    from gtlearn.cli.errors import resumable

    resumable(out, marker="config.json")  # Ctrl-C once the run exists prints the --resume command
    integrations = fields["report_to"] if isinstance(fields["report_to"], list) else []
    common = dict(steps=steps, rounds=rounds, seed=seed, lora=lora, resume=resume, overwrite=overwrite)
    fresh = not Path(out).exists()
    try:
        with _tensorboard_dir(Path(out) / "tensorboard" if "tensorboard" in integrations else None):
            _train(algo, out, fields, common, model=model, preference=preference, dataset=dataset, split=split,
                   game=game, beta=beta, pretrain_steps=pretrain_steps, eval_every=eval_every, quiet=quiet)
    except Exception:
        # A failure before the first checkpoint leaves nothing worth resuming: no partial run
        # directory (Ctrl-C is not an Exception, and keeps the run for --resume).
        if fresh and Path(out).is_dir() and _before_first_checkpoint(out):
            import shutil

            shutil.rmtree(out, ignore_errors=True)
        raise


def _config_fields(param, *, lr, batch_size, grad_accum, bf16, save_every, report_to) -> dict:
    """The trainer config fields the options set (``-p`` first, the named options over them)."""
    fields = parse_params(param)
    if lr is not None:
        fields["learning_rate"] = lr
    if batch_size is not None:
        fields["per_device_train_batch_size"] = batch_size
    fields.update(gradient_accumulation_steps=grad_accum, bf16=bf16, save_strategy="steps", save_steps=save_every)
    integrations = [r.strip() for r in report_to.split(",") if r.strip() and r.strip() != "none"]
    fields["report_to"] = integrations or "none"
    return fields


@contextmanager
def _tensorboard_dir(path: Path | None):
    """TensorBoard logs to ``path`` for this run (transformers reads ``TENSORBOARD_LOGGING_DIR``)."""
    old = os.environ.get("TENSORBOARD_LOGGING_DIR")
    if path is not None:
        os.environ["TENSORBOARD_LOGGING_DIR"] = str(path)
    try:
        yield
    finally:
        if path is not None:
            if old is None:
                os.environ.pop("TENSORBOARD_LOGGING_DIR", None)
            else:
                os.environ["TENSORBOARD_LOGGING_DIR"] = old


def _train(algo, out, fields, common, *, model, preference, dataset, split, game, beta, pretrain_steps, eval_every,
           quiet) -> None:
    if model is None:
        if dataset is not None or preference is not None:
            raise GtlearnError("--dataset and --preference need --model (the synthetic task brings its own)")
        _train_synthetic(algo, out, fields, game=game, beta=beta, pretrain_steps=pretrain_steps,
                         eval_every=eval_every, quiet=quiet, **common)
    else:
        if preference is None or dataset is None:
            raise GtlearnError("--model needs --preference (reward:PATH, judge:URL, python:MODULE:NAME or game:GAME) "
                               "and --dataset")
        if game is not None:
            raise GtlearnError("--game applies to the synthetic task only (omit --model)")
        _train_pretrained(algo, out, fields, model=model, preference=preference, dataset=dataset, split=split,
                          beta=beta, quiet=quiet, **common)


def _check_values(out, *, model, game, beta, lr, steps, batch_size, rounds, lora, seed, pretrain_steps, param, resume,
                  overwrite) -> Path | None:
    """Every value checked before the (slow) set-up, so a bad one never leaves a partial run
    directory; returns ``out`` checked writable (and holding a run when resuming)."""
    import math

    from gtlearn.cli.common import check_resume_flags, check_writable, positive, positive_number

    for name, value in (("lr", lr), ("beta", beta)):
        if value is not None:
            positive_number(name, value)
    learning_rate = parse_params(param).get("learning_rate")
    if learning_rate is not None and not (isinstance(learning_rate, (int, float)) and not isinstance(learning_rate, bool)
                                          and math.isfinite(learning_rate) and learning_rate > 0):
        raise GtlearnError(f"-p learning_rate must be a positive finite number, got {learning_rate!r}")
    for name, value, zero_ok, top in (("steps", steps, True, 10**9), ("batch-size", batch_size, False, 1 << 20),
                                      ("rounds", rounds, False, 10**6),
                                      ("lora", lora, True, 1 << 16), ("seed", seed, True, 2**32 - 1),
                                      ("pretrain-steps", pretrain_steps, True, 10**9)):
        if value is not None:
            positive(name, value, allow_zero=zero_ok, maximum=top)
    if model is None and game is not None:
        from games.preference import make_game

        make_game(game)  # a malformed game string is a one-line GtlearnError here
    check_resume_flags(resume, overwrite, out)
    if out is None:
        return None
    if resume and not (out / "config.json").is_file():
        raise GtlearnError(f"cannot resume: {out} holds no run; run the same command without --resume to start it")
    if not resume and not overwrite and (out / "config.json").is_file():
        raise GtlearnError(f"{out} already holds a run; pass --resume to continue it or --overwrite to replace it")
    return check_writable(out)


def _check_report_to(report_to: str) -> None:
    """Each ``--report-to`` integration is one transformers knows and can load here (else the
    ``Trainer`` would refuse it only after the set-up, leaving a partial run directory)."""
    from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK, get_available_reporting_integrations

    available = get_available_reporting_integrations()
    for name in (r.strip() for r in report_to.split(",")):
        if name in ("", "none", "all"):
            continue
        if name not in INTEGRATION_TO_CALLBACK:
            raise GtlearnError(f"unknown --report-to {name!r}; use none, all or any of {', '.join(sorted(INTEGRATION_TO_CALLBACK))}")
        if name not in available:
            raise GtlearnError(f"--report-to {name}: its package is not installed here (installed: {', '.join(available) or 'none'})")


def _check_param_types(algo: str, param) -> None:
    """``-p name=value`` of the right type for ``algo``'s config field, counts at least 1 (the
    trainer would otherwise fail only after the set-up); unknown names are ``check_fields``'."""
    import math
    import typing

    from alignment.trainers.registry import TRAINERS

    hints = typing.get_type_hints(TRAINERS[algo].config_cls)
    for name, value in parse_params(param).items():
        kind = hints.get(name)
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if kind is bool and not isinstance(value, bool):
            raise GtlearnError(f"-p {name} must be true or false, got {value!r}")
        if kind is int and not (number and isinstance(value, int)):
            raise GtlearnError(f"-p {name} must be an integer, got {value!r}")
        if kind is float and not (number and math.isfinite(value)):
            raise GtlearnError(f"-p {name} must be a finite number, got {value!r}")
        counts = name.endswith("batch_size") or name.startswith("num_") or name in ("max_new_tokens",
                                                                                    "gradient_accumulation_steps")
        if kind is int and counts and value < 1:
            raise GtlearnError(f"-p {name} must be at least 1, got {value!r}")


def _before_first_checkpoint(out: Path) -> bool:
    """A run in ``out`` that was stopped (kill -9, Ctrl-C) before it wrote a complete checkpoint."""
    from alignment.trainers.mixins import last_checkpoint

    return last_checkpoint(Path(out) / "trainer") is None


def _check_options(algo, model, steps, eval_every, save_every, grad_accum, resume, overwrite) -> None:
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    if algo not in TRAIN_ALGOS:
        raise GtlearnError(f"unknown --algo {algo!r}; use one of {', '.join(TRAIN_ALGOS)}")
    if steps is not None and (steps < 0 or (steps == 0 and (model is None or algo not in ("inpo", "apo")))):
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


def _silence_libraries(quiet: bool) -> None:
    """The CLI shows its own progress: the libraries' progress bars and info logs are off, and
    with ``quiet`` their warnings too."""
    import datasets
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    datasets.utils.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    if quiet:
        warnings.filterwarnings("ignore")


def _console(quiet: bool):
    """stderr for the main process; nothing for the others or with ``quiet``."""
    from rich.console import Console

    from alignment.trainers.pipeline import is_main_process

    return Console(stderr=True, quiet=quiet or not is_main_process())


def _step_progress(update):
    """A ``TrainerCallback`` advancing ``update`` per optimizer step and showing the last
    logged loss."""
    from transformers import TrainerCallback

    class StepProgress(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            update(1)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                update(0, float(logs["loss"]))

    return StepProgress()


def _train_synthetic(algo: str, out: Path, fields: dict, **kwargs) -> None:
    import torch

    # The task's model has ~19k parameters: its matmuls are too small for intra-op threads, whose
    # synchronization costs far more than it saves (measured: a forward+backward of 128 prompts
    # takes 0.09 s wall on one thread, 2.4 s on two, on a loaded 2-core machine). The caller's
    # setting comes back afterwards (the CLI also runs in-process, in tests and experiments).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _train_synthetic_task(algo, out, fields, **kwargs)
    finally:
        torch.set_num_threads(threads)


def _train_synthetic_task(algo: str, out: Path, fields: dict, *, game, beta, steps, rounds, seed, lora, pretrain_steps,
                          eval_every, resume, overwrite, quiet) -> None:
    from alignment.synthetic import DEFAULT_BETA, DEFAULT_GAME
    from alignment.trainers.pipeline import SyntheticJob
    from gtlearn.plots import plot_run
    from gtlearn.progress import progress

    console = _console(quiet)
    game = game or DEFAULT_GAME
    beta = DEFAULT_BETA if beta is None else beta
    console.print(f"building the synthetic task ({game}, beta={beta}) ...")
    job = SyntheticJob.build(algo, out, fields, game=game, beta=beta, steps=steps, rounds=rounds, seed=seed,
                             pretrain_steps=pretrain_steps, lora=lora)
    info, g = job.task.info, job.task.game
    console.print(f"tiny LM: {info['parameters']:,} parameters; KL(pi*||pi_ref) = {info['kl_nash_ref']:.4f} on "
                  f"{g.num_contexts} prompts x {g.num_responses} answers")
    shown = [0]
    with progress(job.total_steps, algo, gap_name="KL(nash||pi)", disable=console.quiet) as update:
        def on_eval(step: int, m: dict) -> None:
            update(step - shown[0], m["kl_nash_pi"])
            shown[0] = step

        run, _ = job.train(eval_every=eval_every, resume=resume, overwrite=overwrite, on_eval=on_eval)
    if run is None:  # not the main process
        return
    rows = run.read_metrics()
    plot_run(run.dir, title=f"{algo} on the synthetic task ({game}, beta={beta})")
    console.print(f"KL(pi*||pi): {rows[0]['gap']:.4f} at step 0 -> [bold]{rows[-1]['gap']:.4f}[/] at step "
                  f"{rows[-1]['iteration']}")
    console.print(f"run: {run.dir}  (metrics.jsonl, plot.png, model/, trainer/)")


def _train_pretrained(algo: str, out: Path, fields: dict, *, model, preference, dataset, split, beta, steps, rounds,
                      seed, lora, resume, overwrite, quiet) -> None:
    from alignment.trainers.pipeline import PretrainedJob
    from gtlearn.progress import progress

    console = _console(quiet)
    job = PretrainedJob.load(algo, out, fields, model=model, preference=preference, dataset=dataset, split=split,
                             steps=steps, rounds=rounds, beta=beta, seed=seed, lora=lora)
    console.print(f"{algo}: {model} on {len(job.prompts):,} prompts; preference {preference}")
    total = steps * (rounds or getattr(job.config, "num_iterations", 1)) if steps > 0 else None
    with progress(total, algo, gap_name="loss", disable=console.quiet) as update:
        run, _ = job.train(resume=resume, overwrite=overwrite, callbacks=[_step_progress(update)])
    if run is None:  # not the main process
        return
    losses = [r["gap"] for r in run.read_metrics()]
    if losses:
        console.print(f"loss: {losses[0]:.4f} at the first log -> [bold]{losses[-1]:.4f}[/] at the last")
    console.print(f"run: {run.dir}  (metrics.jsonl, model/, trainer/)")
