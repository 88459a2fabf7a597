"""LATR: spawn rule, capacity, pruning, KV-cache row duplication, fill, schedule, explorer hook, end to end."""

from types import SimpleNamespace

import pytest
import torch
import transformers

from rlvr.errors import ConfigError
from rlvr.exploration.latr import Latr, LatrConfig, mix_ratio
from rlvr.sampling import sample
from rlvr.tree_sampler import allocate, levenshtein, rouge_l, spawn_mask, suffix_match, too_similar, tree_sample

V, PAD, EOS, SEP = 10, 0, 1, 8  # fake vocab: SEP ends every prompt and is never generated


def dist(**probs) -> list[float]:
    p = [0.0] * V
    for k, v in probs.items():
        p[int(k[1:])] = v
    return p


class FakeLM(torch.nn.Module):
    """Next-token distribution = rule(tokens generated after SEP, prompt). The history is read back from the KV cache
    (stored as keys), so a wrongly duplicated cache row would change what a branch sees."""

    def __init__(self, rule):
        super().__init__()
        self.rule = rule
        self.config = transformers.GPT2Config(vocab_size=V, n_layer=1, n_head=1, n_embd=4)  # not llama: HF step path
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    @property
    def device(self):
        return torch.device("cpu")

    def forward(self, input_ids, attention_mask, position_ids, past_key_values, use_cache=True, logits_to_keep=None):
        k = input_ids.float()[:, None, :, None]  # (B, 1, T, 1)
        keys, _ = past_key_values.update(k, k, 0)  # (B, 1, S, 1)
        hist, mask = keys[:, 0, :, 0].long().tolist(), attention_mask.tolist()  # (B, S) each
        rows = [[x for x, m in zip(h, hm) if m] for h, hm in zip(hist, mask)]
        probs = torch.tensor([self.rule(h[h.index(SEP) + 1 :], h[: h.index(SEP)]) for h in rows])  # (B, V)
        return SimpleNamespace(logits=probs.clamp_min(1e-30).log()[:, None, :])  # (B, 1, V)


def two_level(gen, prompt):
    """Forks at steps 0 and 1 (0.45 vs 0.40); each branch then repeats its last token; EOS after 8 tokens.
    Prompt [7, SEP] is certain: it never forks."""
    if len(gen) >= 7:
        return dist(t1=1.0)
    if prompt == [7]:
        return dist(t9=1.0)
    if not gen:
        return dist(t2=0.45, t3=0.40, t9=0.15)
    if len(gen) == 1:
        return dist(t4=0.45, t5=0.40, t9=0.15) if gen[0] == 2 else dist(t6=0.45, t7=0.40, t9=0.15)
    return dist(**{f"t{gen[-1]}": 1.0})


KW = dict(max_new_tokens=12, eos_token_ids=EOS, pad_token_id=PAD, temperature=1.0)


def test_spawn_rule():
    p = torch.tensor([[0.5, 0.4], [0.6, 0.3], [0.5, 0.2]])  # (b, m)
    assert spawn_mask(p, 0.25, 0.15)[:, 0].tolist() == [True, False, False]  # ok / difference 0.3 / p_j <= tau_abs


def test_allocate_orders_by_rank_then_branch_age():
    cands = [(2, 5, 0), (2, 1, 0), (3, 0, 0), (2, 3, 1)]  # (rank, branch id, prompt)
    granted, suppressed = allocate(cands, counts=[2, 0], capacity=3)
    assert granted == [(2, 1, 0), (2, 3, 1)] and suppressed == 2


def test_tree_capacity_fill_and_eos():
    out = tree_sample(FakeLM(two_level), [[5, 6, SEP], [7, SEP]], n_tree=3, lookahead=(4,), **KW)
    a = [2, 4, 4, 4, 4, 4, 4, EOS]
    assert out.completion_ids[0] == [a, [3, 6, 6, 6, 6, 6, 6, EOS], [2, 5, 5, 5, 5, 5, 5, EOS]]  # older branch won
    assert out.completion_ids[1] == [[9] * 7 + [EOS]] * 3  # no fork: the root fills all 3 slots
    st = out.stats
    assert (st["candidates"], st["suppressed"], st["branches"], st["compared"], st["pruned"]) == (3, 1, 4, 2, 0)
    assert tree_sample(FakeLM(two_level), [[7, SEP]], n_tree=2, **dict(KW, max_new_tokens=5)).completion_ids == [
        [[9] * 5] * 2
    ]  # no EOS within the limit: cut at max_new_tokens


def test_child_born_on_eos_and_fill_iid():
    rule = lambda gen, prompt: dist(t2=0.5, t1=0.45, t9=0.05) if not gen else dist(t1=1.0)  # noqa: E731
    out = tree_sample(FakeLM(rule), [[5, SEP]], n_tree=3, fill="iid", generator=torch.Generator().manual_seed(0), **KW)
    assert out.completion_ids[0][:2] == [[2, EOS], [EOS]] and len(out.completion_ids[0]) == 3
    assert all(c[-1] == EOS and EOS not in c[:-1] for c in out.completion_ids[0])


def test_pruning_same_vs_different_continuation():
    same = lambda gen, prompt: dist(t2=0.5, t3=0.45, t9=0.05) if not gen else dist(t4=1.0)  # noqa: E731
    out = tree_sample(FakeLM(same), [[5, SEP]], n_tree=2, lookahead=(4,), **KW)
    assert out.stats["compared"] == out.stats["pruned"] == 1  # [4,4,4,4] vs [4,4,4,4]: edit distance 0
    assert out.completion_ids[0] == [[2] + [4] * 11] * 2  # child gone, root copied
    differ = lambda gen, prompt: dist(t2=0.5, t3=0.45, t9=0.05) if not gen else dist(**{f"t{gen[0] + 2}": 1.0})  # noqa: E731
    out = tree_sample(FakeLM(differ), [[5, SEP]], n_tree=2, lookahead=(4,), **KW)
    assert (out.stats["compared"], out.stats["pruned"]) == (1, 0)
    assert out.completion_ids[0] == [[2] + [4] * 11, [3] + [5] * 11]


def test_similarity_functions():
    assert levenshtein([1, 2, 3], [1, 2, 3]) == 0 and levenshtein([1, 2, 3], [2, 3]) == 1
    assert levenshtein([1, 2, 3, 4], [4, 3, 2, 1]) == 4 and levenshtein([], [1, 2]) == 2
    assert suffix_match([1, 2, 3, 4], [9, 3, 4, 9]) == 0.5  # suffix [3, 4] of a occurs in b
    assert suffix_match([9, 9, 9, 9], [1, 2, 3, 9]) == 0.25  # L2: b's suffix [9] occurs in a
    assert rouge_l([1, 2, 3, 4], [1, 3, 4, 5]) == pytest.approx(0.75) and rouge_l([1], [2]) == 0.0
    assert too_similar([1, 2, 3, 4, 5], [1, 2, 3, 4, 6], "edit", 0.4)  # 1/5 < 0.4
    assert not too_similar([1, 2, 3, 4, 5], [1, 2, 7, 8, 6], "edit", 0.4)  # 3/5
    assert too_similar([1, 2, 3, 4], [1, 3, 4, 5], "rouge_l", 0.5) and not too_similar([1, 2], [3, 4], "suffix", 0.2)


@pytest.fixture(scope="module")
def llama():
    torch.manual_seed(0)
    # initializer_range 0.3: a peaked, non-degenerate random model (0.02 just repeats its input token).
    cfg = transformers.LlamaConfig(vocab_size=100, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                                   tie_word_embeddings=True, initializer_range=0.3)  # fmt: skip
    return transformers.LlamaForCausalLM(cfg).eval()


PROMPTS = [[5, 17, 33, 2], [9, 44], [61, 3, 70, 12, 8]]  # unequal lengths: left padding exercised


def test_no_branching_equals_greedy(llama):
    kw = dict(max_new_tokens=16, eos_token_ids=[1], pad_token_id=0)
    greedy = sample(llama, PROMPTS, greedy=True, **kw).completion_ids
    out = tree_sample(llama, PROMPTS, n_tree=2, temperature=1.0, tau_abs=1.0, **kw)
    assert [c[0] for c in out.completion_ids] == greedy == [c[1] for c in out.completion_ids]
    assert out.stats["tree_phase_len"] == 16 and out.stats["candidates"] == 0


def test_forked_rows_continue_as_uncached_greedy(llama):
    """Fork at every step (tau_abs 0, tau_rel 1), never prune: every tree-phase token must be the uncached argmax
    given its own prefix, except fork tokens, which are the uncached runner-up."""
    gen = torch.Generator().manual_seed(0)
    out = tree_sample(llama, PROMPTS, n_tree=4, max_new_tokens=14, eos_token_ids=[1], pad_token_id=0, temperature=1.0,
                      tau_abs=0.0, tau_rel=1.0, lookahead=(6,), prune_threshold=0.0, generator=gen)  # fmt: skip
    L = out.stats["tree_phase_len"]
    assert out.stats["branches"] == 12 and 7 <= L < 14
    n_forks = 0
    for prompt, comps in zip(PROMPTS, out.completion_ids):
        assert len({tuple(c) for c in comps}) == 4
        for c in comps:
            with torch.no_grad():
                logits = llama(torch.tensor([prompt + c])).logits[0, len(prompt) - 1 : len(prompt) - 1 + L]  # (L, V)
            top2 = logits.topk(2).indices.tolist()  # (L, 2)
            is_fork = [tok != top[0] for tok, top in zip(c[:L], top2)]
            assert all(tok in top for tok, top in zip(c[:L], top2))
            last = max([i for i, f in enumerate(is_fork) if f], default=-1)
            assert last < L - 6  # after its last fork, >= 6 greedy tokens on the duplicated cache row
            n_forks += any(is_fork)
    assert n_forks == 9  # every non-root branch forked somewhere


def test_tree_sample_is_deterministic_per_seed(llama):
    kw = dict(n_tree=3, max_new_tokens=12, eos_token_ids=[1], pad_token_id=0, temperature=1.0, tau_abs=0.05)
    a = tree_sample(llama, PROMPTS, generator=torch.Generator().manual_seed(1), **kw).completion_ids
    b = tree_sample(llama, PROMPTS, generator=torch.Generator().manual_seed(1), **kw).completion_ids
    assert a == b


def test_mix_ratio_schedule():
    sched = LatrConfig().mix_ratio_schedule
    assert [mix_ratio(sched, s) for s in (0, 9, 10, 19, 20, 79, 80, 199, 200, 999)] == [
        1.0, 1.0, 0.75, 0.75, 0.5, 0.5, 0.25, 0.25, 0.0, 0.0
    ]  # fmt: skip
    with pytest.raises(ConfigError, match="step-0 entry"):
        LatrConfig(mix_ratio_schedule={5: 1.0}).validate()


class FakeEngine:
    """What RolloutContext calls: rows' "prompt" are already token ids; the fast sampler on the fake model."""

    def __init__(self, model):
        self.model, self.sampled_tokens = model, []
        self.add_sampled_tokens = self.sampled_tokens.append  # the real trainer also counts its own i.i.d. samples

    def sample(self, ids, **kw):
        return sample(self.model, ids, max_new_tokens=12, eos_token_ids=[EOS], pad_token_id=PAD, **kw)

    def _tokenize_prompts(self, prompts):
        return [list(p) for p in prompts], None, {}


def _ctx(engine, prompts, step=0, G=4):
    from rlvr.exploration.context import RolloutContext

    rows = [{"prompt": p} for p in prompts]
    return RolloutContext(
        step=step, num_generations=G, temperature=1.0, rows=rows, group_ids=[i // G for i in range(len(rows))],
        max_completion_length=12, eos_token_ids=[EOS], pad_token_id=PAD, policy=engine.model, _engine=engine,
    )  # fmt: skip


def test_explorer_generate_order_and_metrics():
    model = FakeLM(two_level)
    latr, engine = Latr(LatrConfig(lookahead=[4])), FakeEngine(model)
    prompts = [[5, 6, SEP]] * 4 + [[7, SEP]] * 4
    out = latr.generate(_ctx(engine, prompts, step=10))  # eta 0.75: 3 tree + 1 i.i.d. per group of 4
    ids = out.completion_ids
    assert out.logprobs is None and len(ids) == 8 and out.group_ids == [0] * 4 + [1] * 4 and out.prompt_ids == prompts
    ref = tree_sample(model, [[5, 6, SEP], [7, SEP]], n_tree=3, lookahead=(4,), **KW).completion_ids
    assert ids[:3] == ref[0] and ids[4:7] == ref[1]
    assert ids[3][-1] == EOS and ids[7] == [9] * 7 + [EOS]  # the i.i.d. rows
    m = latr.pop_metrics()
    names = "eta n_tree branching_ratio pruning_ratio suppress_ratio empty_branch_ratio tree_phase_len generated_tokens"
    assert set(names.split()) | {"distinct_in_group", "tree_token_logp", "iid_token_logp"} <= set(m)
    assert m["eta"] == [0.75] and m["n_tree"] == [3] and m["empty_branch_ratio"] == [pytest.approx(1 - 4 / 6)]
    assert m["tree_token_logp"][0] < 0 and m["iid_token_logp"][0] <= 0
    iid_tokens = len(ids[3]) + len(ids[7])
    assert engine.sampled_tokens == [m["generated_tokens"][0] - iid_tokens] and iid_tokens < m["generated_tokens"][0]
    later = latr.generate(_ctx(engine, prompts, step=200))  # eta 0: plain i.i.d., no tree metrics
    assert len(later.completion_ids) == 8 and "branching_ratio" not in latr.pop_metrics()


def test_trainer_end_to_end(tmp_path):
    import math

    from trl import GRPOConfig

    from rlvr.models import build_model
    from rlvr.recipe import RewardSpec
    from rlvr.rewards import build_rewards
    from rlvr.tasks import build_task
    from rlvr.trainer import RLVRTrainer

    model, tok = build_model("char-0.2m")
    funcs, weights = build_rewards([RewardSpec()])
    args = GRPOConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False, report_to="none", max_steps=2,
                      num_generations=4, per_device_train_batch_size=8, max_completion_length=16, save_strategy="no",
                      logging_steps=1, reward_weights=weights, disable_tqdm=True)  # fmt: skip
    latr = Latr(LatrConfig(tau_abs=0.0, tau_rel=1.0, lookahead=[2, 4]))  # a random model is flat: loose thresholds
    trainer = RLVRTrainer(model=model, reward_funcs=funcs, args=args, processing_class=tok, explorer=latr,
                          train_dataset=build_task("addition").dataset("train", 16))  # fmt: skip
    trainer.train()
    logs = [h for h in trainer.state.log_history if "loss" in h]
    assert len(logs) == 2 and all(math.isfinite(h["loss"]) for h in logs)
    assert all("explore/branching_ratio" in h and "explore/tree_token_logp" in h for h in logs)
    assert logs[0]["explore/eta"] == 1.0 and logs[0]["explore/branching_ratio"] > 0
    assert all(h["sampled_tokens"] == h["explore/generated_tokens"] > 0 for h in logs)  # tree + i.i.d., counted once
