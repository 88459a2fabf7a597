"""The real-model path on CPU: a hub-style Qwen2 checkpoint with a chat template, LoRA, chat prompts, TRL's sampler.

`recipes/gpu_qwen05b.yaml` trains Qwen2.5-0.5B-Instruct on a GPU; here the same recipe runs on a tiny randomly
initialised Qwen2 (hidden 32, 2 layers) with a byte-level Qwen2Tokenizer (256 byte tokens, no merges) and a
ChatML-style template, so every piece of that path runs offline in seconds: `model.name` as a directory,
`peft:` -> a LoRA adapter in `final/`, `prompt_style: chat` (conversational prompts and completions reaching
the rewards) and chat-templated evaluation.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("peft")

from rlvr.cli import main  # noqa: E402

RECIPE = Path(__file__).resolve().parent.parent / "recipes" / "gpu_qwen05b.yaml"
# Why not the char tokenizer: transformers 5's AutoTokenizer picks the tokenizer class from the model type, so a
# saved char tokenizer next to a Qwen2 config reloads as Qwen2Tokenizer, whose byte-level pre-tokenizer then drops
# every space and newline (not in the char vocab). A byte-level vocab is what a real Qwen checkpoint has anyway.
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# Fails the run (GuardedReward -> RLVRError) unless TRL hands the rewards conversational completions.
PROBE_PY = """\
def conversational(prompts, completions, **kwargs):
    assert isinstance(prompts[0], list) and prompts[0][-1]["role"] == "user", prompts[0]
    assert isinstance(completions[0], list) and completions[0][-1]["role"] == "assistant", completions[0]
    return [0.0 for _ in completions]
"""


@pytest.fixture(scope="module")
def qwen_dir(tmp_path_factory) -> str:
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import AutoModelForCausalLM, Qwen2Config, Qwen2Tokenizer

    path = tmp_path_factory.mktemp("tiny_qwen2")
    vocab = {tok: i for i, tok in enumerate(SPECIALS + sorted(ByteLevel.alphabet()))}
    tok = Qwen2Tokenizer(vocab=vocab, merges=[], eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>"]})
    tok.chat_template = TEMPLATE
    cfg = Qwen2Config(
        vocab_size=len(tok.get_vocab()),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
    )
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


def tiny_overrides(out: Path) -> list[str]:
    return [
        "train.max_steps=2",
        "train.per_device_train_batch_size=8",
        "train.num_generations=4",
        "train.max_completion_length=16",
        "train.logging_steps=1",
        "train.save_strategy='no'",  # quoted: YAML reads a bare no as false
        "task.train_size=64",
        "eval.num_problems=4",
        "eval.n_samples=4",
        "eval.ks=[1,2,4]",
        "eval.every=0",
        f"output_dir={out}",
    ]


def test_lora_chat_run_on_a_tiny_qwen2(qwen_dir, tmp_path, tmp_cache):
    (tmp_path / "probe.py").write_text(PROBE_PY)
    rewards = (
        f"reward=[{{name: correctness}}, {{name: format, weight: 0.1}}, {{name: '{tmp_path}/probe.py:conversational'}}]"
    )
    args = ["train", str(RECIPE), f"model.name={qwen_dir}", "model.dtype=float32", "sampler=trl", rewards]
    assert main([*args, *tiny_overrides(tmp_path / "run")]) == 0

    run = tmp_path / "run"
    assert (run / "final" / "adapter_config.json").is_file()  # LoRA: the adapter, not a full model
    assert json.loads((run / "final" / "adapter_config.json").read_text())["r"] == 16
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "reward" in r]
    assert [r["step"] for r in steps] == [1, 2]
    assert all("rewards/correctness/mean" in r and "rewards/format/mean" in r for r in steps)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["final_eval"]["num_problems"] == 4  # chat-templated evaluation ran
    assert "prompt_style: chat" in (run / "config.yaml").read_text()
    # `rlvr eval RUN` loads final/ (an adapter: base + merged LoRA) and evaluates with the run's chat prompts
    assert main(["eval", str(run), "eval.num_problems=2", "eval.n_samples=2", "eval.ks=[1,2]"]) == 0


def test_chat_eval_prompt_is_the_chat_template(qwen_dir):
    from rlvr.evaluation import _encode_prompt
    from rlvr.models import load_model
    from rlvr.prompts import format_prompt

    _, tok = load_model(qwen_dir)
    assert type(tok).__name__ == "Qwen2Tokenizer"
    ids = _encode_prompt(tok, format_prompt("457+68=", "chat", "Be brief."))
    text = tok.decode(ids)
    assert text.startswith("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nSolve: 457+68= . Show")
    assert text.endswith("<|im_end|>\n<|im_start|>assistant\n")


def test_show_gpu_recipe(capsys):
    assert main(["show", str(RECIPE)]) == 0
    out = capsys.readouterr().out
    assert "Qwen/Qwen2.5-0.5B-Instruct" in out and "prompt_style: chat" in out and "lora_alpha: 32" in out


def test_hub_model_offline_is_one_line_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["train", str(RECIPE), *tiny_overrides(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Qwen/Qwen2.5-0.5B-Instruct" in err and "offline" in err


def test_chat_prompts_need_a_chat_template(tmp_path, capsys):
    args = ["train", str(RECIPE), "model.name=char-0.2m", "model.peft=null", *tiny_overrides(tmp_path / "run")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "chat template" in err and "char-0.2m" in err


def test_lora_run_with_the_fast_sampler_takes_the_compact_forward(qwen_dir, tmp_path, tmp_cache, monkeypatch):
    """LoRA on a GQA Qwen2 through the compact forward (prompt cache with grad through the adapter)."""
    import rlvr.compact_forward as cf

    calls = []
    real = cf.compact_logps
    monkeypatch.setattr(cf, "compact_logps", lambda *a, **k: calls.append(a[1].shape) or real(*a, **k))
    args = ["train", str(RECIPE), f"model.name={qwen_dir}", "model.dtype=float32", "sampler=fast"]
    assert main([*args, *tiny_overrides(tmp_path / "run")]) == 0
    assert len(calls) == 2  # one training forward per step, both through the compact path
    run = tmp_path / "run"
    assert (run / "final" / "adapter_config.json").is_file()
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [1, 2]
    assert all(math.isfinite(r["loss"]) for r in rows if "loss" in r)
