"""seeds/index.yaml: every entry well-formed, every registered exploration module catalogued, every implemented
entry pointing at a module and a recipe that exist."""

import re
from pathlib import Path

import pytest
import yaml

from rlvr.exploration import EXPLORERS

ROOT = Path(__file__).resolve().parents[1]
INDEX = ROOT / "seeds" / "index.yaml"

KEYS = {"id", "title", "arxiv", "idea", "module", "recipe", "status", "why", "hook", "defaults", "claimed", "toy"}
STATUSES = {"implemented", "planned", "out_of_scope"}
HOOKS = {"rollout", "group_selection", "advantages", "loss", "reward", "reference_model", "evaluation"}
SOURCES = {"paper code", "paper (secondary source)", "NOT FOUND — ours", "TRL"}
DEFAULT_KEYS = {"value", "source", "ours", "note"}


def _entries() -> list[dict]:
    data = yaml.safe_load(INDEX.read_text(encoding="utf-8"))
    assert isinstance(data, list) and data, "seeds/index.yaml must be a non-empty list of entries"
    return data


ENTRIES = _entries()


def _nonempty(x) -> bool:
    return isinstance(x, str) and x.strip() != ""


@pytest.mark.parametrize("e", ENTRIES, ids=[str(e.get("id")) for e in ENTRIES])
def test_entry_schema(e):
    assert set(e) == KEYS, f"keys differ: missing {KEYS - set(e)}, extra {set(e) - KEYS}"
    assert re.fullmatch(r"[a-z][a-z0-9_]*", e["id"]), "id must be snake_case"
    assert _nonempty(e["title"]) and _nonempty(e["idea"]) and _nonempty(e["claimed"])
    assert e["status"] in STATUSES
    assert e["hook"] in HOOKS
    assert e["arxiv"] is None or re.fullmatch(r"\d{4}\.\d{4,5}", str(e["arxiv"])), "arxiv: an id string or null"
    assert e["module"] is None or isinstance(e["module"], str)
    assert e["recipe"] is None or isinstance(e["recipe"], str)
    assert isinstance(e["defaults"], dict)


def test_ids_unique():
    ids = [e["id"] for e in ENTRIES]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


def test_every_registered_module_is_catalogued():
    catalogued = {e["module"] for e in ENTRIES if e["status"] == "implemented"}
    assert set(EXPLORERS) <= catalogued, f"modules without an implemented entry: {sorted(set(EXPLORERS) - catalogued)}"


@pytest.mark.parametrize("e", [e for e in ENTRIES if e["status"] == "implemented"], ids=lambda e: e["id"])
def test_implemented_entry_points_at_real_module_and_recipe(e):
    assert e["why"] is None or isinstance(e["why"], str)
    if e["module"] is None:  # a measurement, not a training module
        assert e["hook"] == "evaluation" and e["recipe"] is None
        return
    assert e["module"] in EXPLORERS, f"unknown exploration module {e['module']!r}"
    assert _nonempty(e["recipe"]), "an implemented module needs a recipe"
    recipe = ROOT / e["recipe"]
    assert recipe.is_file(), f"recipe {e['recipe']} does not exist"
    assert re.search(rf"^\s*name:\s*{re.escape(e['module'])}\s*$", recipe.read_text(encoding="utf-8"), re.M), (
        f"{e['recipe']} does not select exploration module {e['module']!r}"
    )
    assert _nonempty(e["toy"])


@pytest.mark.parametrize("e", [e for e in ENTRIES if e["status"] != "implemented"], ids=lambda e: e["id"])
def test_planned_or_out_of_scope_says_why(e):
    assert _nonempty(e["why"]), "planned / out_of_scope entries must say why (what is missing, or the reason)"
    assert e["module"] is None and e["recipe"] is None, "not implemented: no module or recipe yet"


@pytest.mark.parametrize("e", [e for e in ENTRIES if e["defaults"]], ids=lambda e: e["id"])
def test_defaults_have_allowed_sources(e):
    for name, d in e["defaults"].items():
        assert isinstance(d, dict) and {"value", "source"} <= set(d) <= DEFAULT_KEYS, f"{name}: bad default {d!r}"
        assert d["source"] in SOURCES, f"{name}: source {d['source']!r} not in {sorted(SOURCES)}"
        if "ours" in d:  # we depart from the published value: say why
            assert _nonempty(d.get("note")), f"{name}: a value of ours needs a note"
