"""Shared test set-up: offline hub, quiet tokenizers, one torch thread, tmp caches and a tiny recipe.

torch is *not* imported here (CLI tests check in subprocesses that `rlvr --help` / `rlvr list` avoid it);
the thread count is set lazily by a session fixture, only if torch is installed.
"""

from __future__ import annotations

import importlib.util
import os
import textwrap

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Every test evaluates for itself; tests/test_eval_cache.py turns the step-0 evaluation cache on where it tests it.
os.environ["RLVR_EVAL_CACHE"] = "0"


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    if importlib.util.find_spec("torch") is not None:
        import torch

        torch.set_num_threads(1)
    yield


@pytest.fixture
def tmp_cache(monkeypatch, tmp_path):
    """Point $RLVR_CACHE (warm-start checkpoints) at a fresh temporary directory."""
    cache = tmp_path / "rlvr_cache"
    cache.mkdir()
    monkeypatch.setenv("RLVR_CACHE", str(cache))
    return cache


@pytest.fixture
def tiny_recipe(tmp_path):
    """A minimal valid training recipe: addition, no exploration, 2 steps."""
    path = tmp_path / "tiny.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            task:
              name: addition
            exploration:
              name: none
            train:
              max_steps: 2
            """
        )
    )
    return path
