"""Built-in tiny char-level models, and loading of local / hub checkpoints.

Recipes name a model in their `model:` block; `load_model` resolves it:

    model, tok = load_model("char-1m", seed=0)      # built-in: fresh random init, deterministic per seed
    model, tok = load_model("runs/x/final")         # local dir written by save_model / save_pretrained
    model, tok = load_model("Qwen/Qwen2.5-0.5B")    # hub id (needs internet or a warm HF cache)
    model, tok = load_model("runs/lora/final")      # LoRA adapter dir: its base model with the adapter merged

Built-ins are Llama decoders with tied embeddings over the char tokenizer (`rlvr.models.tokenizer`).
Anything that cannot be resolved raises a one-line `RLVRError`, never a hub traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig

from rlvr.errors import RLVRError
from rlvr.models.tokenizer import CHAR_VOCAB, build_char_tokenizer

# max_position_embeddings: prompts + completions of the arithmetic tasks stay well under 256.
# tie_word_embeddings: with a 100-token vocab a separate output head would only add parameters.
_COMMON = dict(vocab_size=len(CHAR_VOCAB), max_position_embeddings=256, tie_word_embeddings=True, hidden_act="silu")


def _cfg(hidden: int, layers: int, heads: int, intermediate: int) -> dict:
    # Full multi-head attention (kv heads == heads): GQA saves nothing worth having at this scale.
    keys = ("hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "intermediate_size")
    return dict(_COMMON, **dict(zip(keys, (hidden, layers, heads, heads, intermediate))))


# Config kwargs per built-in name. Param counts (tests pin them within ±40% of the nominal size):
# char-0.2m 203,456 / char-1m 1,062,528 / char-5m 5,140,736.
MODEL_ZOO: dict[str, dict] = {
    "char-0.2m": _cfg(hidden=64, layers=3, heads=4, intermediate=256),
    "char-1m": _cfg(hidden=128, layers=4, heads=4, intermediate=512),
    "char-5m": _cfg(hidden=256, layers=6, heads=8, intermediate=768),
}
NOMINAL_PARAMS: dict[str, int] = {"char-0.2m": 200_000, "char-1m": 1_000_000, "char-5m": 5_000_000}
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def count_parameters(model: torch.nn.Module) -> int:
    """Number of distinct parameters (tied embeddings counted once)."""
    return sum(p.numel() for p in model.parameters())


def weights_fingerprint(model: torch.nn.Module) -> str:
    """The first 12 hex digits of `weights_digest`: a SHA-256 over every parameter and buffer, in name order.

    Two runs start from the same model exactly when their fingerprints agree: a warm start rebuilt on another machine
    or with another thread count has the same cache name but other weights, and runs from different builds must not
    be paired (`rlvr/report.py` checks)."""
    return weights_digest(model)[:12]


def weights_digest(model: torch.nn.Module) -> str:
    """SHA-256 (hex) over every parameter and buffer: name, dtype, shape and bytes, in name order."""
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _wire_special_ids(model, tokenizer) -> None:
    # Generation stops on eos and pads with pad; both configs must agree with the tokenizer.
    ids = dict(pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    if tokenizer.bos_token_id is not None:
        ids["bos_token_id"] = tokenizer.bos_token_id
    for cfg in (model.config, model.generation_config):
        if cfg is None:
            continue
        for key, value in ids.items():
            if key != "eos_token_id" or getattr(cfg, key, None) is None:  # keep a hub model's eos list
                setattr(cfg, key, value)


def _resolve_dtype(dtype: str):
    if dtype == "auto":
        return "auto"
    if dtype not in _DTYPES:
        raise RLVRError(f"dtype {dtype!r} is not one of auto, float32, bfloat16, float16")
    return _DTYPES[dtype]


def build_model(name: str, seed: int = 0):
    """Fresh randomly initialised built-in model `name` and the char tokenizer; same seed, same weights."""
    if name not in MODEL_ZOO:
        raise RLVRError(f"unknown built-in model {name!r}; choose one of {', '.join(MODEL_ZOO)}")
    tokenizer = build_char_tokenizer()
    config = LlamaConfig(
        **MODEL_ZOO[name],
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    # Fork the RNG so seeding for init does not disturb the caller's global torch stream.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    _wire_special_ids(model, tokenizer)
    return model, tokenizer


def _fix_tokenizer(tokenizer) -> None:
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise RLVRError("the model's tokenizer has neither a pad nor an eos token; cannot batch generations")
        tokenizer.pad_token = tokenizer.eos_token  # common for hub base models; masked out anyway
    tokenizer.padding_side = "left"  # decoder-only generation


def _from_pretrained(source: str, dtype, trust_remote_code: bool):
    model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, trust_remote_code=trust_remote_code)
    tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
    _fix_tokenizer(tokenizer)
    _wire_special_ids(model, tokenizer)
    return model, tokenizer


def _from_adapter(source: str, dtype, trust_remote_code: bool):
    """A LoRA run's `final/` (adapter + tokenizer): the base model it names, with the adapter merged in."""
    from peft import AutoPeftModelForCausalLM

    try:
        model = AutoPeftModelForCausalLM.from_pretrained(source, dtype=dtype, trust_remote_code=trust_remote_code)
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, KeyError) as exc:
        msg = f"could not load adapter directory {source!r} or its base model: {_first_line(exc)}"
        raise RLVRError(msg) from exc
    model = model.merge_and_unload()  # a plain model: evaluation's decode loop needs no adapter indirection
    _fix_tokenizer(tokenizer)
    _wire_special_ids(model, tokenizer)
    return model, tokenizer


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def load_model(name_or_path: str, *, dtype: str = "auto", seed: int = 0, trust_remote_code: bool = False):
    """Resolve a built-in name, a local directory or a hub id to `(model, tokenizer)`."""
    torch_dtype = _resolve_dtype(dtype)
    if name_or_path in MODEL_ZOO:
        model, tokenizer = build_model(name_or_path, seed=seed)
        if torch_dtype not in ("auto", torch.float32):
            model = model.to(torch_dtype)
        return model, tokenizer
    path = Path(os.path.expanduser(name_or_path))
    if path.exists():
        if not path.is_dir():
            raise RLVRError(f"model path {str(path)!r} is a file; pass a directory written by save_pretrained")
        if (path / "adapter_config.json").is_file() and not (path / "config.json").is_file():
            return _from_adapter(str(path), torch_dtype, trust_remote_code)
        if not (path / "config.json").is_file():
            raise RLVRError(
                f"model directory {str(path)!r} has no config.json; pass a directory written by "
                "save_pretrained (config.json, weights and tokenizer files)"
            )
        try:
            return _from_pretrained(str(path), torch_dtype, trust_remote_code)
        except (OSError, ValueError, KeyError) as exc:
            raise RLVRError(f"could not load model directory {str(path)!r}: {_first_line(exc)}") from exc
    from huggingface_hub.errors import HfHubHTTPError  # local import: only the hub path needs it

    try:
        return _from_pretrained(name_or_path, torch_dtype, trust_remote_code)
    except (OSError, ValueError, HfHubHTTPError) as exc:
        # Covers offline mode, missing repos, invalid repo ids and network failures alike.
        raise RLVRError(
            f"model {name_or_path!r} is not a built-in ({', '.join(MODEL_ZOO)}), not a local directory, and "
            "could not be fetched from the hub (offline?): download it where there is internet and pass the "
            "local directory"
        ) from exc


def save_model(model, tokenizer, directory: str | os.PathLike) -> Path:
    """Write model weights, config, generation config and tokenizer to `directory` (created if needed)."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
