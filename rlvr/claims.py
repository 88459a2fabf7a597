"""The claims table: each technique's published claim against its paired, Holm-adjusted effect on each testbed.

`docs/claims.yaml` holds, per comparison label, the paper's claim in one line and the direction it predicts for
pass@1 and for pass@k (`up`, `down`, `not_down` for "matches GRPO" claims, or `none`: the claim says nothing about
that metric), plus optional reasons per testbed written from measurements. This module turns a comparison's
records into one row per (label, testbed):

    verdict   reproduced    a predicted metric moved the predicted way and survives Holm, and none moved against it
                            (`not_down`: no predicted metric fell significantly; a weak verdict, as every null is)
              contradicted  a predicted metric moved against the prediction and survives Holm
              null          no predicted metric survives Holm
              untestable    every predicted metric is saturated (the baseline scores 1.000 on every seed: no room)
              pending       fewer than 2 seeds paired with the baseline: no interval yet

Holm runs over the comparisons of one testbed and one metric (all labels against the baseline), as in results.md.
Written by hand: no statistics library decides a verdict from a direction and an adjusted p-value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rlvr.report_stats import ALPHA, by_seed, family, fmt_ci
from rlvr.stats import Diff

DIRECTIONS = ("up", "down", "not_down", "none")


@dataclass
class Cell:
    diff: float
    holm: Diff
    """The paired interval at the Holm level of this comparison's step."""
    holm_p: float
    saturated: bool

    def text(self) -> str:
        if math.isnan(self.diff):
            return "n/a"
        mark = "**" if self.holm_p < ALPHA else ""
        return f"{mark}{self.diff:+.3f}{mark} {fmt_ci(self.holm)}"


def cells(table: list[dict], labels: list[str], base: str, key: str) -> dict[str, Cell]:
    """Paired Δ of every label to `base` on `key` with its Holm-level interval; Holm over `labels`."""
    base_values = by_seed(table, base, key).values()
    saturated = bool(base_values) and all(v >= 1.0 for v in base_values)
    out = {}
    for f in family(table, labels, base, key):
        out[f["label"]] = Cell(f["paired"].diff, f["holm"], f["holm_p"], saturated)
    return out


def verdict(predicted: dict[str, str], measured: dict[str, Cell]) -> str:
    """reproduced / contradicted / null / untestable from the predicted directions and the measured cells."""
    tested = {k: d for k, d in predicted.items() if d != "none" and k in measured}
    live = {k: d for k, d in tested.items() if not measured[k].saturated}
    if not live:
        return "untestable"
    if all(math.isnan(measured[k].holm_p) for k in live):
        return "pending"  # fewer than 2 paired seeds: no interval yet
    sign = {"up": 1.0, "down": -1.0, "not_down": 1.0}
    significant = [k for k in live if measured[k].holm_p < ALPHA]
    hits = [k for k in significant if live[k] != "not_down" and sign[live[k]] * measured[k].diff > 0]
    against = [k for k in significant if sign[live[k]] * measured[k].diff < 0]
    if against:
        return "contradicted"
    if hits or all(d == "not_down" for d in live.values()):
        return "reproduced"
    return "null"


def auto_reason(predicted: dict[str, str], measured: dict[str, Cell], result: str) -> str:
    if result == "pending":
        return "fewer than 2 seeds paired with the baseline so far"
    if result == "untestable":
        return "the baseline is saturated on every predicted metric (1.000 on every seed)"
    if result == "null":
        ps = ", ".join(
            f"{k} Holm p {measured[k].holm_p:.2g}" for k, d in predicted.items() if d != "none" and k in measured
        )
        return f"no predicted effect survives Holm ({ps})"
    live = [k for k, d in predicted.items() if d != "none" and k in measured and not measured[k].saturated]
    if result == "reproduced" and all(predicted[k] == "not_down" for k in live):  # a null read as "matches"
        lows = ", ".join(f"{k} down to {measured[k].holm.low:+.3f}" for k in live)
        return f"weak: no drop survives Holm, but the Holm intervals allow one ({lows})"
    return ""


def claims_rows(table: list[dict], testbed: str, base: str, claims: dict, kmax: int) -> list[list[str]]:
    """Markdown cells (technique, claim, testbed, Δ pass@1, Δ pass@kmax, verdict, reason) of one testbed. Runs that
    started from another warm-start build than the baseline's run of their seed are left out (see report.py)."""
    from rlvr.report import same_start_rows

    table = same_start_rows(table, base)[0]
    labels = [lab for lab in dict.fromkeys(r["label"] for r in table) if lab != base]
    keys = {"pass@1": "pass@1", "pass@k": f"pass@{kmax}"}
    measured = {name: cells(table, labels, base, key) for name, key in keys.items()}
    out = []
    for lab in [lab for lab in claims if lab in labels]:  # in the claims file's order
        spec = claims[lab]
        predicted = {name: spec.get(name, "none") for name in keys}
        mine = {name: measured[name][lab] for name in keys}
        result = verdict(predicted, mine)
        reason = (spec.get("reasons") or {}).get(testbed) or auto_reason(predicted, mine, result)
        out.append([lab, spec["claim"], testbed, mine["pass@1"].text(), mine["pass@k"].text(), result, reason])
    return out


def check_claims(claims: dict) -> None:
    """Every entry has a claim and valid directions (a typo must not turn a prediction into `none`)."""
    for lab, spec in claims.items():
        if not isinstance(spec, dict) or not spec.get("claim"):
            raise ValueError(f"claims: '{lab}' needs a one-line `claim:`")
        for key in ("pass@1", "pass@k"):
            if spec.get(key, "none") not in DIRECTIONS:
                raise ValueError(f"claims: '{lab}'.{key} must be one of {DIRECTIONS}, got {spec.get(key)!r}")
        unknown = set(spec) - {"claim", "pass@1", "pass@k", "reasons", "paper"}
        if unknown:
            raise ValueError(f"claims: '{lab}' has unknown keys {sorted(unknown)}")
