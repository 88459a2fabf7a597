"""Countdown: reach a target from given numbers with + - * / and parentheses, e.g. prompt `3 7 9>75:`.

Each given number may be used at most once (not all are required); many expressions are correct.
The final answer is the expression itself (`#3*25`), checked exactly with `fractions.Fraction` by a small
recursive-descent parser (never `eval`): ASCII integers without leading zeros, binary + - * / and
parentheses only (no unary minus, no spaces), at most 64 characters, literals a sub-multiset of the given
numbers, value equal to the target. Intermediate values may be fractions: `(1+1/2)*4` is exactly 6.
The `answer` column holds the target; `metadata` (numbers) is required to verify. The reference solution
is a search trace: failed attempts marked `x`, then the verified one marked `!`: `9+7=16x,(9-7)*3=6!#(9-7)*3`.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction

from rlvr.errors import RLVRError
from rlvr.tasks.answer import extract_answer, parse_int
from rlvr.tasks.base import Task, TaskConfig, metadata_dict

NAME = "countdown"
MAX_EXPR_CHARS = 64  # bounds parse time and recursion depth whatever the policy writes
_PREC = {"+": 1, "-": 1, "*": 2, "/": 2}
_TOKEN = re.compile(r"[0-9]+|[-+*/()]")  # ASCII only: '٣' or '３' or ' ' fail to tokenize


@dataclass
class CountdownConfig(TaskConfig):
    num_numbers: int = 3
    """How many numbers are given."""
    min_number: int = 1
    """Smallest given number."""
    max_number: int = 10
    """Largest given number."""
    max_target: int = 100
    """Largest target (targets are >= 1 and never one of the given numbers)."""

    def validate(self) -> None:
        super().validate()
        self._at_least("num_numbers", 2)
        self._at_least("min_number", 1)
        self._ordered("min_number", "max_number")
        self._at_least("max_target", 2)


def random_expression(rng: random.Random, leaves: list[int]) -> tuple[int, str] | None:
    """Combine `leaves` pairwise at random into one expression with positive integer intermediates."""
    nodes = [(n, str(n), 3) for n in leaves]  # (value, text, precedence; 3 = atom)
    while len(nodes) > 1:
        i, j = rng.sample(range(len(nodes)), 2)
        (va, ta, pa), (vb, tb, pb), op = nodes[i], nodes[j], rng.choice("+-*/")
        if (op == "-" and va <= vb) or (op == "/" and va % vb):
            return None  # keep generated targets and traces in positive integers
        value = {"+": va + vb, "-": va - vb, "*": va * vb, "/": va // vb}[op]
        prec = _PREC[op]
        ta = f"({ta})" if pa < prec else ta
        # `a-(b+c)` and `a/(b*c)` need parentheses on the right even at equal precedence
        tb = f"({tb})" if pb < prec or (pb == prec and op in "-/") else tb
        nodes = [n for k, n in enumerate(nodes) if k not in (i, j)] + [(value, f"{ta}{op}{tb}", prec)]
    return nodes[0][0], nodes[0][1]


def evaluate(text: str) -> tuple[Fraction, list[int]] | None:
    """Exact value and integer literals of a strict arithmetic expression, or None if malformed."""
    if len(text) > MAX_EXPR_CHARS:
        return None
    tokens, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or (len(m.group()) > 1 and m.group()[0] == "0"):  # junk, or a leading zero
            return None
        tokens.append(m.group())
        pos = m.end()
    literals: list[int] = []
    at = 0

    def peek():
        return tokens[at] if at < len(tokens) else None

    def atom() -> Fraction:
        nonlocal at
        tok = peek()
        at += 1
        if tok == "(":
            value = expr()
            if peek() != ")":
                raise ValueError("unclosed parenthesis")
            at += 1
            return value
        if tok is None or not tok.isdigit():  # safe: tokens are ASCII by construction
            raise ValueError(f"expected a number, got {tok!r}")
        literals.append(int(tok))
        return Fraction(int(tok))

    def binary(operand, ops) -> Fraction:
        nonlocal at
        value = operand()
        while peek() is not None and peek() in ops:
            op = tokens[at]
            at += 1
            rhs = operand()
            if op == "/" and rhs == 0:
                raise ZeroDivisionError
            value = (
                value + rhs if op == "+" else value - rhs if op == "-" else value * rhs if op == "*" else value / rhs
            )
        return value

    def term():
        return binary(atom, "*/")

    def expr():
        return binary(term, "+-")

    try:
        value = expr()
    except (ValueError, ZeroDivisionError):
        return None
    return (value, literals) if at == len(tokens) else None


class Countdown(Task):
    name = NAME
    config_cls = CountdownConfig
    alphabet = "0123456789 +-*/()>:=,x!#"

    def _generate(self, rng):
        c = self.config
        for _ in range(1000):
            numbers = [rng.randint(c.min_number, c.max_number) for _ in range(c.num_numbers)]
            for _ in range(20):
                subset = rng.sample(numbers, rng.randint(2, len(numbers)))
                made = random_expression(rng, subset)
                if made and made[0] <= c.max_target and made[0] not in numbers:
                    target, expression = made
                    meta = {"numbers": numbers, "target": target, "expression": expression}
                    return {
                        "prompt": f"{' '.join(map(str, numbers))}>{target}:",
                        "answer": str(target),
                        "metadata": meta,
                    }
        raise RLVRError(f"countdown: cannot reach a target <= max_target={c.max_target}; raise max_target")

    def final_answer(self, item):
        return metadata_dict(item.get("metadata"))["expression"]

    def _cot(self, item, meta):
        # The trace depends only on the prompt, so items loaded back from JSONL get the same trace.
        rng, target, steps = random.Random(f"trace-{item['prompt']}"), meta["target"], []
        wanted = rng.randint(1, 2)  # failed attempts before the verified one
        for _ in range(50):
            if len(steps) == wanted:
                break
            made = random_expression(rng, rng.sample(meta["numbers"], rng.randint(2, len(meta["numbers"]))))
            if made and made[0] != target and f"{made[1]}={made[0]}x" not in steps:
                steps.append(f"{made[1]}={made[0]}x")
        return ",".join(steps + [f"{meta['expression']}={target}!"])

    def _verify(self, completion, answer, meta):
        numbers, target = meta["numbers"], parse_int(answer.strip())
        if not isinstance(numbers, list) or not all(type(n) is int for n in numbers) or target is None:
            return 0.0
        text = extract_answer(completion)
        result = evaluate(text) if text is not None else None
        if result is None or Counter(result[1]) - Counter(numbers):  # a literal not given, or used too often
            return 0.0
        return 1.0 if result[0] == target else 0.0
