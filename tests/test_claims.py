"""The claims table's verdicts on hand-made paired results (rlvr/claims.py), and the shipped docs/claims.yaml."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from rlvr.claims import check_claims, claims_rows, verdict
from rlvr.exploration import EXPLORERS
from rlvr.report_stats import family

REPO = Path(__file__).resolve().parents[1]


def table(values: dict[str, list[tuple[float, float]]]) -> list[dict]:
    """Rows (label, seed, pass@1, pass@64) from {label: [(pass@1, pass@64) per seed]}."""
    return [
        {"label": lab, "seed": s, "pass@1": p1, "pass@64": pk}
        for lab, per_seed in values.items()
        for s, (p1, pk) in enumerate(per_seed)
    ]


BASE = [(0.30, 0.80), (0.32, 0.78), (0.31, 0.79)]
T = table(
    {
        "grpo": BASE,
        # pass@1 +0.10 on every seed, with a little spread (+0.10, +0.11, +0.09): far clear of zero
        "up": [(0.40, 0.80), (0.43, 0.78), (0.40, 0.79)],
        # pass@64 -0.10, -0.12, -0.08 against a claimed increase
        "down": [(0.30, 0.70), (0.32, 0.66), (0.31, 0.71)],
        # noise: +0.01, -0.02, +0.01
        "noise": [(0.31, 0.81), (0.30, 0.76), (0.32, 0.80)],
    }
)
CLAIMS = {
    "up": {"claim": "raises pass@1", "pass@1": "up"},
    "down": {"claim": "raises pass@k", "pass@k": "up", "reasons": {"toy": "measured: it sharpens"}},
    "noise": {"claim": "raises pass@1", "pass@1": "up"},
}


def test_verdicts_and_cells_from_paired_holm_results():
    rows = {r[0]: r for r in claims_rows(T, "toy", "grpo", CLAIMS, 64)}
    assert [rows[k][5] for k in ("up", "down", "noise")] == ["reproduced", "contradicted", "null"]
    # Δ pass@1 of `up`: mean of (+0.10, +0.11, +0.09) = +0.100, bold because it survives Holm over the 3 labels.
    assert rows["up"][3].startswith("**+0.100** [")
    assert rows["down"][4].startswith("**-0.100** [")  # (-0.10 - 0.12 - 0.08) / 3
    assert rows["down"][6] == "measured: it sharpens"  # a written reason wins over the automatic one
    assert rows["noise"][6].startswith("no predicted effect survives Holm (pass@1 Holm p ")
    # The Holm p of `noise` is the paired p over 3 labels adjusted by Holm: never below its raw p.
    fam = {f["label"]: f for f in family(T, ["up", "down", "noise"], "grpo", "pass@1")}
    assert fam["noise"]["holm_p"] >= fam["noise"]["paired"].p


def test_saturated_metrics_are_untestable_and_matching_claims_need_no_drop():
    sat = table({"grpo": [(0.5, 1.0)] * 3, "m": [(0.6, 1.0), (0.62, 1.0), (0.61, 1.0)]})
    rows = claims_rows(sat, "easy", "grpo", {"m": {"claim": "c", "pass@k": "up"}}, 64)
    assert rows[0][5] == "untestable" and "saturated" in rows[0][6]
    same = claims_rows(T, "toy", "grpo", {"noise": {"claim": "matches", "pass@1": "not_down"}}, 64)
    assert same[0][5] == "reproduced"
    assert same[0][6].startswith("weak: no drop survives Holm, but the Holm intervals allow one (pass@1 down to -")
    worse = claims_rows(T, "toy", "grpo", {"down": {"claim": "matches", "pass@k": "not_down"}}, 64)
    assert worse[0][5] == "contradicted"


def test_a_label_with_one_seed_is_pending_not_null():
    from rlvr.claims import Cell
    from rlvr.stats import NONE

    one_seed = {"pass@1": Cell(-0.3, NONE, math.nan, False), "pass@k": Cell(-0.5, NONE, math.nan, False)}
    assert verdict({"pass@1": "none", "pass@k": "up"}, one_seed) == "pending"


def test_verdict_needs_a_significant_hit():
    from rlvr.claims import Cell
    from rlvr.stats import NONE

    cell = lambda d, p: Cell(d, NONE, p, False)  # noqa: E731
    assert verdict({"pass@1": "up", "pass@k": "up"}, {"pass@1": cell(0.1, 0.01), "pass@k": cell(-0.1, 0.5)}) == (
        "reproduced"
    )
    assert verdict({"pass@1": "up", "pass@k": "up"}, {"pass@1": cell(0.1, 0.01), "pass@k": cell(-0.1, 0.01)}) == (
        "contradicted"
    )
    assert verdict({"pass@1": "down"}, {"pass@1": cell(-0.1, 0.04)}) == "reproduced"
    assert verdict({"pass@1": "up"}, {"pass@1": cell(0.1, 0.06)}) == "null"


def test_shipped_claims_file_is_valid_and_names_real_techniques():
    claims = yaml.safe_load((REPO / "docs" / "claims.yaml").read_text())
    check_claims(claims)
    controls = {"oversampling_all_k", "dapo", "dr_grpo"}  # recipes and settings, not registry names
    assert set(claims) - controls <= set(EXPLORERS)
    with pytest.raises(ValueError, match="'x'.pass@1 must be one of"):
        check_claims({"x": {"claim": "c", "pass@1": "upp"}})
    with pytest.raises(ValueError, match="'x' needs a one-line `claim:`"):
        check_claims({"x": {"pass@1": "up"}})
