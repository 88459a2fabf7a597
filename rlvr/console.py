"""A quiet console: one progress bar per phase, and only the warnings worth reading.

`quiet_console()` (called by the CLI) silences the messages below, each known to be harmless with the pinned
versions (trl 1.16, transformers 5.x); anything else still prints. `quiet_trainer(trainer)` removes transformers'
console loggers (PrinterCallback / ProgressCallback print every log dict, which metrics.jsonl already holds), so
rlvr's `Progress` bar is the only output of a training phase.
"""

from __future__ import annotations

import logging
import warnings

# (category, message regex, why it is harmless)
HARMLESS_WARNINGS = (
    (
        FutureWarning,
        r"`gradient_checkpointing` is deprecated",
        "rlvr sets gradient_checkpointing=False for CPU runs; transformers 5 renamed the field (old name works to v6)",
    ),
    (
        FutureWarning,
        r"`past_key_values` is deprecated",
        "TRL 1.16 calls the model with the old keyword, once per evaluation/forward; it still works to 5.40",
    ),
    (
        FutureWarning,
        r"`is_gradient_checkpointing` is deprecated",
        "TRL 1.16 reads the old property name; the value is the same (False in rlvr's runs)",
    ),
)
# (logger, message substring, why it is harmless)
HARMLESS_LOGS = (
    (
        "transformers.trainer_utils",
        "mtime may not be reliable",
        "checkpoints of a fast run are saved within a second; transformers then orders them by step, which is right",
    ),
    (
        "transformers.trainer",
        "There were missing keys in the checkpoint model loaded: ['lm_head.weight'].",
        "on resume: the built-in models tie lm_head to the embedding, so the checkpoint stores it once and loading "
        "re-ties it (resume is bit-exact, tests/test_run.py); any other missing key still prints",
    ),
)


class _DropMessages(logging.Filter):
    def __init__(self, substrings):
        super().__init__()
        self.substrings = tuple(substrings)

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(s in record.getMessage() for s in self.substrings)


def quiet_console() -> None:
    """Silence the known-harmless warnings and the per-save / per-map bars of transformers and datasets."""
    for category, pattern, _ in HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern, category=category)
    for name, substring, _ in HARMLESS_LOGS:
        log = logging.getLogger(name)
        if not any(isinstance(f, _DropMessages) for f in log.filters):
            log.addFilter(_DropMessages([substring]))
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # per-save shard bars; rlvr's own bars use tqdm directly
        import datasets

        datasets.disable_progress_bars()  # sub-second "Building labels" / map bars of TRL's dataset preparation
    except ImportError:
        pass


def quiet_trainer(trainer, progress=None):
    """Replace transformers' console callbacks (they print raw log dicts) by `progress` (an rlvr Progress bar)."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    if progress is not None:
        trainer.add_callback(progress)
    return trainer
