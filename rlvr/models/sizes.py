"""Names and sizes of the built-in char-level models, importable without torch (for `rlvr list`)."""

MODEL_SIZES = {
    "char-0.2m": "Llama, hidden 64, 3 layers, 4 heads: 203k parameters",
    "char-1m": "Llama, hidden 128, 4 layers, 4 heads: 1.06M parameters",
    "char-5m": "Llama, hidden 256, 6 layers, 8 heads: 5.14M parameters",
}
