"""Addition of two non-negative integers, e.g. prompt `457+68=`, answer `525`.

Reference completion adds digit columns from the right with carries, so each step only needs two
local digits and the carry: `7+8=15,5+6+1=12,4+1=5#525`. The answer digits are the last digit of
each step read right-to-left (plus a final carry). Difficulty: digits per operand, drawn uniformly:

    Addition(AdditionConfig(min_digits=2, max_digits=5))
"""

from __future__ import annotations

from dataclasses import dataclass

from rlvr.tasks.answer import score_int
from rlvr.tasks.base import Task, TaskConfig, random_int

NAME = "addition"


@dataclass
class AdditionConfig(TaskConfig):
    min_digits: int = 3
    """Fewest digits of an operand (each operand draws its digit count uniformly in [min, max])."""
    max_digits: int = 3
    """Most digits of an operand."""

    def validate(self) -> None:
        super().validate()
        self._at_least("min_digits", 1)
        self._ordered("min_digits", "max_digits")


def column_steps(a: int, b: int) -> list[str]:
    """`d1+d2(+1)=s` per column from the right; a column with one digit and no carry reads `d=d`."""
    steps, carry = [], 0
    sa, sb = str(a)[::-1], str(b)[::-1]
    for i in range(max(len(sa), len(sb))):
        terms = [int(s[i]) for s in (sa, sb) if i < len(s)] + ([1] if carry else [])
        total = sum(terms)
        steps.append("+".join(map(str, terms)) + f"={total}")
        carry = total // 10
    return steps


class Addition(Task):
    name = NAME
    config_cls = AdditionConfig
    alphabet = "0123456789+=,#"

    def _generate(self, rng):
        c = self.config
        a = random_int(rng, rng.randint(c.min_digits, c.max_digits))
        b = random_int(rng, rng.randint(c.min_digits, c.max_digits))
        return {"prompt": f"{a}+{b}=", "answer": str(a + b), "metadata": {"operands": [a, b]}}

    def _cot(self, item, meta):
        a, b = meta["operands"]
        return ",".join(column_steps(a, b))

    def _verify(self, completion, answer, meta):
        return score_int(completion, answer)
