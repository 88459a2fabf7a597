"""Everything `rlvr train` would refuse, checked when a recipe loads, so `rlvr show` refuses the same recipes.

`load_recipe` calls `check_train_recipe` after the dataclasses are built (types, unknown keys and each block's own
`validate` are checked there): value ranges of the `train:` block that TRL, torch or the optimizer would only reject
mid-run (or silently accept: `max_steps: 0` trains whole epochs), the effective GRPOConfig as `rlvr train` builds
it, the exploration module's set-up checks, the reward names, the warm start and the eval set. Nothing here loads
a model. Each failure is one ConfigError line naming the key.
"""

from __future__ import annotations

import math
from pathlib import Path

from rlvr.errors import ConfigError, RLVRError

# train.<key>: (lowest allowed, whether the bound itself is allowed, why). None values are TRL's "derive it".
TRAIN_BOUNDS = {
    "max_steps": (1, True, "0 or less would train for whole epochs"),
    "num_generations": (2, True, "GRPO compares at least 2 completions per prompt"),
    "per_device_train_batch_size": (1, True, ""),
    "gradient_accumulation_steps": (1, True, ""),
    "steps_per_generation": (1, True, ""),
    "generation_batch_size": (1, True, ""),
    "num_iterations": (1, True, ""),
    "max_completion_length": (1, True, ""),
    "max_prompt_length": (1, True, ""),
    "logging_steps": (0, False, ""),
    "save_steps": (0, False, ""),
    "temperature": (0, False, "sample with a positive temperature"),
    "top_p": (0, False, ""),
    "learning_rate": (0, True, ""),
    "weight_decay": (0, True, ""),
    "max_grad_norm": (0, True, ""),
    "warmup_steps": (0, True, ""),
    "beta": (0, True, ""),
    "epsilon": (0, True, ""),
    "epsilon_high": (0, True, ""),
    "top_k": (0, True, ""),
}
AT_MOST_ONE = ("top_p", "min_p")


def check_train_values(train: dict, where: str) -> None:
    for key, value in train.items():
        if not isinstance(value, int | float) or isinstance(value, bool):
            continue  # types were checked against GRPOConfig; None means "TRL derives it"
        if key in TRAIN_BOUNDS:
            low, inclusive, why = TRAIN_BOUNDS[key]
            if not math.isfinite(value) or value < low or (value == low and not inclusive):
                rel, why = (">=" if inclusive else ">"), (f" ({why})" if why else "")
                raise ConfigError(f"{where}: train.{key} must be {rel} {low}, got {value}{why}")
        if key in AT_MOST_ONE and value > 1:
            raise ConfigError(f"{where}: train.{key} must be <= 1, got {value}")


def check_warm_start(recipe, data: dict, where: str) -> None:
    """The warm-start recipe exists; an explicit model.name must be the model it trains (the warm start wins)."""
    from rlvr.recipe import load_recipe

    path = recipe.model.warm_start
    if not Path(path).is_file():
        raise ConfigError(f"{where}: model.warm_start '{path}' is not a file; name an `rlvr sft` recipe (rlvr list)")
    sft = load_recipe(path, kind="sft")
    given = isinstance(data.get("model"), dict) and "name" in data["model"]
    if given and recipe.model.name != sft.model.name:
        raise ConfigError(
            f"{where}: model.name={recipe.model.name} conflicts with model.warm_start={path}, which trains "
            f"{sft.model.name}; drop one (model.warm_start=null trains {recipe.model.name} from its initial weights)"
        )
    recipe.model.name = sft.model.name  # what is trained: shown by `rlvr show`, written to config.yaml


def check_effective_args(recipe, where: str) -> None:
    """Build the GRPOConfig and run the exploration module's set-up checks exactly as `rlvr train` will."""
    import os
    import tempfile

    from rlvr.exploration.context import RunInfo
    from rlvr.train import grpo_args

    explorer = recipe.exploration.build()
    try:
        args = grpo_args(recipe, explorer, Path(tempfile.gettempdir()) / "rlvr-check")
        run = RunInfo(args, args.num_generations, int(os.environ.get("WORLD_SIZE", "1")), bool(recipe.model.peft), None)
        explorer.setup(run)
    except RLVRError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def check_rewards(recipe, where: str) -> None:
    from rlvr.registry import resolve
    from rlvr.rewards import REWARDS

    for i, spec in enumerate(recipe.reward):
        if not math.isfinite(spec.weight):
            raise ConfigError(f"{where}: reward.{i}.weight must be a finite number, got {spec.weight}")
        try:
            func = resolve(spec.name, REWARDS, "reward function")
        except RLVRError as exc:
            raise ConfigError(f"{where}: reward.{i}.name: {exc}") from None
        if not callable(func):
            raise ConfigError(f"{where}: reward.{i}.name '{spec.name}' is not callable")


def check_peft(peft: dict, where: str) -> None:
    """model.peft builds a peft.LoraConfig, as `rlvr train` does."""
    from peft import LoraConfig

    try:
        config = LoraConfig(task_type="CAUSAL_LM", **peft)
        if not (isinstance(config.r, int) and config.r >= 1):
            raise ValueError(f"r must be a positive int, got {config.r!r}")
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: model.peft is not a valid peft.LoraConfig: {str(exc).splitlines()[0]}") from None


def check_prompts(recipe, where: str, count: int = 200) -> None:
    """A built-in char model's tokenizer encodes printable ASCII only: the task's first prompts must fit it."""
    from rlvr.models.sizes import MODEL_SIZES
    from rlvr.models.tokenizer import check_text

    if recipe.model.name not in MODEL_SIZES or recipe.task.prompt_style != "plain":
        return
    task = recipe.task.build()
    for i in range(min(count, recipe.task.train_size)):
        try:
            check_text(task.item(i, "train")["prompt"], what=f"task '{recipe.task.name}' prompt {i}")
        except RLVRError as exc:
            raise ConfigError(f"{where}: {exc}") from None


WEIGHTS = ("model.safetensors", "pytorch_model.bin", "adapter_model.safetensors", "model.safetensors.index.json")


def check_resumable(out: Path) -> None:
    """The checkpoint `resume=true` would load is complete: a readable trainer_state.json and the weights."""
    import json

    ckpts = sorted(
        Path(out).glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]) if p.name[11:].isdigit() else -1
    )
    if not ckpts:
        return
    last, problem = ckpts[-1], None
    try:
        json.loads((last / "trainer_state.json").read_text())
    except (OSError, json.JSONDecodeError):
        problem = "trainer_state.json is missing or not JSON"
    if problem is None and not any((last / w).is_file() for w in WEIGHTS):
        problem = "it holds no model weights"
    if problem:
        raise RLVRError(
            f"cannot resume from {last}: {problem}; delete that directory to resume from the checkpoint before it, "
            "or pass overwrite=true (and resume=false) to start again"
        )


def check_train_recipe(recipe, data: dict, where: str) -> None:
    check_train_values(recipe.train, where)
    if recipe.model.peft:
        check_peft(recipe.model.peft, where)
    if recipe.model.warm_start:
        check_warm_start(recipe, data, where)
    if recipe.eval.eval_set and not Path(recipe.eval.eval_set).is_file():
        raise ConfigError(f"{where}: eval.eval_set '{recipe.eval.eval_set}' does not exist; write it with `rlvr data`")
    check_rewards(recipe, where)
    check_prompts(recipe, where)
    check_effective_args(recipe, where)
