"""Models and tokenizers: built-in char-level Llama family plus local / hub checkpoints.

    from rlvr.models import load_model, save_model, check_text
    model, tok = load_model("char-1m", seed=0)

Its names are imported on first use (torch, transformers); `rlvr.models.sizes` alone stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rlvr.models.tokenizer import (
        CHAR_ALPHABET,
        CHAR_VOCAB,
        SPECIAL_TOKENS,
        build_char_tokenizer,
        check_text,
        encode_checked,
        is_char_tokenizer,
    )
    from rlvr.models.zoo import (
        MODEL_ZOO,
        NOMINAL_PARAMS,
        build_model,
        count_parameters,
        load_model,
        save_model,
        weights_fingerprint,
    )

# Loaded on first access, so that `rlvr.models.sizes` (used by `rlvr list`) does not import torch.
_EXPORTS = {
    **dict.fromkeys(
        ["CHAR_ALPHABET", "CHAR_VOCAB", "SPECIAL_TOKENS", "build_char_tokenizer", "check_text", "encode_checked"]
        + ["is_char_tokenizer"],
        "tokenizer",
    ),
    **dict.fromkeys(
        ["MODEL_ZOO", "NOMINAL_PARAMS", "build_model", "count_parameters", "load_model", "save_model"]
        + ["weights_fingerprint"],
        "zoo",
    ),
}


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'rlvr.models' has no attribute '{name}'")
    value = getattr(importlib.import_module(f"rlvr.models.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


__all__ = [
    "CHAR_ALPHABET",
    "CHAR_VOCAB",
    "MODEL_ZOO",
    "NOMINAL_PARAMS",
    "SPECIAL_TOKENS",
    "build_char_tokenizer",
    "build_model",
    "check_text",
    "count_parameters",
    "encode_checked",
    "is_char_tokenizer",
    "load_model",
    "save_model",
    "weights_fingerprint",
]
