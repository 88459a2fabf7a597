"""Sums and differences of several integers, e.g. prompt `12+5-3=`, answer `14`.

Reference completion keeps a running total, one operation per step: `12+5=17,17-3=14#14`. The first
term is non-negative; with `allow_negative` each later operator is + or - at random and the total may
go below zero (`3-12=-9,-9+5=-4#-4`); without it, `-` is only chosen when the total stays >= 0.

    ChainSum(ChainSumConfig(min_terms=4, max_terms=6, max_digits=3))
"""

from __future__ import annotations

from dataclasses import dataclass

from rlvr.tasks.answer import score_int
from rlvr.tasks.base import Task, TaskConfig, random_int

NAME = "chain_sum"


@dataclass
class ChainSumConfig(TaskConfig):
    min_terms: int = 3
    """Fewest terms (drawn uniformly in [min_terms, max_terms])."""
    max_terms: int = 4
    """Most terms."""
    min_digits: int = 1
    """Fewest digits of a term (each term draws its digit count uniformly)."""
    max_digits: int = 2
    """Most digits of a term."""
    allow_negative: bool = True
    """Whether running totals and the answer may be negative."""

    def validate(self) -> None:
        super().validate()
        self._at_least("min_terms", 2)
        self._ordered("min_terms", "max_terms")
        self._at_least("min_digits", 1)
        self._ordered("min_digits", "max_digits")


class ChainSum(Task):
    name = NAME
    config_cls = ChainSumConfig
    alphabet = "0123456789+-=,#"

    def _generate(self, rng):
        c = self.config
        terms = [
            random_int(rng, rng.randint(c.min_digits, c.max_digits))
            for _ in range(rng.randint(c.min_terms, c.max_terms))
        ]
        ops, total = [], terms[0]
        for t in terms[1:]:
            op = rng.choice("+-")
            if op == "-" and not c.allow_negative and t > total:
                op = "+"
            ops.append(op)
            total = total + t if op == "+" else total - t
        prompt = str(terms[0]) + "".join(f"{op}{t}" for op, t in zip(ops, terms[1:])) + "="
        return {"prompt": prompt, "answer": str(total), "metadata": {"terms": terms, "ops": "".join(ops)}}

    def _cot(self, item, meta):
        terms, ops = meta["terms"], meta["ops"]
        steps, total = [], terms[0]
        for op, t in zip(ops, terms[1:]):
            new = total + t if op == "+" else total - t
            steps.append(f"{total}{op}{t}={new}")
            total = new
        return ",".join(steps)

    def _verify(self, completion, answer, meta):
        return score_int(completion, answer)
