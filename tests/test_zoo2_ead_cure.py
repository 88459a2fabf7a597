"""EAD and CURE (exploration zoo part 2): hand-computed schedules, IS weights, critical-token choices and loss masks,
then 2 real trainer steps each, alone and stacked with a part-1 module. The signatures against `none` on the toy are
in test_signatures_zoo2_ead_cure.py (slow).

Test vectors follow the authors' code read through the search tool: EAD's `negexp` mode of
yangalan123/EAD-RLVR verl/workers/rollout/vllm_rollout/annealed_sampling.py, i.e. tau = 1 for t < warmup, else
max(1 + tau_max - exp(t / (20 df_s)), tau_min) with df_s = min(df_0 + k s, 40000); CURE's
`get_critic_key_token_mask` of bytedance/CURE recipe/CURE_First_Stage/dapo_ray_trainer.py (skip position 0, special
and short tokens, first top_k by descending entropy, one drawn uniformly).
"""

from __future__ import annotations

import random
from collections import Counter

import pytest

torch = pytest.importorskip("torch")

from _trainers import G, dataset, make_trainer, model_dir, run_and_check_signature  # noqa: E402,F401

from rlvr.errors import ConfigError, RLVRError  # noqa: E402
from rlvr.exploration.clip_higher import ClipHigher  # noqa: E402
from rlvr.exploration.context import LossContext, RolloutContext, RunInfo  # noqa: E402
from rlvr.exploration.cure import (  # noqa: E402
    Cure,
    CureConfig,
    critical_candidates,
    critical_cut,
    cure_sample,
    valid_positions,
)
from rlvr.exploration.ead import SAMPLER_LOGPS, Ead, EadConfig, tau, temperature_schedule, tis_weights  # noqa: E402
from rlvr.exploration.entropy_bonus import EntropyBonus, EntropyBonusConfig  # noqa: E402

# -- EAD: the schedule ------------------------------------------------------------------------------------------------
# Authors' defaults (tau_max 1.2, tau_min 0.1, df_0 25, k 5, warmup 10). 2.2 - exp(x) worked out by hand:
#   step 0:   d = 20 * 25 = 500     t = 10: 2.2 - e^0.02 = 1.179799   t = 50: 2.2 - e^0.1 = 1.094829
#                                   t = 100: 2.2 - e^0.2 = 0.978597   t = 200: 2.2 - e^0.4 = 0.708175
#                                   t = 400: 2.2 - e^0.8 = -0.0255 -> floor 0.1
#   step 20:  df = 25 + 100 = 125, d = 2500     t = 800:  2.2 - e^0.32 = 0.822872
#   step 100: df = 525, d = 10500               t = 3000: 2.2 - e^(2/7) = 0.869288
#   step 10^4: df capped at 40000, d = 8e5      t = 8000: 2.2 - e^0.01 = 1.189950
AUTHORS = [
    (0, 0, 1.0), (0, 9, 1.0), (0, 10, 1.179799), (0, 50, 1.094829), (0, 100, 0.978597), (0, 200, 0.708175),
    (0, 400, 0.1), (20, 800, 0.822872), (100, 3000, 0.869288), (10_000, 8000, 1.189950),
]  # fmt: skip


@pytest.mark.parametrize("step,t,expected", AUTHORS)
def test_schedule_matches_the_authors_negexp_mode(step, t, expected):
    assert tau(EadConfig(), t, step) == pytest.approx(expected, abs=1e-6)


def test_recipe_schedule_and_per_position_list():
    # recipes/ead.yaml: df_0 2 (d = 40), k 0.1, no warm-up. step 0: t = 0 -> 1.2; t = 8: 2.2 - e^0.2 = 0.978597;
    # t = 25: 2.2 - e^0.625 = 0.331754; t = 30: 2.2 - e^0.75 = 0.083 -> 0.1. step 10: d = 60, t = 25: 0.683103.
    cfg = EadConfig(decay_freq=2.0, decay_freq_increase_factor=0.1, warmup_period=0)
    temps = temperature_schedule(cfg, step=0, length=31, base=0.5)  # base multiplies tau
    assert len(temps) == 31
    assert [temps[i] for i in (0, 8, 25, 30)] == pytest.approx([0.6, 0.489299, 0.165877, 0.05], abs=1e-6)
    assert tau(cfg, 25, 10) == pytest.approx(0.683103, abs=1e-6)
    assert all(a >= b for a, b in zip(temps, temps[1:]))  # never heats up along the completion


def test_sampling_kwargs_give_one_temperature_per_position():
    ctx = RolloutContext(step=0, num_generations=4, temperature=1.0, rows=[], group_ids=[], max_completion_length=12)
    out = Ead(EadConfig()).sampling_kwargs(ctx)  # authors' defaults: warm-up 10, then 2.2 - e^(t / 500)
    assert list(out) == ["temperature"] and out["temperature"][:10] == [1.0] * 10
    assert out["temperature"][10:] == pytest.approx([1.179799, 1.177756], abs=1e-6)  # e^0.02, e^0.022 = 1.022244
    assert Ead(EadConfig(tis=True)).sampling_kwargs(ctx)["return_logprobs"] is True


def test_bad_settings_are_one_line_config_errors():
    for bad in (dict(decay_freq=0), dict(stability_temp=0), dict(warmup_period=-1), dict(tis_cap=0)):
        with pytest.raises(ConfigError):
            EadConfig(**bad).validate()
    for bad in (dict(critical_token_type="max"), dict(branches_per_response=0), dict(critical_top_k=0)):
        with pytest.raises(ConfigError):
            CureConfig(**bad).validate()
    with pytest.raises(ConfigError, match="multiple of 1 \\+ branches_per_response"):
        Cure(CureConfig()).setup(RunInfo(None, 6, 1, False, None))  # G = 6 is not n1 * (1 + 3)


# -- EAD: truncated importance sampling ------------------------------------------------------------------------------
def test_tis_weights_on_a_tiny_batch():
    # w = min(exp(old - sampler), 3): row 0: e^0.2 = 1.221403, e^-1.8 = 0.165299, e^0 = 1; row 1: e^2.9 = 18.17 -> 3,
    # then a padded position (sampler log-prob 0, mask 0): e^-1 = 0.367879, outside the loss.
    old = torch.tensor([[-0.1, -2.0, -0.5], [-0.1, -1.0, -1.0]])
    sampler = torch.tensor([[-0.3, -0.2, -0.5], [-3.0, -1.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    want = torch.tensor([[1.221403, 0.165299, 1.0], [3.0, 1.0, 0.367879]])
    torch.testing.assert_close(tis_weights(old, sampler, 3.0), want, atol=1e-6, rtol=0)
    logps = old.clone().requires_grad_()
    lctx = LossContext({SAMPLER_LOGPS: sampler}, logps, torch.zeros_like(old), mask, torch.ones(2, 1), old)
    module = Ead(EadConfig(tis=True))
    w = module.token_weights(lctx)
    torch.testing.assert_close(w, want, atol=1e-6, rtol=0)
    assert not w.requires_grad  # a weight, not a gradient path
    metrics = module.pop_metrics()
    assert metrics["tis_clip_frac"] == [pytest.approx(1 / 5)]  # 1 of the 5 unmasked tokens hits the cap
    assert metrics["tis_weight_mean"] == [pytest.approx((1.221403 + 0.165299 + 1 + 3 + 1) / 5, abs=1e-6)]
    assert Ead(EadConfig()).token_weights(lctx) is None  # tis off: plain GRPO loss


def test_annotate_carries_the_sampler_logps_or_refuses():
    ctx = RolloutContext(step=0, num_generations=4, temperature=1.0, rows=[], group_ids=[])
    lps = torch.tensor([[-0.5, -1.0]])
    assert torch.equal(Ead(EadConfig(tis=True)).annotate(ctx, {"sampling_per_token_logps": lps})[SAMPLER_LOGPS], lps)
    assert Ead(EadConfig()).annotate(ctx, {}) == {}
    with pytest.raises(RLVRError, match="tis needs the annealed sampler's log-probs"):
        Ead(EadConfig(tis=True)).annotate(ctx, {})


def test_sampler_logps_are_those_of_the_annealed_distribution(model_dir):
    # TIS compares pi_old (training temperature) with mu, the distribution actually sampled: check mu position by
    # position against a full forward with logits / T_t.
    from transformers import AutoModelForCausalLM

    from rlvr.sampling import sample

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    temps = temperature_schedule(EadConfig(decay_freq=0.2, warmup_period=1), step=0, length=6)  # 1, 1.18, ... 0.1
    out = sample(model, [[1, 20, 21]], max_new_tokens=6, eos_token_ids=2, pad_token_id=0, temperature=temps,
                 generator=torch.Generator().manual_seed(0), return_logprobs=True)  # fmt: skip
    c = out.completion_ids[0]
    with torch.no_grad():
        logits = model(torch.tensor([[1, 20, 21] + c])).logits[0, 2 : 2 + len(c)].float()  # (C, V)
    want = [torch.log_softmax(logits[t] / temps[t], -1)[tok].item() for t, tok in enumerate(c)]
    assert out.logprobs[0] == pytest.approx(want, abs=1e-4)


# -- CURE: the critical token ----------------------------------------------------------------------------------------
ENTROPY = [  # rows: one first sample each; positions 0..5
    [2.0, 0.5, 1.5, 0.1, 1.2, 0.9],
    [0.3, 0.2, 0.1, 0.9, 0.8, 0.7],
    [5.0, 0.0, 0.0, 0.0, 0.0, 0.0],
]


def test_critical_candidates_on_a_small_entropy_matrix():
    ok = [True] * 6
    # row 0, by entropy: 0 (2.0), 2 (1.5), 4 (1.2), 5 (0.9), 1 (0.5), 3 (0.1); position 0 never counts.
    assert critical_candidates(ENTROPY[0], ok, 2) == [2, 4]
    assert critical_candidates(ENTROPY[0], ok, 20) == [2, 4, 5, 1, 3]
    assert critical_candidates(ENTROPY[0], [True, True, False, True, True, True], 2) == [4, 5]  # 2 invalid
    assert critical_candidates(ENTROPY[1], ok, 3) == [3, 4, 5]
    assert critical_candidates(ENTROPY[2], ok, 2) == [1, 2]  # ties: position order
    assert critical_cut(ENTROPY[2], [True] + [False] * 5, 2, random.Random(0), "entropy") == 0  # none valid: t* = 0


def test_cut_is_uniform_among_the_candidates():
    rng, ok = random.Random(0), [True] * 6
    counts = Counter(critical_cut(ENTROPY[0], ok, 2, rng, "entropy") for _ in range(4000))
    assert set(counts) == {2, 4} and abs(counts[2] / 4000 - 0.5) < 0.03
    counts = Counter(critical_cut(ENTROPY[0], ok, 2, rng, "random") for _ in range(5000))
    assert set(counts) == {1, 2, 3, 4, 5} and all(abs(n / 5000 - 0.2) < 0.03 for n in counts.values())


def test_valid_positions_skip_special_whitespace_and_short_tokens(model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    ids = tok("5+ 1#")["input_ids"] + [tok.eos_token_id]
    ids = [i for i in ids if i != tok.bos_token_id]  # '5', '+', ' ', '1', '#', <eos>
    assert valid_positions(ids, tok, 1) == [True, True, False, True, True, False]
    assert valid_positions(ids, tok, 2) == [False] * 6  # the authors' > 1 character rule, on a char-level model


class FakeTokenizer:
    all_special_ids = [0, 2]

    def decode(self, ids):
        return "ab"


class FakeSampler:
    """First pass: [10, 11, 12, 13, 2] with entropies peaking at position 3 then 1; second: [20, 21, 2]."""

    def __init__(self):
        self.calls = []

    def __call__(self, prompt_ids, **kw):
        from rlvr.sampling import SampleOutput

        self.calls.append((prompt_ids, kw))
        if kw.get("return_entropy"):
            ids = [[10, 11, 12, 13, 2] for _ in prompt_ids]
            return SampleOutput(ids, None, [[3.0, 0.5, 0.1, 0.9, 4.0] for _ in prompt_ids], 5 * len(ids))
        return SampleOutput([[20, 21, 2] for _ in prompt_ids], None, None, 3 * len(prompt_ids))


def test_cure_sample_groups_prefixes_and_loss_masks():
    # G = 4, n2 = 3: n1 = 1 first sample per prompt. Valid positions (not special 0 / 2, not 0): 1, 2, 3; by
    # entropy 3 (0.9) then 1 (0.5): top_k 1 -> t* = 3, prefix [10, 11, 12], the critical token 13 is re-sampled.
    fake, cfg = FakeSampler(), CureConfig(critical_top_k=1)
    ids, mask, tokens, cuts = cure_sample(cfg, fake, FakeTokenizer(), [[1, 5], [1, 6]], 4, 48, random.Random(0))
    assert cuts == [3, 3] and tokens == 2 * 5 + 6 * 3
    assert fake.calls[1][0] == [[1, 5, 10, 11, 12]] * 3 + [[1, 6, 10, 11, 12]] * 3  # prompt + prefix, n2 each
    branch = [10, 11, 12, 20, 21, 2]
    assert ids == [[10, 11, 12, 13, 2], branch, branch, branch] * 2  # [original, its 3 branches] per group
    assert mask == [[1] * 5, *[[0, 0, 0, 1, 1, 1]] * 3] * 2  # prefix out of the loss, continuation in
    # a branch is never longer than max_completion_length: the continuation is cut at max_len - t*
    ids, mask, _, _ = cure_sample(cfg, FakeSampler(), FakeTokenizer(), [[1, 5]], 4, 5, random.Random(0))
    assert ids[1] == [10, 11, 12, 20, 21] and mask[1] == [0, 0, 0, 1, 1]


# -- real trainer: 2 steps each, alone and stacked ---------------------------------------------------------------------
def test_ead_trains_two_steps(make_trainer):
    module = Ead(EadConfig(decay_freq=0.5, decay_freq_increase_factor=0, warmup_period=0))  # d = 10 tokens of 16
    _, logs = run_and_check_signature(make_trainer, module, ["explore/tau_first", "explore/tau_last"])
    assert all(h["explore/tau_first"] > 1 > h["explore/tau_last"] for h in logs)


def test_ead_with_tis_stacks_with_clip_higher(make_trainer):
    module = Ead(EadConfig(decay_freq=0.5, decay_freq_increase_factor=0, warmup_period=0, tis=True))
    module.registry_name, clip = "ead", ClipHigher()
    clip.registry_name = "clip_higher"
    trainer, logs = run_and_check_signature(
        make_trainer, [module, clip], ["explore/tis_weight_mean", "explore/tis_clip_frac", "clip_ratio/high_mean"]
    )
    assert (trainer.epsilon_low, trainer.epsilon_high) == (0.2, 0.28)
    assert all(0 < h["explore/tis_weight_mean"] <= 3.0 for h in logs)


def _cure_batch(trainer, dataset):  # noqa: F811
    rows = [dict(dataset[i]) for i in (0, 1) for _ in range(G)]
    trainer.model.train()
    return trainer._generate_and_score_completions(rows)


def test_cure_batch_masks_exactly_the_branch_prefixes(make_trainer, dataset):  # noqa: F811
    # G = 4: [original, 3 branches] per group. A branch's loss mask is 0 on its first t* tokens, which are the
    # original's first t* tokens, and 1 after; originals are trained on every token; the normaliser counts only 1s.
    trainer = make_trainer(explorer=Cure(CureConfig(min_token_chars=1)))
    batch = _cure_batch(trainer, dataset)
    ids, cmask, tmask = batch["completion_ids"], batch["completion_mask"], batch["tool_mask"]
    cuts = []
    for g in (0, 1):
        o = g * G
        assert torch.equal(tmask[o] * cmask[o], cmask[o])  # the original: every token
        for b in range(o + 1, o + G):
            t = int(((tmask[b] == 0) & (cmask[b] == 1)).sum())  # masked real tokens: the prefix
            assert torch.equal(tmask[b][:t], torch.zeros(t, dtype=tmask.dtype)) and bool(tmask[b][t:].all())
            assert torch.equal(ids[b][:t], ids[o][:t])
            cuts.append(t)
    assert any(t > 0 for t in cuts)
    assert int(batch["num_items_in_batch"]) == int((cmask * tmask).sum())


def test_cure_trains_two_steps(make_trainer):
    module = Cure(CureConfig(min_token_chars=1))
    keys = ["explore/cut_pos", "explore/no_cut_frac", "explore/branch_reward", "explore/original_reward"]
    _, logs = run_and_check_signature(make_trainer, module, keys)
    assert all(h["explore/cut_pos"] >= 1 and h["explore/no_cut_frac"] == 0 for h in logs)


def test_cure_stacks_with_entropy_bonus(make_trainer):
    cure, bonus = Cure(CureConfig(min_token_chars=1)), EntropyBonus(EntropyBonusConfig(coef=0.05))
    cure.registry_name, bonus.registry_name = "cure", "entropy_bonus"
    _, logs = run_and_check_signature(make_trainer, [cure, bonus], ["explore/cut_pos", "explore/entropy_bonus"])
    assert all(h["entropy_coef"] == 0.05 for h in logs)


def test_cure_stage_two_is_plain_sampling(make_trainer):
    trainer = make_trainer(explorer=Cure(CureConfig(min_token_chars=1, stage_switch_step=0)))
    assert "tool_mask" not in _cure_batch(trainer, trainer.train_dataset)
