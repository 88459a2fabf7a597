"""Prompt styles: the task's bare prompt (`plain`, for the char models) or a chat conversation (`chat`).

Instruct models (e.g. Qwen2.5-*-Instruct) are trained on chat templates and on instructions; a bare "457+68="
gives them nothing to go on. With `task: {prompt_style: chat}` every training and evaluation prompt becomes

    [{"role": "system", "content": <system_prompt>}?, {"role": "user", "content": <instruction + task prompt>}]

TRL applies the tokenizer's chat template to such prompts and returns conversational completions
(`[{"role": "assistant", "content": ...}]`); `rlvr.evaluation.evaluate` applies the same template, so training
and evaluation see identical inputs.
"""

from __future__ import annotations

PROMPT_STYLES = ("plain", "chat")
# The answer rule every task verifies (`rlvr.tasks.answer`): working first, then one '#' and the answer.
INSTRUCTION = "Solve: {prompt} . Show your working, then give the final answer after a single '#', e.g. #42."


def format_prompt(prompt: str, style: str = "plain", system_prompt: str | None = None):
    """The task prompt as the model sees it: unchanged (`plain`) or a list of chat messages (`chat`)."""
    if style == "plain":
        return prompt
    if style != "chat":
        raise ValueError(f"prompt_style must be one of {PROMPT_STYLES}, got {style!r}")
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return [*messages, {"role": "user", "content": INSTRUCTION.format(prompt=prompt)}]


def apply_prompt_style(dataset, style: str = "plain", system_prompt: str | None = None):
    """A `datasets.Dataset` with its `prompt` column formatted (returned unchanged for `plain`)."""
    if style == "plain":
        return dataset
    return dataset.map(lambda row: {"prompt": format_prompt(row["prompt"], style, system_prompt)})


def completion_text(completion) -> str:
    """A completion's text: the string itself, or the last message's content for a conversational completion."""
    if isinstance(completion, list | tuple) and completion and isinstance(completion[-1], dict):
        return completion[-1].get("content") or ""
    return completion
