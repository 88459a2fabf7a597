"""Any reasoning-gym dataset as an rlvr task (the `gym` extra: `pip install -e ".[gym]"`).

    task: {name: gym, dataset: basic_arithmetic, config: {min_terms: 2, max_terms: 3, max_digits: 1}}

Questions come from the dataset's own generator, built with `seed` and `size` (its index space): item
`(split, index)` draws a generator index from `Random(gym-<dataset>-<seed>-<split>-<index>)` and keeps it only
when the question belongs to `split` by rlvr's CRC rule, so items are deterministic and the splits disjoint as
for the built-in tasks. The verifier is the dataset's `score_answer` applied to the text after the single `#`
(rlvr's answer rule), counted correct only at 1.0: reasoning-gym gives partial credit (e.g. 0.5 for an answer
that merely contains the right one). reasoning-gym has no worked solutions, so the warm-start traces answer
directly (`#<answer>`). The verifier rebuilds the question from the row's metadata (dataset, config, seed, size,
generator index), so the `correctness` reward needs nothing but the dataset columns.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass, field

from rlvr.errors import ConfigError
from rlvr.registry import closest
from rlvr.tasks.answer import extract_answer
from rlvr.tasks.base import Task, TaskConfig

NAME = "gym"
RESERVED = ("seed", "size")  # rlvr sets these on the reasoning-gym config itself


def _reasoning_gym():
    try:
        import reasoning_gym  # noqa: F401
        from reasoning_gym.factory import DATASETS
    except ImportError:
        raise ConfigError(
            "task 'gym' needs the reasoning-gym package: pip install -c constraints-cpu.txt -e '.[gym]'"
        ) from None
    return DATASETS


@functools.lru_cache(maxsize=16)
def _dataset(name: str, config_json: str, seed: int, size: int):
    """The reasoning-gym dataset object (cached: the verifier rebuilds it from every row's metadata)."""
    cls, config_cls = _reasoning_gym()[name]
    config = config_cls(**json.loads(config_json), seed=seed, size=size)
    if hasattr(config, "validate"):
        config.validate()
    return cls(config=config)


@dataclass
class GymConfig(TaskConfig):
    dataset: str = "products"
    """A reasoning-gym dataset name (all of them: `sorted(reasoning_gym.factory.DATASETS)`)."""
    config: dict = field(default_factory=dict)
    """The dataset's own settings (its config dataclass), e.g. {min_digits: 1, max_digits: 2}."""
    size: int = 100_000
    """Generator indices drawn from [0, size): the question space of datasets that generate lazily."""

    def validate(self) -> None:
        super().validate()
        self._at_least("size", 1)
        datasets = _reasoning_gym()
        if self.dataset not in datasets:
            raise ConfigError(
                f"unknown reasoning-gym dataset '{self.dataset}'{closest(self.dataset, datasets)}; "
                f"{len(datasets)} are registered, e.g. {', '.join(sorted(datasets)[:5])}, ..."
            )
        if not isinstance(self.config, dict):
            raise ConfigError(f"task.config must be a mapping of the dataset's settings, got {self.config!r}")
        fields = [f.name for f in dataclasses.fields(datasets[self.dataset][1]) if f.name not in RESERVED]
        for key in self.config:
            if key in RESERVED:
                raise ConfigError(f"task.config.{key}: set task.{key} instead (rlvr draws items from it)")
            if key not in fields:
                raise ConfigError(
                    f"unknown key 'task.config.{key}' for reasoning-gym dataset '{self.dataset}'"
                    f"{closest(key, fields)}; valid keys: {', '.join(fields)}"
                )
        try:
            _dataset(self.dataset, self._config_json(), self.seed, self.size)
        except (AssertionError, TypeError, ValueError) as exc:
            raise ConfigError(
                f"task.config for reasoning-gym dataset '{self.dataset}': {exc or 'invalid'} "
                f"(built with size={self.size}, seed={self.seed}: task.size sets the index space)"
            ) from None

    def _config_json(self) -> str:
        return json.dumps(self.config, sort_keys=True)


class Gym(Task):
    """A reasoning-gym dataset (task.dataset), scored by its score_answer on the text after '#'."""

    name = NAME
    config_cls = GymConfig

    def _source(self):
        c = self.config
        return _dataset(c.dataset, c._config_json(), c.seed, c.size)

    def _generate(self, rng):
        index = rng.randrange(self.config.size)
        entry = self._source()[index]
        return {"prompt": entry["question"], "answer": str(entry["answer"]), "metadata": {"gym_index": index}}

    def _cot(self, item, meta):
        return ""  # no worked solutions in reasoning-gym: the warm start answers directly

    def _verify(self, completion, answer, meta):
        text = extract_answer(completion)
        if not text:
            return 0.0
        ds = _dataset(meta["dataset"], json.dumps(meta["config"], sort_keys=True), meta["seed"], meta["size"])
        return 1.0 if ds.score_answer(text, ds[meta["gym_index"]]) >= 1.0 else 0.0
