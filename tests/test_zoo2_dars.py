"""DARS: hand-computed Δn (ET and HW), the merge into larger groups, the filter, mean-only advantages on unequal
groups, config errors, then 2 real trainer steps. The signature against `none` is in test_signatures_zoo2_dars.py.

Δn follows the authors' `schedule_ET` / `schedule_HW` (yangzhch6/DARS@9b21b71 ray_dars_trainer.py): a := 0.5 / N
when a = 0, S(a) = 2a(1 - a), Δn = 0 for a >= 0.5, else min(ceil((target - N S) / S), N_max - N) with target 0.5 N
(ET, N_max 32) or (1 - a) N (HW, N_max 64).
"""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from _trainers import G, dataset, digits, make_trainer, model_dir, run_and_check_signature  # noqa: E402,F401

from rlvr.advantages import advantages as group_advantages  # noqa: E402
from rlvr.errors import ConfigError  # noqa: E402
from rlvr.exploration.context import Rollout, RolloutContext, RunInfo  # noqa: E402
from rlvr.exploration.dars import Dars, DarsConfig, extra_samples, merge  # noqa: E402

# -- Δn at N = 8, by hand ---------------------------------------------------------------------------------------------
#   c correct  a      S = 2a(1-a)        N S      ET: (4 - N S) / S          HW: ((1-a) 8 - N S) / S
#   0          1/16   30/256 = 0.1171875 0.9375   26.13 -> 27, cap 24        (7.5 - 0.9375) / S = 56 -> 56 (cap 56)
#   1          1/8    14/64  = 0.21875   1.75     10.29 -> 11                (7 - 1.75) / S = 24
#   2          1/4    0.375              3        2.67 -> 3                  (6 - 3) / S = 8
#   3          3/8    30/64  = 0.46875   3.75     0.53 -> 1                  (5 - 3.75) / S = 2.67 -> 3
#   4..8       >= 0.5                             0                          0
ET = [24, 11, 3, 1, 0, 0, 0, 0, 0]
HW = [56, 24, 8, 3, 0, 0, 0, 0, 0]


def by_formula(c: int, n: int, schedule: str, n_max: int) -> int:
    a = c / n if c else 0.5 / n
    if a >= 0.5:
        return 0
    s = 2 * a * (1 - a)
    target = 0.5 * n if schedule == "et" else (1 - a) * n
    return min(math.ceil(round((target - n * s) / s, 9)), n_max - n)


@pytest.mark.parametrize("c", range(9))
def test_extra_samples_match_the_table_and_the_formula(c):
    assert extra_samples(c / 8, 8, "et", 32) == ET[c] == by_formula(c, 8, "et", 32)
    assert extra_samples(c / 8, 8, "hw", 64) == HW[c] == by_formula(c, 8, "hw", 64)


def test_use_std_and_the_cap():
    # use_std, ET, 1 of 8: S = 2 sqrt(7/64) = sqrt(7) / 4 = 0.661438, N S = 2 sqrt(7) = 5.291503, peak N = 8:
    # (8 - 5.291503) / 0.661438 = 4.0948 -> 5.  HW: target 2 (1 - a) N = 14: (14 - 5.291503) / 0.661438 = 13.17 -> 14
    assert extra_samples(1 / 8, 8, "et", 32, use_std=True) == 5
    assert extra_samples(1 / 8, 8, "hw", 64, use_std=True) == 14
    assert extra_samples(0.0, 8, "hw", 16) == 8  # n_max caps the group at 16 rows
    assert extra_samples(0.0, 8, "hw", 8) == 0


# -- stage 2, merge, filter -------------------------------------------------------------------------------------------
class FakeEngine:
    """ctx.sample: completion [100 + j] for the j-th sampled row; ctx.score: the next rewards of a fixed list."""

    def __init__(self, rewards):
        self.rewards, self.calls = list(rewards), []

    def sample_rollout(self, rows, group_ids, overrides):
        self.calls.append((rows, group_ids))
        return Rollout(rows, [[1, 2]] * len(rows), [[100 + j] for j in range(len(rows))], group_ids)

    def score_rollout(self, ctx, rollout):
        n = len(rollout)
        rollout.rewards, self.rewards = torch.tensor(self.rewards[:n]), self.rewards[n:]
        rollout.rewards_per_func, rollout.completions = rollout.rewards[:, None], ["x"] * n
        return rollout


def stage_one(rewards, ids=(5, 6, 7, 8)):
    """Groups of 4 rows (prompts p5, p6, ...), scored with `rewards`."""
    rows = [{"prompt": f"p{g}"} for g in ids for _ in range(4)]
    r = torch.tensor(rewards, dtype=torch.float32)
    gids = [g for g in ids for _ in range(4)]
    return Rollout(rows, [[1]] * len(rows), [[i] for i in range(len(rows))], gids, rewards=r,
                   rewards_per_func=r[:, None], completions=["x"] * len(rows))  # fmt: skip


def run(cfg, rollout, second):
    engine = FakeEngine(second)
    ctx = RolloutContext(step=0, num_generations=4, temperature=1.0, rows=rollout.rows, group_ids=rollout.group_ids,
                         _engine=engine)  # fmt: skip
    module = Dars(cfg)
    return module.select_groups(ctx, rollout), {k: v[0] for k, v in module.pop_metrics().items()}, engine


# Groups of N = 4 (ET, N_max 32): A 0/4 -> a = 1/8, S = 0.21875: (2 - 0.875) / S = 5.14 -> 6 extra;
# B 1/4: S = 0.375, (2 - 1.5) / S = 1.33 -> 2 extra; D 4/4 and E 0/4 (6 extra, all wrong again).
FIRST = [0, 0, 0, 0] + [1, 0, 0, 0] + [1, 1, 1, 1] + [0, 0, 0, 0]
SECOND = [0, 0, 0, 0, 0, 1] + [0, 1] + [0] * 6  # A saved by its 6th extra row, B gains one, E stays all wrong


def test_merge_grows_groups_under_their_ids_and_filters():
    out, m, engine = run(DarsConfig(schedule="et"), stage_one(FIRST), SECOND)
    (rows, gids), = engine.calls  # fmt: skip
    assert [r["prompt"] for r in rows] == ["p5"] * 6 + ["p6"] * 2 + ["p8"] * 6 and gids == [5] * 6 + [6] * 2 + [8] * 6
    assert out.group_ids == [5] * 10 + [6] * 6  # D (all correct) and E (still all wrong) dropped
    assert [r["prompt"] for r in out.rows] == ["p5"] * 10 + ["p6"] * 6
    assert out.completion_ids == [[0], [1], [2], [3], *([100 + j] for j in range(6)), [4], [5], [6], [7], [106], [107]]
    assert out.rewards.tolist() == [0] * 9 + [1] + [1, 0, 0, 0, 0, 1]
    assert m["second_rollout"] == 14 and m["second_saved"] == 0.5
    assert (m["solve_none"], m["solve_partial"], m["solve_all"]) == (0.5, 0.25, 0.25)
    assert (m["kept_groups"], m["group_size"], m["max_group_size"]) == (0.5, 8, 10)
    assert m["trained_all_wrong"] == 0 and m["nothing_left"] == 0


def test_mean_only_advantages_on_the_unequal_groups():
    out, _, _ = run(DarsConfig(schedule="et"), stage_one(FIRST), SECOND)
    # A: 1 correct of 10, mean 0.1 -> -0.1 (x 9), 0.9;  B: 2 of 6, mean 1/3 -> 2/3, -1/3 (x 4), 2/3
    want = [-0.1] * 9 + [0.9] + [2 / 3, -1 / 3, -1 / 3, -1 / 3, -1 / 3, 2 / 3]
    adv, _ = group_advantages(out.rewards, out.group_ids, Dars(DarsConfig()).grpo_overrides()["scale_rewards"])
    torch.testing.assert_close(adv, torch.tensor(want), atol=1e-6, rtol=0)
    assert Dars(DarsConfig(use_std=True)).grpo_overrides() == {"scale_rewards": "group"}


def test_filter_off_keeps_every_group_and_nothing_left_keeps_them_too():
    out, m, _ = run(DarsConfig(schedule="et", filter_groups=False), stage_one(FIRST), SECOND)
    assert out.group_ids == [5] * 10 + [6] * 6 + [7] * 4 + [8] * 10
    assert m["trained_all_wrong"] == 0.25 and m["group_size"] == 7.5
    out, m, engine = run(DarsConfig(), stage_one([1.0] * 8, ids=(1, 2)), [])  # all solved: no stage 2, all filtered
    assert engine.calls == [] and m["second_rollout"] == 0 and "second_saved" not in m
    assert len(out) == 8 and m["nothing_left"] == 1  # the trainer cannot skip a step: every group is kept


def test_graded_rewards_use_the_threshold():
    # rewards 0.2 / 0.05: with threshold 0.1 the first group is 2 of 4 correct (no stage 2), the second 0 of 4
    r = [0.2, 0.2, 0.05, 0.05] + [0.05] * 4
    _, m, _ = run(DarsConfig(correct_threshold=0.1, schedule="et"), stage_one(r, ids=(1, 2)), [0.05] * 5 + [0.2])
    assert m["second_rollout"] == 6 and m["solve_partial"] == 0.5 and m["second_saved"] == 1


def test_merge_keeps_a_prefix_loss_mask():
    first = stage_one([0.0] * 4, ids=(3,))
    first.loss_mask = [[0, 1]] * 4
    second = Rollout([first.rows[0]], [[1]], [[9, 9, 9]], [3], rewards=torch.zeros(1),
                     rewards_per_func=torch.zeros(1, 1), completions=["x"])  # fmt: skip
    out = merge(first, second, [0])
    assert out.loss_mask == [[0, 1]] * 4 + [[1, 1, 1]] and out.group_ids == [3] * 5


def test_bad_settings_are_one_line_config_errors():
    for bad in (dict(schedule="fast"), dict(n_max=0), dict(upper_threshold=0), dict(upper_threshold=1.5),
                dict(correct_threshold=float("nan"))):  # fmt: skip
        with pytest.raises(ConfigError, match="exploration."):
            DarsConfig(**bad).validate()
    with pytest.raises(ConfigError, match="n_max"):
        Dars(DarsConfig(n_max=4)).setup(RunInfo(None, 8, 1, False, None))


def test_recipe_settings_are_checked():
    from pathlib import Path

    from rlvr.recipe import load_recipe

    path = Path(__file__).resolve().parent.parent / "recipes" / "dars.yaml"
    assert load_recipe(path).exploration.config == DarsConfig()
    with pytest.raises(ConfigError, match="schedule"):
        load_recipe(path, ["exploration.schedule=xx"])


# -- real trainer -----------------------------------------------------------------------------------------------------
CFG = dict(correct_threshold=0.1)  # the fixture's digit-fraction reward: ~30% of a random model's rows are above 0.1
KEYS = ["second_rollout", "solve_none", "solve_partial", "solve_all", "group_size", "max_group_size", "kept_groups"]


def test_dars_trains_two_steps_on_larger_groups(make_trainer):
    trainer, logs = run_and_check_signature(make_trainer, Dars(DarsConfig(**CFG)), [f"explore/{k}" for k in KEYS])
    assert trainer.scale_rewards == "none"
    assert any(h["explore/second_rollout"] > 0 for h in logs)
    assert max(h["explore/max_group_size"] for h in logs) > G  # a group larger than N was trained on


def test_batch_holds_the_merged_groups_with_mean_only_advantages(make_trainer, dataset):  # noqa: F811
    trainer = make_trainer(explorer=Dars(DarsConfig(**CFG)), scale_rewards="none")
    trainer.model.train()
    batch = trainer._generate_and_score_completions([dict(dataset[i]) for i in (0, 1, 2, 3) for _ in range(G)])
    prompts = [tuple(p[m.bool()].tolist()) for p, m in zip(batch["prompt_ids"], batch["prompt_mask"])]
    texts = trainer.processing_class.batch_decode(
        [c[m.bool()].tolist() for c, m in zip(batch["completion_ids"], batch["completion_mask"])],
        skip_special_tokens=True,
    )
    rewards, adv = torch.tensor(digits(None, texts)), batch["advantages"]
    sizes, start = [], 0
    for i in range(1, len(prompts) + 1):  # groups: consecutive rows of one prompt
        if i == len(prompts) or prompts[i] != prompts[start]:
            r = rewards[start:i]
            torch.testing.assert_close(adv[start:i], r - r.mean(), atol=1e-5, rtol=0)
            assert (r > 0.1).any() and not (r > 0.1).all(), "filtered: every group has both kinds of rows"
            sizes.append(i - start)
            start = i
    assert max(sizes) > G
