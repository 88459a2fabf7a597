"""clip_cov, kl_cov, forking_tokens and overlong_shaping against `none` with the same seed (short real runs).

The warm start and run set-up are tests/test_signatures.py's (char-0.2m SFT'd on 1-2 digit addition, 16 GRPO steps):

    forking_tokens    trains on ~rho = 20% of the completion tokens (kept_frac), `none` on all of them
    overlong_shaping  pays a length penalty on truncated completions and truncates no more often than `none`
    clip_cov          detaches at least one band token per micro-batch where the band has candidates
    kl_cov            penalises the top-covariance tokens; with the PPO clip off, it moves the policy off-policy
                      (|log-ratio| on the penalised tokens > 0 on the second micro-step)

The entropy claim of Clip-Cov / KL-Cov (entropy held above GRPO's where GRPO's collapses) does not show at this
scale: the authors' floors select 1-2 tokens per ~1,000-token micro-batch (see seeds/index.yaml, `toy`).
"""

import json

import pytest
from test_signatures import mean, train_rows, warm_start  # noqa: F401

pytestmark = pytest.mark.slow

SHORT = ["train.max_completion_length=12"]  # the warm start's completions often run past 12 tokens


def test_forking_tokens_trains_on_rho_of_the_tokens(warm_start, tmp_path):
    rows = train_rows("forking_tokens", warm_start, tmp_path)
    kept = [r["explore/kept_frac"] for r in rows if "explore/kept_frac" in r]
    assert kept and all(0.15 <= k <= 0.3 for k in kept)
    assert mean(rows, "explore/entropy_kept") > mean(rows, "explore/entropy_dropped")


def test_overlong_shaping_penalises_truncation(warm_start, tmp_path):
    base = train_rows("grpo", warm_start, tmp_path / "none", SHORT)
    rows = train_rows("overlong_shaping", warm_start, tmp_path / "shaped", SHORT)
    assert mean(base, "completions/clipped_ratio") > 0  # the limit binds in this set-up
    assert mean(rows, "explore/overlong_frac") >= mean(rows, "completions/clipped_ratio") > 0
    assert mean(rows, "rewards/soft_overlong_punishment_reward/mean") < 0
    assert mean(rows, "completions/clipped_ratio", last=4) <= mean(base, "completions/clipped_ratio", last=4)


def test_clip_cov_detaches_band_tokens(warm_start, tmp_path):
    rows = train_rows("clip_cov", warm_start, tmp_path)
    with_cand = [r for r in rows if r.get("explore/cov_candidates", 0) >= 1]
    assert all(r["explore/detached_tokens"] >= 1 for r in with_cand)
    assert mean(rows, "explore/detached_frac") < 0.01  # the authors' 2e-4, floored at one token


def test_kl_cov_penalises_top_covariance_tokens(warm_start, tmp_path):
    train_rows("kl_cov", warm_start, tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "kl_cov" / "metrics.jsonl").open()]  # off-policy steps too
    rows = [r for r in rows if "loss" in r]
    assert all(r["explore/penalized_tokens"] >= 1 for r in rows if "explore/penalized_tokens" in r)
    assert max(r.get("explore/abs_log_ratio", 0) for r in rows) > 0
    assert all(r["clip_ratio/region_mean"] == 0 for r in rows if "clip_ratio/region_mean" in r)  # no PPO clip
