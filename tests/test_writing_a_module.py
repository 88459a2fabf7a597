"""docs/writing_a_module.md: its example module, exactly as printed, loads by path and trains in a real trainer."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from _trainers import dataset, make_trainer, model_dir, train_logs  # noqa: E402,F401

from rlvr.exploration import build_explorer  # noqa: E402

DOC = Path(__file__).resolve().parent.parent / "docs" / "writing_a_module.md"


def example_source() -> str:
    text = DOC.read_text()
    marker = text.index("<!-- example:")
    return re.search(r"```python\n(.*?)```", text[marker:], flags=re.S).group(1)


def test_the_example_is_under_40_lines_and_uses_only_the_contract():
    src = example_source()
    assert len(src.strip().splitlines()) < 40
    assert "trainer" not in src and "._" not in src  # no trainer handle, no private attribute


def test_the_example_trains_and_does_what_it_says(make_trainer, tmp_path):
    path = tmp_path / "my_modules.py"
    path.write_text(example_source())
    module = build_explorer(f"{path}:ShortAndHot", None)
    module.config.warmup, module.config.length_cost = 2, 0.01
    trainer = make_trainer(explorer=module, max_steps=3)
    trainer.train()
    logs = train_logs(trainer)
    # T_s = 1.5 + (1.0 - 1.5) * min(1, s / 2): 1.5, 1.25, 1.0
    assert [h["explore/temperature"] for h in logs] == [1.5, 1.25, 1.0]
    for h in logs:  # the shaped reward is what GRPO saw: raw mean minus 0.01 x mean completion length
        want = h["rewards/digits/mean"] - 0.01 * h["completions/mean_length"]
        assert h["reward"] == pytest.approx(want, abs=1e-6)
