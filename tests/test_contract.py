"""Exploration contract v2 in a real trainer: groups of any size, stacks, honest accounting, the frozen policy."""

from __future__ import annotations

import statistics

import pytest

torch = pytest.importorskip("torch")

from _trainers import G, assert_params_equal, dataset, make_trainer, model_dir, params, train_logs  # noqa: E402,F401

from rlvr.advantages import EPS  # noqa: E402
from rlvr.errors import RLVRError  # noqa: E402
from rlvr.exploration.base import Explorer  # noqa: E402
from rlvr.exploration.oversampling import Oversampling, OversamplingConfig  # noqa: E402
from rlvr.exploration.stack import ExplorerStack  # noqa: E402
from rlvr.trainer import split_rows  # noqa: E402


class Recorder(Explorer):
    """Last in a stack: records the rollout trained on and its advantages."""

    def __init__(self):
        super().__init__()
        self.rollouts, self.advantages = [], []

    def shape_advantages(self, ctx, rollout, advantages):
        self.rollouts.append(rollout)
        self.advantages.append(advantages.clone())
        return advantages


# -- groups of different sizes ------------------------------------------------------------------------------------
class Regroup(Explorer):
    """Replaces the rollout by groups of 4, 8 and 12 rows of the batch's first three prompts (24 rows)."""

    SIZES = (4, 8, 12)

    def generate(self, ctx):
        heads = ctx.rows[:: ctx.num_generations][: len(self.SIZES)]
        rows = [dict(h) for h, n in zip(heads, self.SIZES) for _ in range(n)]
        gids = [g for g, n in enumerate(self.SIZES) for _ in range(n)]
        return ctx.sample(rows, gids)


def test_groups_of_4_8_and_12_are_normalised_separately_and_train(make_trainer):
    rec = Recorder()
    # 24 rows per rollout (6 prompts x G=4), two micro-batches of 12
    trainer = make_trainer(
        explorer=[Regroup(), rec], per_device_train_batch_size=12, steps_per_generation=2, max_steps=4
    )  # two rollouts, each trained on in two optimizer steps
    before = params(trainer)
    trainer.train()
    assert len(rec.rollouts) == 2
    for rollout, adv in zip(rec.rollouts, rec.advantages):
        assert [len(g) for g in rollout.groups()] == [4, 8, 12]
        for rows in rollout.groups():
            r = [float(rollout.rewards[i]) for i in rows]
            mean, sd = sum(r) / len(r), statistics.stdev(r)
            want = torch.tensor([(x - mean) / (sd + EPS) for x in r])
            torch.testing.assert_close(adv[rows], want, rtol=1e-5, atol=1e-5)
    logs = train_logs(trainer)
    assert len(logs) == 4 and all(h["loss"] == h["loss"] for h in logs)
    assert any(not torch.equal(before[k], v) for k, v in params(trainer).items())


def test_split_rows_keeps_every_row():
    batch = {"x": torch.arange(10), "y": list(range(10)), "n": torch.tensor(7)}
    parts = split_rows(batch, 3)  # TRL's split_tensor_dict would keep 3 x 3 rows and drop row 9
    assert [p["y"] for p in parts] == [[0, 1, 2], [3, 4, 5, 6], [7, 8, 9]]
    assert torch.equal(torch.cat([p["x"] for p in parts]), torch.arange(10)) and all(p["n"] == 7 for p in parts)
    even = split_rows({"x": torch.arange(8)}, 2)  # divisible: exactly TRL's chunks
    assert [p["x"].tolist() for p in even] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    with pytest.raises(RLVRError, match="cannot fill 3 micro-batches"):
        split_rows({"x": torch.arange(2)}, 3)


# -- stacks -------------------------------------------------------------------------------------------------------
class ScaleAdvantages(Explorer):
    def __init__(self, c):
        super().__init__()
        self.c = c

    def shape_advantages(self, ctx, rollout, advantages):
        return advantages * self.c


class TokenWeight(Explorer):
    def __init__(self, w):
        super().__init__()
        self.w = w

    def token_weights(self, lctx):
        return torch.full_like(lctx.logps, self.w)  # (B, T)


def test_a_stack_chains_both_modules_effects(make_trainer):
    runs = {}
    for name, ex in {
        "none": None,
        "double": ScaleAdvantages(2.0),
        "half": TokenWeight(0.5),
        "both": [ScaleAdvantages(2.0), TokenWeight(0.5)],
    }.items():
        trainer = make_trainer(explorer=ex, max_steps=1)
        trainer.train()
        runs[name] = (train_logs(trainer)[0]["loss"], params(trainer))
    base = runs["none"][0]
    assert abs(base) > 1e-6
    assert runs["double"][0] == pytest.approx(2 * base, rel=1e-6)  # each module alone has its effect
    assert runs["half"][0] == pytest.approx(0.5 * base, rel=1e-6)
    assert runs["both"][0] == base  # x2 then x0.5: exact in floating point, so the same update bit for bit
    assert_params_equal(runs["both"][1], runs["none"][1])


class FirstTokenOnly(Explorer):
    """Advantage 1 everywhere, and only each completion's first token in the loss: as a mask or as a weight."""

    def __init__(self, as_mask: bool):
        super().__init__()
        self.as_mask = as_mask

    def shape_advantages(self, ctx, rollout, advantages):
        return torch.ones_like(advantages)

    def _first(self, lctx):
        first = torch.zeros_like(lctx.mask)
        first[:, 0] = 1.0
        return first  # (B, T)

    def loss_mask(self, lctx):
        return self._first(lctx) if self.as_mask else None

    def token_weights(self, lctx):
        return None if self.as_mask else self._first(lctx)


@pytest.mark.parametrize("loss_type", ["dapo", "grpo", "bnpo"])
def test_loss_mask_changes_the_normaliser_and_token_weights_do_not(make_trainer, loss_type):
    # on-policy with A = 1 the per-token loss is -1 on every kept token; B = 8 rows, one micro-batch
    runs = {}
    for as_mask in (True, False):
        trainer = make_trainer(explorer=FirstTokenOnly(as_mask), max_steps=1, loss_type=loss_type)
        trainer.train()
        runs[as_mask] = train_logs(trainer)[0]
    n_tokens = runs[True]["completions/mean_length"] * 8
    assert runs[True]["loss"] == pytest.approx(-1.0, abs=1e-6)  # masked: the mean over the 8 kept tokens
    weighted = {"dapo": -8 / n_tokens, "bnpo": -8 / n_tokens, "grpo": None}[loss_type]
    if weighted is not None:  # weighted: the same 8 terms over every completion token
        assert runs[False]["loss"] == pytest.approx(weighted, rel=1e-5)
    else:  # grpo: each row's -1 over its own length, then the row mean
        assert -1.0 < runs[False]["loss"] < 0.0


def test_stack_errors_name_both_modules():
    class SetsEps(Explorer):
        registry_name = "mine"

        def grpo_overrides(self):
            return {"epsilon": 0.3}

    from rlvr.exploration import build_explorer

    clip = build_explorer("clip_higher")
    with pytest.raises(RLVRError, match="'clip_higher' and 'mine' both set train. epsilon .0.2 vs 0.3.") as err:
        ExplorerStack([clip, SetsEps()]).grpo_overrides()
    assert "\n" not in str(err.value)
    with pytest.raises(RLVRError, match="latr and oversampling both replace the rollout"):
        ExplorerStack([build_explorer("latr"), build_explorer("oversampling")])
    with pytest.raises(RLVRError, match="lists a module twice"):
        ExplorerStack([build_explorer("lp_reg"), build_explorer("lp_reg")])


def test_advantage_replacers_stack_once_and_first():
    """psr/nsr/w_reinforce/passk_advantage ignore their input advantages: a shaper before them would be lost."""
    from rlvr.exploration import build_explorer

    with pytest.raises(RLVRError, match="w_reinforce and passk_advantage both replace the advantages"):
        ExplorerStack([build_explorer("w_reinforce"), build_explorer("passk_advantage")])
    with pytest.raises(RLVRError, match="discards the shaping of 'negative_only' listed before it; list 'psr' first"):
        ExplorerStack([build_explorer("negative_only"), build_explorer("psr")])
    # The replacer first, then a shaper of its output, then modules with no advantage hook: allowed.
    ok = ExplorerStack([build_explorer("nsr"), build_explorer("entropy_advantage"), build_explorer("clip_higher")])
    assert ok.name == "nsr+entropy_advantage+clip_higher"
    ExplorerStack([build_explorer("clip_higher"), build_explorer("passk_advantage")])  # no shaper before it


def test_stacked_recipe_merges_module_overrides(tmp_path):
    from rlvr.exploration.stack import as_stack
    from rlvr.recipe import load_recipe
    from rlvr.train import default_output_dir, grpo_args

    stack = "exploration=[{name: clip_higher}, {name: entropy_bonus, coef: 0.02, beta: 0.0, anchor: false}]"
    recipe = load_recipe("recipes/grpo.yaml", [stack])
    assert recipe.exploration.name == "clip_higher+entropy_bonus"
    assert default_output_dir(recipe).endswith("grpo__clip_higher+entropy_bonus__s0")
    args = grpo_args(recipe, as_stack(recipe.exploration.build()), tmp_path)
    assert (args.epsilon, args.epsilon_high, args.entropy_coef, args.beta) == (0.2, 0.28, 0.02, 0.0)
    with pytest.raises(RLVRError, match="train.epsilon_high=0.3 conflicts with exploration 'clip_higher'"):
        clash = load_recipe("recipes/grpo.yaml", [stack, "train.epsilon_high=0.3"])  # checked before any model loads
        grpo_args(clash, as_stack(clash.exploration.build()), tmp_path)


# -- honest accounting under oversampling + dynamic sampling -----------------------------------------------------
def long_completion(completions, **kwargs):
    """1 for completions longer than 10 characters: a random model gives all-0 and all-1 groups, and mixed ones."""
    return [float(len(c) > 10) for c in completions]


def test_refills_and_dropped_candidates_never_reach_trls_metrics(make_trainer):
    over = Oversampling(OversamplingConfig(candidates_per_prompt=8, max_rounds=3))
    rec = Recorder()
    trainer = make_trainer(explorer=[over, rec], max_steps=3, reward_funcs=[long_completion])
    trainer.train()
    logs = train_logs(trainer)
    assert len(logs) == len(rec.rollouts) == 3
    tokens = 0
    for h, rollout in zip(logs, rec.rollouts):
        assert len(rollout) == 8  # the row count is kept whatever happened inside
        trained = sum(len(p) + len(c) for p, c in zip(rollout.prompt_ids, rollout.completion_ids))
        tokens += trained
        assert h["num_tokens"] == tokens  # exact tokens trained on, cumulative
        assert h["reward"] == pytest.approx(rollout.rewards.mean().item(), abs=1e-6)  # the rows trained on only
        lengths = [len(c) for c in rollout.completion_ids]
        assert h["completions/mean_length"] == pytest.approx(sum(lengths) / len(lengths))
        zero = [len({float(rollout.rewards[i]) for i in g}) == 1 for g in rollout.groups()]
        assert h["frac_reward_zero_std"] == pytest.approx(sum(zero) / len(zero))
        assert h["sampled_tokens"] > sum(lengths)  # K = 2G candidates (and refills) cost more than what is kept
    assert sum(h["explore/rounds"] for h in logs) > 0  # dynamic sampling did refill
    assert trainer.state.num_input_tokens_seen == tokens


# -- the frozen initial policy --------------------------------------------------------------------------------------
class FrozenProbe(Explorer):
    needs_frozen_policy = True

    def __init__(self):
        super().__init__()
        self.seen = []

    def shape_rewards(self, ctx, rollout):
        self.seen.append((ctx.frozen.forward(rollout), rollout))
        return rollout.rewards


def test_frozen_policy_stays_the_initial_model_without_beta(make_trainer, model_dir):
    from transformers import AutoModelForCausalLM

    from rlvr.frozen import FrozenPolicy

    probe = FrozenProbe()
    trainer = make_trainer(explorer=probe, max_steps=2, learning_rate=1e-2)
    assert trainer.beta == 0.0 and trainer.ref_model is None  # no reference model was needed for it
    trainer.train()
    out, rollout = probe.seen[-1]  # the rollout of step 1, after one update
    initial = FrozenPolicy(AutoModelForCausalLM.from_pretrained(model_dir), 1.0, 0, False).forward(rollout)
    assert torch.equal(out.logps, initial.logps) and torch.equal(out.hidden, initial.hidden)
    current = FrozenPolicy(trainer.model, 1.0, 0, False).forward(rollout)
    assert not torch.allclose(current.logps, out.logps)  # the policy moved, the frozen copy did not
    assert out.hidden.shape[:2] == out.mask.shape == out.logps.shape and out.hidden.shape[2] > 1
    assert (out.logps * (1 - out.mask)).abs().sum() == 0 and (out.logps * out.mask).sum() < 0


def test_sampler_overrides_with_trls_sampler_are_refused(make_trainer):
    class Hot(Explorer):
        def sampling_kwargs(self, ctx):
            return {"temperature": 1.5}

    trainer = make_trainer(explorer=Hot(), sampler="trl", max_steps=1)
    with pytest.raises(RLVRError, match=r"sampler overrides \['temperature'\] need sampler: fast"):
        trainer.train()


class AskEntropies(Explorer):
    def __init__(self):
        super().__init__()
        self.seen = []

    def sampling_kwargs(self, ctx):
        return {"return_logprobs": True, "return_entropies": True}

    def shape_rewards(self, ctx, rollout):
        self.seen.append(rollout)
        return rollout.rewards


def test_sampler_logprobs_and_entropies_reach_the_rollout(make_trainer):
    ask = AskEntropies()
    trainer = make_trainer(explorer=ask, max_steps=1)
    trainer.train()
    rollout = ask.seen[0]
    assert [len(x) for x in rollout.entropies] == [len(c) for c in rollout.completion_ids]
    assert [len(x) for x in rollout.logprobs] == [len(c) for c in rollout.completion_ids]
    assert all(e >= 0 for row in rollout.entropies for e in row) and all(
        lp <= 0 for row in rollout.logprobs for lp in row
    )


def test_oversampling_all_trains_on_every_candidate(make_trainer):
    """T1's own form (selection: all): K = 2G candidates per prompt, all trained on as groups of K rows."""
    over = Oversampling(OversamplingConfig(candidates_per_prompt=8, selection="all", dynamic_sampling=False))
    rec = Recorder()
    trainer = make_trainer(explorer=[over, rec], max_steps=2, reward_funcs=[long_completion])
    trainer.train()
    logs = train_logs(trainer)
    for h, rollout in zip(logs, rec.rollouts):
        assert len(rollout) == 16 and [len(g) for g in rollout.groups()] == [8, 8]  # 2 prompts x K, none dropped
        lengths = [len(c) for c in rollout.completion_ids]
        assert h["sampled_tokens"] == sum(lengths)  # nothing sampled that is not trained on
        assert h["completions/mean_length"] == pytest.approx(sum(lengths) / len(lengths))
