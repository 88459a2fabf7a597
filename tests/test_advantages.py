"""rlvr.advantages: group-relative advantages over groups of any size, by hand; TRL's own values on equal groups."""

from __future__ import annotations

import math
import statistics

import pytest

torch = pytest.importorskip("torch")

from trl.trainer.utils import nanstd  # noqa: E402

from rlvr.advantages import EPS, advantages, group_index  # noqa: E402

NAN = float("nan")
# three groups of sizes 4, 2, 3: group C has an unscorable row (NaN)
REWARDS = [1.0, 0.0, 0.0, 1.0, 2.0, 2.0, 0.0, 3.0, NAN]
GIDS = [7, 7, 7, 7, 3, 3, 9, 9, 9]  # ids need only be equal within a group and differ between neighbours


def test_group_index_of_runs():
    index, n_groups, width = group_index(GIDS)
    assert index.tolist() == [0, 0, 0, 0, 1, 1, 2, 2, 2] and n_groups == 3 and width == 4


def test_group_scaling_by_hand():
    adv, zero_std = advantages(torch.tensor(REWARDS), GIDS, "group")
    sd_a = math.sqrt((0.25 * 4) / 3)  # group A: mean 0.5, unbiased std over 4 rows
    sd_c = math.sqrt((1.5**2 + 1.5**2) / 1)  # group C: mean 1.5 over its 2 scorable rows
    expected = [0.5 / (sd_a + EPS), -0.5 / (sd_a + EPS), -0.5 / (sd_a + EPS), 0.5 / (sd_a + EPS)]
    expected += [0.0, 0.0]  # group B: no spread
    expected += [-1.5 / (sd_c + EPS), 1.5 / (sd_c + EPS), 0.0]  # the unscorable row gets 0
    torch.testing.assert_close(adv, torch.tensor(expected), rtol=1e-6, atol=1e-6)
    assert zero_std.tolist() == [False] * 4 + [True] * 2 + [False] * 3


def test_no_scaling_and_batch_scaling_by_hand():
    adv, _ = advantages(torch.tensor(REWARDS), GIDS, "none")
    torch.testing.assert_close(adv, torch.tensor([0.5, -0.5, -0.5, 0.5, 0.0, 0.0, -1.5, 1.5, 0.0]))
    adv, zero_std = advantages(torch.tensor(REWARDS), GIDS, "batch")
    sd = statistics.stdev([r for r in REWARDS if not math.isnan(r)])  # over every scorable row of the batch
    expected = [0.5, -0.5, -0.5, 0.5, 0.0, 0.0, -1.5, 1.5, 0.0]
    torch.testing.assert_close(adv, torch.tensor([x / (sd + EPS) for x in expected]), rtol=1e-6, atol=1e-6)
    assert not zero_std.any()


def test_groups_of_4_8_and_12():
    torch.manual_seed(0)
    sizes = [4, 8, 12]
    rewards = torch.randint(0, 2, (24,)).float()
    gids = [g for g, n in enumerate(sizes) for _ in range(n)]
    adv, _ = advantages(rewards, gids, "group")
    start = 0
    for n in sizes:  # each group is normalised by its own rows only
        r = rewards[start : start + n].tolist()
        mean, sd = sum(r) / n, statistics.stdev(r)
        want = [(x - mean) / (sd + EPS) for x in r]
        torch.testing.assert_close(adv[start : start + n], torch.tensor(want), rtol=1e-5, atol=1e-6)
        start += n


def test_equal_groups_are_bit_identical_to_trls_inline_computation():
    torch.manual_seed(1)
    g = 8
    rewards = torch.rand(64)
    rewards[5] = NAN
    adv, zero_std = advantages(rewards, [i // g for i in range(64)], "group")
    # TRL 1.16 _generate_and_score_completions, sum_then_normalize with scale_rewards="group", verbatim in effect
    mean = torch.nanmean(rewards.view(-1, g), dim=1).repeat_interleave(g, dim=0)
    std = nanstd(rewards.view(-1, g), dim=1).repeat_interleave(g, dim=0)
    trl = torch.nan_to_num((rewards - mean) / (std + 1e-4), nan=0.0)
    assert torch.equal(adv, trl) and torch.equal(zero_std, torch.isclose(std, torch.zeros_like(std)))


def test_normalize_then_sum_by_hand():
    # two reward functions, weights 1 and 2, two groups of 2
    per_func = torch.tensor([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0], [1.0, 3.0]])
    weights = torch.tensor([1.0, 2.0])
    adv, _ = advantages(per_func.sum(1), [0, 0, 1, 1], "group", per_func, weights, "normalize_then_sum")
    s2 = math.sqrt(0.5)  # std of two values 1 apart... func 1 group 0: (1, 0) -> mean 0.5, std sqrt(0.5)
    f1 = [0.5 / (s2 + EPS), -0.5 / (s2 + EPS), 0.0, 0.0]  # func 1; group 1 has no spread
    f2 = [0.0, 0.0, -1.0 / (math.sqrt(2) + EPS), 1.0 / (math.sqrt(2) + EPS)]  # func 2: group 1 (1, 3)
    summed = [a + 2 * b for a, b in zip(f1, f2)]
    mean, sd = sum(summed) / 4, statistics.stdev(summed)
    torch.testing.assert_close(adv, torch.tensor([(x - mean) / (sd + EPS) for x in summed]), rtol=1e-5, atol=1e-6)
