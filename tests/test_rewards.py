"""Built-in rewards on hand cases, user rewards from a file, and the guard's one-line errors."""

from __future__ import annotations

import json
import math
import textwrap

import pytest

from rlvr.errors import RLVRError
from rlvr.recipe import RewardSpec
from rlvr.rewards import REWARDS, GuardedReward, build_rewards, correctness
from rlvr.rewards import format as format_reward


def meta(**kw) -> str:
    return json.dumps(kw, sort_keys=True)  # TRL passes the dataset's JSON-string metadata column as is


def test_correctness_addition_and_countdown_in_one_batch():
    completions = [
        "7+8=15,5+6+1=12,4+1=5#525",  # addition, correct with working
        "#525",  # correct, no working
        "#526",  # wrong
        "#0525",  # leading zero is not canonical
        "#525#525",  # two answers
        "#5*(2+3)",  # countdown, correct
        "#5*5",  # 5 used twice
        "#2+3",  # wrong value
        "#25",  # countdown wants an expression over the numbers, not the target
    ]
    answer = ["525"] * 5 + ["25"] * 4
    task = ["addition"] * 5 + ["countdown"] * 4
    metadata = [meta(operands=[457, 68])] * 5 + [meta(numbers=[2, 3, 5], target=25)] * 4
    out = correctness([""] * 9, completions, answer, task=task, metadata=metadata)
    assert out == [1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]


def test_correctness_task_name_kwarg_and_missing_task():
    assert correctness(["1+2="] * 2, ["#3", "#4"], ["3", "3"], task_name="addition") == [1.0, 0.0]
    with pytest.raises(RLVRError, match="task"):
        correctness(["1+2="], ["#3"], ["3"])


def test_format_hand_cases():
    completions = ["1+2=3#3", "#-12", "working # 42 \n", "#1 2", "no answer", "#1#2", "#", "#   ", None]
    assert format_reward([""] * len(completions), completions) == [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]


def test_builtin_registry():
    assert REWARDS["correctness"] is correctness and REWARDS["format"] is format_reward


@pytest.fixture
def user_rewards(tmp_path):
    path = tmp_path / "my_rewards.py"
    path.write_text(
        textwrap.dedent(
            """\
            def brevity(prompts, completions, max_len=10, **kwargs):
                return [1.0 if len(c) <= max_len else 0.0 for c in completions]

            def echo_answer(prompts, completions, answer, **kwargs):
                return [float(a) for a in answer]
            """
        )
    )
    return path


def test_build_rewards_user_file_with_kwargs(user_rewards):
    specs = [
        RewardSpec(name="correctness", weight=1.0),
        RewardSpec(name=f"{user_rewards}:brevity", weight=0.1, kwargs={"max_len": 3}),
    ]
    funcs, weights = build_rewards(specs)
    assert weights == [1.0, 0.1]
    assert [f.__name__ for f in funcs] == ["correctness", "brevity"]
    kwargs = {"answer": ["3", "3"], "task": ["addition"] * 2, "metadata": [meta(), meta()]}
    assert funcs[0](["1+2="] * 2, ["#3", "1+2=3#3"], **kwargs) == [1.0, 1.0]
    assert funcs[1](["1+2="] * 2, ["#3", "1+2=3#3"], **kwargs) == [1.0, 0.0]  # max_len=3 was bound


def test_build_rewards_module_path_name():
    (func,), weights = build_rewards([RewardSpec(name="rlvr.rewards:format", weight=2)])
    assert func.__name__ == "format" and weights == [2.0] and isinstance(weights[0], float)


def test_user_reward_receives_dataset_columns(user_rewards):
    (func,), _ = build_rewards([RewardSpec(name=f"{user_rewards}:echo_answer")])
    assert func(["p", "q"], ["a", "b"], answer=["1", "2.5"]) == [1.0, 2.5]


def test_missing_function_suggests(user_rewards):
    with pytest.raises(RLVRError, match="did you mean 'brevity'") as info:
        build_rewards([RewardSpec(name=f"{user_rewards}:brevty")])
    assert "brevty" in str(info.value) and "\n" not in str(info.value)


def test_missing_module_or_file_or_builtin(tmp_path):
    with pytest.raises(RLVRError, match="cannot import module 'no_such_pkg_xyz'"):
        build_rewards([RewardSpec(name="no_such_pkg_xyz:f")])
    with pytest.raises(RLVRError, match="does not exist"):
        build_rewards([RewardSpec(name=f"{tmp_path}/missing.py:f")])
    with pytest.raises(RLVRError, match="did you mean 'correctness'"):
        build_rewards([RewardSpec(name="corectness")])


def test_user_file_failing_at_import(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text("raise RuntimeError('boom at import')\n")
    with pytest.raises(RLVRError, match="RuntimeError: boom at import"):
        build_rewards([RewardSpec(name=f"{path}:f")])


def test_not_callable(tmp_path):
    path = tmp_path / "consts.py"
    path.write_text("WEIGHT = 3\n")
    with pytest.raises(RLVRError, match="not callable"):
        build_rewards([RewardSpec(name=f"{path}:WEIGHT")])


# -- GuardedReward ------------------------------------------------------------------------------------
def raises_on_boom(prompts, completions, **kwargs):
    return [1.0 / (c != "boom") for c in completions]


def returns(values):
    def reward(prompts, completions, **kwargs):
        return values

    return reward


def test_guard_locates_failing_row():
    guarded = GuardedReward(raises_on_boom, "my.py:raises_on_boom")
    assert guarded.__name__ == "raises_on_boom"
    with pytest.raises(RLVRError) as info:
        guarded(["p"] * 4, ["a", "b", "boom", "c"], answer=["1"] * 4)
    msg = str(info.value)
    assert "'raises_on_boom'" in msg and "ZeroDivisionError" in msg and "row 2" in msg and "'boom'" in msg
    assert "\n" not in msg


def test_guard_passes_rlvr_errors_through():
    def strict(prompts, completions, **kwargs):
        raise RLVRError("custom message")

    with pytest.raises(RLVRError, match="^custom message$"):
        GuardedReward(strict, "strict")(["p"], ["c"])


def test_guard_wrong_length():
    with pytest.raises(RLVRError, match="'short' returned 2 values for 3 completions"):
        GuardedReward(returns([1.0, 0.0]), "short")(["p"] * 3, ["a", "b", "c"])


@pytest.mark.parametrize("bad", ["1.0", math.nan, True, [1.0]])
def test_guard_bad_values(bad):
    with pytest.raises(RLVRError, match=r"'bad' returned .* on row 1; expected float or None"):
        GuardedReward(returns([0.5, bad]), "bad")(["p"] * 2, ["a", "b"])


def test_guard_non_list_return():
    with pytest.raises(RLVRError, match="must return a list, got float"):
        GuardedReward(returns(1.0), "scalar")(["p"], ["a"])


def test_guard_converts_ints_and_keeps_none():
    out = GuardedReward(returns((1, None, 0.5)), "ok")(["p"] * 3, ["a", "b", "c"])
    assert out == [1.0, None, 0.5] and type(out[0]) is float


def test_guard_binds_kwargs():
    def scaled(prompts, completions, scale, **kwargs):
        return [scale * len(c) for c in completions]

    assert GuardedReward(scaled, "scaled", {"scale": 0.5})(["p", "q"], ["ab", "abcd"]) == [1.0, 2.0]
