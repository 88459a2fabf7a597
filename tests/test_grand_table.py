"""docs/scripts/grand_table.py on hand-made committed records: cells, costs, missing labels, builds, the heat map."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("grand_table", REPO / "docs/scripts/grand_table.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _record(out: Path, label: str, seed: int, p1: float, p64: float, tokens: float, wall: float, start="aaa"):
    d = out / "records" / f"{label}__s{seed}"
    d.mkdir(parents=True)
    final = {"pass@1": p1, "pass@2": p1, "pass@64": p64, "num_problems": 4, "num_samples": 64}
    summary = {"recipe": f"recipes/{label}.yaml", "seed": seed, "train_seconds": wall, "final_eval": final}
    summary["start_model"] = start
    (d / "summary.json").write_text(json.dumps(summary))
    (d / "metrics.jsonl").write_text(json.dumps({"step": 1, "sampled_tokens": tokens}) + "\n")
    module = "none" if label == "grpo" else label
    (d / "config.yaml").write_text(yaml.safe_dump({"exploration": {"name": module}}))


def _testbed(tmp_path: Path) -> Path:
    out = tmp_path / "tb"
    # grpo pass@1 0.30/0.32/0.31; `up` +0.10, +0.11, +0.09 (mean +0.100) and pass@64 0, -0.01, -0.02; `one` ran
    # seed 0 only (+0.05); `other_build` started from another warm-start build.
    for s, (p1, p64) in enumerate([(0.30, 0.80), (0.32, 0.78), (0.31, 0.79)]):
        _record(out, "grpo", s, p1, p64, tokens=100.0, wall=10.0 + s)  # mean wall 11 s
        _record(out, "up", s, p1 + (0.10, 0.11, 0.09)[s], p64 - 0.01 * s, tokens=250.0, wall=20.0)
    _record(out, "one", 0, 0.35, 0.80, tokens=100.0, wall=12.0)
    _record(out, "other_build", 0, 0.9, 0.9, tokens=100.0, wall=12.0, start="bbb")
    _record(out, "other_build", 1, 0.9, 0.9, tokens=100.0, wall=12.0, start="bbb")
    recipe = {"recipes": [f"recipes/{lab}.yaml" for lab in ("grpo", "up", "one", "other_build")]}
    recipe.update(seeds=[0, 1, 2], overrides=["eval.final.n_samples=64"], out=str(out))
    path = tmp_path / "compare_tb.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def test_cells_costs_and_left_out_pairs(tmp_path):
    g = _script()
    tb = g.testbed(f"toy={_testbed(tmp_path)}", "grpo")
    assert tb["labels"] == ["grpo", "up", "one"]  # other_build's pairs started elsewhere: left out
    assert tb["mixed"] == ["other_build__s0", "other_build__s1"]
    assert g.cell_text(tb, "up", "pass@1", "grpo").startswith("**+0.100** [")  # (0.10 + 0.11 + 0.09) / 3
    assert g.cell_text(tb, "up", "pass@k", "grpo").startswith("-0.010 [")  # (0 - 0.01 - 0.02) / 3, not bold
    assert g.cell_text(tb, "one", "pass@1", "grpo") == "+0.050 (1 seed)"  # 0.35 - 0.30, no interval
    assert g.cell_text(tb, "grpo", "pass@1", "grpo") == "0.310 (abs.)"  # (0.30 + 0.32 + 0.31) / 3
    assert g.cost_text(tb, "up", "grpo") == "2.50x, 20 s"  # 250 / 100 tokens per rollout
    assert g.cost_text(tb, "grpo", "grpo") == "1.00x, 11 s"
    lines = g.markdown([tb], "grpo")
    assert lines[0].startswith("| module | toy Δ pass@1 | toy Δ pass@64 | toy seeds | cost |")
    assert "other_build__s0, other_build__s1" in lines[-1]
    assert g.heatmap([tb], "grpo", tmp_path / "heat.png").stat().st_size > 1000


def test_a_testbed_with_no_runs_keeps_its_columns(tmp_path):
    g = _script()
    path = tmp_path / "empty.yaml"
    spec = {"recipes": ["recipes/grpo.yaml"], "overrides": ["eval.final.n_samples=64"]}
    path.write_text(yaml.safe_dump({**spec, "out": str(tmp_path / "none")}))
    tb = g.testbed(f"empty={path}", "grpo")
    assert tb["kmax"] == 64 and tb["labels"] == []
    assert g.cell_text(tb, "grpo", "pass@1", "grpo") == "–"
    assert "empty: no finished runs yet." in g.markdown([tb], "grpo")[-1]


def test_compact_form_keeps_the_delta_and_its_holm_mark(tmp_path):
    g = _script()
    tb = g.testbed(f"toy={_testbed(tmp_path)}", "grpo")
    lines = g.compact_markdown([tb], "grpo")
    assert lines[0] == "| module | toy Δ pass@1 | toy Δ pass@64 |"
    # grpo's means: pass@1 (0.30 + 0.32 + 0.31) / 3, pass@64 (0.80 + 0.78 + 0.79) / 3; up: +0.100 survives Holm
    # (bold), pass@64 -0.010 does not; `one` ran one seed (0.35 - 0.30)
    assert lines[2:] == [
        "| `grpo` | 0.310 (abs.) | 0.790 (abs.) |",
        "| `up` | **+0.100** | -0.010 |",
        "| `one` | +0.050 (1 seed) | +0.000 (1 seed) |",
    ]


def test_comparison_cost_sums_the_training_walls(tmp_path):
    spec = importlib.util.spec_from_file_location("comparison_cost", REPO / "docs/scripts/comparison_cost.py")
    cc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cc)
    _testbed(tmp_path)  # grpo 10/11/12 s, up 20 s x 3, one 12 s, other_build 12 s x 2: 9 runs, 129 s
    c = cc.cost(tmp_path / "tb")
    assert c["runs"] == 9 and abs(c["run_minutes"] - 129 / 60) < 1e-9
    assert c["per_label"]["grpo"] == 11.0 and c["per_label"]["up"] == 20.0
    # 129 s = 2.15 run-minutes, 1.075 at 2 jobs (both rounded to whole minutes), 129 / 9 = 14.3 s per run; one
    # and other_build tie at 12 s and keep their record order
    assert cc.line("tb", c, jobs=2, top=2) == "| tb | 9 | 2 | 1 | 14 s | up 20 s, one 12 s |"


def test_paired_stats_against_a_chosen_control(tmp_path, capsys, monkeypatch):
    """docs/scripts/paired_stats.py --baseline/--labels/--metrics: Δ to a control, its own Holm family."""
    spec = importlib.util.spec_from_file_location("paired_stats", REPO / "docs/scripts/paired_stats.py")
    ps = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ps)
    cols = ["label", "module", "seed", "pass@1", "pass@2", "pass@64", "pass@1_sampling_sd"]
    rows = [("grpo", "none", s, 0.3, 0.4, 0.6, 0.01) for s in range(3)]
    rows += [("ctl", "none", s, 0.4, 0.5, p, 0.01) for s, p in enumerate([0.70, 0.72, 0.74])]
    rows += [("a", "a", s, 0.3, 0.4, p, 0.01) for s, p in enumerate([0.80, 0.79, 0.84])]
    (tmp_path / "cmp").mkdir()
    lines = [",".join(cols)] + [",".join(map(str, r)) for r in rows]
    (tmp_path / "cmp" / "results.csv").write_text("\n".join(lines) + "\n")
    argv = ["paired_stats.py", str(tmp_path / "cmp"), "--baseline", "ctl", "--labels", "a", "--metrics", "pass@64"]
    monkeypatch.setattr("sys.argv", argv)
    ps.main()
    out = capsys.readouterr().out
    # a - ctl = 0.10, 0.07, 0.10: mean 0.090, s.d. 0.01732, s.e. 0.01, t(0.975, 2 df) 4.303 -> [+0.047, +0.133];
    # one comparison, so Holm's interval is the raw one; grpo is left out of the family
    assert "Paired differences to the baseline `ctl`" in out
    assert "| a | 3 | +0.090 | [+0.047, +0.133] |" in out and "| grpo |" not in out
    monkeypatch.setattr("sys.argv", ["paired_stats.py", str(tmp_path / "cmp"), "--baseline", "nope"])
    with pytest.raises(SystemExit, match="has no label 'nope'; it has grpo, ctl, a"):
        ps.main()
