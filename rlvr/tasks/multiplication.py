"""Multiplication of an n-digit by an m-digit positive integer, e.g. prompt `457*68=`, answer `31076`.

Reference completion writes one partial product per non-zero digit of the second operand (from the
right), then adds the partials with a running total:
`457*8=3656,457*60=27420,3656+27420=31076#31076`; with a 1-digit multiplier it is just `57*8=456#456`.
Difficulty: digit counts of the two operands (the first may be drawn from a range):

    Multiplication(MultiplicationConfig(digits_a=3, digits_b=2))
"""

from __future__ import annotations

from dataclasses import dataclass

from rlvr.errors import ConfigError
from rlvr.tasks.answer import score_int
from rlvr.tasks.base import Task, TaskConfig, random_int

NAME = "multiplication"


@dataclass
class MultiplicationConfig(TaskConfig):
    digits_a: int = 2
    """Number of digits of the first operand (the most, when `min_digits_a` is set)."""
    min_digits_a: int | None = None
    """If set, the first operand's digit count is drawn uniformly in [min_digits_a, digits_a]."""
    digits_b: int = 1
    """Exact number of digits of the second operand (the multiplier split into partial products)."""

    def validate(self) -> None:
        super().validate()
        self._at_least("digits_a", 1)
        self._at_least("digits_b", 1)
        if self.min_digits_a is not None and not 1 <= self.min_digits_a <= self.digits_a:
            raise ConfigError(f"min_digits_a must be in [1, digits_a={self.digits_a}], got {self.min_digits_a}")


class Multiplication(Task):
    name = NAME
    config_cls = MultiplicationConfig
    alphabet = "0123456789*+=,#"

    def _generate(self, rng):
        # zero operands are excluded: `x*0` has no partial products and teaches nothing
        lo = self.config.min_digits_a
        digits_a = self.config.digits_a if lo is None else rng.randint(lo, self.config.digits_a)
        a = random_int(rng, digits_a, allow_zero=False)
        b = random_int(rng, self.config.digits_b, allow_zero=False)
        return {"prompt": f"{a}*{b}=", "answer": str(a * b), "metadata": {"operands": [a, b]}}

    def _cot(self, item, meta):
        a, b = meta["operands"]
        steps, partials = [], []
        for place, digit in enumerate(reversed(str(b))):
            if digit != "0":  # a zero digit contributes nothing; skipping keeps the trace short
                factor = int(digit) * 10**place
                partials.append(a * factor)
                steps.append(f"{a}*{factor}={a * factor}")
        total = partials[0]
        for p in partials[1:]:
            steps.append(f"{total}+{p}={total + p}")
            total += p
        return ",".join(steps)

    def _verify(self, completion, answer, meta):
        return score_int(completion, answer)
