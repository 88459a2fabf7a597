"""Warm start ("seed" models): supervised fine-tuning on the tasks' own chain-of-thought traces.

    rlvr sft recipes/sft_addition.yaml            # builds, or reuses, the cached checkpoint

RL only learns where the starting model is sometimes right and sometimes wrong, so every experiment
starts from one of these checkpoints. The traces come from `Task.solution` (digit-by-digit carries,
running totals, countdown search traces with failed attempts and a verified answer); with
`sft.direct_fraction > 0` that fraction of traces answers with no working at all, a second, weaker
strategy that RL can learn to abandon. Loss is on completion tokens only (TRL's SFTTrainer with
`completion_only_loss`). Checkpoints are cached under $RLVR_CACHE (default ~/.cache/rlvr/warm_start)
keyed by a hash of the resolved recipe, so a training recipe naming a warm start builds it once.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import time
from pathlib import Path

from rlvr.config import dump_yaml, to_dict
from rlvr.errors import RLVRError
from rlvr.recipe import SFTRecipe, load_recipe
from rlvr.threads import apply_thread_policy


def cache_root() -> Path:
    return Path(os.environ.get("RLVR_CACHE", Path.home() / ".cache" / "rlvr")) / "warm_start"


def checkpoint_dir(recipe: SFTRecipe) -> Path:
    if recipe.output_dir:
        return Path(recipe.output_dir)
    key = {k: v for k, v in to_dict(recipe).items() if k not in ("threads", "output_dir")}  # not what is learned
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    return cache_root() / f"{Path(getattr(recipe, 'source', 'sft')).stem}-{digest}"


def sft_threads(recipe: SFTRecipe) -> int:
    """The warm start's torch threads: the recipe's number, and 1 for `auto`, never the machine's load.

    Matmuls split their sums by thread count, so builds with 1 and 2 threads end in different weights (the two
    countdown builds of docs/testbeds.md); the shipped SFT recipes therefore name the count they were built with.
    """
    return 1 if recipe.threads == "auto" else int(recipe.threads)


def check_build_threads(out: Path, recipe: SFTRecipe) -> None:
    """A cached build made with another thread count has other weights than this recipe builds: refuse it."""
    built = json.loads((out / "rlvr_sft.json").read_text()).get("threads")
    if built is not None and built != sft_threads(recipe):
        raise RLVRError(
            f"warm start {out} was built with {built} torch threads but its recipe asks for {sft_threads(recipe)} "
            f"(other thread counts build other weights): set threads: {built} in the SFT recipe to use it, or "
            "delete that directory to rebuild"
        )


def is_complete(path: Path) -> bool:
    return (path / "rlvr_sft.json").is_file() and (path / "config.json").is_file()


def build_sft_dataset(recipe: SFTRecipe, tokenizer):
    """Pre-tokenised rows: <bos> prompt | completion <eos>, with a completion-only loss mask."""
    import datasets

    task = recipe.task.build()
    rng = random.Random(f"sft-{recipe.seed}")
    n = recipe.sft.num_examples
    input_ids, completion_mask = [], []
    for i in range(n):
        item = task.item(i, "train")
        direct = rng.random() < recipe.sft.direct_fraction
        completion = task.direct_solution(item) if direct else task.solution(item)
        p = tokenizer(item["prompt"])["input_ids"]  # as GRPOTrainer tokenises prompts (with <bos>)
        c = tokenizer(completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        ids = (p + c)[: recipe.sft.max_length]
        input_ids.append(ids)
        completion_mask.append(([0] * len(p) + [1] * len(c))[: len(ids)])
    return datasets.Dataset.from_dict({"input_ids": input_ids, "completion_mask": completion_mask})


def run_sft(recipe: SFTRecipe, force: bool = False) -> Path:
    """Train the warm start unless a complete checkpoint for this exact recipe exists; return its directory."""
    out = checkpoint_dir(recipe)
    if is_complete(out) and not force:
        check_build_threads(out, recipe)
        print(f"reusing warm start {out}")
        return out
    threads = apply_thread_policy(sft_threads(recipe))
    from trl import SFTConfig, SFTTrainer

    from rlvr.models import load_model

    model, tokenizer = load_model(recipe.model.name, dtype=recipe.model.dtype, seed=recipe.seed)
    ds = build_sft_dataset(recipe, tokenizer)
    tmp = out.with_name(f"{out.name}.partial-{os.getpid()}")  # per process: concurrent builds never share one
    shutil.rmtree(tmp, ignore_errors=True)
    s = recipe.sft
    import torch

    args = SFTConfig(
        output_dir=str(tmp),
        max_steps=s.max_steps,
        per_device_train_batch_size=s.batch_size,
        learning_rate=s.learning_rate,
        warmup_steps=s.warmup_ratio,  # transformers 5: a float < 1 is a ratio of max_steps
        weight_decay=s.weight_decay,
        lr_scheduler_type=s.lr_scheduler_type,
        logging_steps=s.logging_steps,
        completion_only_loss=True,
        max_length=s.max_length,
        save_strategy="no",
        report_to="none",
        seed=recipe.seed,
        use_cpu=not torch.cuda.is_available(),
        bf16=False,
        dataloader_num_workers=0,
        dataloader_pin_memory=False,
        gradient_checkpointing=False,
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=tokenizer)
    from rlvr.callbacks import Progress
    from rlvr.console import quiet_trainer

    quiet_trainer(trainer, Progress("warm start", keys=("loss",)))
    start = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - start
    trainer.save_model(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    info = {
        "recipe": dump_yaml(recipe),
        "seconds": round(seconds, 1),
        "threads": threads,
        "losses": losses,
        "train_loss": result.training_loss,
    }
    (tmp / "rlvr_sft.json").write_text(json.dumps(info, indent=2))
    if is_complete(out) and not force:  # another process finished the same recipe meanwhile: keep the first
        shutil.rmtree(tmp)
        return out
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)  # atomic: a half-built checkpoint is never mistaken for a finished one
    print(f"warm start built in {seconds:.0f}s: {out}")
    return out


def expected_time(recipe_path: Path) -> str:
    """The recipe header's own estimate (`(~5-8 min on 2 CPU cores ...)`), else its step count."""
    for line in recipe_path.read_text().splitlines():
        if line.startswith("#") and "(~" in line:
            return line.split("(~", 1)[1].split(";")[0].split(")")[0].strip()
    return ""


def warm_start_notice(recipe_path: Path, recipe: SFTRecipe) -> str:
    estimate = expected_time(recipe_path) or f"{recipe.sft.max_steps} SFT steps"
    return (
        f"building the warm start first: rlvr sft {recipe_path} (~{estimate}; once, then reused from the cache)\n"
        f"  cache: {checkpoint_dir(recipe)}"
    )


def ensure_warm_start(recipe_path: str) -> Path:
    """The checkpoint of an SFT recipe, built (with progress, after a notice) if it is not in the cache yet."""
    path = Path(recipe_path)
    if not path.is_file():
        raise RLVRError(f"model.warm_start '{recipe_path}' is not a recipe file; name an `rlvr sft` recipe")
    recipe = load_recipe(path, kind="sft")
    if not is_complete(checkpoint_dir(recipe)):
        print(warm_start_notice(path, recipe), flush=True)
    return run_sft(recipe)
