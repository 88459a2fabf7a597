"""Torch thread policy.

Torch's default intra-op threads (= cores) make tiny-model runs up to 75x slower as soon as anything
else is busy on a 2-core machine (see docs/performance.md). rlvr therefore pins the thread count
explicitly: `threads: auto` means 1 thread when another process is busy or several runs share the
machine (RLVR_PARALLEL_RUNS > 1, CI, pytest), otherwise all cores. Any integer is taken as is.
"""

from __future__ import annotations

import os


def _machine_busy() -> bool:
    try:
        load1 = os.getloadavg()[0]
    except OSError:
        return False
    return load1 > 0.5 * (os.cpu_count() or 1)


def resolve_threads(threads: int | str = "auto") -> int:
    """Number of torch threads to use for `threads` ('auto' or a positive int)."""
    if threads != "auto":
        n = int(threads)
        if n < 1:
            raise ValueError(f"threads must be >= 1 or 'auto', got {threads!r}")
        return n
    shared = os.environ.get("CI") or os.environ.get("PYTEST_CURRENT_TEST")
    if shared or int(os.environ.get("RLVR_PARALLEL_RUNS", "1")) > 1:
        return 1
    return 1 if _machine_busy() else max(1, min(os.cpu_count() or 1, 4))


def apply_thread_policy(threads: int | str = "auto") -> int:
    """Set torch's intra-op threads; returns the count used."""
    import torch

    n = resolve_threads(threads)
    torch.set_num_threads(n)
    return n
