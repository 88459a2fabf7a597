"""Built-in synthetic tasks with exact verifiers, and `build_task` to make one from a recipe.

    task = build_task("addition", max_digits=4, seed=1)
    ds = task.dataset("train", size=2000)
    reward = task.verify(completion, ds[0]["answer"], ds[0]["metadata"])

`name` may also be `package.module:Class` or `path/to/file.py:Class` for a user Task subclass.
`gym` adapts any reasoning-gym dataset (`rlvr.tasks.gym`, the `gym` extra).
Committed eval sets live in `<repo>/data/<name>_eval.jsonl` (see `rlvr.tasks.export`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from rlvr.errors import ConfigError
from rlvr.registry import closest, resolve
from rlvr.tasks.addition import Addition
from rlvr.tasks.base import Task, TaskConfig
from rlvr.tasks.chain_sum import ChainSum
from rlvr.tasks.countdown import Countdown
from rlvr.tasks.gym import Gym
from rlvr.tasks.multiplication import Multiplication

TASKS: dict[str, type[Task]] = {
    "addition": Addition,
    "multiplication": Multiplication,
    "chain_sum": ChainSum,
    "countdown": Countdown,
}
# Adapters turn another library's tasks into rlvr tasks; no committed eval sets (`rlvr data` skips them).
ADAPTERS: dict[str, type[Task]] = {"gym": Gym}

DATA_DIR = Path(__file__).resolve().parents[2] / "data"  # data/ sits at the repo root next to rlvr/


def get_task_class(name: str) -> type[Task]:
    """The Task subclass for a built-in name, 'package.module:Class' or 'path/to/file.py:Class'."""
    cls = resolve(name, {**TASKS, **ADAPTERS}, "task")
    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise ConfigError(f"task '{name}' must be a subclass of rlvr.tasks.base.Task, got {cls!r}")
    return cls


def build_task(name: str, **kwargs) -> Task:
    """The task `name` with its config built from `kwargs`; bad keys, types or values raise ConfigError."""
    cls = get_task_class(name)
    valid = [f.name for f in dataclasses.fields(cls.config_cls)]
    for key in kwargs:
        if key not in valid:
            raise ConfigError(
                f"unknown key '{key}' for task '{cls.name}'{closest(key, valid)}; valid keys: {', '.join(valid)}"
            )
    return cls(cls.config_cls(**kwargs))  # Task.__init__ validates types and values


def default_eval_path(name: str) -> Path:
    """`<repo>/data/<name>_eval.jsonl`, the committed eval set of a built-in task."""
    return DATA_DIR / f"{name}_eval.jsonl"


__all__ = ["ADAPTERS", "TASKS", "Task", "TaskConfig", "build_task", "default_eval_path", "get_task_class"]
