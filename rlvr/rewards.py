"""Reward functions with TRL's signature, and the guard that turns their failures into one-line errors.

A reward is a plain function `f(prompts, completions, answer, **kwargs) -> list[float | None]`; TRL
passes every dataset column (`answer`, `task`, `metadata`, ...) as a keyword. Built-ins:

- `correctness`: 1.0 when the task's strict verifier accepts the completion, else 0.0.
- `format`: 1.0 when the completion has exactly one final-answer marker `#` followed by an answer
  with no inner whitespace, else 0.0 (a shaping reward; it says nothing about correctness).

Both accept plain completions (strings) and conversational ones (`[{"role": "assistant", "content": ...}]`,
what TRL passes for chat prompts): they score the last message's content.

A recipe selects rewards by name, 'package.module:func' or 'path/to/file.py:func', with a weight and
keyword arguments bound by `functools.partial`:

    reward:
      - {name: correctness, weight: 1.0}
      - {name: ./my_rewards.py:brevity, weight: 0.1, kwargs: {max_len: 40}}
"""

from __future__ import annotations

import functools
import math

from rlvr.errors import RLVRError
from rlvr.prompts import completion_text
from rlvr.registry import resolve


@functools.cache
def _task(name: str):
    from rlvr.tasks import get_task_class

    return get_task_class(name)()


def correctness(prompts, completions, answer, task=None, metadata=None, task_name=None, **kwargs) -> list[float]:
    """Task verifier score per completion; the task comes from the `task` column or `task_name=`."""
    names = task if task is not None else [task_name] * len(completions)
    if names[0] is None:
        raise RLVRError("correctness reward needs a 'task' dataset column or the kwarg task_name")
    metas = metadata if metadata is not None else [None] * len(completions)
    texts = [completion_text(c) for c in completions]
    return [_task(t).verify(c, a, m) for c, a, t, m in zip(texts, answer, names, metas)]


def format(prompts, completions, **kwargs) -> list[float]:  # noqa: A001 - the reward is called "format" in recipes
    """1.0 when the completion ends in exactly one well-formed '#<answer>' (no inner whitespace)."""
    out = []
    for c in map(completion_text, completions):
        ok = isinstance(c, str) and c.count("#") == 1
        tail = c.split("#", 1)[1].strip() if ok else ""
        out.append(1.0 if ok and tail and not any(ch.isspace() for ch in tail) else 0.0)
    return out


REWARDS = {"correctness": correctness, "format": format}


class GuardedReward:
    """Wrap a user or built-in reward: errors and bad return values become one-line RLVRErrors."""

    def __init__(self, func, name: str, kwargs: dict | None = None):
        self.func = functools.partial(func, **kwargs) if kwargs else func
        self.__name__ = name.rsplit(":", 1)[-1].removesuffix(".py")

    def __call__(self, prompts, completions, **kwargs):
        try:
            out = self.func(prompts=prompts, completions=completions, **kwargs)
        except RLVRError:
            raise
        except Exception as exc:  # locate the first offending row to make the message actionable
            row = self._find_bad_row(prompts, completions, kwargs)
            where = f" on row {row} (completion {completions[row]!r:.80})" if row is not None else ""
            raise RLVRError(f"reward function '{self.__name__}' raised {type(exc).__name__}: {exc}{where}") from exc
        if not isinstance(out, list | tuple):
            raise RLVRError(f"reward function '{self.__name__}' must return a list, got {type(out).__name__}")
        if len(out) != len(completions):
            raise RLVRError(
                f"reward function '{self.__name__}' returned {len(out)} values for {len(completions)} completions"
            )
        for i, v in enumerate(out):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int | float) or math.isnan(v)):
                raise RLVRError(f"reward function '{self.__name__}' returned {v!r} on row {i}; expected float or None")
        return [None if v is None else float(v) for v in out]

    def _find_bad_row(self, prompts, completions, kwargs):
        for i in range(len(completions)):
            row_kw = {
                k: ([v[i]] if isinstance(v, list) and len(v) == len(completions) else v) for k, v in kwargs.items()
            }
            try:
                self.func(prompts=[prompts[i]], completions=[completions[i]], **row_kw)
            except Exception:
                return i
        return None


def build_rewards(specs) -> tuple[list, list[float]]:
    """RewardSpec list -> (guarded functions, weights) for GRPOTrainer(reward_funcs=..., reward_weights=...)."""
    funcs, weights = [], []
    for spec in specs:
        func = resolve(spec.name, REWARDS, "reward function")
        if not callable(func):
            raise RLVRError(f"reward function '{spec.name}' is not callable")
        funcs.append(GuardedReward(func, spec.name, spec.kwargs))
        weights.append(float(spec.weight))
    return funcs, weights
