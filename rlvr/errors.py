"""User-facing errors: one line, naming the culprit and what to do.

The CLI prints `error: <message>` for any `RLVRError` and exits with status 2 (no traceback unless
`--debug`). Raise it for bad input; let genuine bugs raise ordinary exceptions.
"""


class RLVRError(Exception):
    """An error caused by user input (config, paths, reward functions, data)."""


class ConfigError(RLVRError):
    """Unknown key, wrong type or invalid value in a recipe or override."""
