"""`rlvr.sampling`: greedy parity with HF generate, determinism, logprob/entropy correctness, sampling distribution."""

import collections

import pytest
import torch
import transformers

from rlvr.sampling import hf_generate, sample, sample_in_batches

V, PAD = 100, 0


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    # initializer_range 0.3: a peaked, non-degenerate random model (0.02 just repeats its input token).
    cfg = transformers.LlamaConfig(
        vocab_size=V,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        tie_word_embeddings=True,
        initializer_range=0.3,
    )
    return transformers.LlamaForCausalLM(cfg).eval()


@pytest.fixture(scope="module")
def prompts():
    g = torch.Generator().manual_seed(1)
    lens = torch.randint(2, 12, (16,), generator=g).tolist()
    return [torch.randint(3, V, (n,), generator=g).tolist() for n in lens]


@pytest.fixture(scope="module")
def eos(model, prompts):
    """A token the model emits mid-completion, so some rows stop early and others run to the limit."""
    out = sample(model, prompts, max_new_tokens=24, eos_token_ids=PAD, pad_token_id=PAD, greedy=True)
    counts = collections.Counter(t for ids in out.completion_ids for t in ids[1:])
    return counts.most_common(1)[0][0]


def test_greedy_matches_hf_generate(model, prompts, eos):
    kw = dict(max_new_tokens=24, eos_token_ids=[eos, 1], pad_token_id=PAD, greedy=True)
    ours, ref = sample(model, prompts, **kw), hf_generate(model, prompts, **kw)
    assert len({len(p) for p in prompts}) > 3  # unequal prompt lengths -> left padding exercised
    lengths = [len(c) for c in ours.completion_ids]
    assert min(lengths) < 24 and max(lengths) == 24  # EOS handling exercised on both sides
    assert ours.completion_ids == ref.completion_ids
    assert ours.num_generated_tokens == ref.num_generated_tokens == sum(lengths)
    for ids in ours.completion_ids:  # cut right after the first EOS, EOS kept
        assert all(t not in (eos, 1) for t in ids[:-1])
        assert len(ids) == 24 or ids[-1] in (eos, 1)
    batched = sample_in_batches(model, prompts, batch_size=5, **kw)
    assert batched.completion_ids == ours.completion_ids


def test_generic_path_matches_hf_with_absolute_positions(prompts):
    """GPT-2 (learned absolute positions, not the Llama fast path): wrong left-pad positions would show here."""
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=V, n_embd=32, n_layer=2, n_head=2, n_positions=64, initializer_range=0.3)
    gpt2 = transformers.GPT2LMHeadModel(cfg).eval()
    kw = dict(max_new_tokens=12, eos_token_ids=1, pad_token_id=PAD, greedy=True)
    assert sample(gpt2, prompts, **kw).completion_ids == hf_generate(gpt2, prompts, **kw).completion_ids


def test_sampling_is_deterministic_per_seed(model, prompts, eos):
    kw = dict(max_new_tokens=16, eos_token_ids=eos, pad_token_id=PAD, temperature=1.0)
    a = sample(model, prompts, generator=torch.Generator().manual_seed(3), **kw)
    b = sample(model, prompts, generator=torch.Generator().manual_seed(3), **kw)
    c = sample(model, prompts, generator=torch.Generator().manual_seed(4), **kw)
    assert a.completion_ids == b.completion_ids != c.completion_ids
    h1 = hf_generate(model, prompts, generator=torch.Generator().manual_seed(3), **kw)
    h2 = hf_generate(model, prompts, generator=torch.Generator().manual_seed(3), **kw)
    assert h1.completion_ids == h2.completion_ids


def _reference(model, prompt, completion, temperature, top_k=0):
    """Log-probs and entropies from one full, uncached, unpadded forward over prompt + completion."""
    ids = torch.tensor([prompt + completion])
    with torch.no_grad():
        logits = model(ids).logits[0, len(prompt) - 1 : -1].float() / temperature  # (N, V)
    ent = torch.distributions.Categorical(logits=logits).entropy()  # (N,) unfiltered, tempered
    if top_k:
        logits = logits.masked_fill(logits < logits.topk(top_k, -1).values[:, -1:], float("-inf"))
    lp = logits.log_softmax(-1).gather(1, torch.tensor(completion)[:, None]).squeeze(1)  # (N,)
    return lp, ent


@pytest.mark.parametrize("fn", [sample, hf_generate])
@pytest.mark.parametrize("temperature,top_k", [(0.7, 0), (1.3, 5)])
def test_logprobs_and_entropies_match_full_forward(model, prompts, eos, fn, temperature, top_k):
    model.train()  # sample must switch to eval and restore the mode afterwards
    out = fn(
        model,
        prompts,
        max_new_tokens=12,
        eos_token_ids=eos,
        pad_token_id=PAD,
        temperature=temperature,
        top_k=top_k,
        generator=torch.Generator().manual_seed(0),
        return_logprobs=True,
        return_entropy=True,
    )
    assert model.training
    model.eval()
    for p, c, lps, ents in zip(prompts, out.completion_ids, out.logprobs, out.entropies):
        assert len(c) == len(lps) == len(ents)
        assert all(lp > float("-inf") for lp in lps)  # never samples a filtered-out token
        ref_lp, ref_ent = _reference(model, p, c, temperature, top_k)
        torch.testing.assert_close(torch.tensor(lps), ref_lp, atol=1e-4, rtol=0)
        torch.testing.assert_close(torch.tensor(ents), ref_ent, atol=1e-4, rtol=0)


def test_tiny_temperature_equals_greedy(model, prompts, eos):
    kw = dict(max_new_tokens=12, eos_token_ids=eos, pad_token_id=PAD)
    cold = sample(model, prompts, temperature=1e-4, generator=torch.Generator().manual_seed(0), **kw)
    assert cold.completion_ids == sample(model, prompts, greedy=True, **kw).completion_ids
    with pytest.raises(ValueError):
        sample(model, prompts, temperature=0.0, **kw)


@pytest.mark.parametrize("fn", [sample, hf_generate])
def test_first_token_distribution(model, fn):
    prompt, n = [5, 17, 42], 4000
    with torch.no_grad():
        probs = model(torch.tensor([prompt])).logits[0, -1].softmax(-1)  # (V,)
    out = fn(
        model,
        [prompt] * n,
        max_new_tokens=1,
        eos_token_ids=1,
        pad_token_id=PAD,
        generator=torch.Generator().manual_seed(0),
    )
    freq = torch.bincount(torch.tensor([c[0] for c in out.completion_ids]), minlength=V).double() / n  # (V,)
    se = (probs.double() * (1 - probs.double()) / n).sqrt().clamp_min(1e-4)  # (V,)
    z = ((freq - probs.double()).abs() / se).max().item()
    assert z < 4.5, f"max z-score {z:.2f}"
    assert probs.max() > 0.05  # the check means something only if the distribution is far from uniform-ish


def test_per_position_temperature_matches_float_and_applies_each_position():
    """A constant schedule is bit-identical to the float; a schedule's entropies follow its temperature per position."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from rlvr.sampling import sample

    torch.manual_seed(0)
    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=12,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=2,
            max_position_embeddings=32,
        )
    )
    kw = dict(max_new_tokens=6, eos_token_ids=[11], pad_token_id=0, return_logprobs=True, return_entropy=True)
    prompts = [[1, 2, 3], [4, 5]]
    a = sample(model, prompts, temperature=0.7, generator=torch.Generator().manual_seed(1), **kw)
    b = sample(model, prompts, temperature=[0.7] * 6, generator=torch.Generator().manual_seed(1), **kw)
    assert a.completion_ids == b.completion_ids and a.logprobs == b.logprobs
    # Very high then very low temperature: entropy near log(V) at position 0, near 0 at position 5 (greedy-like).
    hot_cold = sample(
        model, prompts, temperature=[100.0, 1, 1, 1, 1, 1e-4], generator=torch.Generator().manual_seed(1), **kw
    )
    for ents in hot_cold.entropies:
        assert abs(ents[0] - torch.log(torch.tensor(12.0)).item()) < 0.01
        if len(ents) == 6:
            assert ents[5] < 0.05


def test_per_position_temperature_errors():
    import pytest
    from transformers import LlamaConfig, LlamaForCausalLM

    from rlvr.sampling import hf_generate, sample

    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=12,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=2,
            max_position_embeddings=32,
        )
    )
    kw = dict(max_new_tokens=4, eos_token_ids=[11], pad_token_id=0)
    with pytest.raises(ValueError, match="one value per new token \\(4\\), got 3"):
        sample(model, [[1, 2]], temperature=[1.0, 1.0, 1.0], **kw)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        sample(model, [[1, 2]], temperature=[1.0, 0.0, 1.0, 1.0], **kw)
    with pytest.raises(ValueError, match="per-position schedules need rlvr.sampling.sample"):
        hf_generate(model, [[1, 2]], temperature=[1.0] * 4, **kw)
