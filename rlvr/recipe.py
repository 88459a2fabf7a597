"""The blocks of a recipe, as dataclasses: `model`, `task`, `reward`, `exploration`, `train`, `eval`.

A training recipe (`rlvr train`) is a `TrainRecipe`; a warm-start recipe (`rlvr sft`) is an
`SFTRecipe` (it has an `sft:` block instead of `reward`/`exploration`/`train`). Component blocks keep
their settings beside their name and are checked by the component's own dataclass:

    task: {name: addition, min_digits: 3, max_digits: 4}
    exploration: {name: lp_reg, rho: 0.05}

`train:` is passed through to TRL's `GRPOConfig`; its keys and types are checked against it.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlvr.config import build_dataclass, check_value, deep_merge, parse_overrides, read_yaml, to_dict
from rlvr.errors import ConfigError
from rlvr.registry import closest


@dataclass
class ModelConfig:
    name: str = "char-1m"
    """Built-in model (`rlvr list`), a local directory, or a hub id (same `from_pretrained` path)."""
    warm_start: str | None = None
    """An `rlvr sft` recipe: its cached checkpoint (built when absent) is the starting model; wins over `name`."""
    dtype: str = "auto"
    """auto (float32 on CPU, bfloat16 on a bf16 GPU), float32, bfloat16 or float16."""
    peft: dict | None = None
    """LoRA settings passed to `peft.LoraConfig` (e.g. {r: 16, lora_alpha: 32, target_modules: all-linear})."""
    trust_remote_code: bool = False

    def validate(self):
        if self.dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise ConfigError(f"model.dtype must be auto, float32, bfloat16 or float16, got '{self.dtype}'")


# Component blocks: the keys every component shares, and the component a block without `name` gets.
SHARED_KEYS = {"task": ("name", "train_size", "prompt_style", "system_prompt"), "exploration": ("name",)}
DEFAULT_COMPONENT = {"task": "addition", "exploration": "none"}


def switch_components(data: dict, over: dict) -> dict:
    """An override naming another component (`task.name=countdown`) drops the file's settings of the old one.

    The file's `min_digits` belongs to addition; keeping it would make every component switch on the command line
    an unknown-key error. Settings given in the same overrides are kept (and checked against the new component).
    """
    for block, shared in SHARED_KEYS.items():
        new, old = over.get(block, {}).get("name") if isinstance(over.get(block), dict) else None, data.get(block)
        if isinstance(new, str) and isinstance(old, dict) and new != old.get("name", DEFAULT_COMPONENT[block]):
            data = {**data, block: {k: v for k, v in old.items() if k in shared}}
    return data


def _component_block(cls, data, where, prefix, builtins_fn, reserved):
    """Build a `{name: ..., **settings}` block: reserved keys go to `cls`, the rest to the component's config."""
    if not isinstance(data or {}, dict):
        raise ConfigError(f"{where}: '{prefix.rstrip('.')}' must be a mapping with a 'name', got {data!r}")
    data = dict(data or {})
    base = {k: data.pop(k) for k in list(data) if k in reserved}
    hints = typing.get_type_hints(cls)
    block = cls(**{k: check_value(f"{prefix}{k}", v, hints[k], where) for k, v in base.items()})
    component = builtins_fn(block.name)
    try:
        block.config = build_dataclass(component.config_cls, data, where, prefix)
    except ConfigError as exc:
        names = list(reserved) + [f.name for f in dataclasses.fields(component.config_cls)]
        msg = str(exc)
        if "unknown key" in msg:  # suggest from the block's own keys too, not only the component's fields
            key = msg.split("unknown key '")[1].split("'")[0].split(".")[-1]
            msg = msg.split(" (did you mean")[0] + closest(key, names)
        raise ConfigError(msg) from None
    return block


@dataclass
class TaskBlock:
    name: str = "addition"
    train_size: int = 20000
    """Number of distinct training prompts drawn from the task's train split."""
    prompt_style: str = "plain"
    """plain (the bare task prompt, for char models) or chat (instruction + chat messages, see rlvr.prompts)."""
    system_prompt: str | None = None
    """System message for prompt_style chat (none by default)."""
    config: Any = None

    @classmethod
    def from_block(cls, data, where, prefix):
        from rlvr.tasks import get_task_class

        block = _component_block(cls, data, where, prefix, get_task_class, SHARED_KEYS["task"])
        if block.prompt_style not in ("plain", "chat"):
            raise ConfigError(f"{where}: {prefix}prompt_style must be 'plain' or 'chat', got '{block.prompt_style}'")
        return block

    def to_dict(self):
        # Prompt keys only when set: default dumps (and the warm-start cache hashes built from them) stay unchanged.
        style = dict(prompt_style=self.prompt_style, system_prompt=self.system_prompt)
        style = {k: v for k, v in style.items() if v not in ("plain", None)}
        return {"name": self.name, "train_size": self.train_size, **style, **to_dict(self.config)}

    def build(self):
        from rlvr.tasks import get_task_class

        return get_task_class(self.name)(self.config)


@dataclass
class ExplorationBlock:
    name: str = "none"
    config: Any = None

    @classmethod
    def from_block(cls, data, where, prefix):
        from rlvr.exploration import get_explorer_class

        return _component_block(cls, data, where, prefix, get_explorer_class, SHARED_KEYS["exploration"])

    def to_dict(self):
        return {"name": self.name, **to_dict(self.config)}

    def build(self):
        from rlvr.exploration import get_explorer_class

        return get_explorer_class(self.name)(self.config)


@dataclass
class RewardSpec:
    name: str = "correctness"
    """Built-in reward (`rlvr list`), 'package.module:func' or 'path/to/file.py:func'."""
    weight: float = 1.0
    kwargs: dict = field(default_factory=dict)
    """Keyword arguments bound to the function (functools.partial)."""


@dataclass
class EvalConfig:
    eval_set: str | None = None
    """JSON-lines held-out set. Default: the task's eval split at the recipe's difficulty (for default difficulties
    identical to the committed data/<task>_eval.jsonl)."""
    num_problems: int = 128
    n_samples: int = 16
    ks: list = field(default_factory=lambda: [1, 2, 4, 8, 16])
    temperature: float = 1.0
    greedy: bool = True
    every: int = 0
    """Evaluate every N optimizer steps during training (0: only before and after)."""
    max_new_tokens: int | None = None
    """Default: train.max_completion_length."""
    batch_size: int = 512

    def validate(self):
        if self.n_samples < max(self.ks):
            raise ConfigError(f"eval.n_samples ({self.n_samples}) must be >= max(eval.ks) ({max(self.ks)})")
        if self.num_problems < 1 or self.every < 0:
            raise ConfigError("eval.num_problems must be >= 1 and eval.every >= 0")


def check_grpo_args(train: dict, where: str) -> None:
    """Keys and types of the `train:` block against TRL's GRPOConfig (imports trl lazily)."""
    from trl import GRPOConfig

    hints = {f.name: f.type for f in dataclasses.fields(GRPOConfig) if f.init}
    for key, value in train.items():
        if key not in hints:
            raise ConfigError(f"{where}: unknown key 'train.{key}' (not a GRPOConfig field){closest(key, hints)}")
        tp = hints[key] if not isinstance(hints[key], str) else typing.Any
        check_value(f"train.{key}", value, tp, where)


@dataclass
class TrainRecipe:
    model: ModelConfig = field(default_factory=ModelConfig)
    task: TaskBlock = field(default_factory=TaskBlock)
    reward: list = field(default_factory=lambda: [{"name": "correctness", "weight": 1.0}])
    exploration: ExplorationBlock = field(default_factory=ExplorationBlock)
    train: dict = field(default_factory=dict)
    """Passed through to trl.GRPOConfig (max_steps, learning_rate, num_generations, ...)."""
    eval: EvalConfig = field(default_factory=EvalConfig)
    seed: int = 0
    output_dir: str | None = None
    """Default: runs/<recipe>__<exploration>__s<seed>."""
    threads: int | str = "auto"
    """Torch threads: 'auto' (1 when the machine is busy, under CI/pytest or parallel runs) or a number."""
    sampler: str = "fast"
    """Rollout sampler: 'fast' (rlvr's KV-cache loop) or 'trl' (TRL's own backend: generate / vLLM)."""
    resume: bool = False
    overwrite: bool = False

    def validate(self):
        if self.sampler not in ("fast", "trl"):
            raise ConfigError(f"sampler must be 'fast' or 'trl', got '{self.sampler}'")
        specs = []
        for i, r in enumerate(self.reward):
            if isinstance(r, str):
                r = {"name": r}
            specs.append(build_dataclass(RewardSpec, r, "reward", f"reward.{i}."))
        if not specs:
            raise ConfigError("reward: at least one reward function is required (e.g. '- name: correctness')")
        self.reward = specs


@dataclass
class SFTConfig:
    max_steps: int = 1500
    batch_size: int = 64
    learning_rate: float = 1e-3
    warmup_ratio: float = 0.05
    weight_decay: float = 0.0
    lr_scheduler_type: str = "cosine"
    num_examples: int = 50000
    """Distinct training problems drawn from the task's train split."""
    direct_fraction: float = 0.0
    """Fraction of traces that give the answer with no working (a second, weaker strategy for RL to unlearn)."""
    max_length: int = 160
    logging_steps: int = 100

    def validate(self):
        if not 0.0 <= self.direct_fraction <= 1.0:
            raise ConfigError(f"sft.direct_fraction must be in [0, 1], got {self.direct_fraction}")


@dataclass
class SFTRecipe:
    model: ModelConfig = field(default_factory=ModelConfig)
    task: TaskBlock = field(default_factory=TaskBlock)
    sft: SFTConfig = field(default_factory=SFTConfig)
    seed: int = 0
    threads: int | str = "auto"
    output_dir: str | None = None
    """Default: the warm-start cache ($RLVR_CACHE or ~/.cache/rlvr/warm_start/<recipe>-<config hash>)."""


def load_recipe(path: str | Path, overrides: list[str] | None = None, kind: str | None = None):
    """Read a recipe, apply dotted overrides, build and check the dataclasses.

    `kind` is 'train' or 'sft'; by default a recipe with an `sft:` block is an SFTRecipe.
    """
    over = parse_overrides(overrides or [])
    data = deep_merge(switch_components(read_yaml(path), over), over)
    kind = kind or ("sft" if "sft" in data else "train")
    cls = SFTRecipe if kind == "sft" else TrainRecipe
    where = f"recipe {path}"
    recipe = build_dataclass(cls, data, where)
    recipe.source = str(path)
    if kind == "train":
        check_grpo_args(recipe.train, where)
    return recipe
