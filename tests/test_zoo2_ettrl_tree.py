"""ETTRL's entropy-fork tree (ETMR): fork-point choice on hand-written entropies, leaf layout, shared prefixes,
KV-cache forking against a plain forward, determinism, the token count on a hand case, config errors, then 2 real
trainer steps. The signatures against `none` on the toy are in test_signatures_zoo2_ettrl_tree.py (slow)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from _trainers import G, dataset, make_trainer, model_dir, run_and_check_signature  # noqa: E402,F401
from test_latr import EOS, PAD, SEP, FakeLM, dist, llama  # noqa: E402,F401  (llama: the random-llama fixture)

from rlvr.errors import ConfigError  # noqa: E402
from rlvr.exploration.context import RunInfo  # noqa: E402
from rlvr.exploration.ettrl_tree import EttrlTree, EttrlTreeConfig  # noqa: E402
from rlvr.fork_sampler import fork_points, fork_sample  # noqa: E402

# -- fork points ------------------------------------------------------------------------------------------------------
H = [0.1, 2.0, 1.9, 0.3, 0.2, 2.0, 1.5, 0.0]  # positions 1 and 5 tie at the top; 7 is EOS
OK = [True] * 7 + [False]


def test_fork_points_top_n_ties_spacing_and_fallbacks():
    assert fork_points(H, OK, 1) == [1]  # tie 1 / 5: the earlier position
    assert fork_points(H, OK, 3) == [1, 5, 2]  # by descending entropy
    assert fork_points(H, OK, 3, min_gap=2) == [1, 5, 3]  # 2 is next to 1, 6 next to 5; 3 (0.3) is 2 from both
    assert fork_points(H, OK, 3, min_gap=3) == [1, 5, 2]  # nothing else is 3 from both: the skipped 2 (1.9) fills up
    assert fork_points(H, [False, True] + [False] * 6, 3) == [1, 1, 1]  # one valid position: repeated
    assert fork_points(H, [False] * 8, 2) == []  # none valid: the sampler re-samples from position 0
    assert fork_points([1.0, 1.0, 1.0], [True] * 3, 2) == [0, 1]  # all tied: position order


# -- the sampler on a hand-made model ---------------------------------------------------------------------------------
def one_coin(gen, prompt):
    """Root [5, 5, x, 5, 5, EOS] with a fair coin x in {3, 4} at position 2, certain elsewhere."""
    if len(gen) == 2:
        return dist(t3=0.5, t4=0.5)
    return dist(t1=1.0) if len(gen) >= 5 else dist(t5=1.0)


KW = dict(max_new_tokens=12, eos_token_ids=EOS, pad_token_id=PAD, temperature=1.0)


@pytest.mark.parametrize("resample,k,new", [(True, 2, 4), (False, 3, 3)])
def test_token_cost_and_prefix_on_a_hand_case(resample, k, new):
    # M = 1, N = 1, B = 2: the fork is position 2 (entropy ln 2, all others ~0). Re-sampling keeps [5, 5] and draws
    # x, 5, 5, EOS anew (4 tokens per branch); keeping the fork token keeps [5, 5, x] and draws 5, 5, EOS (3).
    out = fork_sample(FakeLM(one_coin), [[9, SEP], [6, SEP]], trees=1, forks=1, branches=2,
                      resample_fork_token=resample, generator=torch.Generator().manual_seed(0), **KW)  # fmt: skip
    assert out.fork_positions == [[2], [2]] and out.prefix_lens == [[0, k, k]] * 2
    assert out.generated_tokens == 2 * (6 + 2 * new)  # 2 prompts x (root + 2 branches' own tokens)
    for leaves in out.completion_ids:
        root = leaves[0]
        assert len(leaves) == 3 and all(c[:k] == root[:k] and len(c) == 6 and c[-1] == EOS for c in leaves)
        if not resample:
            assert all(c == root for c in leaves)  # nothing uncertain after the kept fork token
    assert out.logprobs[0][1][:k] == out.logprobs[0][0][:k]  # a branch's prefix carries its root's values


def test_all_tied_entropies_fork_at_position_zero():
    # N = 2: position 2 first, then the earliest of the tied certain positions, 0 (EOS never counts)
    out = fork_sample(FakeLM(one_coin), [[9, SEP]], trees=1, forks=2, branches=1, **KW)
    assert out.fork_positions == [[2, 0]] and out.prefix_lens == [[0, 2, 0]]
    assert out.generated_tokens == 6 + 4 + 6


# -- the sampler on a random llama ------------------------------------------------------------------------------------
PROMPTS = [[5, 17, 33, 2], [9, 44], [61, 3, 70, 12, 8]]  # unequal lengths: left padding exercised
LKW = dict(max_new_tokens=14, eos_token_ids=[1], pad_token_id=0, temperature=0.8)


@pytest.mark.parametrize("lean", [True, False], ids=["lean_step", "hf_step"])
@pytest.mark.parametrize("resample", [True, False])
def test_forked_cache_gives_the_forward_logprobs(llama, monkeypatch, lean, resample):
    # Every leaf's sampler log-probs and entropies equal those of one uncached forward of prompt + leaf: a branch
    # sees exactly its root's prefix (the hidden root columns after the fork leak nothing), on both step paths.
    if not lean:
        monkeypatch.setattr("rlvr.decoding._lean_supported", lambda model, cache: False)
    out = fork_sample(llama, PROMPTS, trees=2, forks=2, branches=2, resample_fork_token=resample,
                      generator=torch.Generator().manual_seed(0), **LKW)  # fmt: skip
    assert [len(g) for g in out.completion_ids] == [2 * (1 + 2 * 2)] * 3  # M (1 + B N) leaves per prompt
    for p, leaves, lps, ents, ks in zip(PROMPTS, out.completion_ids, out.logprobs, out.entropies, out.prefix_lens):
        for j, (c, lp, ent, k) in enumerate(zip(leaves, lps, ents, ks)):
            root = leaves[j - j % 5]
            assert c[:k] == root[:k]  # shares its root's prefix token for token
            with torch.no_grad():
                z = llama(torch.tensor([p + c])).logits[0, len(p) - 1 : len(p) - 1 + len(c)].float() / 0.8  # (C, V)
            want = z.log_softmax(-1).gather(1, torch.tensor(c)[:, None]).squeeze(1)  # (C,)
            h = z.logsumexp(-1) - (z.softmax(-1) * z).sum(-1)  # (C,)
            torch.testing.assert_close(torch.tensor(lp), want, atol=1e-4, rtol=0)
            torch.testing.assert_close(torch.tensor(ent), h, atol=1e-4, rtol=0)
    lens = [len(c) for g in out.completion_ids for c in g]
    new = sum(len(c) - k for g, ks in zip(out.completion_ids, out.prefix_lens) for c, k in zip(g, ks))
    assert out.generated_tokens == new < sum(lens)  # shared prefixes counted once
    for fp, ks in zip(out.fork_positions, [ks[i : i + 5] for ks in out.prefix_lens for i in (0, 5)]):
        assert ks[1:] == [f + (not resample) for f in fp for _ in range(2)]  # B branches per fork, by rank


def test_fork_sample_is_deterministic_per_seed(llama):
    run = lambda s: fork_sample(llama, PROMPTS, trees=2, forks=1, branches=3,  # noqa: E731
                                generator=torch.Generator().manual_seed(s), **LKW)  # fmt: skip
    a, b, c = run(1), run(1), run(2)
    assert a.completion_ids == b.completion_ids and a.logprobs == b.logprobs
    assert a.completion_ids != c.completion_ids


# -- config -----------------------------------------------------------------------------------------------------------
def test_config_errors_name_the_fields():
    for bad in (dict(trees=0), dict(forks_per_tree=0), dict(branches_per_fork=0), dict(min_fork_gap=0)):
        with pytest.raises(ConfigError):
            EttrlTreeConfig(**bad).validate()
    with pytest.raises(ConfigError, match="trees / forks_per_tree / branches_per_fork"):
        EttrlTree(EttrlTreeConfig()).setup(RunInfo(None, 8, 1, False, None))  # paper's N = B = 2: 5 per tree
    with pytest.raises(ConfigError, match=r"must equal train.num_generations \(8\)"):
        EttrlTree(EttrlTreeConfig(trees=3, forks_per_tree=1, branches_per_fork=1)).setup(
            RunInfo(None, 8, 1, False, None)
        )
    EttrlTree(EttrlTreeConfig(forks_per_tree=3, branches_per_fork=1)).setup(RunInfo(None, 8, 1, False, None))  # M = 2


# -- real trainer ------------------------------------------------------------------------------------------------------
KEYS = ["explore/leaves_per_prompt", "explore/token_ratio", "explore/fork_pos", "explore/distinct_in_group"]


def test_ettrl_tree_trains_two_steps(make_trainer):  # noqa: F811
    module = EttrlTree(EttrlTreeConfig(forks_per_tree=1, branches_per_fork=1))  # G = 4: M = 2 trees of 2 leaves
    _, logs = run_and_check_signature(make_trainer, module, KEYS)
    assert all(h["explore/leaves_per_prompt"] == G and 0 < h["explore/token_ratio"] < 1 for h in logs)


def test_mask_shared_prefix_masks_exactly_the_branch_prefixes(make_trainer):  # noqa: F811
    trainer = make_trainer(
        explorer=EttrlTree(EttrlTreeConfig(forks_per_tree=1, branches_per_fork=3, mask_shared_prefix=True))
    )
    rows = [dict(trainer.train_dataset[i]) for i in (0, 1) for _ in range(G)]
    trainer.model.train()
    batch = trainer._generate_and_score_completions(rows)  # M = 1: [root, 3 branches] per group
    ids, cmask, tmask = batch["completion_ids"], batch["completion_mask"], batch["tool_mask"]
    for o in (0, G):
        assert torch.equal(tmask[o] * cmask[o], cmask[o])  # the root: every token
        for b in range(o + 1, o + G):
            k = int(((tmask[b] == 0) & (cmask[b] == 1)).sum())  # masked real tokens: the shared prefix
            assert bool(tmask[b][k:].all()) and torch.equal(ids[b][:k], ids[o][:k])
    assert int(batch["num_items_in_batch"]) == int((cmask * tmask).sum())
