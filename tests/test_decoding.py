"""`rlvr.decoding`: the lean one-token step equals the HF forward; the deduplicated prefill equals the plain one."""

import shutil

import pytest
import torch
import transformers

from rlvr import decoding
from rlvr.decoding import Decoder
from rlvr.errors import RLVRError
from rlvr.sampling import _left_pad, hf_generate, sample

V, PAD = 100, 0


def _llama(**over):
    torch.manual_seed(0)
    kw = dict(vocab_size=V, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4)
    kw.update(num_key_value_heads=2, max_position_embeddings=128, initializer_range=0.3, **over)
    return transformers.LlamaForCausalLM(transformers.LlamaConfig(**kw)).eval()


def _qwen2():
    torch.manual_seed(0)
    cfg = transformers.Qwen2Config(
        vocab_size=V, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=1, max_position_embeddings=128, initializer_range=0.3, tie_word_embeddings=False,
    )  # fmt: skip
    model = transformers.Qwen2ForCausalLM(cfg).eval()
    with torch.no_grad():  # q/k/v biases are zero at init: make them count
        for layer in model.model.layers:
            for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                proj.bias.normal_(0, 0.3)
    return model


PROMPTS = [[5, 6, 7, 8, 9], [11, 12], [20, 21, 22], [5, 6, 7, 8, 9], [11, 12], [30]]


def _hf_step_logits(model, ids, mask, tokens):
    """Reference: the full HF forward over prompt + fed tokens, logits at each fed position."""
    seq = torch.cat([ids, tokens], 1)  # (B, P+T)
    full = torch.cat([mask, torch.ones_like(tokens)], 1)  # (B, P+T)
    pos = (full.cumsum(-1) - 1).clamp_min(0)
    return model(input_ids=seq, attention_mask=full, position_ids=pos).logits[:, ids.shape[1] - 1 :]  # (B, T+1, V)


@pytest.mark.parametrize("build", [_llama, _qwen2, lambda: _llama(attention_bias=True, mlp_bias=True)])
def test_lean_steps_equal_the_hf_forward(build):
    model = build()
    ids, mask = _left_pad(PROMPTS, PAD, "cpu")
    tokens = torch.randint(3, V, (len(PROMPTS), 5), generator=torch.Generator().manual_seed(0))  # (B, 5)
    with torch.inference_mode():
        ref = _hf_step_logits(model, ids, mask, tokens)
        dec = Decoder(model, ids.shape[1] + 5)
        assert dec.lean is not None
        got = [dec.prefill(ids, mask)]
        full = torch.cat([mask, torch.ones_like(tokens)], 1)
        for t in range(tokens.shape[1]):
            got.append(dec.step(tokens[:, t], full[:, : ids.shape[1] + t + 1], mask.sum(1) + t))
    torch.testing.assert_close(torch.stack(got, 1), ref, atol=2e-5, rtol=1e-5)


def test_select_drops_and_duplicates_rows():
    model = _llama()
    ids, mask = _left_pad(PROMPTS, PAD, "cpu")
    keep = torch.tensor([2, 2, 0])
    with torch.inference_mode():
        dec = Decoder(model, ids.shape[1] + 1)
        dec.prefill(ids, mask)
        dec.select(keep)
        tok = torch.tensor([40, 41, 42])
        got = dec.step(tok, torch.cat([mask[keep], torch.ones(3, 1, dtype=torch.long)], 1), mask[keep].sum(1))
        ref = _hf_step_logits(model, ids[keep], mask[keep], tok[:, None])[:, -1]
    torch.testing.assert_close(got, ref, atol=2e-5, rtol=1e-5)


def test_gather_rows_copies_the_filled_positions_of_the_chosen_rows():
    from rlvr.decoding import _gather_rows

    buf = torch.arange(4 * 2 * 5 * 3, dtype=torch.float32).view(4, 2, 5, 3)  # (B, H, L, D), 3 positions filled
    out = _gather_rows(buf, torch.tensor([3, 3, 1]), 3)
    assert out.shape == (3, 2, 5, 3)  # the capacity L stays for later writes
    assert torch.equal(out[:, :, :3], torch.stack([buf[3], buf[3], buf[1]])[:, :, :3])  # row 3 twice, then row 1


def test_select_mid_rollout_then_steps_equal_the_hf_forward():
    model = _llama()
    ids, mask = _left_pad(PROMPTS, PAD, "cpu")
    tokens = torch.randint(3, V, (len(PROMPTS), 5), generator=torch.Generator().manual_seed(1))  # (B, 5)
    keep = torch.tensor([4, 0, 0, 5])  # drop rows, reorder, fork row 0, after 2 fed tokens
    with torch.inference_mode():
        ref = _hf_step_logits(model, ids[keep], mask[keep], tokens[keep])  # (4, 6, V)
        dec = Decoder(model, ids.shape[1] + 5)
        dec.prefill(ids, mask)
        full = torch.cat([mask, torch.ones_like(tokens)], 1)
        for t in range(2):
            dec.step(tokens[:, t], full[:, : ids.shape[1] + t + 1], mask.sum(1) + t)
        dec.select(keep)
        got = [dec.step(tokens[keep, t], full[keep, : ids.shape[1] + t + 1], mask[keep].sum(1) + t) for t in (2, 3, 4)]
    torch.testing.assert_close(torch.stack(got, 1), ref[:, 3:], atol=2e-5, rtol=1e-5)


def test_prefill_runs_each_distinct_prompt_once():
    model = _llama()
    ids, mask = _left_pad(PROMPTS, PAD, "cpu")
    seen = []
    hook = model.model.register_forward_pre_hook(
        lambda mod, args, kw: seen.append(kw["input_ids"].shape[0]), with_kwargs=True
    )
    try:
        with torch.inference_mode():
            logits = Decoder(model, ids.shape[1] + 1).prefill(ids, mask)
            ref = model(input_ids=ids, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp_min(0)).logits
    finally:
        hook.remove()
    assert seen[0] == 4  # 6 prompts, 4 distinct
    torch.testing.assert_close(logits, ref[:, -1], atol=2e-5, rtol=1e-5)


def test_same_ids_different_padding_are_distinct_prompts():
    # [0, 5] (a real pad-id token) and [5] left-padded to [0, 5] share ids but not masks.
    model = _llama()
    kw = dict(max_new_tokens=6, eos_token_ids=1, pad_token_id=PAD, greedy=True)
    prompts = [[PAD, 5], [5], [PAD, 5], [5]]
    assert sample(model, prompts, **kw).completion_ids == hf_generate(model, prompts, **kw).completion_ids


def test_models_outside_the_lean_layout_use_their_hf_forward():
    from peft import LoraConfig, get_peft_model

    sliding = transformers.Qwen2Config(vocab_size=V, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                       num_attention_heads=2, use_sliding_window=True, sliding_window=8)  # fmt: skip
    gpt2 = transformers.GPT2Config(vocab_size=V, n_embd=32, n_layer=1, n_head=2, n_positions=64)
    lora = get_peft_model(_llama(), LoraConfig(r=2, target_modules=["q_proj", "v_proj"]))
    models = [transformers.Qwen2ForCausalLM(sliding), transformers.GPT2LMHeadModel(gpt2), lora]
    assert [Decoder(m, 16).lean for m in models] == [None, None, None]
    assert Decoder(_llama(rope_parameters={"rope_type": "dynamic", "factor": 2.0, "rope_theta": 1e4}), 16).lean is None


def test_large_models_keep_their_hf_forward(monkeypatch):
    import rlvr.decoding

    model = _llama()
    assert Decoder(model, 16).lean is not None
    monkeypatch.setattr(rlvr.decoding, "LEAN_MAX_PARAMS", sum(p.numel() for p in model.parameters()) - 1)
    assert Decoder(model, 16).lean is None


# -- compile_sampler: the lean step through torch.compile ---------------------------------------------------------
SAMPLE_KW = dict(max_new_tokens=6, eos_token_ids=[99], pad_token_id=PAD, return_logprobs=True, return_entropy=True)


@pytest.fixture
def eager_after():
    """`use_compiled_step` is process-wide: put the eager step back after the test."""
    yield
    decoding._COMPILED["step"] = None


def _passthrough_compile(calls: list, fail: Exception | None = None):
    """A stand-in for torch.compile that records its arguments and calls, and runs the eager function."""

    def compile_(fn, **kwargs):
        calls.append(kwargs)

        def compiled(*args):
            calls.append("call")
            if fail is not None:
                raise fail
            return fn(*args)

        return compiled

    return compile_


def test_compiled_step_is_one_dynamic_compile_used_by_every_decoder(monkeypatch, eager_after):
    calls = []
    monkeypatch.setattr(torch, "compile", _passthrough_compile(calls))
    model = _llama()
    ref = sample(model, PROMPTS, generator=torch.Generator().manual_seed(0), **SAMPLE_KW)
    decoding.use_compiled_step(model)
    decoding.use_compiled_step(model)  # once per process
    out = sample(model, PROMPTS, generator=torch.Generator().manual_seed(0), **SAMPLE_KW)
    assert calls[0] == {"dynamic": True} and calls.count({"dynamic": True}) == 1
    assert calls.count("call") >= 1  # the decode steps went through it
    assert (out.completion_ids, out.logprobs, out.entropies) == (ref.completion_ids, ref.logprobs, ref.entropies)


def test_turning_the_compiled_step_off_restores_the_eager_step(monkeypatch, eager_after):
    calls = []
    monkeypatch.setattr(torch, "compile", _passthrough_compile(calls))
    model = _llama()
    decoding.use_compiled_step(model)
    decoding.use_compiled_step(model, on=False)  # a later run in the same process without compile_sampler
    sample(model, PROMPTS, generator=torch.Generator().manual_seed(0), **SAMPLE_KW)
    assert decoding._COMPILED["step"] is None and "call" not in calls


def test_a_failing_compile_is_one_line_naming_the_setting(monkeypatch, eager_after):
    trace = RuntimeError("CppCompileError: C++ compile error\n  /tmp/torchinductor/x.cpp:1: error: ...\n  (200 lines)")
    monkeypatch.setattr(torch, "compile", _passthrough_compile([], fail=trace))
    model = _llama()
    decoding.use_compiled_step(model)
    with pytest.raises(RLVRError) as e:
        sample(model, PROMPTS, generator=torch.Generator().manual_seed(0), **SAMPLE_KW)
    msg = str(e.value)
    assert "\n" not in msg and "CppCompileError: C++ compile error" in msg and "set compile_sampler=false" in msg


def test_compile_sampler_refuses_a_model_without_the_lean_step(monkeypatch, eager_after):
    monkeypatch.setattr(decoding, "LEAN_MAX_PARAMS", 0)
    with pytest.raises(RLVRError, match="this model decodes through its HF forward: set compile_sampler=false"):
        decoding.use_compiled_step(_llama())
    assert decoding._COMPILED["step"] is None


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("c++") is None and shutil.which("g++") is None, reason="inductor needs a C++ compiler")
def test_the_real_compiled_step_samples_the_eager_tokens(eager_after):
    """torch.compile (inductor, dynamic shapes) changes the step's float rounding, not its tokens, over batch sizes
    and cache lengths it was not compiled for."""
    model = _llama()
    prompts = [PROMPTS, PROMPTS * 4, PROMPTS[:1]]
    refs = [sample(model, p, generator=torch.Generator().manual_seed(1), **SAMPLE_KW) for p in prompts]
    decoding.use_compiled_step(model)
    for p, ref in zip(prompts, refs):
        out = sample(model, p, generator=torch.Generator().manual_seed(1), **SAMPLE_KW)
        assert out.completion_ids == ref.completion_ids
        for a, b in zip(out.logprobs, ref.logprobs):
            assert a == pytest.approx(b, abs=1e-5)
