"""Tool calls that a small model wrote as text instead of in its chat template's exact format.

Small local models often choose the right tool and the right arguments, then wrap the call in
the wrong markup: ``<tools>…</tools>`` instead of ``<tool_call>…</tool_call>``, a fenced
```` ```json ```` block, a bare ``{"name": …, "arguments": …}`` object, several calls in a row,
trailing commas or single quotes. :func:`find_tool_calls` recovers such calls, the way
LocalCowork's JSON repair does, so they run instead of being shown to the person as the answer.
Broken JSON is mended with the ``json-repair`` library (https://github.com/mangiucugna/json_repair).

Only objects of a call's shape count: ``{"name": …, "arguments": …}`` and its variants naming an
offered tool, or exactly ``{"name": …, "arguments": {…}}`` naming another tool (then the engine
answers that the tool does not exist). Prose that merely contains JSON (a config file's content,
say) is left as text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

import json_repair

_NAME_KEYS = ("name", "tool", "tool_name", "function_name")
_ARG_KEYS = ("arguments", "parameters", "args", "input", "params")
_CALL_MARKUP = re.compile(
    r"</?\s*tool_?calls?\s*>|</?\s*tools?\s*>|<\|?(?:tool|function)(?!_?(?:response|result|output))[^>]*>", re.I)
_RESULT_MARKUP = re.compile(r"<\s*/?\s*(?:(?:tool|function)_?)?(?:response|result)s?\s*>", re.I)
_IDENTIFIER = re.compile(r"[A-Za-z_][\w.-]{0,63}")
_FENCE = re.compile(r"```[a-zA-Z]*")


@dataclass(frozen=True)
class TextToolCall:
    """One call found in text: the tool's name and its arguments (a JSON object)."""

    name: str
    arguments: dict[str, Any]


def _objects(text: str, *, complete: bool = False) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of every top-level ``{…}`` in ``text``, string-aware; an object cut off
    by the end of the text runs to the end, unless ``complete``."""
    depth, start, quote, escaped = 0, -1, "", False
    for i, ch in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
            continue
        if ch == '"' or (ch == "'" and depth > 0):
            quote = ch
        elif ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth > 0:
            depth -= 1
            if depth == 0:
                yield start, i + 1
    if depth > 0 and not complete:
        yield start, len(text)


def _load(fragment: str) -> Any:
    try:
        return json.loads(fragment)
    except ValueError:
        pass
    if fragment.startswith("{{") and fragment.endswith("}}"):
        # {{"name": …}}: the Qwen template's own example escapes its braces, and models copy it
        return _load(fragment[1:-1])
    try:
        return json_repair.loads(fragment)
    except Exception:  # json-repair gives up on some inputs with assorted errors
        return None


def _tool_name(raw: Any, tools: Collection[str]) -> str | None:
    if not isinstance(raw, str):
        return None
    name = raw.strip()
    for candidate in (name, name.rsplit(".", 1)[-1], name.lower()):
        if candidate in tools:
            return candidate
    return None


def _as_call(value: Any, tools: Collection[str]) -> TextToolCall | None:
    """``value`` as a call of one of ``tools``, if it has a call's shape."""
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("function"), dict):  # OpenAI's {"type": "function", "function": {...}}
        return _as_call(value["function"], tools)
    name_key = next((k for k in _NAME_KEYS if k in value), None)
    if name_key is None:
        return None
    arg_key = next((k for k in _ARG_KEYS if k in value), None)
    name = _tool_name(value[name_key], tools)
    if name is None:
        # A call of a tool that is not offered ({"name": "mkdir", "arguments": {...}}): still a
        # call, so the model is told the tool does not exist instead of the text being its answer.
        raw = value[name_key]
        if arg_key is None or len(value) != 2 or not isinstance(raw, str) or not _IDENTIFIER.fullmatch(raw):
            return None
        name = raw
    if arg_key is None:
        # {"name": "ls", "path": "."}: the other keys are the arguments
        args: Any = {k: v for k, v in value.items() if k != name_key}
    else:
        args = value[arg_key]
        if len(value) > 3:
            return None
    if isinstance(args, str):
        args = _load(args) if args.strip() else {}
    if args is None:
        args = {}
    if not isinstance(args, dict):
        return None
    return TextToolCall(name, args)


def find_tool_calls(text: str, tools: Collection[str], *, complete: bool = False) -> list[TextToolCall]:
    """Every call of one of ``tools`` written in ``text``, in order (empty when there is none).

    ``tools`` are the names of the tools offered. Accepts the shapes listed in the module
    docstring; a JSON object that is not a call of an offered tool is ignored. A last object left
    unclosed (the model stopped before its closing brace) counts, unless ``complete``: pass that
    when the output was cut off by its length limit, so half a ``write`` never runs.
    """
    if not tools or "{" not in text:
        return []
    calls = []
    for start, end in _objects(text, complete=complete):
        call = _as_call(_load(text[start:end]), tools)
        if call is not None:
            calls.append(call)
    return calls


def strip_call_text(text: str) -> str:
    """``text`` without what carried its calls: the objects, their tags and code fences (what is
    left is the model's prose around the calls; empty when only punctuation is left)."""
    pieces, last = [], 0
    for start, end in _objects(text):
        pieces.append(text[last:start])
        last = end
    pieces.append(text[last:])
    rest = _FENCE.sub("", _CALL_MARKUP.sub("", "".join(pieces))).strip()
    return rest if re.search(r"\w", rest) else ""  # the brackets and commas of a list of calls


def invents_tool_result(text: str) -> bool:
    """Whether ``text`` holds a tool result the model wrote itself (``<tool_response>`` markup, as its
    chat template shows real results): small models sometimes imagine the result of a call they
    never made."""
    return bool(_RESULT_MARKUP.search(text))


def looks_like_tool_call(text: str, tools: Collection[str]) -> bool:
    """Whether ``text`` seems to be a tool call cowork could not read: call markup, or a
    ``"name"``/``"arguments"``-style key next to the name of an offered tool."""
    if _CALL_MARKUP.search(text):
        return True
    if not any(f'"{k}"' in text or f"'{k}'" in text for k in (*_NAME_KEYS, *_ARG_KEYS)):
        return False
    return any(re.search(rf"[\"']{re.escape(t)}[\"']", text) for t in tools)
