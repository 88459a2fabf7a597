"""The final-answer rule shared by every task: one `#`, then the answer, nothing else.

Rule: a completion's final answer is the text after the single `#` character in it. Exactly one `#`
must occur; a completion with none, or with several ("multiple answers"), scores 0. The text after the
`#`, with ASCII spaces, tabs and newlines stripped from both ends, is the answer string; it must have
exactly the expected form or it scores 0 (no trailing junk, no partial answers, no inner whitespace).
Integers must be canonical ASCII: `-?(0|[1-9][0-9]*)`, at most 40 characters, so no leading zeros, no
`+` sign, no `-0` and no non-ASCII digits such as '٣' or '３'. Everything before the `#` is free-form
working (chain of thought) and is never scored.
"""

from __future__ import annotations

import re

ANSWER_MARK = "#"
MAX_INT_CHARS = 40
# An explicit [0-9] class: int() and str.isdigit() also accept unicode digits like '٣', which we reject.
_INT_RE = re.compile(r"-?(?:0|[1-9][0-9]*)")
_STRIP = " \t\r\n"


def extract_answer(completion: object) -> str | None:
    """The stripped text after the single `#`, or None (not a str, no `#`, or more than one `#`)."""
    if not isinstance(completion, str) or completion.count(ANSWER_MARK) != 1:
        return None
    return completion.split(ANSWER_MARK, 1)[1].strip(_STRIP)


def parse_int(text: object) -> int | None:
    """The integer written canonically in `text` (see the module rule), else None."""
    if not isinstance(text, str) or len(text) > MAX_INT_CHARS or text == "-0":
        return None
    # fullmatch, not match+$: '$' would also accept a trailing newline.
    if _INT_RE.fullmatch(text) is None:
        return None
    return int(text)


def score_int(completion: object, answer: object) -> float:
    """1.0 when the completion's final answer is the canonical integer equal to `answer`, else 0.0."""
    got = parse_int(extract_answer(completion))
    want = parse_int(answer.strip(_STRIP)) if isinstance(answer, str) else None
    return 1.0 if got is not None and want is not None and got == want else 0.0
