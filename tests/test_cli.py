"""The `rlvr` command line: list, show, one-line user errors, --debug, and a fast import-light --help."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import yaml

from rlvr.cli import main
from rlvr.errors import ConfigError


def run_py(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_list_prints_components(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    sections = {}
    current = None
    for line in out.splitlines():
        if not line.startswith(" "):
            current = line.rstrip(":")
            sections[current] = []
        else:
            sections[current].append(line.split()[0])
    assert {"addition", "countdown"} <= set(sections["tasks"])
    assert {"correctness", "format"} <= set(sections["rewards"])
    assert "none" in sections["exploration modules"]
    assert "char-1m" in sections["models"]
    assert any(r.endswith("sft_addition.yaml") for r in sections["recipes"])


def test_show_prints_resolved_yaml_with_overrides(capsys, tiny_recipe):
    assert main(["show", str(tiny_recipe), "train.learning_rate=3e-5", "task.max_digits=4"]) == 0
    data = yaml.safe_load(capsys.readouterr().out)
    assert data["train"] == {"max_steps": 2, "learning_rate": 3e-5}
    assert data["task"]["name"] == "addition" and data["task"]["max_digits"] == 4
    assert data["exploration"] == {"name": "none"}


def test_show_effective_prints_the_layered_grpo_config(capsys):
    stack = "exploration=[{name: clip_higher}, {name: entropy_bonus, coef: 0.05, beta: 0.0, anchor: false}]"
    assert main(["show", "recipes/grpo.yaml", "--effective", stack, "train.learning_rate=1e-4"]) == 0
    out = capsys.readouterr().out
    grpo = yaml.safe_load(out)
    # CPU defaults < precision < recipe train: < modules: each layer's value is the one that wins
    assert grpo["learning_rate"] == 1e-4 and grpo["use_cpu"] is True and grpo["logging_steps"] == 5
    assert (grpo["epsilon"], grpo["epsilon_high"], grpo["entropy_coef"]) == (0.2, 0.28, 0.05)
    assert "#   exploration clip_higher+entropy_bonus: beta, entropy_coef, epsilon, epsilon_high\n" in out
    assert "#   recipe train: " in out and "learning_rate" in out.split("#   recipe train: ")[1].splitlines()[0]


def test_overrides_after_an_option_still_count(monkeypatch, tmp_path, tiny_recipe):
    import rlvr.train

    seen = {}
    monkeypatch.setattr(
        rlvr.train, "run_eval", lambda target, overrides, out=None, as_json=False: seen.update(o=overrides, out=out)
    )
    out = str(tmp_path / "m.json")
    assert main(["eval", "runs/x", "task.max_digits=4", "--out", out, "eval.n_samples=2"]) == 0
    assert seen == {"o": ["task.max_digits=4", "eval.n_samples=2"], "out": out}
    with pytest.raises(SystemExit):  # a stray non-override is still an argparse error
        main(["eval", "runs/x", "--out", out, "--bogus"])


@pytest.mark.parametrize(
    "argv_tail, needle",
    [
        (["bogus_key=1"], "unknown key 'bogus_key'"),
        (["eval.n_sample=4"], "did you mean 'n_samples'"),
        (["task.name=additon"], "did you mean 'addition'"),
        (["train.max_steps"], "key.sub=value"),
    ],
)
def test_user_error_is_one_line_exit_2(capsys, tiny_recipe, argv_tail, needle):
    assert main(["show", str(tiny_recipe), *argv_tail]) == 2
    captured = capsys.readouterr()
    err_lines = captured.err.splitlines()
    assert len(err_lines) == 1 and err_lines[0].startswith("error: ") and needle in err_lines[0]
    assert "Traceback" not in captured.err and captured.out == ""


def test_missing_recipe_is_user_error(capsys, tmp_path):
    assert main(["show", str(tmp_path / "missing.yaml")]) == 2
    assert capsys.readouterr().err.startswith("error: recipe ")


def test_debug_reraises(tiny_recipe):
    with pytest.raises(ConfigError, match="bogus_key"):
        main(["--debug", "show", str(tiny_recipe), "bogus_key=1"])


def test_bad_usage_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["no-such-command"])
    assert info.value.code == 2


def test_help_is_fast_and_exits_0():
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "rlvr", "--help"], capture_output=True, text=True, timeout=60)
    elapsed = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr
    for command in ("list", "show", "data", "sft", "train", "eval"):
        assert command in proc.stdout
    assert elapsed < 3.0, f"rlvr --help took {elapsed:.2f} s"


def test_parser_and_list_do_not_import_heavy_modules():
    proc = run_py(
        "import sys, contextlib, io, rlvr.cli as c\n"
        "c.build_parser()\n"
        "after_parser = [m for m in ('torch', 'trl', 'transformers') if m in sys.modules]\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    c.cmd_list(None)\n"
        "after_list = [m for m in ('torch', 'trl', 'transformers', 'datasets') if m in sys.modules]\n"
        "print(after_parser, after_list)\n"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[] []"


def test_list_into_a_closed_pipe_is_quiet(monkeypatch, capfd):
    import sys

    class ClosedPipe:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")  # what `rlvr list | head -1` hits once head has exited

        def flush(self):
            pass

        def fileno(self):
            return 1

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(["list"]) == 0  # no traceback, a clean exit
    assert "Traceback" not in capfd.readouterr().err
