"""The advantage modules of the zoo against `none` on the toy (short real runs, same seed, one warm start).

The warm start of test_signatures.py (char-0.2m, 1-2 digit SFT) is trained for 32 GRPO steps on 1-digit addition,
where it is right ~15% of the time (on 2-digit sums it is ~1%, too rare a signal). Measured with seeds 0, 1, 2:

    psr / nsr       PSR's training reward above NSR's; NSR's late entropy above GRPO's (PSR vs NSR entropy: 2 of 3)
    w_reinforce     late entropy above GRPO's (down-weighted positive signal)
    negative_only   late entropy above GRPO's (no positive sharpening)
    passk_advantage wrong rows pushed down less than GRPO pushes the same rows (late entropy: 2 of 3, not asserted)
    entropy_advantage  advantages rescaled (Y spread > 0), H the loss's entropy (lower late entropy: 2 of 3)
"""

import pytest
from test_signatures import mean, train_rows, warm_start  # noqa: F401

pytestmark = pytest.mark.slow
EASY = ["task.min_digits=1", "task.max_digits=1", "train.max_steps=32"]


@pytest.fixture(scope="module")
def runs(warm_start, tmp_path_factory):  # noqa: F811
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = train_rows(name, warm_start, tmp_path_factory.mktemp(name), EASY)
        return cache[name]

    return get


def test_psr_exploits_and_nsr_keeps_entropy(runs):
    psr, nsr, none = runs("psr"), runs("nsr"), runs("grpo")
    assert all(r["explore/trained_frac"] == r["explore/correct_frac"] for r in psr)  # only correct rows trained
    assert all(r["loss"] == pytest.approx(-1.0, abs=1e-4) for r in psr if r["explore/trained_frac"] > 0)
    assert mean(psr, "reward") > mean(nsr, "reward")
    assert mean(nsr, "entropy", last=4) > mean(none, "entropy", last=4)


@pytest.mark.parametrize("name", ["w_reinforce", "negative_only"])
def test_less_positive_signal_keeps_entropy_higher(runs, name):
    assert mean(runs(name), "entropy", last=4) > mean(runs("grpo"), "entropy", last=4)


def test_passk_penalises_wrong_answers_less_than_grpo(runs):
    rows = [r for r in runs("passk_advantage") if r["explore/trained_frac"] > 0]
    assert rows and all(r["explore/neg_adv_mean"] > r["explore/grpo_neg_adv_mean"] for r in rows)
    assert mean(rows, "explore/pos_adv_mean") > -mean(rows, "explore/neg_adv_mean")


def test_entropy_advantage_rescales_by_the_losss_entropy(runs):
    rows = runs("entropy_advantage")
    assert all(r["explore/scale_std"] > 0 and r["explore/scale_min"] < 1 < r["explore/scale_max"] for r in rows)
    assert rows[0]["explore/response_entropy"] == pytest.approx(rows[0]["entropy"], rel=0.25)
