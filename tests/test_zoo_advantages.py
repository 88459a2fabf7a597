"""The advantage modules of the zoo (psr, nsr, w_reinforce, negative_only, passk_advantage, entropy_advantage):
hand-computed advantages on small batches, pass@k against the authors' formula and a brute-force enumeration, and
2 steps of each in a real trainer with its signature metric logged."""

from __future__ import annotations

import itertools
import math
from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")

from _trainers import dataset, make_trainer, model_dir, params, run_and_check_signature, train_logs  # noqa: E402,F401

from rlvr.advantages import advantages as grpo_advantages  # noqa: E402
from rlvr.errors import ConfigError, RLVRError  # noqa: E402
from rlvr.exploration import build_explorer  # noqa: E402
from rlvr.exploration.context import Rollout, RunInfo  # noqa: E402
from rlvr.exploration.entropy_advantage import forward_entropies  # noqa: E402
from rlvr.exploration.passk_advantage import passk_advantages  # noqa: E402

NAN = float("nan")
REWARDS = [1, 0, 0, 1, 0, 0, 0, 0, 1, NAN, 1, 0.3]  # three groups of 4; 0.3 is below the 0.5 threshold


def rollout(rewards, group_size, entropies=None, loss_mask=None):
    n = len(rewards)
    comps = [[5] * len(e) for e in entropies] if entropies else [[5, 6]] * n
    return Rollout([{}] * n, [[1]] * n, comps, [i // group_size for i in range(n)], loss_mask,
                   entropies=entropies, rewards=torch.tensor(rewards, dtype=torch.float32))  # fmt: skip


def module(name, **settings):
    m = build_explorer(name)
    return build_explorer(name, m.config_cls(**settings))


def shaped(name, rewards, adv=None, groups=4, entropies=None, loss_mask=None, **settings):
    m = module(name, **settings)
    r = rollout(rewards, groups, entropies=entropies, loss_mask=loss_mask)
    adv = torch.randn(len(rewards)) if adv is None else adv  # GRPO's advantages: ignored unless the module reshapes
    return m, m.shape_advantages(SimpleNamespace(), r, adv).tolist()


@pytest.mark.parametrize(
    "name, expected",
    [
        ("psr", [1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 1, 0]),
        ("nsr", [0, -1, -1, 0, -1, -1, -1, -1, 0, 0, 0, -1]),
        ("w_reinforce", [0.1, -1, -1, 0.1, -1, -1, -1, -1, 0.1, 0, 0.1, -1]),
    ],
)
def test_polarity_advantages_by_hand(name, expected):
    m, adv = shaped(name, REWARDS)
    assert adv == pytest.approx(expected)
    assert m.pop_metrics()["correct_frac"] == [pytest.approx(4 / 12)]  # NaN is not correct


def test_psr_subset_rows_leave_the_loss_mask_and_w_reinforce_keeps_all():
    m, _ = shaped("nsr", REWARDS)
    batch = {"completion_ids": torch.zeros(12, 3, dtype=torch.long)}
    extra = m.annotate(None, batch)
    mask = torch.ones(12, 3)
    keep = m.loss_mask(SimpleNamespace(inputs=extra, mask=mask))  # (B, T)
    assert keep[:, 0].tolist() == [0, 1, 1, 0, 1, 1, 1, 1, 0, 0, 0, 1] and keep.shape == (12, 3)
    assert module("nsr", subset=False).loss_mask(SimpleNamespace(inputs={}, mask=mask)) is None
    w, _ = shaped("w_reinforce", REWARDS)
    assert w.annotate(None, batch) == {} and w.loss_mask(None) is None


def test_w_reinforce_threshold_and_lambda_are_settings():
    _, adv = shaped("w_reinforce", [0.2, 0.8, 0.5, 0.51], threshold=0.5, positive_weight=0.25)
    assert adv == pytest.approx([-1, 0.25, -1, 0.25])  # 0.5 itself is not above the threshold


def test_negative_only_zeroes_the_positive_grpo_terms_by_hand():
    r = torch.tensor([1.0, 0, 0, 0, 1, 1, 0, 0])
    adv, _ = grpo_advantages(r, [0, 0, 0, 0, 1, 1, 1, 1])
    # group 1: mean 0.25, unbiased std sqrt((0.75^2 + 3 * 0.25^2) / 3) = 0.5; group 2: mean 0.5, std sqrt(1/3)
    s1, s2 = 0.5 + 1e-4, math.sqrt(1 / 3) + 1e-4
    assert adv.tolist() == pytest.approx([0.75 / s1] + [-0.25 / s1] * 3 + [0.5 / s2] * 2 + [-0.5 / s2] * 2)
    m, out = shaped("negative_only", r.tolist(), adv=adv)
    assert out == pytest.approx([0] + [-0.25 / s1] * 3 + [0, 0] + [-0.5 / s2] * 2)
    assert m.pop_metrics()["dropped_pos_frac"] == [pytest.approx(3 / 8)]
    tok = torch.tensor([[1.0, -2.0], [0.5, 0.5]])  # per-token advantages: clamped token by token
    assert module("negative_only").shape_advantages(None, rollout([0, 1], 2), tok).tolist() == [[0, -2], [0, 0]]


# -- pass@k -----------------------------------------------------------------------------------------------------
def authors_formula(n, c, k):
    """The published closed form (RUCAIBox/Passk_Training code/passk_adv.py), written out here with math.comb."""
    rho = 1 - math.comb(n - c, k) / math.comb(n, k)
    sigma = math.sqrt(rho * (1 - rho))
    neg = (1 - rho - (math.comb(n - c - 1, k - 1) / math.comb(n - 1, k - 1) if n - c else 0)) / (sigma + 1e-6)
    return (1 - rho) / (sigma + 1e-6), neg


def brute_force(n, c, k):
    """Advantage of a correct / wrong row: (mean max-reward of the k-subsets holding it - mean over all) / std."""
    r = [1] * c + [0] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    best = {s: max(r[i] for i in s) for s in subsets}
    mu = sum(best.values()) / len(subsets)
    sd = math.sqrt(sum((b - mu) ** 2 for b in best.values()) / len(subsets))

    def adv(i):
        return (sum(best[s] for s in subsets if i in s) / math.comb(n - 1, k - 1) - mu) / (sd + 1e-6)

    return adv(0) if c else 0.0, adv(n - 1) if c < n else 0.0


@pytest.mark.parametrize("n, k", [(4, 2), (6, 3), (8, 4), (5, 1)])
def test_passk_matches_authors_formula_and_brute_force(n, k):
    for c in range(n + 1):
        a_pos, a_neg, _ = passk_advantages(n, c, k)
        assert (a_pos, a_neg) == pytest.approx(authors_formula(n, c, k), abs=1e-9)
        assert (a_pos if c else 0.0, a_neg) == pytest.approx(brute_force(n, c, k), abs=1e-5)


def test_passk_by_hand_and_reference_table():
    e = 1e-6  # G = 4, k = 2. c = 1: R = 1 - C(3,2)/C(4,2) = 1/2, s = 1/2; c = 2: R = 5/6, s = sqrt(5)/6
    m, adv = shaped("passk_advantage", [1, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 1], k=2)
    s2 = math.sqrt(5) / 6
    hand = [0.5 / (0.5 + e)] + [(0.5 - 2 / 3) / (0.5 + e)] * 3 + [(1 / 6) / (s2 + e)] * 2 + [(-1 / 6) / (s2 + e)] * 2
    assert adv == pytest.approx(hand + [0.0] * 4, abs=1e-6)  # float32 advantages
    assert m.pop_metrics()["group_passk"] == [pytest.approx((0.5 + 5 / 6 + 1) / 3)]
    for c, pos, neg in [(1, 1.73, -0.12), (2, 1.11, -0.16), (4, 0.61, -0.20), (8, 0.20, -0.20), (12, 0.02, -0.07)]:
        assert passk_advantages(16, c, 4)[:2] == pytest.approx((pos, neg), abs=0.006)  # reference §12b, N=16, k=4
    a = passk_advantages(8, 3, 1)  # k = 1 is GRPO with the population std: (1 - p) / s, -p / s
    assert a[:2] == pytest.approx((0.625 / (math.sqrt(0.375 * 0.625) + e), -0.375 / (math.sqrt(0.375 * 0.625) + e)))


def test_passk_nan_rows_and_bad_k():
    # group 1: n = 3 scorable, c = 1, k = 2: R = 1 - C(2,2)/C(3,2) = 2/3, s = sqrt(2)/3; group 2: 1 scorable < k
    s = math.sqrt(2) / 3 + 1e-6
    _, adv = shaped("passk_advantage", [1, NAN, 0, 0, 1, NAN, NAN, NAN], k=2)
    assert adv == pytest.approx([(1 / 3) / s, 0, (1 / 3 - 1 / 2) / s, (1 / 3 - 1 / 2) / s, 0, 0, 0, 0])
    run = RunInfo(args=None, num_generations=4, num_processes=1, is_peft=False, tokenizer=None)
    with pytest.raises(ConfigError, match="num_generations"):
        module("passk_advantage", k=5).setup(run)
    with pytest.raises(RLVRError, match="fewer than k"):
        shaped("passk_advantage", [1, 0, 1, 0], groups=2, k=4)


# -- entropy_advantage ------------------------------------------------------------------------------------------
def test_ear_scales_by_group_entropy_by_hand():
    # H = [1, 2, 3] (group mean 2) -> Y = [1.5, 1, 0.5]; H = [0, 0] -> mean 0 -> Y = 1. Token 3 of row 0 is masked.
    ents = [[1.0, 1.0, 9.0], [2.0], [3.0, 3.0], [0.0], [0.0]]
    mask = [[1, 1, 0], [1], [1, 1], [1], [1]]
    adv = torch.tensor([1.0, -1.0, 2.0, 5.0, -5.0])
    r = rollout([1, 0, 1, 1, 0], 3, entropies=ents, loss_mask=mask)
    r.group_ids = [0, 0, 0, 1, 1]
    m = module("entropy_advantage", entropy_source="rollout")
    assert m.shape_advantages(None, r, adv).tolist() == pytest.approx([1.5, -1.0, 1.0, 5.0, -5.0])
    tok = adv.unsqueeze(1).repeat(1, 2)  # (N, T) advantages are scaled per row
    assert m.shape_advantages(None, r, tok)[:, 1].tolist() == pytest.approx([1.5, -1.0, 1.0, 5.0, -5.0])
    # H = [0.5, 0.5, 5]: mean 2, Y = [1.75, 1.75, -0.5]; scale_min = 0 stops the sign flip
    r = rollout([1, 1, 0], 3, entropies=[[0.5], [0.5], [5.0]])
    assert m.shape_advantages(None, r, torch.ones(3)).tolist() == pytest.approx([1.75, 1.75, -0.5])
    assert m.pop_metrics()["neg_scale_frac"][-1] == pytest.approx(1 / 3)
    floor = module("entropy_advantage", entropy_source="rollout", scale_min=0.0)
    assert floor.shape_advantages(None, r, torch.ones(3)).tolist() == pytest.approx([1.75, 1.75, 0.0])
    clip = module("entropy_advantage", variant="clip")  # Adv-Clip, beta = 2
    assert clip.shape_advantages(None, r, torch.tensor([3.0, -2.5, 1.0])).tolist() == [2.0, -2.0, 1.0]


class TablePolicy(torch.nn.Module):
    """logits = table[previous token]: the entropy of each completion token is known in closed form."""

    def __init__(self):
        super().__init__()
        self.table = torch.nn.Parameter(torch.tensor([[0.0, 0, 0, 0], [50.0, 0, 0, 0], [0.0, 0, 0, 0], [0, 0, 0, 0]]))

    def forward(self, input_ids, attention_mask):
        return SimpleNamespace(logits=self.table[input_ids])  # (B, L, V)


def test_forward_entropies_are_aligned_with_the_completion_tokens():
    r = Rollout([{}] * 2, [[3, 1], [2]], [[0, 1, 2], [1]], [0, 0])
    ents = forward_entropies(TablePolicy(), r, temperature=1.0, pad_id=3, chunk_rows=1)
    u = math.log(4)  # a uniform row; after token 1 the distribution is one-hot (entropy ~0)
    assert ents[0] == pytest.approx([0.0, u, 0.0], abs=1e-6) and ents[1] == pytest.approx([u], abs=1e-6)
    assert forward_entropies(TablePolicy(), r, 2.0, 3, 8)[0][0] == pytest.approx(0.0, abs=1e-5)  # 25 nats apart


def test_configs_reject_bad_values():
    for name, bad in [("psr", {"threshold": NAN}), ("w_reinforce", {"positive_weight": -1}),
                      ("passk_advantage", {"k": 0}), ("entropy_advantage", {"variant": "exp"}),
                      ("entropy_advantage", {"clip_beta": 0})]:  # fmt: skip
        with pytest.raises(ConfigError):
            module(name, **bad).config.validate()


def test_sampler_entropies_equal_the_forward_pass(model_dir):
    from transformers import AutoModelForCausalLM

    from rlvr.sampling import sample

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    prompts = [[5, 6, 7], [8, 9]]
    out = sample(model, prompts, max_new_tokens=8, eos_token_ids=[2], pad_token_id=0, temperature=1.3,
                 generator=torch.Generator().manual_seed(0), return_entropy=True)  # fmt: skip
    r = Rollout([{}] * 2, prompts, out.completion_ids, [0, 0])
    ents = forward_entropies(model, r, temperature=1.3, pad_id=0, chunk_rows=8)
    for a, b in zip(ents, out.entropies):
        assert a == pytest.approx(b, abs=1e-4)


# -- 2 steps in a real trainer ----------------------------------------------------------------------------------
FAST = {  # module: (settings, metrics every logged step must carry); digits reward: ~0.1 for random text
    "psr": ({"threshold": 0.1}, ["explore/correct_frac", "explore/trained_frac"]),
    "nsr": ({"threshold": 0.1}, ["explore/correct_frac", "explore/trained_frac"]),
    "w_reinforce": ({"threshold": 0.1}, ["explore/correct_frac", "explore/trained_frac"]),
    "negative_only": ({}, ["explore/dropped_pos_frac", "explore/trained_frac"]),
    "passk_advantage": ({"k": 2, "threshold": 0.1}, ["explore/group_passk", "explore/grpo_neg_adv_mean"]),
    "entropy_advantage": ({}, ["explore/scale_std", "explore/response_entropy", "explore/neg_scale_frac"]),
}


@pytest.mark.parametrize("name", sorted(FAST))
def test_module_runs_two_steps_and_logs_its_signature(make_trainer, name):
    settings, keys = FAST[name]
    trainer, logs = run_and_check_signature(make_trainer, module(name, **settings), keys)
    if name in ("psr", "nsr"):  # on-policy, ratio 1: token mean of -A over the kept rows' tokens only = -A
        kept = [h for h in logs if h["explore/trained_frac"] > 0]
        assert kept and all(h["loss"] == pytest.approx(-1.0 if name == "psr" else 1.0, abs=1e-4) for h in kept)
    if name == "entropy_advantage":
        assert all(h["explore/scale_std"] > 0 for h in logs)
        assert logs[0]["explore/response_entropy"] == pytest.approx(logs[0]["entropy"], rel=0.2)
