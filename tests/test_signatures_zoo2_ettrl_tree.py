"""ETTRL's entropy-fork tree (ETMR) against `none` on the toy (a sampler measurement and short real runs, same
seed, one warm start).

The warm start is test_signatures.py's (char-0.2m SFT'd on 1-2 digit addition). As for LATR, EAD and CURE there,
everything samples at T = 0.5, where i.i.d. groups repeat themselves the way the real seed's do at T = 1.

    ettrl_tree  fewer generated tokens per completion than i.i.d. sampling (branches share their root's prefix:
                the paper's ~60% claim); more distinct answers per group (the issue's signature) does not show on
                the toy and is recorded as a strict xfail
"""

import pytest
import torch
from test_signatures import RECIPES, mean, train_rows, warm_start  # noqa: F401

pytestmark = pytest.mark.slow
COLD = ["train.temperature=0.5"]
G = 8


@pytest.fixture(scope="module")
def runs(warm_start, tmp_path_factory):  # noqa: F811
    return {name: train_rows(name, warm_start, tmp_path_factory.mktemp(name), COLD) for name in ("ettrl_tree", "grpo")}


def test_ettrl_tree_samples_fewer_tokens_per_completion(warm_start):  # noqa: F811
    # Same model, prompts and temperature: recipes/ettrl_tree.yaml's trees vs G i.i.d. samples per prompt. Measured:
    # 5.95 vs 9.13 new tokens per completion (65%).
    from rlvr.fork_sampler import fork_sample
    from rlvr.models import load_model
    from rlvr.recipe import load_recipe
    from rlvr.sampling import sample
    from rlvr.tasks import build_task

    cfg = load_recipe(RECIPES / "ettrl_tree.yaml").exploration.config
    model, tok = load_model(warm_start)
    prompts = [
        tok(p)["input_ids"] for p in build_task("addition", min_digits=2, max_digits=2).dataset("eval", 64)["prompt"]
    ]
    kw = dict(max_new_tokens=48, eos_token_ids=tok.eos_token_id, pad_token_id=tok.pad_token_id, temperature=0.5)
    iid = sample(model, [p for p in prompts for _ in range(G)], generator=torch.Generator().manual_seed(0), **kw)
    tree = fork_sample(model, prompts, trees=G // (1 + cfg.forks_per_tree * cfg.branches_per_fork),
                       forks=cfg.forks_per_tree, branches=cfg.branches_per_fork, special_token_ids=tok.all_special_ids,
                       generator=torch.Generator().manual_seed(0), **kw)  # fmt: skip
    assert all(len(g) == G for g in tree.completion_ids)
    assert tree.generated_tokens < iid.num_generated_tokens


def test_ettrl_tree_run_counts_fewer_tokens_than_its_leaves(runs):
    tree = runs["ettrl_tree"]
    assert all(r["explore/leaves_per_prompt"] == G for r in tree)
    assert mean(tree, "explore/token_ratio") < 1  # generated / leaf tokens: i.i.d. sampling would be 1


@pytest.mark.xfail(strict=True, reason="does not show on the toy: branches share their root's prefix")
def test_ettrl_tree_groups_hold_more_distinct_answers(runs):
    # Recorded, not weakened. 16-step runs: distinct answers per training group 0.815 vs 0.871
    # (completions 0.898 vs 0.918; sampled tokens per step 354 vs 415, token_ratio 0.68).
    # Sampler measurement on the warm start (T = 0.5, 64 prompts x 8): 0.867 vs 0.895 for i.i.d. (N = 1, B = 3:
    # 0.801; keeping the fork token: 0.666). A branch re-draws only its fork token and what follows, and often
    # re-draws its root's token there, so a tree holds fewer distinct leaves than as many independent samples.
    assert mean(runs["ettrl_tree"], "diversity/distinct_answers") > mean(runs["grpo"], "diversity/distinct_answers")
