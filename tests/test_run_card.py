"""What a user sees after a run: the closing table, the run's README.md, samples.jsonl, `rlvr eval`'s table and
JSON, `rlvr plot`, `rlvr list`'s descriptions, and a console without raw log dicts or known-harmless warnings.

One tiny run (random char-0.2m, 2 steps, 4 problems) is shared by the module's tests; it takes a few seconds.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

pytest.importorskip("trl")

from rlvr.cli import main  # noqa: E402

RECIPE = """\
model: {name: char-0.2m}
task: {name: addition, train_size: 64}
train: {max_steps: 2, num_generations: 4, per_device_train_batch_size: 8, max_completion_length: 12, save_steps: 1}
eval: {num_problems: 4, n_samples: 4, ks: [1, 2, 4], every: 1}
"""


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """(run directory, stdout, the warnings raised) of `rlvr train` on the tiny recipe."""
    import contextlib
    import io

    tmp = tmp_path_factory.mktemp("card")
    (tmp / "tiny.yaml").write_text(RECIPE)
    out = tmp / "run"
    stdout = io.StringIO()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(stdout):
        warnings.simplefilter("default")
        assert main(["train", str(tmp / "tiny.yaml"), f"output_dir={out}", "threads=1"]) == 0
    return out, stdout.getvalue(), [str(w.message) for w in caught]


def test_the_console_shows_a_closing_table_and_no_raw_log_dicts(finished):
    out, stdout, caught = finished
    assert "{'loss'" not in stdout and "'grad_norm'" not in stdout
    lines = stdout.splitlines()
    table = lines[lines.index(next(line for line in lines if line.startswith("held-out"))) :]
    assert [line.split()[0] for line in table[1:5]] == ["pass@1", "pass@4", "greedy_accuracy", "entropy"]
    assert all(" -> " in line for line in table[1:5])
    assert f"rlvr eval {out}" in stdout and "resume=true" in stdout and "sampled tokens" in stdout
    assert not [m for m in caught if "is deprecated" in m], caught  # the known-harmless FutureWarnings


def test_the_run_card_is_rlvrs_own(finished):
    out, _, _ = finished
    card = (out / "README.md").read_text()
    assert "fine-tuned version of" not in card and card.startswith(f"# rlvr run: {out.name}")
    summary = json.loads((out / "summary.json").read_text())
    end = f"{summary['final_eval']['pass@1']:.3f}"
    assert f"| pass@1 | {summary['initial_eval']['pass@1']:.3f} | {end} |" in card
    assert f"tiny.yaml output_dir={out} threads=1" in card  # the command that reproduces the run
    assert f'AutoModelForCausalLM.from_pretrained("{out}/final")' in card
    assert "exploration:\n  name: none" in card


def test_the_card_loading_instructions_work(finished):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out, _, _ = finished
    model = AutoModelForCausalLM.from_pretrained(f"{out}/final")
    tokenizer = AutoTokenizer.from_pretrained(f"{out}/final")
    assert (
        model.config.vocab_size == len(tokenizer) and tokenizer.decode(tokenizer("12+3=")["input_ids"][1:]) == "12+3="
    )


def test_samples_jsonl_holds_scored_completions(finished):
    out, _, _ = finished
    rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 4 * 5 and sum(r["greedy"] for r in rows) == 4  # 4 problems x (4 samples + greedy)
    assert {r["step"] for r in rows} == {2} and all(r["score"] in (0.0, 1.0) and "+" in r["prompt"] for r in rows)


def test_eval_prints_a_table_or_json(finished, capsys, tmp_path):
    out, _, _ = finished
    assert main(["eval", str(out)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["model", f"{out}/final"] and table[1].split()[0] == "pass@1"
    assert main(["eval", str(out), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["model"] == f"{out}/final" and 0.0 <= metrics["pass@1"] <= 1.0
    target = tmp_path / "m.json"
    assert main(["eval", str(out), "--out", str(target)]) == 0
    assert json.loads(target.read_text())["pass@4"] == metrics["pass@4"]  # same seed, same numbers
    assert (tmp_path / "m_samples.jsonl").is_file() and (out / "eval_samples.jsonl").is_file()


def test_plot_draws_one_run_and_several(finished, capsys, tmp_path):
    out, _, _ = finished
    assert main(["plot", str(out)]) == 0
    names = {"pass1_vs_step", "passk_vs_step", "reward_vs_step", "entropy_vs_step", "zero_std_vs_step"}
    assert names <= {p.stem for p in (out / "plots").glob("*.png")}
    assert all((out / "plots" / f"{n}.png").stat().st_size > 5000 for n in names)  # drawn, not empty placeholders
    assert main(["plot", str(out), str(out), "--out", str(tmp_path / "both")]) == 0
    assert len(list((tmp_path / "both").glob("*.png"))) == len(list((out / "plots").glob("*.png")))
    capsys.readouterr()


def test_list_describes_every_task(capsys):
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.split("rewards:")[0].splitlines()[1:]
    assert {line.split()[0] for line in lines} >= {"addition", "countdown", "gym"}
    assert all(len(line.split(maxsplit=1)) == 2 for line in lines)  # a name and its description


def test_known_harmless_warnings_are_silenced_and_others_are_not():
    from rlvr.console import HARMLESS_WARNINGS, quiet_console

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_console()
        warnings.warn("`past_key_values` is deprecated and will be removed", FutureWarning, stacklevel=1)
        warnings.warn("`gradient_checkpointing` is deprecated and will be removed", FutureWarning, stacklevel=1)
        warnings.warn("something else is deprecated", FutureWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["something else is deprecated"]
    assert all(len(reason) > 20 for _, _, reason in HARMLESS_WARNINGS)  # each silenced warning says why


def test_the_tied_lm_head_on_resume_is_silenced_and_other_missing_keys_are_not():
    import logging

    from rlvr.console import quiet_console

    quiet_console()
    log = logging.getLogger("transformers.trainer")
    kept = []
    handler = logging.Handler()
    handler.emit = kept.append
    log.addHandler(handler)
    try:
        log.warning("There were missing keys in the checkpoint model loaded: ['lm_head.weight'].")
        log.warning("There were missing keys in the checkpoint model loaded: ['model.norm.weight'].")
    finally:
        log.removeHandler(handler)
    assert [r.getMessage() for r in kept] == [
        "There were missing keys in the checkpoint model loaded: ['model.norm.weight']."
    ]


def test_warm_start_console_is_one_bar_after_a_notice(tmp_path, tmp_cache, capsys):
    sft = tmp_path / "sft.yaml"
    sft.write_text(
        "# test warm start\n#   rlvr sft sft.yaml  (~2 s on 2 CPU cores)\n"
        "model: {name: char-0.2m}\ntask: {name: addition}\n"
        "sft: {max_steps: 20, batch_size: 8, num_examples: 64, logging_steps: 5}\n"
    )
    recipe = tmp_path / "train.yaml"
    recipe.write_text(RECIPE.replace("model: {name: char-0.2m}", f"model: {{warm_start: {sft}}}"))
    assert main(["train", str(recipe), f"output_dir={tmp_path / 'run'}", "threads=1", "train.max_steps=1"]) == 0
    captured = capsys.readouterr()
    first = captured.out.splitlines()[0]
    assert first.startswith(f"building the warm start first: rlvr sft {sft} (~2 s on 2 CPU cores")
    assert str(tmp_cache) in captured.out.splitlines()[1]
    assert "{'loss'" not in captured.out + captured.err and "warm start:" in captured.err  # the bar is on stderr
    assert Path(tmp_path / "run" / "README.md").read_text().count(str(sft)) >= 1
