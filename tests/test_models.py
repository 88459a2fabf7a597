"""Char tokenizer and built-in model zoo: ids, round-trips, padding, errors, determinism (offline, fast)."""

import os
import re

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import pytest  # noqa: E402
import torch  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402

from rlvr.errors import RLVRError  # noqa: E402
from rlvr.models import (  # noqa: E402
    CHAR_ALPHABET,
    MODEL_ZOO,
    NOMINAL_PARAMS,
    build_char_tokenizer,
    build_model,
    check_text,
    count_parameters,
    encode_checked,
    is_char_tokenizer,
    load_model,
    save_model,
)

SAMPLES = ["457+68=7+8=15,5+6+1=12#525", "3 7 25>75:25+7=32x#3*25", "a  b\n\n ~!", ""]


@pytest.fixture(scope="module")
def tiny():
    return build_model("char-0.2m", seed=0)


def test_vocab_ids_are_pinned():
    tok = build_char_tokenizer()
    assert (tok.pad_token_id, tok.bos_token_id, tok.eos_token_id, tok.unk_token_id) == (0, 1, 2, 3)
    assert len(tok) == 100 and len(CHAR_ALPHABET) == 96
    vocab = tok.get_vocab()
    pinned = {" ": 4, "+": 15, "0": 20, "=": 33, "a": 69, "~": 98, "\n": 99}
    assert {ch: vocab[ch] for ch in pinned} == pinned
    assert tok.padding_side == "left" and is_char_tokenizer(tok)


@pytest.mark.parametrize("text", SAMPLES + [CHAR_ALPHABET])
def test_encode_decode_round_trip(text):
    tok = build_char_tokenizer()
    ids = encode_checked(tok, text)
    assert ids[0] == tok.bos_token_id and len(ids) == len(text) + 1  # one token per char, bos prepended
    assert tok.unk_token_id not in ids
    assert tok.decode(ids, skip_special_tokens=True) == text
    # Generated continuations end in eos and are decoded without any inserted spaces.
    assert tok.decode(ids[1:] + [tok.eos_token_id, tok.pad_token_id], skip_special_tokens=True) == text


@pytest.mark.parametrize("bad,pos", [("12+é=3", 3), ("５", 0), ("ok\tx", 2)])
def test_unknown_chars_raise(bad, pos):
    with pytest.raises(RLVRError, match=re.escape(f"character {bad[pos]!r} (U+{ord(bad[pos]):04X}")) as info:
        check_text(bad)
    assert f"at position {pos}" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(RLVRError):
        encode_checked(build_char_tokenizer(), bad)


def test_left_padding_and_mask():
    tok = build_char_tokenizer()
    batch = tok(["1+1", "12+345"], padding=True, return_tensors="pt")
    assert batch["input_ids"].tolist()[0] == [0, 0, 0, 1, 21, 15, 21]
    assert batch["attention_mask"].tolist() == [[0, 0, 0, 1, 1, 1, 1], [1] * 7]


def test_param_counts_in_range():
    for name in MODEL_ZOO:
        model, _ = build_model(name)
        n = count_parameters(model)
        assert 0.6 * NOMINAL_PARAMS[name] <= n <= 1.4 * NOMINAL_PARAMS[name], (name, n)
        assert model.config.tie_word_embeddings and model.config.vocab_size == 100


def test_special_ids_wired(tiny):
    model, _ = tiny
    for cfg in (model.config, model.generation_config):
        assert (cfg.pad_token_id, cfg.bos_token_id, cfg.eos_token_id) == (0, 1, 2)


def test_determinism_and_global_rng_untouched():
    before = torch.get_rng_state()
    a, _ = build_model("char-0.2m", seed=1)
    b, _ = build_model("char-0.2m", seed=1)
    c, _ = build_model("char-0.2m", seed=2)
    assert torch.equal(torch.get_rng_state(), before)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_save_load_round_trip(tiny, tmp_path):
    model, tok = tiny
    save_model(model, tok, tmp_path / "ckpt")
    model2, tok2 = load_model(str(tmp_path / "ckpt"))
    assert isinstance(tok2, type(AutoTokenizer.from_pretrained(tmp_path / "ckpt")))
    batch = tok(SAMPLES[:2], padding=True, return_tensors="pt")
    batch2 = tok2(SAMPLES[:2], padding=True, return_tensors="pt")
    assert torch.equal(batch["input_ids"], batch2["input_ids"])
    assert torch.equal(batch["attention_mask"], batch2["attention_mask"])
    assert tok2.padding_side == "left" and (tok2.pad_token_id, tok2.bos_token_id, tok2.eos_token_id) == (0, 1, 2)
    assert tok2.decode(batch2["input_ids"][1], skip_special_tokens=True) == SAMPLES[1]
    model.eval(), model2.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(**batch).logits, model2(**batch2).logits, rtol=0, atol=0)
    assert model2.generation_config.pad_token_id == 0 and model2.generation_config.eos_token_id == 2


def test_load_builtin_dtype():
    model, _ = load_model("char-0.2m", dtype="bfloat16")
    assert next(model.parameters()).dtype == torch.bfloat16
    with pytest.raises(RLVRError, match="dtype"):
        load_model("char-0.2m", dtype="fp8")


def test_unknown_hub_model_is_one_line_error(monkeypatch):
    import huggingface_hub.constants as hub_constants

    # The env var is read at import time, so also patch the constant in case the hub was imported earlier.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(RLVRError, match="local directory") as info:
        load_model("not/a-real-model-xyz")
    assert "\n" not in str(info.value) and "not/a-real-model-xyz" in str(info.value)


def test_dir_without_config(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(RLVRError, match="config.json") as info:
        load_model(str(tmp_path))
    assert str(tmp_path) in str(info.value)
    with pytest.raises(RLVRError, match="is a file"):
        load_model(str(tmp_path / "weights.bin"))
