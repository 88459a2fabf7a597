"""pass@k / worst@k against closed forms and `evaluate_samples` on a hand-built example (every key checked)."""

import math

import pytest

from rlvr.evaluation import evaluate_samples, pass_at_k, worst_at_k


def closed_form(n, c, k):
    return 1 - math.comb(n - c, k) / math.comb(n, k)


def test_pass_at_k_hand_values_n16_k4():
    expected = [0.0, 0.25, 0.45, 0.61, 0.73, 0.82, 0.88, 0.93, 0.96]
    for c, e in enumerate(expected):
        assert round(pass_at_k(16, c, 4), 2) == e
        assert pass_at_k(16, c, 4) == pytest.approx(closed_form(16, c, 4), abs=1e-12)


def test_pass_at_k_exact_small_case_and_closed_form_grid():
    assert pass_at_k(5, 2, 2) == pytest.approx(0.7, abs=1e-12)
    for n in range(1, 12):
        for c in range(n + 1):
            for k in range(1, n + 1):
                assert pass_at_k(n, c, k) == pytest.approx(closed_form(n, c, k), abs=1e-12)


def test_pass_at_k_edges():
    assert pass_at_k(16, 0, 1) == 0.0
    assert pass_at_k(16, 16, 8) == 1.0
    assert pass_at_k(10, 8, 3) == 1.0  # n - c = 2 < k: every draw of 3 contains a correct one
    assert pass_at_k(16, 4, 1) == pytest.approx(0.25)
    for bad in [(4, 1, 5), (4, 5, 1), (-1, 0, 0), (4, -1, 1), (4, 1, -1)]:
        with pytest.raises(ValueError):
            pass_at_k(*bad)


def test_worst_at_k():
    assert worst_at_k(5, 3, 2) == pytest.approx(math.comb(3, 2) / math.comb(5, 2))  # 0.3
    assert worst_at_k(5, 3, 2) == pytest.approx(0.3)
    assert worst_at_k(5, 1, 2) == 0.0
    assert worst_at_k(4, 4, 4) == 1.0
    assert worst_at_k(8, 5, 1) == pytest.approx(5 / 8)
    with pytest.raises(ValueError):
        worst_at_k(3, 1, 4)


def test_evaluate_samples_hand_example():
    comps = [["a b", "a  b", "c", "d"], ["x", "x", "x", "x"], ["p", "q", "r", "s"]]
    correct = [[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]]
    answers = [["1", "1", None, "2"], [None, None, None, None], ["5", "5", "5", "6"]]
    ents = [[1.0, 1.0, 1.0], [4.0]] + [[0.0]] * 10  # 12 samples, 14 tokens, total 7 -> token-weighted 0.5
    m = evaluate_samples(comps, correct, ks=(1, 2, 4, 8), entropies=ents, answers=answers)
    assert set(m) == {
        "pass@1",
        "pass@2",
        "pass@4",
        "frac_zero_std",
        "frac_all_correct",
        "frac_all_wrong",
        "distinct_completions",
        "distinct_answers",
        "entropy",
        "mean_length",
        "num_problems",
        "num_samples",
    }
    assert m["pass@1"] == pytest.approx((0.5 + 0 + 1) / 3)
    assert m["pass@2"] == pytest.approx((closed_form(4, 2, 2) + 0 + 1) / 3)  # (5/6 + 0 + 1) / 3
    assert m["pass@4"] == pytest.approx(2 / 3)
    assert m["frac_zero_std"] == pytest.approx(2 / 3)
    assert m["frac_all_correct"] == pytest.approx(1 / 3)
    assert m["frac_all_wrong"] == pytest.approx(1 / 3)
    assert m["distinct_completions"] == pytest.approx((3 / 4 + 1 / 4 + 4 / 4) / 3)  # "a b" == "a  b"
    assert m["distinct_answers"] == pytest.approx((2 / 4 + 0 / 4 + 2 / 4) / 3)
    assert m["entropy"] == pytest.approx(0.5)  # not the per-sample mean, which would be (1 + 4) / 12
    assert m["mean_length"] == pytest.approx((3 + 4 + 1 + 1 + 4 + 4) / 12)
    assert m["num_problems"] == 3 and m["num_samples"] == 4
    assert all(isinstance(v, (int, float)) for v in m.values())


def test_evaluate_samples_rejects_ragged():
    with pytest.raises(ValueError):
        evaluate_samples([["a", "b"], ["c"]], [[1.0, 0.0], [1.0]])
