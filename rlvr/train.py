"""`rlvr train` and `rlvr eval`: assemble a run from a recipe, train, evaluate, write the run directory.

A run directory holds `config.yaml` (the resolved recipe), `metrics.jsonl` (one JSON object per
logging step, plus `eval/*` rows), `checkpoint-*/` (TRL/transformers checkpoints), `final/` (the
trained model) and `summary.json` (the final held-out evaluation and run costs).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from rlvr.config import dump_yaml
from rlvr.errors import RLVRError
from rlvr.recipe import TrainRecipe, load_recipe
from rlvr.threads import apply_thread_policy

CPU_DEFAULTS = dict(
    report_to="none",
    logging_steps=1,
    save_strategy="steps",
    save_steps=100,
    save_total_limit=2,
    dataloader_num_workers=0,
    dataloader_pin_memory=False,
    gradient_checkpointing=False,
    disable_tqdm=True,
    max_completion_length=64,
    per_device_train_batch_size=32,
    num_generations=8,
    max_steps=100,
)


def default_output_dir(recipe: TrainRecipe) -> str:
    stem = Path(getattr(recipe, "source", "recipe")).stem
    return str(Path("runs") / f"{stem}__{recipe.exploration.name.replace('/', '_').replace(':', '_')}__s{recipe.seed}")


def prepare_output_dir(recipe: TrainRecipe) -> Path:
    """Check, then (main process only) clear and create the run directory; every process returns its path."""
    import torch
    from accelerate import PartialState

    # Joins the launcher's process group (a single process without one). cpu=True as grpo_args' use_cpu does:
    # without it accelerate sees no GPU and no distributed setup, and the barriers below would not wait.
    state = PartialState(cpu=not torch.cuda.is_available())
    out = Path(recipe.output_dir or default_output_dir(recipe))
    if out.exists() and any(out.iterdir()) and not (recipe.resume or recipe.overwrite):
        raise RLVRError(
            f"output_dir '{out}' is not empty: pass resume=true to continue or overwrite=true to replace it"
        )
    if recipe.resume and out.is_dir():
        from rlvr.checks import check_resumable

        check_resumable(out)  # a truncated checkpoint is a one-line error, not transformers' traceback mid-start
    state.wait_for_everyone()  # every process has checked before the main one clears the directory
    if state.is_main_process:
        if recipe.overwrite and not recipe.resume and out.exists():
            import shutil

            shutil.rmtree(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(dump_yaml(recipe))
    state.wait_for_everyone()
    return out


def resolve_model_source(recipe) -> str:
    """The directory or name to load: the warm-start checkpoint (built if absent) or `model.name`."""
    if recipe.model.warm_start:
        import torch
        from accelerate import PartialState

        from rlvr.sft import ensure_warm_start

        # Under `accelerate launch` only the main process builds a missing warm start; the others then reuse it.
        with PartialState(cpu=not torch.cuda.is_available()).main_process_first():
            return str(ensure_warm_start(recipe.model.warm_start))
    return recipe.model.name


def precision_args(dtype: str) -> dict:
    """GRPOConfig device/precision keys for `model.dtype`: CPU without autocast, else bf16/fp16 as the weights."""
    import torch

    if not torch.cuda.is_available():
        return dict(use_cpu=True, bf16=False)
    bf16 = dtype == "bfloat16" or (dtype == "auto" and torch.cuda.is_bf16_supported())
    return dict(bf16=bf16, fp16=dtype == "float16")


def grpo_layers(recipe: TrainRecipe, explorer) -> list[tuple[str, dict]]:
    """The GRPOConfig settings by source, lowest precedence first: CPU defaults < precision < `train:` < modules."""
    from rlvr.exploration.stack import as_stack

    explorer = as_stack(explorer)
    base = dict(CPU_DEFAULTS)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # DDP: every parameter gets a gradient; skip the extra graph walk
        base.update(ddp_find_unused_parameters=False)
    modules = explorer.grpo_overrides()  # merged across a stack; a clash between modules is a one-line error
    for module in explorer:
        for key, value in module.grpo_overrides().items():
            if key in recipe.train and recipe.train[key] != value:
                raise RLVRError(
                    f"train.{key}={recipe.train[key]!r} conflicts with exploration '{module.name}', which sets "
                    f"{key}={value!r}; set it in the exploration block instead"
                )
    return [
        ("rlvr CPU defaults", base),
        (f"model.dtype={recipe.model.dtype}", precision_args(recipe.model.dtype)),  # train: bf16/fp16 still win
        ("recipe train", dict(recipe.train)),
        (f"exploration {explorer.name}", modules),
        ("run", dict(seed=recipe.seed)),
    ]


def grpo_args(recipe: TrainRecipe, explorer, out: Path):
    """The effective trl.GRPOConfig of a run (see `grpo_layers`)."""
    from trl import GRPOConfig

    args = {}
    for _, layer in grpo_layers(recipe, explorer):
        args.update(layer)
    args.update(output_dir=str(out))
    try:
        return GRPOConfig(**args)
    except ValueError as exc:
        raise RLVRError(f"invalid train settings: {str(exc).splitlines()[0]}") from exc


def effective_config_yaml(recipe: TrainRecipe, explorer, args) -> str:
    """grpo_config.yaml: every GRPOConfig field of the run, with where each non-default setting came from."""
    import yaml

    lines = ["# The effective trl.GRPOConfig of this run. Settings not at TRL's default, by source (last wins):"]
    for source, layer in grpo_layers(recipe, explorer):
        if layer:
            lines.append(f"#   {source}: {', '.join(sorted(layer))}")
    fields = {k: v for k, v in args.to_dict().items() if not k.startswith("_")}
    return "\n".join(lines) + "\n" + yaml.safe_dump(fields, sort_keys=True, default_flow_style=False)


def make_evaluator(recipe, task, tokenizer, max_new_tokens: int):
    """The run's evaluator (rlvr.evaluation.make_evaluator): periodic settings; `.final` for step 0 and the end."""
    from rlvr.evaluation import make_evaluator as build

    return build(recipe, task, tokenizer, max_new_tokens)


def last_checkpoint(out: Path) -> str | None:
    ckpts = sorted(out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    return str(ckpts[-1]) if ckpts else None


def checkpoint_step(checkpoint: str) -> int:
    """The optimizer step a checkpoint was saved at (its trainer_state.json, else its name)."""
    state = Path(checkpoint) / "trainer_state.json"
    if state.is_file():
        return int(json.loads(state.read_text())["global_step"])
    return int(Path(checkpoint).name.split("-")[-1])


def finish_from_checkpoint(trainer, checkpoint: str) -> None:
    """End a run whose last checkpoint is already at max_steps (killed during its final evaluation), untrained.

    transformers' loop runs a step before it checks max_steps, so `train(resume_from_checkpoint=...)` would train
    step max_steps + 1 (checked by tests/test_run.py). Instead: load the checkpoint's weights with transformers' own
    loader (full weights or a PEFT adapter) and its TrainerState, then fire on_train_end, which runs the final
    evaluation as an uninterrupted run does.
    """
    from transformers import TrainerState

    trainer._load_from_checkpoint(checkpoint)  # pinned in tests/test_trl_seam.py
    trainer.state = TrainerState.load_from_json(str(Path(checkpoint) / "trainer_state.json"))
    trainer.control = trainer.callback_handler.on_train_end(trainer.args, trainer.state, trainer.control)


def run_train(recipe: TrainRecipe) -> dict:
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    threads = apply_thread_policy(recipe.threads)
    out = prepare_output_dir(recipe)  # writes config.yaml
    from rlvr.callbacks import GracefulStop, MetricsWriter, PeriodicEval, Progress, WallClock
    from rlvr.models import load_model, weights_fingerprint
    from rlvr.models.tokenizer import check_text, is_char_tokenizer
    from rlvr.rewards import build_rewards
    from rlvr.trainer import RLVRTrainer

    task = recipe.task.build()
    train_ds = task.dataset("train", recipe.task.train_size)
    from rlvr.exploration.stack import as_stack

    explorer = as_stack(recipe.exploration.build())
    args = grpo_args(recipe, explorer, out)
    source = resolve_model_source(recipe)
    model, tokenizer = load_model(source, dtype=recipe.model.dtype, seed=recipe.seed)
    start_model = weights_fingerprint(model)  # which build of the warm start this run starts from
    from rlvr.decoding import use_compiled_step

    use_compiled_step(model, on=recipe.compile_sampler)  # process-wide: set by every run, on or off
    if is_char_tokenizer(tokenizer):  # an unknown char would silently become <unk>
        for prompt in train_ds["prompt"][:1000]:
            check_text(prompt, what="task prompt")
    from rlvr.prompts import apply_prompt_style

    if recipe.task.prompt_style == "chat" and not getattr(tokenizer, "chat_template", None):
        raise RLVRError(f"task.prompt_style=chat needs a tokenizer with a chat template; '{source}' has none")
    train_ds = apply_prompt_style(train_ds, recipe.task.prompt_style, recipe.task.system_prompt)
    funcs, weights = build_rewards(recipe.reward)
    args.reward_weights = weights
    peft_config = None
    if recipe.model.peft:
        from peft import LoraConfig

        peft_config = LoraConfig(task_type="CAUSAL_LM", **recipe.model.peft)
    if args.beta and not Path(source).is_dir():  # TRL rebuilds the reference from a path
        model.save_pretrained(out / "init_model")
        tokenizer.save_pretrained(out / "init_model")
        model.config._name_or_path = str(out / "init_model")
    writer = MetricsWriter(out / "metrics.jsonl")
    progress = Progress()
    evaluator = PeriodicEval(
        make_evaluator(recipe, task, tokenizer, args.max_completion_length), recipe.eval.every, writer, progress
    )
    stop = GracefulStop().install()
    trainer = RLVRTrainer(
        model=model,
        reward_funcs=funcs,
        args=args,
        train_dataset=train_ds,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[writer, evaluator, progress, stop],
        explorer=explorer,
        sampler=recipe.sampler,
        compact_forward=recipe.compact_forward,
    )
    if trainer.is_world_process_zero():  # after the trainer: module reward weights are in args by now
        (out / "grpo_config.yaml").write_text(effective_config_yaml(recipe, trainer.explorer, trainer.args))
    from rlvr.console import quiet_trainer

    quiet_trainer(trainer)  # transformers' PrinterCallback prints every log dict; metrics.jsonl has them
    resume = last_checkpoint(out) if recipe.resume else None
    if recipe.resume and resume is None and (out / "metrics.jsonl").exists():
        print(f"resume=true but no checkpoint in {out}: starting from step 0")
    at = checkpoint_step(resume) if resume else 0
    if at > args.max_steps:  # a checkpoint cannot be un-trained
        stop.uninstall()  # give Ctrl-C back, as the finally below does for every other exit
        raise RLVRError(
            f"{resume} is at step {at}, past train.max_steps={args.max_steps}: set train.max_steps>={at} "
            "to go on, or start a new run (resume=false)"
        )
    if resume and (note := schedule_change_note(resume, args.max_steps)):
        print(note)
    clock = WallClock(resume)
    trainer.add_callback(clock)
    try:
        if resume and at == args.max_steps:  # killed after its last step, e.g. during the final evaluation
            finish_from_checkpoint(trainer, resume)
        else:
            trainer.train(resume_from_checkpoint=resume)
    except (RLVRError, KeyboardInterrupt) as exc:
        ckpt = last_checkpoint(out)
        note = f"; last good checkpoint: {ckpt}" if ckpt else ""
        raise RLVRError(f"{exc}{note}") from exc
    finally:
        stop.uninstall()
        if progress.bar is not None:  # a failed step skips on_train_end: end the bar's line before the error
            progress.bar.close()
    seconds = clock.seconds()
    trainer.save_model(str(out / "final"))
    summary = {
        "recipe": getattr(recipe, "source", None),
        "exploration": recipe.exploration.name,
        "seed": recipe.seed,
        "steps": trainer.state.global_step,
        "train_seconds": round(seconds, 2),  # the whole run's, resumes included (WallClock)
        "resumed_from_step": at if resume else None,
        "threads": threads,
        "interrupted": stop.requested,
        "initial_eval": _initial_eval(evaluator.history, out / "metrics.jsonl"),
        "final_eval": evaluator.last,
        "num_tokens": trainer.state.num_input_tokens_seen,
        "world_size": trainer.accelerator.num_processes,
        "start_model": start_model,
    }
    if trainer.is_world_process_zero():
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
        finish_run(trainer, recipe, task, summary, source, out)
    leave_process_group()
    if stop.requested:
        raise RLVRError(f"interrupted at step {trainer.state.global_step}; resume with resume=true ({out})")
    return summary


def finish_run(trainer, recipe, task, summary: dict, source: str, out: Path) -> None:
    """samples.jsonl, rlvr's README.md (over TRL's model card) and the closing table on the console."""
    from rlvr.run_card import closing_table, write_run_card
    from rlvr.samples import sample_completions, write_samples

    model = trainer.accelerator.unwrap_model(trainer.model)
    rows = sample_completions(model, trainer.processing_class, recipe, task, trainer.args.max_completion_length)
    write_samples(out / "samples.jsonl", [{**r, "step": summary["steps"]} for r in rows])
    write_run_card(out, recipe, summary, source)
    print(closing_table(summary, out, recipe))


def schedule_change_note(checkpoint: str, max_steps: int) -> str | None:
    """A notice when a resume changes max_steps: transformers keeps the scheduler's step but not its horizon."""
    state = Path(checkpoint) / "trainer_state.json"
    old = json.loads(state.read_text()).get("max_steps") if state.is_file() else None
    if not old or old == max_steps:
        return None
    return (
        f"note: {checkpoint} was trained with max_steps={old}, resuming with max_steps={max_steps}: the first resumed "
        f"step runs at the old schedule's last learning rate, later steps follow the schedule recomputed for "
        f"{max_steps} steps (a linear decay jumps back up); for a fresh schedule start a new run from the checkpoint"
    )


def leave_process_group() -> None:
    """End a finished `accelerate launch` run cleanly on every rank.

    Without destroy_process_group, Gloo's worker threads are still alive while the interpreter shuts down, and a
    rank can die with SIGABRT ("terminate called without an active exception") after all its work is written.
    Called only after a successful run: a rank that failed exits non-zero anyway.
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()  # no rank tears the group down while another still saves or logs
        dist.destroy_process_group()


def _initial_eval(history: list[dict], metrics_path: Path) -> dict | None:
    """The step-0 evaluation: this process's, or after a resume the one logged by the run that started at 0."""
    if history and history[0]["step"] == 0:
        return history[0]
    if metrics_path.is_file():
        for line in metrics_path.read_text().splitlines():
            row = json.loads(line)
            if row.get("step") == 0 and any(k.startswith("eval/") for k in row):
                return {"step": 0, **{k[5:]: v for k, v in row.items() if k.startswith("eval/")}}
    return history[0] if history else None


def run_eval(target: str, overrides: list[str], out: str | None = None, as_json: bool = False) -> dict:
    """Evaluate a run directory, a warm-start recipe's checkpoint, or a model directory / built-in name.

    Prints a table (`as_json`: the JSON object); `out` also gets the JSON. A run directory's evaluation writes a few
    completions to `<run>/eval_samples.jsonl`, one with `out` to `<out stem>_samples.jsonl`.
    """
    from rlvr.models import load_model
    from rlvr.run_card import metrics_table
    from rlvr.samples import sample_completions, write_samples

    target_path = Path(target)
    samples_path = Path(out).with_name(f"{Path(out).stem}_samples.jsonl") if out else None
    if (target_path / "config.yaml").is_file():  # a run directory: its recipe and final model
        trained = (target_path / "final").is_dir() or last_checkpoint(target_path)
        if not trained:
            raise RLVRError(f"run directory '{target}' has no final/ model and no checkpoint-*/: nothing to evaluate")
        fixed = ["model.warm_start=null", "resume=false", "overwrite=false"]  # the warm start's recipe is not needed
        recipe = load_recipe(target_path / "config.yaml", [*overrides, *fixed], "train")
        final = target_path / "final"
        source = str(final if final.is_dir() else last_checkpoint(target_path))
        samples_path = samples_path or target_path / "eval_samples.jsonl"
    elif target_path.is_dir() and not (target_path / "config.json").is_file():
        raise RLVRError(f"'{target}' is not a run directory (no config.yaml) nor a model directory (no config.json)")
    else:  # default recipe plus overrides (task.name=..., eval.*), for a warm-start recipe or a model
        from rlvr.config import build_dataclass, parse_overrides

        recipe = build_dataclass(TrainRecipe, parse_overrides(overrides), "command line")
        source = target
        if target_path.suffix in (".yaml", ".yml") and target_path.is_file():  # a warm-start recipe's checkpoint
            from rlvr.sft import ensure_warm_start

            source = str(ensure_warm_start(str(target_path)))
    apply_thread_policy(recipe.threads)
    model, tokenizer = load_model(source, dtype=recipe.model.dtype, seed=recipe.seed)
    task = recipe.task.build()
    max_new = recipe.train.get("max_completion_length", CPU_DEFAULTS["max_completion_length"])
    ev = recipe.eval
    print(f"evaluating {source}: {ev.num_problems} problems x {ev.n_samples} samples ...", file=sys.stderr, flush=True)
    metrics = make_evaluator(recipe, task, tokenizer, max_new)(model)
    metrics = {"model": source, **metrics}
    print(json.dumps(metrics, indent=2) if as_json else metrics_table(metrics))
    if out:
        Path(out).write_text(json.dumps(metrics, indent=2))
    if samples_path:
        write_samples(samples_path, sample_completions(model, tokenizer, recipe, task, max_new))
    return metrics
