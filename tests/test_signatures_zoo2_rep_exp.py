"""RepExp against `none` on the toy (short real runs, same seed, test_signatures.py's warm start: char-0.2m SFT'd on
1-2 digit addition).

    rep_exp  the bonus is > 0 only in groups with a correct answer: a probe stacked after rep_exp compares, row by row,
             the reward GRPO normalises with the raw correctness; the `none` run's rewards are the raw ones.
             The consequence the method relies on (all-correct groups get a reward spread, so fewer zero-std groups)
             does not show here: the tiny warm start solves ~3% of problems and no group is all correct (strict xfail)

Both runs train on 1-2 digit problems (what the warm start was SFT'd on; test_signatures.py's 2-digit-only runs
give 2 groups with a correct answer in 16 steps, these 9 of 64).
"""

import pytest
import yaml
from test_signatures import RECIPES, mean, train_rows, warm_start  # noqa: F401

pytestmark = pytest.mark.slow
EASY = ["task.min_digits=1"]

PROBE = '''
import torch
from rlvr.exploration.base import Explorer


class Probe(Explorer):
    """Stacked after rep_exp: logs the bonus (shaped - raw reward) in groups with and without a correct row."""

    def shape_rewards(self, ctx, rollout):
        raw = torch.nan_to_num(rollout.rewards_per_func).sum(1)  # (N,) correctness, weight 1
        bonus = (rollout.rewards - raw).tolist()
        on = [b for rows in rollout.groups() if raw[rows].max() > 0 for b in (bonus[i] for i in rows)]
        off = [b for rows in rollout.groups() if raw[rows].max() <= 0 for b in (bonus[i] for i in rows)]
        self.log("off_abs_max", max((abs(b) for b in off), default=0.0))
        self.log("on_rows", len(on))
        if on:
            self.log("on_min", min(on))
            self.log("on_pos_frac", sum(b > 0 for b in on) / len(on))
        return rollout.rewards
'''


@pytest.fixture(scope="module")
def runs(warm_start, tmp_path_factory):  # noqa: F811
    probe = tmp_path_factory.mktemp("probe") / "probe.py"
    probe.write_text(PROBE)
    block = yaml.safe_load((RECIPES / "rep_exp.yaml").read_text())["exploration"]
    stack = yaml.safe_dump([block, {"name": f"{probe}:Probe"}], default_flow_style=True, width=10_000).strip()
    rep = train_rows("rep_exp", warm_start, tmp_path_factory.mktemp("rep_exp"), [*EASY, f"exploration={stack}"])
    none = train_rows("grpo", warm_start, tmp_path_factory.mktemp("none"), EASY)
    return rep, none


def test_bonus_only_in_groups_with_a_correct_answer(runs):
    # Measured: 72 rows in groups with a correct answer over 8 rollouts, every one with a bonus > 0 (smallest raw
    # leverage 0.0023, times beta 0.01), mean raw leverage there 0.67; 440 rows in all-wrong groups, bonus exactly 0.
    rep, none = runs
    assert all(r["explore/off_abs_max"] == 0 for r in rep)  # no correct row in the group: no bonus, bit for bit
    assert sum(r["explore/on_rows"] for r in rep) >= 24  # at least 3 groups with a correct answer were seen
    assert all(r["explore/on_min"] > 0 for r in rep if "explore/on_min" in r)
    assert mean(rep, "explore/on_pos_frac") == 1.0 and mean(rep, "explore/bonus_on_mean") > 0.1
    # against none: its reward is the raw correctness; rep_exp's is above it by exactly beta x the gated bonus
    assert all(r["reward"] == pytest.approx(r["rewards/correctness/mean"], abs=1e-7) for r in none)
    for r in rep:
        shift = r["reward"] - r["rewards/correctness/mean"]
        assert shift == pytest.approx(0.01 * r["explore/bonus_applied_mean"], abs=1e-6)
    assert mean(rep, "reward") > mean(rep, "rewards/correctness/mean")


@pytest.mark.xfail(strict=True, reason="no all-correct group on the tiny warm start (~3% solved): nothing to spread")
def test_all_correct_groups_get_a_reward_spread(runs):
    # Recorded, not weakened: all_correct_frac is 0 at every step, so the bonus never sets an advantage alone here;
    # frac_reward_zero_std 0.859 vs none's 0.875 comes from the runs drifting apart, not from solved groups. The
    # fast test checks the mechanism (an all-correct group's advantages are the bonus's z-scores).
    rep, none = runs
    assert mean(rep, "explore/all_correct_frac") > 0  # there are solved prompts for the bonus to act on
    assert mean(rep, "frac_reward_zero_std") < mean(none, "frac_reward_zero_std")
