"""Character-level tokenizer for the built-in `char-*` models.

One token per character: specials `<pad>`=0, `<bos>`=1, `<eos>`=2, `<unk>`=3, then `CHAR_ALPHABET`
(printable ASCII space..`~`, then newline). Ids are part of saved checkpoints: never reorder.

    tok = build_char_tokenizer()             # PreTrainedTokenizerFast, left padding, `<bos>` prepended
    ids = encode_checked(tok, "457+68=525")  # like tok.encode, but raises RLVRError on unknown chars
    check_text(prompt)                       # validate text up front (e.g. every prompt before training)

HF tokenizers map unknown characters to `<unk>` silently; call `check_text`/`encode_checked` wherever
text enters a char model so that a stray 'é' is an error instead of a quietly corrupted prompt.
"""

from __future__ import annotations

import unicodedata

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from rlvr.errors import RLVRError

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIAL_TOKENS: tuple[str, ...] = (PAD, BOS, EOS, UNK)
# Printable ASCII in code-point order, then newline. Appending is fine; reordering breaks checkpoints.
CHAR_ALPHABET: str = "".join(chr(c) for c in range(0x20, 0x7F)) + "\n"
CHAR_VOCAB: dict[str, int] = {tok: i for i, tok in enumerate(SPECIAL_TOKENS + tuple(CHAR_ALPHABET))}
_ALLOWED = frozenset(CHAR_ALPHABET)


def _describe(ch: str) -> str:
    name = unicodedata.name(ch, "")
    return f"{ch!r} (U+{ord(ch):04X}{' ' + name if name else ''})"


def check_text(text: str, *, what: str = "text") -> None:
    """Raise `RLVRError` naming the first character of `text` that the char tokenizer cannot encode."""
    if not isinstance(text, str):
        raise RLVRError(f"{what} must be a string, got {type(text).__name__}")
    for pos, ch in enumerate(text):
        if ch not in _ALLOWED:
            raise RLVRError(
                f"character {_describe(ch)} at position {pos} of {what} {text[:60]!r} is not in the char "
                "tokenizer's vocabulary; char models accept printable ASCII and newline only: rewrite the "
                "text or use a model with a subword tokenizer"
            )


def build_char_tokenizer() -> PreTrainedTokenizerFast:
    """Return a fresh character tokenizer (deterministic: same vocab and ids every call)."""
    tok = Tokenizer(models.WordLevel(vocab=dict(CHAR_VOCAB), unk_token=UNK))
    # Empty pattern + "isolated" yields every character as its own piece (verified incl. '\n' and ' ').
    tok.pre_tokenizer = pre_tokenizers.Split(pattern="", behavior="isolated")
    # Fuse concatenates pieces without separators, so decode gives the exact original text.
    tok.decoder = decoders.Fuse()
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, CHAR_VOCAB[BOS])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        padding_side="left",  # decoder-only generation needs prompts flush against the completion
        clean_up_tokenization_spaces=False,  # otherwise decode rewrites " ," -> "," etc.
        model_max_length=256,
    )


def encode_checked(tokenizer, text: str, *, add_special_tokens: bool = True) -> list[int]:
    """`tokenizer.encode(text)` after `check_text`, so unknown characters raise instead of becoming `<unk>`."""
    check_text(text)
    return tokenizer.encode(text, add_special_tokens=add_special_tokens)


def is_char_tokenizer(tokenizer) -> bool:
    """True when `tokenizer` has exactly the char vocabulary (so `check_text` applies to its inputs)."""
    try:
        return dict(tokenizer.get_vocab()) == CHAR_VOCAB
    except (AttributeError, TypeError, NotImplementedError):
        return False
