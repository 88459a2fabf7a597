"""Base classes for synthetic, verifiable tasks (in the shape of reasoning-gym's tasks).

A task turns `(config.seed, split, index)` into one question deterministically, checks completions
with `verify` (exactly 0.0 or 1.0, never raises) and writes reference completions for warm-start SFT:

    task = Addition(AdditionConfig(max_digits=4))
    item = task.item(3, split="eval")   # {"prompt": "457+68=", "answer": "525", "metadata": {...}}
    task.verify(task.solution(item), item["answer"], item["metadata"])  # 1.0
    ds = task.dataset("train", size=1000)  # columns prompt, answer, task, metadata (JSON str)
"""

from __future__ import annotations

import dataclasses
import json
import random
import typing
import zlib
from dataclasses import dataclass
from typing import Any

from rlvr.errors import ConfigError, RLVRError

SPLITS = ("train", "eval")
EVAL_MODULUS = 10  # a question belongs to eval iff crc32(prompt) % EVAL_MODULUS == 0 (10% of question space)
MAX_TRIES = 100_000  # rejection-sampling bound; only a tiny question space can exhaust it


def _type_ok(value: Any, expected: Any) -> bool:
    if expected is bool:
        return isinstance(value, bool)
    if expected is int:  # bool is an int subclass; `max_digits: true` is a mistake, not 1
        return isinstance(value, int) and not isinstance(value, bool)
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is str:
        return isinstance(value, str)
    return True


@dataclass
class TaskConfig:
    """Knobs shared by every task; subclasses add difficulty knobs and extend `validate`."""

    seed: int = 0
    """Seed of the question stream: same seed + split + index -> same question."""

    def validate(self) -> None:
        """Raise ConfigError (one line naming the field and the fix) for a wrong type or value."""
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not _type_ok(value, hints.get(f.name)):
                expected = getattr(hints.get(f.name), "__name__", hints.get(f.name))
                raise ConfigError(
                    f"{type(self).__name__}.{f.name} must be {expected}, got {type(value).__name__} {value!r}"
                )

    def _at_least(self, name: str, minimum: int) -> None:
        if getattr(self, name) < minimum:
            raise ConfigError(f"{type(self).__name__}.{name} must be >= {minimum}, got {getattr(self, name)}")

    def _ordered(self, low: str, high: str) -> None:
        if getattr(self, low) > getattr(self, high):
            raise ConfigError(
                f"{type(self).__name__}.{low} ({getattr(self, low)}) must be <= {high} ({getattr(self, high)}); "
                f"raise {high} or lower {low}"
            )


def metadata_dict(metadata: dict | str | None) -> dict:
    """Metadata as a dict, whether given as a dict, a JSON string (dataset column) or None."""
    if metadata is None:
        return {}
    if isinstance(metadata, str):
        metadata = json.loads(metadata)
    if not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict or JSON object string, got {type(metadata).__name__}")
    return metadata


def split_of(key: str) -> str:
    """The split a question key belongs to; crc32 is stable across runs (unlike the salted `hash`)."""
    return "eval" if zlib.crc32(key.encode("utf-8")) % EVAL_MODULUS == 0 else "train"


class Task:
    """One task: subclasses set `name`, `config_cls`, `alphabet` and implement `_generate` and `_cot`."""

    name: str = "task"
    config_cls: type[TaskConfig] = TaskConfig
    alphabet: str = ""  # every character that can appear in prompts and reference completions

    def __init__(self, config: TaskConfig | None = None):
        self.config = self.config_cls() if config is None else config
        if not isinstance(self.config, self.config_cls):
            raise ConfigError(f"task '{self.name}' needs a {self.config_cls.__name__}, got {type(config).__name__}")
        self.config.validate()

    # -- to implement -------------------------------------------------------------------------------
    def _generate(self, rng: random.Random) -> dict:
        """One random question: {"prompt", "answer", "metadata"} (task-specific metadata only)."""
        raise NotImplementedError

    def _cot(self, item: dict, meta: dict) -> str:
        """Working that precedes the final `#answer` in the reference completion."""
        raise NotImplementedError

    def _verify(self, completion: str, answer: str, meta: dict) -> float:
        raise NotImplementedError

    # -- public API ---------------------------------------------------------------------------------
    def item(self, index: int, split: str = "train") -> dict:
        """The question at `index` of `split`; deterministic and disjoint between splits."""
        if split not in SPLITS:
            raise ConfigError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise ConfigError(f"item index must be a non-negative int, got {index!r}")
        # A str seed is hashed with SHA-512 by `random`, so this is stable across processes and platforms.
        rng = random.Random(f"{self.name}-{self.config.seed}-{split}-{index}")
        for _ in range(MAX_TRIES):
            question = self._generate(rng)
            if split_of(question["prompt"]) == split:  # membership by construction: never in both
                break
        else:
            raise RLVRError(f"task '{self.name}': no '{split}' question found; the difficulty range is too small")
        knobs = dataclasses.asdict(self.config)
        meta = {**knobs, **question["metadata"], "task": self.name, "split": split, "index": index}
        return {"prompt": question["prompt"], "answer": question["answer"], "metadata": meta}

    def dataset(self, split: str = "train", size: int = 1000):
        """A `datasets.Dataset` of the first `size` items, ready for TRL's GRPOTrainer."""
        if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
            raise ConfigError(f"dataset size must be a positive int, got {size!r}")
        import datasets  # deferred: heavy, and only training needs it

        items = [self.item(i, split) for i in range(size)]
        return datasets.Dataset.from_dict(
            {
                "prompt": [it["prompt"] for it in items],
                "answer": [it["answer"] for it in items],
                "task": [self.name] * size,
                # JSON string so every task shares one schema (mixed-task datasets concatenate cleanly)
                "metadata": [json.dumps(it["metadata"], sort_keys=True) for it in items],
            }
        )

    def verify(self, completion: str, answer: str, metadata: dict | str | None = None) -> float:
        """1.0 if `completion` is correct under the `#` answer rule, else 0.0; never raises."""
        try:
            if not isinstance(completion, str) or not isinstance(answer, str):
                return 0.0
            return 1.0 if self._verify(completion, answer, metadata_dict(metadata)) == 1.0 else 0.0
        except Exception:  # a reward of 0 is the right answer to any malformed input
            return 0.0

    def final_answer(self, item: dict) -> str:
        """What goes after `#` in the reference completions (the answer itself for integer tasks)."""
        return item["answer"]

    def solution(self, item: dict) -> str:
        """Reference chain-of-thought completion, ending in `#<answer>`."""
        return f"{self._cot(item, metadata_dict(item.get('metadata')))}#{self.final_answer(item)}"

    def direct_solution(self, item: dict) -> str:
        """Answer-only completion: `#<answer>` with no working."""
        return f"#{self.final_answer(item)}"


def random_int(rng: random.Random, digits: int, allow_zero: bool = True) -> int:
    """A uniform integer with exactly `digits` digits (0 counts as a 1-digit number if allowed)."""
    low = 10 ** (digits - 1) if digits > 1 else (0 if allow_zero else 1)
    return rng.randint(low, 10**digits - 1)
