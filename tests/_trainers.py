"""Shared trainer fixtures: a tiny random char-0.2m, a digit-fraction reward, and `make_trainer`.

The reward is the fraction of digits in a completion: a random model gets varied rewards within a group, so
advantages are non-zero and the parameters move (the task's correctness reward would be 0 everywhere).
Import the fixtures into a test module: `from _trainers import G, ROWS, make_trainer, model_dir, dataset, ...`.
"""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import GRPOConfig

from rlvr.models import build_model, save_model
from rlvr.tasks import build_task
from rlvr.trainer import RLVRTrainer

G = 4  # num_generations
ROWS = 8  # per_device_train_batch_size: rows of one generation batch (2 prompts x G) with the defaults below
MAX_LEN = 16


def digits(prompts, completions, **kwargs):
    """Fraction of digit characters: varies between random completions, so groups have non-zero reward std."""
    return [sum(ch.isdigit() for ch in c) / max(len(c), 1) for c in completions]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("char02m")
    model, tok = build_model("char-0.2m", seed=0)
    save_model(model, tok, path)
    return str(path)


@pytest.fixture(scope="module")
def dataset():
    return build_task("addition").dataset("train", 64)


@pytest.fixture
def make_trainer(model_dir, dataset, tmp_path):
    """make_trainer(cls=RLVRTrainer, explorer=None, sampler=None, compact_forward=None, **GRPOConfig overrides)."""
    torch.set_num_threads(1)

    def make(cls=RLVRTrainer, explorer=None, sampler=None, reward_funcs=None, compact_forward=None, **overrides):
        kwargs = dict(
            output_dir=str(tmp_path / "out"),
            use_cpu=True,
            bf16=False,
            report_to="none",
            disable_tqdm=True,
            dataloader_num_workers=0,
            dataloader_pin_memory=False,
            gradient_checkpointing=False,
            max_completion_length=MAX_LEN,
            num_generations=G,
            per_device_train_batch_size=ROWS,
            max_steps=2,
            logging_steps=1,
            save_strategy="no",
            learning_rate=1e-3,
            seed=0,
        )
        kwargs.update(overrides)
        model = AutoModelForCausalLM.from_pretrained(model_dir)
        tok = AutoTokenizer.from_pretrained(model_dir)
        extra = {}
        if cls is RLVRTrainer:
            extra["explorer"] = explorer
            if sampler is not None:
                extra["sampler"] = sampler
            extra["compact_forward"] = compact_forward
        return cls(
            model=model,
            reward_funcs=reward_funcs or [digits],
            args=GRPOConfig(**kwargs),
            train_dataset=dataset,
            processing_class=tok,
            **extra,
        )

    return make


def train_logs(trainer) -> list[dict]:
    """Per-step rows of log_history (the final summary row has `train_loss`, not `loss`)."""
    return [h for h in trainer.state.log_history if "loss" in h]


def params(trainer) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in trainer.model.named_parameters()}


def assert_params_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)


def run_and_check_signature(make, module, keys, **overrides) -> tuple:
    """Train `module` (its GRPOConfig overrides applied) for the fixture's steps: finite losses, every logged step
    carries each of `keys`, and the parameters moved. Returns (trainer, per-step logs)."""
    import math

    from rlvr.exploration.stack import as_stack

    trainer = make(explorer=module, **{**as_stack(module).grpo_overrides(), **overrides})
    before = params(trainer)
    trainer.train()
    logs = train_logs(trainer)
    assert len(logs) == trainer.args.max_steps and all(math.isfinite(h["loss"]) for h in logs)
    for key in keys:
        assert all(key in h for h in logs), (module.name, key, sorted(logs[0]))
    assert any(not torch.equal(before[k], v) for k, v in params(trainer).items())
    return trainer, logs
