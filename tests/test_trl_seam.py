"""Pins the TRL internals that rlvr/trainer.py overrides or reads (trl==1.16.*).

If TRL moves, renames or re-signs one of these, a test here fails with the method's name instead of
training silently doing something else.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
import textwrap
from types import SimpleNamespace

import pytest
import torch
import trl
from trl import GRPOConfig, GRPOTrainer

from rlvr.loss import SUPPORTED_LOSS_TYPES, aggregate
from rlvr.trainer import RLVRTrainer

# every loss type TRL 1.16 has; rlvr's policy loss implements SUPPORTED_LOSS_TYPES and refuses the rest
TRL_LOSS_TYPES = {"grpo", "bnpo", "dr_grpo", "dapo", "sapo", "luspo", "cispo", "vespo"}

SIGNATURES = {
    "_generate_single_turn": [
        "self",
        "prompt_ids",
        "images",
        "multimodal_fields",
        "num_generations",
        "has_tool_images",
    ],
    "_calculate_rewards": ["self", "inputs", "prompts", "completions", "completion_ids_list"],
    "_generate_and_score_completions": ["self", "inputs"],
    "_get_per_token_logps_and_entropies": [
        "self",
        "model",
        "input_ids",
        "attention_mask",
        "logits_to_keep",
        "batch_size",
        "compute_entropy",
        "compute_aux_loss",  # then multimodal inputs, which rlvr/compact_forward.py passes on to TRL's forward
    ],
    "_compute_loss": ["self", "model", "inputs"],
    "_prepare_inputs": ["self", "generation_batch"],
    "_tokenize_prompts": ["self", "prompts"],
    "get_high_entropy_mask": ["self", "entropies", "mask", "threshold"],
    "get_off_policy_mask": [
        "advantages",
        "per_token_logps",
        "sampling_per_token_logps",
        "mask",
        "off_policy_threshold",
    ],
}


def test_trl_version_is_pinned_minor():
    assert trl.__version__.startswith("1.16."), trl.__version__


@pytest.mark.parametrize("method", sorted(SIGNATURES))
def test_overridden_method_signatures(method):
    func = getattr(GRPOTrainer, method, None)
    assert callable(func), f"GRPOTrainer.{method} is gone"
    params = list(inspect.signature(func).parameters)
    expected = SIGNATURES[method]
    assert params[: len(expected)] == expected, f"GRPOTrainer.{method}{params}"


def test_transformers_methods_rlvr_train_calls_keep_their_signatures():
    """rlvr/train.py's finish_from_checkpoint (a run killed after its last step) calls these two directly."""
    from transformers import Trainer, TrainerState

    assert list(inspect.signature(Trainer._load_from_checkpoint).parameters) == [
        "self",
        "resume_from_checkpoint",
        "model",
    ]
    assert list(inspect.signature(TrainerState.load_from_json).parameters) == ["json_path"]


def _rlvr_defined(method: str):
    """The rlvr class in RLVRTrainer's MRO that defines `method`, or None (TRL's own)."""
    for cls in RLVRTrainer.__mro__:
        if method in cls.__dict__:
            return cls if cls.__module__.startswith("rlvr.") else None
    return None


def test_rlvr_overrides_are_the_pinned_methods():
    overridden = [m for m in SIGNATURES if _rlvr_defined(m)]
    assert set(overridden) == {
        "_generate_and_score_completions",
        "_prepare_inputs",
        "_compute_loss",
        "_get_per_token_logps_and_entropies",  # the compact forward; TRL's own for everything it does not cover
    }
    for method in overridden:
        params = inspect.signature(_rlvr_defined(method).__dict__[method]).parameters.values()
        named = [p.name for p in params if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
        assert named == SIGNATURES[method][: len(named)], method


@pytest.mark.parametrize(
    "attr",
    [
        "temperature",
        "top_p",
        "top_k",
        "min_p",
        "repetition_penalty",
        "eos_token_ids",
        "reward_weights",
        "num_generations",
        "max_completion_length",
        "loss_type",
        "use_vllm",
        "use_transformers_continuous_batching",
        "scale_rewards",
        "multi_objective_aggregation",
        "mask_truncated_completions",
        "pad_to_multiple_of",
        "epsilon_low",
        "epsilon_high",
        "top_entropy_quantile",
        "entropy_coef",
        "use_adaptive_entropy",
        "_entropy_bonus_enabled",
        "_last_world_entropy",
        "_entropy_window_stats",
        "aux_loss_enabled",
        "router_aux_loss_coef",
        "off_policy_mask_threshold",
        "importance_sampling_level",
        "reward_func_names",
        "beta",
        "ref_model",
        "num_iterations",
        "_buffered_inputs",
        "_step",
        "_metrics",
        "_logs",
        "_pending_metrics",
        "_pending_extra_logs",
    ],
)
def test_trainer_attributes_rlvr_reads_are_set_in_init(attr):
    assert re.search(rf"\bself\.{attr}\s*=", inspect.getsource(GRPOTrainer.__init__)), f"self.{attr} ="


@pytest.mark.parametrize(
    "field",
    [
        "entropy_coef",
        "use_adaptive_entropy",
        "sync_ref_model",
        "ref_model_mixup_alpha",
        "ref_model_sync_steps",
        "epsilon_high",
        "top_entropy_quantile",
        "loss_type",
        "steps_per_generation",
        "generation_kwargs",
    ],
)
def test_grpo_config_fields(field):
    assert field in {f.name for f in dataclasses.fields(GRPOConfig)}


def test_loss_types_match_grpo_config_help():
    help_text = GRPOConfig.__dataclass_fields__["loss_type"].metadata["help"]
    sentence = re.search(r"Supported values are (.*?)\.\s", help_text).group(1)
    assert set(re.findall(r"'(\w+)'", sentence)) == TRL_LOSS_TYPES >= set(SUPPORTED_LOSS_TYPES)


def _trl_aggregation_branches() -> dict[str, str]:
    """{loss_type: body} of the `if self.loss_type ...` chain that reduces per_token_loss in _compute_loss."""
    src = inspect.getsource(GRPOTrainer._compute_loss)
    start = src.index('mode = "train" if self.model.training else "eval"')
    end = src.index("raise ValueError", start)
    chain = src[start:end]
    branches = {}
    pattern = r"(?:if|elif) self\.loss_type (==|in) (.+?):\n(.*?)(?=\n\s*(?:elif|else)\b)"
    for _, names, body in re.findall(pattern, chain, flags=re.S):
        names = ast.literal_eval(names)
        for name in [names] if isinstance(names, str) else names:
            branches[name] = textwrap.dedent(body)
    return branches


def test_trl_aggregation_branches_cover_our_loss_types():
    assert set(_trl_aggregation_branches()) == TRL_LOSS_TYPES


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("loss_type", SUPPORTED_LOSS_TYPES)
def test_aggregate_matches_trl_policy_loss_reduction(loss_type, training):
    """rlvr.loss.aggregate(x) equals, bit for bit, the loss TRL's _compute_loss computes from per_token_loss=x."""
    torch.manual_seed(0)
    per_token = torch.randn(4, 6)
    mask = torch.tensor([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1], [1, 0, 0, 0, 0, 0], [1, 1, 1, 1, 0, 0]]).float()
    inputs = {"num_items_in_batch": torch.tensor(40.0)}
    fake = SimpleNamespace(
        loss_type=loss_type,
        model=SimpleNamespace(training=training),
        current_gradient_accumulation_steps=3,
        max_completion_length=8,
        accelerator=SimpleNamespace(num_processes=2),
        args=SimpleNamespace(steps_per_generation=4),
    )
    scope = {"self": fake, "per_token_loss": per_token, "mask": mask, "inputs": inputs}
    scope["mode"] = "train" if training else "eval"
    exec(_trl_aggregation_branches()[loss_type], scope)  # TRL's own reduction code, on our tensors
    ga = 3 if training else None
    ours, unscaled = aggregate(
        per_token, mask, loss_type, ga=ga, max_len=8, num_items=torch.tensor(40.0), processes=2, spg=4
    )
    assert torch.equal(ours, scope["loss"]) and torch.equal(unscaled, scope["policy_loss"])
