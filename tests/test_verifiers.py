"""Adversarial, hand-written completions against every verifier and the shared `#` answer rule."""

import json

import pytest

from rlvr.tasks import build_task
from rlvr.tasks.answer import extract_answer, parse_int
from rlvr.tasks.countdown import evaluate

ADD = build_task("addition")
ADD_META = {"operands": [457, 68]}


@pytest.mark.parametrize(
    "text, expected",
    [("0", 0), ("-12", -12), ("525", 525), ("9" * 40, int("9" * 40))]
    + [(s, None) for s in ["", "-", "-0", "+5", "0525", "00", "5 2", "٣", "３", "5\n", " 5", "1e3", "9" * 41, "5.0"]],
)
def test_parse_int_is_canonical_ascii(text, expected):
    assert parse_int(text) == expected


def test_extract_answer():
    assert extract_answer("work#525") == "525"
    assert extract_answer("# 525 \n") == "525"
    assert extract_answer("525") is None and extract_answer("#1#2") is None and extract_answer(None) is None


@pytest.mark.parametrize(
    "completion",
    ["#525", "7+8=15,5+6+1=12,4+1=5#525", "#525 ", "# 525\n", "\n#\t525\r\n", "I think 520, no: #525"],
)
def test_addition_accepts(completion):
    assert ADD.verify(completion, "525", ADD_META) == 1.0


@pytest.mark.parametrize(
    "completion",
    [
        "457+68=",  # echo of the question
        "#457+68",
        "#525abc",
        "#525 6",
        "#5 25",
        "#0525",
        "#+525",
        "#526",
        "#525#525",
        "#525#",
        "525",
        "",
        "#",
        "#５２５",
        "#٥٢٥",
        "#" + "9" * 1000,
        "#525.0",
    ],
)
def test_addition_rejects(completion):
    assert ADD.verify(completion, "525", ADD_META) == 0.0


@pytest.mark.parametrize("completion", [None, 525, b"#525", ["#525"], object()])
def test_non_string_completion_scores_zero(completion):
    for name in ("addition", "multiplication", "chain_sum", "countdown"):
        assert build_task(name).verify(completion, "525", {"numbers": [5, 2, 5]}) == 0.0


def test_bad_answer_or_metadata_never_raises():
    assert ADD.verify("#525", None) == 0.0
    assert ADD.verify("#525", "525", "{not json") == 0.0
    assert ADD.verify("#525", "525", None) == 1.0  # integer tasks need no metadata


def test_multiplication():
    mul = build_task("multiplication")
    assert mul.verify("457*8=3656,457*60=27420,3656+27420=31076#31076", "31076") == 1.0
    assert mul.verify("#31076", "31076") == 1.0
    for bad in ["#457*68", "#31076 ", "#31076x", "#031076", "#3107.6e1", "#31076#31076"]:
        assert mul.verify(bad, "31076") == (1.0 if bad == "#31076 " else 0.0), bad


def test_chain_sum_negative_answers():
    chain = build_task("chain_sum")
    assert chain.verify("3-12=-9,-9+5=-4#-4", "-4") == 1.0
    assert chain.verify("# -4\n", "-4") == 1.0
    assert chain.verify("#4", "-4") == 0.0
    assert chain.verify("#- 4", "-4") == 0.0
    assert chain.verify("#--4", "-4") == 0.0
    assert chain.verify("#-0", "0") == 0.0
    assert chain.verify("#0", "0") == 1.0
    assert chain.verify("#-04", "-4") == 0.0
    assert chain.verify("#3-12+5", "-4") == 0.0  # echoing the question is not an answer


CD = build_task("countdown")
CD_META = {"numbers": [3, 7, 25], "target": 75, "expression": "3*25"}


@pytest.mark.parametrize(
    "completion",
    [
        "#3*25",
        "#25*3",
        "25+7=32x,3*25=75!#3*25",
        "# 3*25 \n",
        "#(3*25)",
        "#((25))*3",
        "#(25)*(3)",
    ],
)
def test_countdown_accepts(completion):
    assert CD.verify(completion, "75", CD_META) == 1.0
    assert CD.verify(completion, "75", json.dumps(CD_META)) == 1.0


def test_countdown_alternative_and_fractional_expressions():
    meta = {"numbers": [1, 2, 4, 6]}
    assert CD.verify("#6*2", "12", meta) == 1.0
    assert CD.verify("#(6-2)*(4-1)", "12", meta) == 1.0
    assert CD.verify("#6*2*1", "12", meta) == 1.0  # unused numbers are fine (here 4)
    # (6+1/2)*4 = 26 exactly: non-integer intermediates are fine when the exact value hits the target
    assert CD.verify("#(6+1/2)*4", "26", meta) == 1.0
    assert CD.verify("#4/6*6", "4", {"numbers": [4, 6, 6]}) == 1.0
    assert CD.verify("#1/2", "0", meta) == 0.0  # 1/2 is not 0: no integer truncation


@pytest.mark.parametrize(
    "completion",
    [
        "3 7 25>75:",  # echo of the prompt
        "#75",  # the target is not one of the numbers
        "#3*25=75",
        "#3*25x",
        "#3 * 25",  # inner whitespace
        "#25*3*1",  # 1 was not given
        "#25+25+25",  # 25 used three times
        "#3*25#3*25",
        "3*25",
        "#",
        "#3/(7-7)",  # division by zero
        "#25*3/(7-7)",
        "#-3*-25",  # no unary minus
        "#03*25",  # leading zero
        "#３*25",
        "#٣*25",
        "#3**25",
        "#3*25)",
        "#(3*25",
        "#3*(25",
        "#__import__('os').system('echo hi')",
        "#3*25 and 1",
        "#3*25;",
        "#" + "(" * 500 + "3*25" + ")" * 500,
        "#" + "9" * 1000,
        "#7+25",
        "#(7-7+3)*25",  # 7 used twice
    ],
)
def test_countdown_rejects(completion):
    assert CD.verify(completion, "75", CD_META) == 0.0


def test_countdown_needs_metadata():
    assert CD.verify("#3*25", "75") == 0.0
    assert CD.verify("#3*25", "75", {}) == 0.0
    assert CD.verify("#3*25", "75", {"numbers": "3 7 25"}) == 0.0
    assert CD.verify("#3*25", "75", {"numbers": [3, True, 25]}) == 0.0
    assert CD.verify("#3*25", "x", CD_META) == 0.0


def test_evaluate_is_exact_and_strict():
    assert evaluate("7-3-2") == (2, [7, 3, 2])  # left-associative
    assert evaluate("2*3+4*5")[0] == 26 and evaluate("2*(3+4)*5")[0] == 70
    assert evaluate("8/4/2")[0] == 1 and evaluate("8/(4/2)")[0] == 4
    for bad in ["", "()", "1+", "+1", "1 +2", "(1)(2)", "1/0", "1/(2-2)", "0x10"]:
        assert evaluate(bad) is None, bad
