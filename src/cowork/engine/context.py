"""What the model sees: instructions, a valid history, and compaction when it grows too long.

Compaction: when the estimated size of the history passes ``COMPACT_AT`` of the model's context
window, the oldest messages are replaced by a summary the model writes itself, keeping the newest
messages that fit in ``KEEP_RECENT`` of the window. The journal is never touched: the session's
full transcript stays replayable; only the model's working memory shrinks.
"""

from __future__ import annotations

import platform
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pydantic_ai.messages import (
    ModelMessage,
    ModelMessagesTypeAdapter,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)

from ..tools.base import truncate_middle

COMPACT_AT = 0.75
KEEP_RECENT = 0.35
CHARS_PER_TOKEN = 4  # a rough, provider-neutral estimate; good enough to decide when to compact

SUMMARY_PREFIX = "[Summary of the earlier conversation, written when it was compacted]\n"
SUMMARY_REQUEST = (
    "Summarize the conversation above for your own later use: the user's goals, what was done "
    "(files read or changed, commands run and their results), decisions made, and what is still "
    "open. Be concise and concrete; keep file names and numbers."
)
LAST_STEP_NOTE = (
    "[cowork] You have reached the step limit for this turn. Do not call tools. Answer the user "
    "now: say what you did, what the result is, and what is left to do."
)


def instructions(workspace: Path) -> str:
    """The system instructions of every request."""
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    return (
        "You are cowork, an AI agent that gets work done on the user's computer with tools.\n"
        f"Workspace (your working folder; all relative paths start here): {workspace}\n"
        f"Platform: {platform.system()} · Date: {today}\n"
        "Inspect before you change things; prefer small, reversible steps. File tools only reach "
        "inside the workspace. Some actions wait for the user's approval; if a call is denied, "
        "respect the decision and its reason. When the task is done, reply with a short summary "
        "of what you did."
    )


def estimate_tokens(messages: Sequence[ModelMessage]) -> int:
    """Rough token count of ``messages`` (serialized characters / 4)."""
    return len(ModelMessagesTypeAdapter.dump_json(list(messages))) // CHARS_PER_TOKEN


def repair(messages: list[ModelMessage]) -> list[ModelMessage]:
    """Make a history valid to send: answer every tool call left without a result.

    A crash or an interrupt can leave a response whose tool calls were never answered; providers
    reject such a history. Each missing result becomes an ``interrupted`` tool return.
    """
    out: list[ModelMessage] = []
    for i, message in enumerate(messages):
        out.append(message)
        if not isinstance(message, ModelResponse):
            continue
        calls = [p for p in message.parts if isinstance(p, ToolCallPart)]
        if not calls:
            continue
        nxt = messages[i + 1] if i + 1 < len(messages) else None
        answered = {
            p.tool_call_id for p in (nxt.parts if isinstance(nxt, ModelRequest) else []) if isinstance(p, ToolReturnPart)
        }
        missing = [c for c in calls if c.tool_call_id not in answered]
        if missing:
            returns = [
                ToolReturnPart(c.tool_name, "The call was interrupted before it finished; it did not run to completion.",
                               c.tool_call_id, outcome="interrupted")
                for c in missing
            ]
            if isinstance(nxt, ModelRequest) and answered:
                nxt.parts = [*nxt.parts, *returns]
            else:
                out.append(ModelRequest(parts=returns))
    return out


def split_for_compaction(messages: Sequence[ModelMessage], window: int) -> int:
    """Index where the kept tail starts: the newest messages within ``KEEP_RECENT`` of ``window``.

    The tail never starts with tool results whose calls would be summarized away. Returns 0 when
    nothing can be compacted.
    """
    budget = int(window * KEEP_RECENT)
    cut = len(messages)
    size = 0
    for i in range(len(messages) - 1, -1, -1):
        size += estimate_tokens([messages[i]])
        if size > budget:
            break
        cut = i
    while cut < len(messages) and _starts_with_results(messages[cut]):
        cut += 1
    if cut >= len(messages):
        # Even the newest message is too big: keep the last request alone.
        cut = len(messages) - 1
        while cut > 0 and _starts_with_results(messages[cut]):
            cut -= 1
    return max(cut, 0)


def _starts_with_results(message: ModelMessage) -> bool:
    return isinstance(message, ModelRequest) and any(isinstance(p, ToolReturnPart) for p in message.parts)


def transcript(messages: Sequence[ModelMessage], max_chars: int) -> str:
    """Plain-text rendering of messages, for the summarizer, at most ``max_chars``."""
    lines: list[str] = []
    for m in messages:
        for p in m.parts:
            if isinstance(p, UserPromptPart):
                lines.append(f"USER: {p.content}")
            elif isinstance(p, TextPart):
                lines.append(f"ASSISTANT: {p.content}")
            elif isinstance(p, ToolCallPart):
                lines.append(f"TOOL CALL {p.tool_name}: {p.args_as_json_str()}")
            elif isinstance(p, ToolReturnPart):
                lines.append(f"TOOL RESULT {p.tool_name}: {truncate_middle(p.model_response_str(), 2000)}")
    return truncate_middle("\n".join(lines), max_chars)


def summary_message(summary: str) -> ModelRequest:
    return ModelRequest(parts=[UserPromptPart(SUMMARY_PREFIX + summary)])
