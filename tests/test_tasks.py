"""Task generation: determinism, disjoint splits, config errors, reference solutions, committed eval sets."""

import json

import pytest

from rlvr.errors import ConfigError
from rlvr.tasks import TASKS, build_task, default_eval_path
from rlvr.tasks.addition import AdditionConfig
from rlvr.tasks.base import split_of
from rlvr.tasks.chain_sum import ChainSumConfig
from rlvr.tasks.countdown import CountdownConfig, evaluate
from rlvr.tasks.export import load_eval_set, write_eval_sets
from rlvr.tasks.multiplication import MultiplicationConfig

NAMES = sorted(TASKS)


@pytest.mark.parametrize("name", NAMES)
def test_items_are_deterministic_and_seeded(name):
    a, b, other = build_task(name), build_task(name), build_task(name, seed=1)
    assert [a.item(i) for i in range(50)] == [b.item(i) for i in range(50)]
    assert [a.item(i)["prompt"] for i in range(50)] != [other.item(i)["prompt"] for i in range(50)]
    assert a.item(7, "eval") == b.item(7, "eval")


@pytest.mark.parametrize("name", NAMES)
def test_metadata_records_difficulty_and_origin(name):
    task = build_task(name, seed=3)
    meta = task.item(5, "eval")["metadata"]
    assert meta["task"] == name and meta["split"] == "eval" and meta["index"] == 5 and meta["seed"] == 3
    for key, value in vars(task.config).items():
        assert meta[key] == value


@pytest.mark.parametrize("name", NAMES)
def test_splits_are_disjoint(name):
    task = build_task(name)
    train = {task.item(i, "train")["prompt"] for i in range(2000)}
    evals = {task.item(i, "eval")["prompt"] for i in range(500)}
    assert train.isdisjoint(evals)
    assert all(split_of(p) == "train" for p in train) and all(split_of(p) == "eval" for p in evals)


def test_addition_answers_are_sums_and_digits_respected():
    task = build_task("addition", min_digits=2, max_digits=4)
    for i in range(300):
        a, b = (int(x) for x in task.item(i)["prompt"].rstrip("=").split("+"))
        assert int(task.item(i)["answer"]) == a + b
        assert 2 <= len(str(a)) <= 4 and 2 <= len(str(b)) <= 4
    assert build_task("addition").solution(
        {"prompt": "457+68=", "answer": "525", "metadata": {"operands": [457, 68]}}
    ) == ("7+8=15,5+6+1=12,4+1=5#525")


def test_multiplication_and_chain_sum_answers():
    mul = build_task("multiplication", digits_a=3, digits_b=2)
    for i in range(300):
        a, b = (int(x) for x in mul.item(i)["prompt"].rstrip("=").split("*"))
        assert len(str(a)) == 3 and len(str(b)) == 2 and int(mul.item(i)["answer"]) == a * b
    item = {"prompt": "457*68=", "answer": "31076", "metadata": {"operands": [457, 68]}}
    assert mul.solution(item) == "457*8=3656,457*60=27420,3656+27420=31076#31076"
    chain = build_task("chain_sum", allow_negative=False, max_terms=6)
    for i in range(300):
        item = chain.item(i)
        # the prompt is plain integer arithmetic: Python's own parser is a trustworthy oracle in a test
        assert int(item["answer"]) == eval(item["prompt"].rstrip("=")) >= 0
    assert any(int(build_task("chain_sum").item(i)["answer"]) < 0 for i in range(100))


def test_countdown_targets_are_reachable_and_in_range():
    task = build_task("countdown")
    for i in range(300):
        meta = task.item(i)["metadata"]
        assert len(meta["numbers"]) == 3 and all(1 <= n <= 10 for n in meta["numbers"])
        assert 1 <= meta["target"] <= 100 and meta["target"] not in meta["numbers"]
        assert evaluate(meta["expression"])[0] == meta["target"]


@pytest.mark.parametrize("name", NAMES)
def test_reference_solutions_verify(name):
    task = build_task(name)
    for split, count in (("train", 400), ("eval", 200)):
        for i in range(count):
            item = task.item(i, split)
            for completion in (task.solution(item), task.direct_solution(item)):
                assert task.verify(completion, item["answer"], item["metadata"]) == 1.0, (item, completion)
                assert task.verify(completion, item["answer"], json.dumps(item["metadata"])) == 1.0
            assert task.direct_solution(item).startswith("#") and task.solution(item).count("#") == 1


@pytest.mark.parametrize("name", NAMES)
def test_alphabet_and_lengths(name):
    task, limit = build_task(name), {"addition": 48, "chain_sum": 48}.get(name, 72)
    for i in range(500):
        item = task.item(i)
        solution = task.solution(item)
        assert set(item["prompt"] + solution) <= set(task.alphabet), (item, solution)
        assert len(solution) <= limit and item["prompt"].isascii()


@pytest.mark.parametrize(
    "cfg",
    [
        AdditionConfig(min_digits=3, max_digits=2),
        AdditionConfig(min_digits=0),
        AdditionConfig(max_digits="3"),
        MultiplicationConfig(digits_b=0),
        ChainSumConfig(min_terms=1),
        ChainSumConfig(allow_negative=1),
        CountdownConfig(min_number=5, max_number=2),
        CountdownConfig(num_numbers=1),
        AdditionConfig(seed=True),
    ],
)
def test_validate_rejects_bad_knobs(cfg):
    with pytest.raises(ConfigError):
        cfg.validate()


def test_build_task_errors():
    with pytest.raises(ConfigError, match="did you mean 'max_digits'"):
        build_task("addition", max_digit=3)
    with pytest.raises(ConfigError, match="max_digits must be int"):
        build_task("addition", max_digits="4")
    with pytest.raises(ConfigError, match="min_digits"):
        build_task("addition", min_digits=5, max_digits=2)
    with pytest.raises(Exception, match="did you mean 'addition'"):
        build_task("adition")
    with pytest.raises(ConfigError):
        build_task("addition").dataset(size=0)
    with pytest.raises(ConfigError):
        build_task("addition").item(0, split="test")


def test_dataset_columns():
    ds = build_task("countdown").dataset("eval", size=20)
    assert ds.column_names == ["prompt", "answer", "task", "metadata"]
    row = ds[3]
    assert all(isinstance(row[c], str) for c in ds.column_names) and row["task"] == "countdown"
    assert json.loads(row["metadata"])["index"] == 3
    assert row["prompt"] == build_task("countdown").item(3, "eval")["prompt"]


def test_eval_sets_regenerate_byte_for_byte(tmp_path):
    written = write_eval_sets(tmp_path, size=256)
    assert [p.name for p in written] == [f"{n}_eval.jsonl" for n in TASKS]
    for path in written:
        committed = default_eval_path(path.name.removesuffix("_eval.jsonl"))
        assert path.read_bytes() == committed.read_bytes(), f"{committed} is stale; rerun `python -m rlvr.tasks.export`"
    ds = load_eval_set(default_eval_path("addition"))
    assert ds.features == build_task("addition").dataset("eval", size=2).features and len(ds) == 256
    task, row = build_task("addition"), ds[10]
    assert task.verify(task.solution(row), row["answer"], row["metadata"]) == 1.0
