"""A cache of step-0 evaluations: every run of a comparison that starts from the same model evaluates it once.

The step-0 evaluation (`eval.final`: e.g. 256 problems x 64 samples, 20-70 s on the toy) is a pure function of the
starting weights, the tokenizer, the evaluation rows, the evaluation settings, the seed, torch's version and thread
count (they fix the sampled tokens) and rlvr's own code. Every label of one seed in a comparison starts from the same
warm start with the same eval settings, so all but the first recompute the same numbers. The key hashes all of
those inputs (rlvr's code as the bytes of every `rlvr/**/*.py`, so any code change invalidates every entry); the
value is the metrics dict, stored as JSON under $RLVR_CACHE/evals/<key>.json (default ~/.cache/rlvr/evals).
Set RLVR_EVAL_CACHE=0 to turn it off (no reads, no writes). Written by hand: no library memoises an evaluation on
model weights.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import torch

from rlvr.models.zoo import weights_digest

_CODE_DIGEST: str | None = None


def cache_dir() -> Path:
    from rlvr.sft import cache_root  # $RLVR_CACHE/warm_start: the evaluations sit beside the warm starts

    return cache_root().parent / "evals"


def code_digest() -> str:
    """SHA-256 over the path and bytes of every rlvr source file (computed once per process)."""
    global _CODE_DIGEST
    if _CODE_DIGEST is None:
        root = Path(__file__).resolve().parent
        digest = hashlib.sha256()
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
        _CODE_DIGEST = digest.hexdigest()
    return _CODE_DIGEST


def eval_key(model, tokenizer, rows: list[dict], settings: dict) -> str:
    """The cache key of one evaluation: weights, tokenizer, rows, settings, torch version and threads, rlvr's code."""
    parts = {
        "weights": weights_digest(model),
        "tokenizer": hashlib.sha256(
            json.dumps([sorted(tokenizer.get_vocab().items()), getattr(tokenizer, "chat_template", None)]).encode()
        ).hexdigest(),
        "rows": hashlib.sha256(json.dumps(rows, sort_keys=True, default=str).encode()).hexdigest(),
        "settings": settings,
        "torch": [torch.__version__, torch.get_num_threads()],
        "code": code_digest(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


def cached(key: str | Callable[[], str], compute: Callable[[], dict]) -> tuple[dict, bool]:
    """(metrics, whether they came from the cache): the stored result for `key`, else `compute()` stored. `key` may
    be a function, called only when the cache is on."""
    if os.environ.get("RLVR_EVAL_CACHE", "1") == "0":
        return compute(), False
    path = cache_dir() / f"{key() if callable(key) else key}.json"
    if path.is_file():
        try:
            return json.loads(path.read_text()), True
        except (OSError, json.JSONDecodeError):
            pass  # a torn write: recompute and overwrite
    metrics = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(metrics))
    tmp.replace(path)  # atomic: a concurrent run never reads half a file
    return metrics, False
