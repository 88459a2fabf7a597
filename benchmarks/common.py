"""Shared by the benchmark scripts: machine description, medians and the JSON results file."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
from pathlib import Path

import yaml

RESULTS = Path(__file__).resolve().parent / "results"


def machine_info(threads: int | None = None) -> dict:
    """What the figures depend on: cores, load (the machine is shared), library versions, torch threads."""
    import torch
    import transformers
    import trl

    return {
        "cpu_count": os.cpu_count(),
        "load_avg_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "torch_threads": threads if threads is not None else torch.get_num_threads(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "trl": trl.__version__,
        "cuda": torch.cuda.is_available(),
        "platform": platform.platform(),
        "processor": platform.processor(),
    }


def median(xs) -> float:
    return statistics.median(xs) if xs else float("nan")


def write_results(name: str, payload: dict, out: str | None = None) -> Path:
    path = Path(out) if out else RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2))
    print(f"wrote {path}")
    return path


def char_model_dir(name: str, directory: str | Path, seed: int = 0) -> str:
    """A randomly initialised built-in model saved to `directory` (TRL loads the reference from a path)."""
    from rlvr.models import build_model, save_model

    model, tok = build_model(name, seed=seed)
    save_model(model, tok, directory)
    return str(directory)


TASKS = {"addition": dict(min_digits=3, max_digits=3), "countdown": dict(num_numbers=4)}
"""The benchmark tasks' settings: 3-digit addition (9-token prompts), 4-number countdown (13-token prompts)."""


def key_value(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--config takes KEY=VALUE, got {text!r}")
    parsed = yaml.safe_load(value)
    try:  # YAML 1.1 reads 1e-4 as a string
        return key, float(parsed) if isinstance(parsed, str) else parsed
    except ValueError:
        return key, parsed
