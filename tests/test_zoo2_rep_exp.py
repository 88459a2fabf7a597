"""RepExp (exploration zoo part 2): hand-computed leverage and leave-one-out bonuses, the correctness gate, the reward
shift, the projection, completion-only features, config errors, then 2 real trainer steps. The signature against
`none` on the toy is in test_signatures_zoo2_rep_exp.py (slow).

Test vectors follow the authors' code read through the search tool (volcengine/verl recipe/rep_exp,
workers/elliptical_reward_model_worker.py and the EllipticalRewardManager): centre each group's projected features,
V^-1 by Sherman-Morrison from I / lamb, leverage z~^T V^-1 z~ (or the leave-one-out downdate of V^-1), bonus zeroed
for a group whose summed 0/1 correctness is 0, reward = 1 * correctness + beta * bonus.
"""

from __future__ import annotations

from fractions import Fraction as F

import pytest

torch = pytest.importorskip("torch")

from _trainers import dataset, make_trainer, model_dir, params, run_and_check_signature  # noqa: E402,F401

from rlvr.advantages import advantages  # noqa: E402
from rlvr.errors import ConfigError  # noqa: E402
from rlvr.exploration.context import Rollout, RolloutContext, RunInfo  # noqa: E402
from rlvr.exploration.rep_exp import RepExp, RepExpConfig, elliptical_bonus, sparse_projection  # noqa: E402

# -- the bonus on a hand-computed group --------------------------------------------------------------------------------
# h = (1, 0), (0, 1), (2, 2); mean (1, 1); centred z~ = (0, -1), (-1, 0), (1, 1).
# sum z~ z~^T = [[0+1+1, 0+0+1], [1, 1+0+1]] = [[2, 1], [1, 2]]; lam = 1: V = [[3, 1], [1, 3]], det 8,
# V^-1 = 1/8 [[3, -1], [-1, 3]].
#   leverage:  (0, -1) -> 3/8;  (-1, 0) -> 3/8;  (1, 1) -> (3 - 1 - 1 + 3) / 8 = 1/2
#   leave-one-out: V_-1 = V - [[0, 0], [0, 1]] = [[3, 1], [1, 2]], det 5, inv 1/5 [[2, -1], [-1, 3]] -> 3/5;
#                  V_-2 = [[2, 1], [1, 3]] (symmetric) -> 3/5;  V_-3 = V - [[1, 1], [1, 1]] = 2 I -> (1 + 1) / 2 = 1
#   (Sherman-Morrison: b_loo = b / (1 - b): 3/8 / 5/8 = 3/5, 1/2 / 1/2 = 1.)
H = [[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]]
LEVERAGE = [F(3, 8), F(3, 8), F(1, 2)]
LOO = [F(3, 5), F(3, 5), F(1)]


def _floats(xs):
    return torch.tensor([float(x) for x in xs], dtype=torch.float64)


def test_leverage_on_a_hand_computed_group():
    shifted = [[x + 5.0, y - 3.0] for x, y in H]  # a second group: the same points moved; centring removes the shift
    z = torch.tensor(H + shifted)
    b = elliptical_bonus(z, [[0, 1, 2], [3, 4, 5]], lam=1.0, reward_type="leverage")
    assert b.dtype == torch.float64
    torch.testing.assert_close(b, _floats(LEVERAGE * 2), rtol=0, atol=1e-12)
    # lam -> 0: the hat matrix of a centred rank-2 group of 3, diagonal 1 - 1/3 for every row
    tiny = elliptical_bonus(torch.tensor(H), [[0, 1, 2]], lam=1e-9, reward_type="leverage")
    torch.testing.assert_close(tiny, torch.full((3,), 2 / 3, dtype=torch.float64), rtol=0, atol=1e-6)


def test_leave_one_out_on_the_same_group():
    b = elliptical_bonus(torch.tensor(H), [[0, 1, 2]], lam=1.0, reward_type="leave_one_out")
    torch.testing.assert_close(b, _floats(LOO), rtol=0, atol=1e-12)


def test_a_group_of_one_or_of_copies_gets_no_bonus():
    z = torch.tensor([[1.0, 2.0], [3.0, 4.0], [3.0, 4.0]])
    b = elliptical_bonus(z, [[0], [1, 2]], lam=0.01, reward_type="leverage")
    assert b.tolist() == [0.0, 0.0, 0.0]  # centred features are all zero


# -- the projection --------------------------------------------------------------------------------------------------
def test_projection_is_sparse_signed_and_deterministic():
    r = sparse_projection(128, 32, seed=7)
    s = 128**0.25 / 32**0.5  # scikit-learn's density "auto": +-sqrt(1 / density) / sqrt(d'), density 1/sqrt(128)
    assert r.shape == (128, 32) and r.dtype == torch.float64
    assert set(r.unique().tolist()) <= {-s, 0.0, s}
    nonzero = int((r != 0).sum())  # expected 4096 / sqrt(128) = 362 (binomial std 18)
    assert 290 < nonzero < 440 and abs(int((r > 0).sum()) - int((r < 0).sum())) < 80
    assert torch.equal(r, sparse_projection(128, 32, seed=7)) and not torch.equal(r, sparse_projection(128, 32, 8))


class FakeFrozen:
    """`ctx.frozen` returning fixed pooled features (and recording the token masks it was given)."""

    def __init__(self, h):
        self.h, self.masks = h, []

    def mean_hidden(self, prompt_ids, completion_ids, token_mask=None):
        self.masks.append(token_mask)
        return self.h[: len(completion_ids)]


def _setup(cfg, seed=0):
    module = RepExp(cfg)
    module.setup(RunInfo(type("Args", (), {"seed": seed})(), 3, 1, False, None))
    return module


def _ctx(h, step=3):
    return RolloutContext(step=step, num_generations=3, temperature=1.0, rows=[], group_ids=[], frozen=FakeFrozen(h))


def _rollout(rewards):
    n = len(rewards)
    return Rollout([{}] * n, [[1]] * n, [[5, 6]] * n, [i // 3 for i in range(n)], rewards=torch.tensor(rewards))


H9 = torch.randn(9, 16, generator=torch.Generator().manual_seed(0))  # (N, H): 3 groups of 3


def test_projection_is_drawn_per_step_from_the_run_seed():
    module = _setup(RepExpConfig(proj_dim=4))
    a, b = module.features(_ctx(H9, step=3), _rollout([0.0] * 9)), module.features(_ctx(H9, 3), _rollout([0.0] * 9))
    assert a.shape == (9, 4) and a.dtype == torch.float64 and torch.equal(a, b)
    assert not torch.equal(a, module.features(_ctx(H9, step=4), _rollout([0.0] * 9)))  # re-drawn every step
    assert not torch.equal(a, _setup(RepExpConfig(proj_dim=4), seed=1).features(_ctx(H9, 3), _rollout([0.0] * 9)))
    torch.testing.assert_close(a, H9.double() @ sparse_projection(16, 4, 3))  # seed 0 * 1_000_003 + step 3
    fixed = _setup(RepExpConfig(proj_dim=4, redraw_projection=False))
    zero = _rollout([0.0] * 9)
    assert torch.equal(fixed.features(_ctx(H9, 3), zero), fixed.features(_ctx(H9, 9), zero))


# -- the gate and the reward shift -----------------------------------------------------------------------------------
def test_gate_and_exact_reward_shift():
    cfg = RepExpConfig(proj_dim=4, beta=0.5)
    module = _setup(cfg)
    rewards = [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0]  # none correct | one correct | all correct
    ctx, rollout = _ctx(H9), _rollout(rewards)
    b = elliptical_bonus(module.features(ctx, rollout), rollout.groups(), cfg.lam, cfg.reward_type)  # (9,)
    assert bool((b > 0).all()) and bool((b < 1).all())  # leverage scores of distinct points, in (0, 1)
    out = module.shape_rewards(ctx, rollout)
    want = torch.tensor(rewards) + (0.5 * torch.cat([torch.zeros(3), b[3:]])).float()
    assert torch.equal(out, want)  # gated group unchanged bit for bit; the others shifted by exactly beta * b
    assert torch.equal(out[:3], torch.zeros(3)) and bool((out[3:] > torch.tensor(rewards[3:])).all())
    m = module.pop_metrics()
    assert m["gated_frac"] == [pytest.approx(1 / 3)] and m["all_correct_frac"] == [pytest.approx(1 / 3)]
    assert m["bonus_mean"] == [pytest.approx(b.mean().item())] and m["bonus_std"] == [pytest.approx(b.std().item())]
    assert m["bonus_on_mean"] == [pytest.approx(b[3:].mean().item())]
    assert m["bonus_applied_mean"] == [pytest.approx(b[3:].sum().item() / 9)]
    # after GRPO's group normalisation the all-correct group's advantages come from the bonus alone, in its order (3
    # distinct points in 4-d: every leverage is close to the hat-matrix value 2/3, the z-scores still spread them)
    adv, zero_std = advantages(out, rollout.group_ids)
    assert torch.equal(adv[6:].argsort(), b[6:].argsort()) and float(adv[6:].abs().min()) > 0.1
    assert zero_std.tolist() == [True] * 3 + [False] * 6  # the gated all-wrong group keeps GRPO's zero advantage
    # gate off: every group gets its bonus; leave-one-out gives b / (1 - b) (Sherman-Morrison)
    off = _setup(RepExpConfig(proj_dim=4, beta=0.5, gate_if_none_correct=False)).shape_rewards(ctx, _rollout(rewards))
    assert torch.equal(off, torch.tensor(rewards) + (0.5 * b).float())
    loo = _setup(RepExpConfig(proj_dim=4, beta=1.0, reward_type="leave_one_out")).shape_rewards(ctx, _rollout(rewards))
    torch.testing.assert_close(loo[3:] - torch.tensor(rewards[3:]), (b / (1 - b))[3:].float())


def test_threshold_and_unscored_rows():
    module = _setup(RepExpConfig(proj_dim=4, correct_threshold=0.5))
    rewards = [0.5, 0.2, 0.0, float("nan"), 0.0, 0.0, 0.6, 0.0, 0.0]  # 0.5 is not > 0.5; NaN is not correct
    out, r = module.shape_rewards(_ctx(H9), _rollout(rewards)), torch.tensor(rewards)
    assert torch.equal(out[:3], r[:3]) and torch.equal(out[4:6], r[4:6]) and bool(out[3].isnan())
    assert bool((out[6:] > r[6:]).all())
    assert module.pop_metrics()["gated_frac"] == [pytest.approx(2 / 3)]


def test_the_row_loss_mask_reaches_the_frozen_forward():
    ctx, rollout = _ctx(H9[:3]), _rollout([1.0, 0.0, 0.0])
    rollout.loss_mask = [[0, 1]] * 3
    _setup(RepExpConfig(proj_dim=4)).shape_rewards(ctx, rollout)
    assert ctx.frozen.masks == [[[0, 1]] * 3]


# -- features: the frozen model's mean hidden state over the trained completion tokens --------------------------------
def test_features_use_only_the_completion_tokens_under_the_loss_mask(model_dir):  # noqa: F811
    from transformers import AutoModelForCausalLM

    from rlvr.frozen import FrozenPolicy

    frozen = FrozenPolicy(AutoModelForCausalLM.from_pretrained(model_dir), 1.0, 0, False)
    prompts, comps, mask = [[1, 20, 21], [1, 22]], [[30, 31, 32, 33], [34, 35]], [[1, 1, 1, 0], [1, 1]]
    h = frozen.mean_hidden(prompts, comps, mask)  # (2, H)
    full = frozen.forward_ids(prompts, comps)  # the same forward, every position's hidden state
    w = torch.tensor([[1.0, 1, 1, 0], [1, 1, 0, 0]])  # loss mask x padding
    torch.testing.assert_close(h, (full.hidden * w.unsqueeze(-1)).sum(1) / w.sum(1, keepdim=True))
    # the last token is out of the loss mask and nothing attends to it: changing it changes no feature
    assert torch.equal(h, frozen.mean_hidden(prompts, [[30, 31, 32, 40], [34, 35]], mask))
    assert not torch.allclose(h[0], frozen.mean_hidden(prompts, [[30, 31, 40, 33], [34, 35]], mask)[0])  # a kept one
    # padding does not leak: a row alone equals the row in a padded batch
    torch.testing.assert_close(frozen.mean_hidden(prompts[1:], comps[1:]), h[1:], rtol=0, atol=1e-5)


# -- config ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "bad, field",
    [({"proj_dim": 0}, "proj_dim"), ({"lam": 0.0}, "lam"), ({"beta": -0.1}, "beta"),
     ({"reward_type": "rnd"}, "reward_type")],
)  # fmt: skip
def test_bad_settings_are_one_line_config_errors(bad, field):
    with pytest.raises(ConfigError, match=f"exploration.{field}") as err:
        RepExpConfig(**bad).validate()
    assert "\n" not in str(err.value)


def test_recipe_settings_are_checked():
    from pathlib import Path

    from rlvr.recipe import load_recipe

    recipe = Path(__file__).resolve().parent.parent / "recipes" / "rep_exp.yaml"
    cfg = load_recipe(recipe).exploration.config
    settings = (cfg.proj_dim, cfg.lam, cfg.beta, cfg.reward_type, cfg.gate_if_none_correct)
    assert settings == (32, 0.01, 0.01, "leverage", True)
    with pytest.raises(ConfigError, match="exploration.lam"):
        load_recipe(recipe, ["exploration.lam=0"])


# -- real trainer ----------------------------------------------------------------------------------------------------
KEYS = ["explore/bonus_mean", "explore/bonus_std", "explore/gated_frac", "explore/all_correct_frac",
        "explore/bonus_applied_mean"]  # fmt: skip


def test_rep_exp_trains_two_steps_and_the_frozen_model_stays(make_trainer, model_dir):  # noqa: F811
    from transformers import AutoModelForCausalLM

    module = RepExp(RepExpConfig(proj_dim=8, beta=0.5))
    module.registry_name = "rep_exp"
    trainer, logs = run_and_check_signature(make_trainer, module, KEYS)
    initial = dict(AutoModelForCausalLM.from_pretrained(model_dir).named_parameters())
    frozen = dict(trainer.frozen_policy.model.named_parameters())
    assert frozen.keys() == initial.keys() and all(torch.equal(frozen[k], initial[k]) for k in frozen)
    assert any(not torch.equal(v, initial[k]) for k, v in params(trainer).items())  # while the policy moved
    for h in logs:  # the digits reward is > 0 in most groups: the bonus is on, and `reward` carries it
        assert 0 < h["explore/bonus_mean"] < 1 and 0 <= h["explore/gated_frac"] < 1
        assert h["reward"] - h["rewards/digits/mean"] == pytest.approx(0.5 * h["explore/bonus_applied_mean"], abs=1e-5)


def test_reward_shaping_under_normalize_then_sum_is_refused(make_trainer):  # noqa: F811
    from rlvr.errors import RLVRError

    module = RepExp(RepExpConfig(proj_dim=8, beta=0.5))
    module.registry_name = "rep_exp"
    msg = r"\['rep_exp'\] shape the reward, but multi_objective_aggregation=normalize_then_sum .* would drop"
    with pytest.raises(RLVRError, match=msg):
        make_trainer(explorer=module, multi_objective_aggregation="normalize_then_sum")
