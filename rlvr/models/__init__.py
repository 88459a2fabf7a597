"""Models and tokenizers: built-in char-level Llama family plus local / hub checkpoints.

    from rlvr.models import load_model, save_model, check_text
    model, tok = load_model("char-1m", seed=0)

Importing this package imports torch and transformers; only commands that need them should do so.
"""

from rlvr.models.tokenizer import (
    CHAR_ALPHABET,
    CHAR_VOCAB,
    SPECIAL_TOKENS,
    build_char_tokenizer,
    check_text,
    encode_checked,
    is_char_tokenizer,
)
from rlvr.models.zoo import MODEL_ZOO, NOMINAL_PARAMS, build_model, count_parameters, load_model, save_model

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
]
