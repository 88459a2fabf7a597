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
    """An `rlvr sft` recipe: its cached checkpoint (built when absent) is the starting model. `name` then defaults to
    the warm start's model, and naming another model is an error (rlvr.checks.check_warm_start)."""
    dtype: str = "auto"
    """auto (float32 on CPU, bfloat16 on a bf16 GPU), float32, bfloat16 or float16."""
    peft: dict | None = None
    """LoRA settings passed to `peft.LoraConfig` (e.g. {r: 16, lora_alpha: 32, target_modules: all-linear})."""
    trust_remote_code: bool = False

    def validate(self):
        if self.dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise ConfigError(f"model.dtype must be auto, float32, bfloat16 or float16, got '{self.dtype}'")
        if not self.name.strip():
            raise ConfigError("model.name is empty; name a built-in model (rlvr list), a local directory or a hub id")
        if self.warm_start is not None and not self.warm_start.strip():
            raise ConfigError("model.warm_start is empty; name an `rlvr sft` recipe, or null for no warm start")


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
        if block.train_size < 1:
            raise ConfigError(f"{where}: {prefix}train_size must be >= 1, got {block.train_size}")
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
    """One module: `exploration: {name: lp_reg, rho: 0.05}`. A list of such blocks is a stack (ExplorationStack)."""

    name: str = "none"
    config: Any = None

    @classmethod
    def from_block(cls, data, where, prefix):
        from rlvr.exploration import get_explorer_class

        if isinstance(data, list):
            return ExplorationStack.from_list(data, where, prefix)
        return _component_block(cls, data, where, prefix, get_explorer_class, SHARED_KEYS["exploration"])

    @property
    def blocks(self) -> list:
        return [self]

    def to_dict(self):
        return {"name": self.name, **to_dict(self.config)}

    def build(self):
        from rlvr.exploration import build_explorer

        return build_explorer(self.name, self.config)


@dataclass
class ExplorationStack:
    """Several modules, hooks chained in list order: `exploration: [{name: oversampling}, {name: entropy_bonus}]`."""

    blocks: list = field(default_factory=list)

    @classmethod
    def from_list(cls, data: list, where: str, prefix: str):
        if not data:
            raise ConfigError(f"{where}: '{prefix.rstrip('.')}' is an empty list; give at least one {{name: ...}}")
        nested = [i for i, d in enumerate(data) if isinstance(d, list)]
        if nested:
            raise ConfigError(
                f"{where}: '{prefix}{nested[0]}' is a list inside the exploration stack; give modules flat"
            )
        return cls([ExplorationBlock.from_block(d, where, f"{prefix}{i}.") for i, d in enumerate(data)])

    @property
    def name(self) -> str:
        return "+".join(b.name for b in self.blocks)

    def to_dict(self):
        return [b.to_dict() for b in self.blocks]

    def build(self):
        from rlvr.exploration.stack import ExplorerStack

        return ExplorerStack([b.build() for b in self.blocks])


@dataclass
class RewardSpec:
    name: str = "correctness"
    """Built-in reward (`rlvr list`), 'package.module:func' or 'path/to/file.py:func'."""
    weight: float = 1.0
    kwargs: dict = field(default_factory=dict)
    """Keyword arguments bound to the function (functools.partial)."""


@dataclass
class FinalEvalConfig:
    """The step-0 and final evaluations, the ones summary.json reports: may be larger than the periodic ones."""

    num_problems: int | None = None
    """Default: eval.num_problems (256: all of the committed data/<task>_eval.jsonl)."""
    n_samples: int | None = None
    """Default: eval.n_samples."""
    ks: list | None = None
    """Default: every power of two up to n_samples when n_samples is set, else eval.ks."""

    def resolve(self, ev) -> tuple[int, int, list]:
        """(num_problems, n_samples, ks) of the step-0 and final evaluations, defaults filled from `ev`."""
        n = ev.n_samples if self.n_samples is None else self.n_samples
        powers = [2**i for i in range(max(n, 1).bit_length())]
        ks = self.ks if self.ks is not None else ev.ks if self.n_samples is None else powers
        return ev.num_problems if self.num_problems is None else self.num_problems, n, ks


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
    final: FinalEvalConfig = field(default_factory=FinalEvalConfig)
    """Settings of the step-0 and final evaluations, e.g. {num_problems: 256, n_samples: 64} (pass@1..64)."""

    def validate(self):
        if not self.ks or not all(isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in self.ks):
            raise ConfigError(f"eval.ks must be a non-empty list of positive integers, got {self.ks!r}")
        if self.n_samples < max(self.ks):
            raise ConfigError(f"eval.n_samples ({self.n_samples}) must be >= max(eval.ks) ({max(self.ks)})")
        for key, low in (("num_problems", 1), ("every", 0), ("batch_size", 1), ("max_new_tokens", 1)):
            value = getattr(self, key)
            if value is not None and value < low:
                raise ConfigError(f"eval.{key} must be >= {low}, got {value}")
        if not self.temperature > 0:
            raise ConfigError(f"eval.temperature must be > 0, got {self.temperature} (eval.greedy adds greedy runs)")
        if self.eval_set is not None and not self.eval_set.strip():
            raise ConfigError("eval.eval_set is empty; give a .jsonl file, or null for the task's own eval split")
        problems, samples, ks = self.final.resolve(self)
        if problems < 1 or not ks or samples < max(ks):
            raise ConfigError(f"eval.final: need num_problems >= 1 and n_samples ({samples}) >= max(ks) ({max(ks)})")


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
    compact_forward: bool | None = None
    """Training forward encodes each distinct prompt once and each completion only to its own length
    (rlvr/compact_forward.py; TRL's forward up to float rounding). None: on with sampler 'fast', off with 'trl'
    (TRL's numerics bit for bit)."""
    compile_sampler: bool = False
    """Run the fast sampler's decode step through torch.compile (rlvr/decoding.py): one compile per process
    (about half a minute on one CPU thread, needs a C++ compiler), then 1.2-1.5x the sampled tokens/s on GRPO-shaped
    warm-start rollouts, the same tokens and log-probs up to float rounding (benchmarks/README.md). Pays off in runs
    that sample for more than a few minutes; small Llama-layout models only (the lean decode step)."""
    resume: bool = False
    overwrite: bool = False

    def validate(self):
        check_run_settings(self)
        if self.sampler not in ("fast", "trl"):
            raise ConfigError(f"sampler must be 'fast' or 'trl', got '{self.sampler}'")
        if self.compile_sampler and self.sampler != "fast":
            raise ConfigError("compile_sampler compiles rlvr's fast sampler; it needs sampler: fast (got 'trl')")
        if self.compile_sampler and self.model.peft:
            raise ConfigError(
                "compile_sampler compiles the lean decode step, which LoRA-wrapped projections do not take; "
                "drop model.peft or compile_sampler"
            )
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
        for key in ("max_steps", "batch_size", "num_examples", "max_length", "logging_steps"):
            if getattr(self, key) < 1:
                raise ConfigError(f"sft.{key} must be >= 1, got {getattr(self, key)}")
        if not self.learning_rate > 0 or self.weight_decay < 0 or not 0.0 <= self.warmup_ratio < 1.0:
            raise ConfigError(
                f"sft needs learning_rate > 0, weight_decay >= 0 and 0 <= warmup_ratio < 1, got {self.learning_rate}, "
                f"{self.weight_decay}, {self.warmup_ratio}"
            )


@dataclass
class SFTRecipe:
    model: ModelConfig = field(default_factory=ModelConfig)
    task: TaskBlock = field(default_factory=TaskBlock)
    sft: SFTConfig = field(default_factory=SFTConfig)
    seed: int = 0
    threads: int | str = "auto"
    """Torch threads: 'auto' builds on 1 thread (the same weights on any machine load); a number > 1 is faster on an
    idle machine but builds other weights, cached under their own name."""
    output_dir: str | None = None
    """Default: the warm-start cache ($RLVR_CACHE or ~/.cache/rlvr/warm_start/<recipe>-<config hash>)."""

    def validate(self):
        check_run_settings(self)


def check_run_settings(recipe) -> None:
    """seed, threads and output_dir, shared by training and warm-start recipes."""
    if recipe.seed < 0:
        raise ConfigError(f"seed must be >= 0, got {recipe.seed}")
    if recipe.threads != "auto" and not (isinstance(recipe.threads, int) and recipe.threads >= 1):
        raise ConfigError(f"threads must be 'auto' or a number >= 1, got {recipe.threads!r}")
    if recipe.output_dir is not None and not str(recipe.output_dir).strip():
        raise ConfigError("output_dir is empty; give a directory, or null for the default")
    if recipe.output_dir and Path(recipe.output_dir).is_file():
        raise ConfigError(f"output_dir '{recipe.output_dir}' is a file; give a directory")


def load_recipe(path: str | Path, overrides: list[str] | None = None, kind: str | None = None):
    """Read a recipe, apply dotted overrides, build and check the dataclasses.

    `kind` is 'train' or 'sft'; by default a recipe with an `sft:` block is an SFTRecipe.
    """
    over = parse_overrides(overrides or [])
    data = deep_merge(switch_components(read_yaml(path), over), over)
    kind = kind or ("sft" if "sft" in data else "train")
    cls = SFTRecipe if kind == "sft" else TrainRecipe
    where = f"recipe {path}"
    if not data:
        raise ConfigError(f"{where} is empty; a recipe needs at least a task: block (see recipes/grpo.yaml)")
    recipe = build_dataclass(cls, data, where)
    recipe.source = str(path)
    recipe.overrides = list(overrides or [])  # for the run card's "reproduce" command
    if kind == "train":
        from rlvr.checks import check_train_recipe

        check_grpo_args(recipe.train, where)
        check_train_recipe(recipe, data, where)
    return recipe
