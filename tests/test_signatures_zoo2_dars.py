"""DARS against `none` on the toy (short real runs, same seed, one warm start: test_signatures.py's char-0.2m SFT'd
on 1-2 digit addition).

    dars   fewer all-wrong groups trained on: stage 2 rescues some all-wrong prompts (>= 1 correct row among the
           extra ones) and the filter drops the rest, where plain GRPO trains on every all-wrong group (A = 0)

The `none` arm is recipes/grpo.yaml with `AllWrong` below as its exploration block: a module that only counts the
all-wrong groups of each batch and returns it unchanged, so training is exactly `none`'s.
"""

import pytest
from test_signatures import mean, train_rows, warm_start  # noqa: F401

from rlvr.exploration.base import Explorer

pytestmark = pytest.mark.slow


class AllWrong(Explorer):
    """`none` plus one metric: explore/trained_all_wrong, the share of groups with no reward above 0.5."""

    def select_groups(self, ctx, rollout):
        groups = rollout.groups()
        self.log("trained_all_wrong", sum(all(rollout.rewards[i] <= 0.5 for i in g) for g in groups) / len(groups))
        return rollout


def test_dars_trains_on_fewer_all_wrong_groups(warm_start, tmp_path):  # noqa: F811
    none = train_rows("grpo", warm_start, tmp_path / "none", [f"exploration.name={__name__}:AllWrong"])
    dars = train_rows("dars", warm_start, tmp_path / "dars")
    # measured (16 steps, this tiny warm start is at reward ~0.01): all-wrong groups trained on 0.922 (none) vs 0.000;
    # DARS stage 1 all-wrong 0.938 of prompts, 0.422 of them rescued by stage 2, 432 extra rows per step, trained
    # groups of 60.4 rows on average, 0.453 of groups kept, sampled tokens 4191 vs 944 per rollout (4.4x)
    assert mean(none, "explore/trained_all_wrong") > 0  # the toy has all-wrong prompts at all
    assert mean(dars, "explore/trained_all_wrong") < mean(none, "explore/trained_all_wrong")
    assert mean(dars, "explore/second_rollout") > 0 and mean(dars, "explore/max_group_size") > 8
    assert mean(dars, "explore/second_saved") > 0  # depth: some all-wrong prompts gain a correct row in stage 2
    assert mean(dars, "sampled_tokens") > mean(none, "sampled_tokens")  # the cost side
