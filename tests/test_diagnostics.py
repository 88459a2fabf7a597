"""diag/* (rlvr/diagnostics.py): effective rank on hand-computed matrices, B-STaR's measures on hand-made groups of
different sizes, the hidden states the hook takes against a direct forward, a 2-step run logging them, and `none`
still bit-identical to TRL's GRPOTrainer with them on."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from _trainers import G, assert_params_equal, dataset, digits, make_trainer, model_dir, params, train_logs  # noqa: E402,F401
from trl import GRPOTrainer  # noqa: E402

from rlvr.diagnostics import distinct_correct, effective_rank, reward_auc  # noqa: E402
from rlvr.trainer import RLVRTrainer  # noqa: E402

DIAG = ("diag/effective_rank", "diag/distinct_correct_answers", "diag/distinct_correct_completions", "diag/reward_auc")


# -- effective rank ---------------------------------------------------------------------------------------------------
def test_rank_one_matrix_has_effective_rank_one():
    h = torch.outer(torch.tensor([1.0, 2.0, -3.0]), torch.tensor([0.5, 1.0, 0.0, 2.0]))  # (3, 4), rank 1
    assert effective_rank(h) == pytest.approx(1.0, abs=1e-9)


def test_two_orthogonal_equal_norm_rows_have_effective_rank_two():
    h = torch.tensor([[3.0, 0.0, 0.0], [0.0, 0.0, 3.0]])  # sigma = (3, 3): p = (1/2, 1/2)
    assert effective_rank(h) == pytest.approx(2.0, abs=1e-9)


def test_singular_values_three_and_one():
    # A rotation times diag(3, 1) times a rotation has singular values 3 and 1: p = (3/4, 1/4).
    c, s = math.cos(0.3), math.sin(0.3)
    u, v = torch.tensor([[c, -s], [s, c]]), torch.tensor([[s, c], [-c, s]])
    h = u @ torch.diag(torch.tensor([3.0, 1.0])) @ v  # (2, 2)
    # entropy = 0.75 ln(4/3) + 0.25 ln 4 = 0.75 * 0.287682 + 0.25 * 1.386294 = 0.562335; exp(0.562335) = 1.754765
    expected = math.exp(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))
    assert expected == pytest.approx(1.754765, abs=1e-6)
    assert effective_rank(h) == pytest.approx(expected, abs=1e-6)


def test_zero_matrix_has_no_effective_rank():
    assert math.isnan(effective_rank(torch.zeros(3, 4)))


# -- B-STaR -----------------------------------------------------------------------------------------------------------
GROUPS = [[0, 1, 2], [3, 4], [5, 6, 7, 8]]  # sizes 3, 2, 4 (DARS resizes groups)
ANSWERS = ["7", "7", "8", "1", None, "5", "6", "5", "9"]
CORRECT = [True, True, True, False, False, True, True, True, False]


def test_distinct_correct_answers_per_group():
    # group 0: {7, 8} -> 2; group 1: none correct -> 0; group 2: {5, 6} -> 2 ("9" is wrong)
    assert distinct_correct(ANSWERS, CORRECT, GROUPS) == [2, 0, 2]


def test_distinct_correct_ignores_missing_answers():
    assert distinct_correct([None, "3"], [True, True], [[0, 1]]) == [1]


def test_reward_auc_per_mixed_group():
    # group 0: all correct and group 1: all wrong have no pairs; group 2: correct {1.0, 0.4, 1.0} vs wrong {0.4}:
    # pairs (1.0 > 0.4), (0.4 = 0.4: a half), (1.0 > 0.4) -> 2.5 / 3
    rewards = [1, 1, 1, 0, 0, 1.0, 0.4, 1.0, 0.4]
    assert reward_auc(rewards, CORRECT, GROUPS) == [pytest.approx(2.5 / 3)]


def test_reward_auc_orders_not_gaps():
    groups, correct = [[0, 1, 2], [3, 4]], [True, False, False, False, True]
    # group 0: the correct row beats one wrong row and loses to the other (a shaping bonus outweighs correctness)
    assert reward_auc([1.0, 0.2, 1.5, 0.0, 0.9], correct, groups) == [0.5, 1.0]


# -- in a trainer -----------------------------------------------------------------------------------------------------
def correctness(prompts, completions, **kwargs):
    """A stand-in verifier (random completions are never right): even-length completions count as correct."""
    return [float(len(c) % 2 == 0) for c in completions]


def test_hook_takes_the_last_hidden_state_of_the_training_forward(make_trainer):
    trainer = make_trainer()
    trainer.model.train()  # as in training (dropout is 0 in the char models)
    ids = torch.tensor([[0, 5, 6, 7, 8, 9], [4, 5, 6, 7, 8, 9], [4, 5, 6, 9, 9, 0], [3, 4, 5, 6, 7, 9]])  # (4, 6)
    prompt_mask = torch.tensor([[0, 1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 1]])  # (4, 3), left padded
    comp_mask = torch.tensor([[1, 1, 1], [1, 1, 0], [1, 1, 1], [1, 0, 0]])  # (4, 3)
    inputs = dict(completion_mask=comp_mask, diag_row=torch.tensor([2, 0, 3, 1]))
    trainer._diag = dict(groups=[[0, 1], [2, 3]], rows=4, feats=None, seen=0)
    attn = torch.cat([prompt_mask, comp_mask], dim=1)  # (4, 6)
    with trainer._diag_hidden_states(trainer.model, inputs):
        trainer._get_per_token_logps_and_entropies(trainer.model, ids, attn, 3, compute_entropy=True)
    assert trainer._diag is None  # every row seen: logged
    with torch.no_grad():
        hs = trainer.model(input_ids=ids, attention_mask=attn, output_hidden_states=True).hidden_states[-1]  # (4, 6, d)
    feats = (hs[:, 3:] * comp_mask.unsqueeze(-1)).sum(1) / comp_mask.sum(1, keepdim=True)  # (4, d)
    by_row = torch.empty_like(feats)
    by_row[inputs["diag_row"]] = feats  # rollout order
    want = (effective_rank(by_row[[0, 1]]) + effective_rank(by_row[[2, 3]])) / 2
    assert trainer._metrics["train"]["diag/effective_rank"] == [pytest.approx(want, rel=1e-4)]


def test_hook_sees_a_bucket_of_one_token_completions_under_the_compact_forward(make_trainer):
    # 9 rows in buckets of 8 (DARS's resized groups make such counts): the shortest row, a one-token completion, is
    # alone in the last bucket. Its hidden state must be taken too (a run of rare_confirm once crashed here).
    trainer = make_trainer()
    trainer.model.train()
    prompts = [[3, 4, 5], [4, 5, 6], [5, 6, 7]]
    ids = torch.tensor([prompts[i // 3] + [6 + i % 4, 7, 8] for i in range(9)])  # (9, 6): 3 prompts x 3 rows
    lengths = [1, 3, 2, 3, 3, 2, 3, 2, 3]  # row 0 is the only one-token completion
    comp_mask = torch.tensor([[1] * n + [0] * (3 - n) for n in lengths])  # (9, 3)
    attn = torch.cat([torch.ones(9, 3, dtype=torch.long), comp_mask], dim=1)  # (9, 6)
    inputs = dict(completion_mask=comp_mask, diag_row=torch.tensor([4, 0, 8, 2, 6, 1, 3, 7, 5]))
    trainer._diag = dict(groups=[[0, 1, 2], [3, 4, 5], [6, 7, 8]], rows=9, feats=None, seen=0)
    assert trainer._compact_forward_applies(ids, 3, False, {})
    with trainer._diag_hidden_states(trainer.model, inputs):
        trainer._get_per_token_logps_and_entropies(trainer.model, ids, attn, 3, compute_entropy=True)
    assert trainer._diag is None  # all 9 rows seen: logged
    with torch.no_grad():
        hs = trainer.model(input_ids=ids, attention_mask=attn, output_hidden_states=True).hidden_states[-1]  # (9, 6, d)
    feats = (hs[:, 3:] * comp_mask.unsqueeze(-1)).sum(1) / comp_mask.sum(1, keepdim=True)  # (9, d)
    assert feats[0].abs().sum() > 0  # the one-token row has a hidden state of its own
    by_row = torch.empty_like(feats)
    by_row[inputs["diag_row"]] = feats  # rollout order
    want = sum(effective_rank(by_row[g]) for g in ([0, 1, 2], [3, 4, 5], [6, 7, 8])) / 3
    assert trainer._metrics["train"]["diag/effective_rank"] == [pytest.approx(want, rel=1e-4)]


def test_two_step_run_logs_every_diagnostic(make_trainer):
    trainer = make_trainer(reward_funcs=[correctness, digits], steps_per_generation=2, max_steps=2)
    trainer.train()
    logs = train_logs(trainer)
    assert len(logs) == 2
    first, second = logs  # one rollout, two micro-batches: B-STaR's measures log with the rollout, the rank once
    for key in DIAG[1:]:  # its last micro-batch has been through the training forward
        assert key in first and key not in second, (key, sorted(first))
    assert "diag/effective_rank" in second and "diag/effective_rank" not in first
    assert 1.0 <= second["diag/effective_rank"] <= G
    assert 0.0 <= first["diag/distinct_correct_answers"] <= first["diag/distinct_correct_completions"] <= G
    assert 0.0 <= first["diag/reward_auc"] <= 1.0


def test_none_stays_bit_identical_to_trl_with_diagnostics_on(make_trainer):
    # two micro-batches per rollout, each trained on twice: rows are shuffled, the hook runs on every forward
    cfg = dict(steps_per_generation=2, num_iterations=2, max_steps=8)
    ours = make_trainer(RLVRTrainer, sampler="trl", **cfg)
    ours.train()
    ref = make_trainer(GRPOTrainer, **cfg)
    ref.train()
    a, b = train_logs(ours), train_logs(ref)
    for x, y in zip(a, b):
        for key in ("loss", "reward", "entropy", "grad_norm"):
            assert x.get(key) == y.get(key), (key, x["step"])
    assert_params_equal(params(ours), params(ref))
    assert len(a) == 8 and sum("diag/effective_rank" in h for h in a) == 2  # one rollout per 2 x 2 steps


def test_report_signatures_show_the_diagnostics():
    from rlvr.report import signatures_markdown

    rows = [{"step": s, "diag/effective_rank": 2.0 + s, "diag/reward_auc": 0.75} for s in range(1, 9)]
    run = dict(summary={"steps": 8}, metrics=rows)
    table = "\n".join(signatures_markdown({"grpo": [run]}))
    assert "hidden-state effective rank / group, last quarter" in table and "reward AUC" in table
    row = next(line for line in table.splitlines() if line.startswith("| grpo"))
    assert "| 9.500 | n/a | 0.750 |" in row  # steps 7-8: (9 + 10) / 2; distinct correct answers not logged
