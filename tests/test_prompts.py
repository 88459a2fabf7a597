"""Chat prompts (`task.prompt_style`), conversational completions in the rewards, and GPU precision from model.dtype.

The GPU branch of `precision_args` is checked with torch.cuda patched: no GPU is needed to test the mapping.
"""

from __future__ import annotations

import pytest

from rlvr.errors import ConfigError
from rlvr.prompts import completion_text, format_prompt
from rlvr.recipe import TaskBlock
from rlvr.rewards import correctness, format


def test_plain_prompt_is_unchanged_and_chat_adds_the_instruction():
    assert format_prompt("457+68=") == "457+68="
    msgs = format_prompt("457+68=", "chat")
    assert [m["role"] for m in msgs] == ["user"]
    assert msgs[0]["content"].startswith("Solve: 457+68= . Show your working") and "'#'" in msgs[0]["content"]
    assert [m["role"] for m in format_prompt("1+1=", "chat", "Be brief.")] == ["system", "user"]


def test_task_block_prompt_keys():
    block = TaskBlock.from_block({"name": "addition", "prompt_style": "chat", "system_prompt": "Hi"}, "r", "task.")
    assert (block.prompt_style, block.system_prompt) == ("chat", "Hi")
    assert block.to_dict()["prompt_style"] == "chat"
    default = TaskBlock.from_block({"name": "addition"}, "r", "task.").to_dict()
    assert "prompt_style" not in default and "system_prompt" not in default  # warm-start cache hashes stay valid
    with pytest.raises(ConfigError, match="prompt_style"):
        TaskBlock.from_block({"name": "addition", "prompt_style": "chatml"}, "r", "task.")


def test_rewards_read_the_assistant_message():
    conv = [[{"role": "assistant", "content": "400+57=457 #457"}], [{"role": "assistant", "content": "#458"}]]
    assert completion_text(conv[0]) == "400+57=457 #457" and completion_text("x") == "x"
    assert correctness(None, conv, ["457", "457"], task=["addition"] * 2) == [1.0, 0.0]
    assert format(None, conv) == [1.0, 1.0]


@pytest.mark.parametrize(
    "dtype, bf16_ok, expected",
    [
        ("bfloat16", True, dict(bf16=True, fp16=False)),
        ("float16", True, dict(bf16=False, fp16=True)),
        ("float32", True, dict(bf16=False, fp16=False)),
        ("auto", True, dict(bf16=True, fp16=False)),
        ("auto", False, dict(bf16=False, fp16=False)),
    ],
)
def test_precision_follows_model_dtype_on_cuda(monkeypatch, dtype, bf16_ok, expected):
    torch = pytest.importorskip("torch")
    from rlvr.train import precision_args

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16_ok)
    assert precision_args(dtype) == expected


def test_precision_on_cpu(monkeypatch):
    torch = pytest.importorskip("torch")
    from rlvr.train import precision_args

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert precision_args("bfloat16") == dict(use_cpu=True, bf16=False)
