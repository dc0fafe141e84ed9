"""Loop guards and honesty checks for one turn.

Small models fall into loops and say things that did not happen. Each guard answers the model with
a short corrective message instead of letting the turn go round again, and what is still wrong
when the turn ends becomes a warning on ``turn.completed`` (clients show it in place of a success
mark):

- **the same call three times**: a call whose tool and arguments were already called twice in the
  turn is not run again; its result says so. A change made by a mutating call since then resets
  the count of read-only calls (listing a folder again after moving files is fine). A tool with
  the ``waits`` trait (``wait_agents``) may repeat: what it waits for changes on its own.
- **planning without doing**: a call of a ``planning`` tool (``todo_write``) when the previous
  response also only planned is not run; its result asks for the next step.
- **an answer that claims changes nobody made**: the answer says files were moved, created,
  edited… but no call of a mutating tool succeeded in the turn. The model is told once and asked
  to do the work or say plainly that it did not; if the answer still claims it, the turn ends
  with the ``no_changes`` warning.
- **a tool call written as text**: the provider marked the response ``unparsed_tool_call`` (see
  :mod:`cowork.providers.local`). The model is shown the format and asked again, twice at most;
  then the turn ends with the ``unparsed_tool_call`` warning.
- **a tool result the model made up**: the provider marked the response ``invented_tool_result``
  (``<tool_response>`` written by the model). It is told that nothing happened and must call
  tools, twice at most (shared with the above); then the ``invented_tool_result`` warning.

The guards read tools' traits only, never their names.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable

from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart, ToolReturnPart

from ..protocol import TurnWarning
from ..tools.base import Tool

REPEAT_LIMIT = 2
"""A call identical to this many earlier calls of the turn is not run again."""
UNPARSED_RETRIES = 2

REPEATED_NOTE = (
    "Not run: you already made this exact call {n} times in this task and the result will not change. "
    "Use that result: take the next step, or answer if the task is done."
)
PLANNED_NOTE = (
    "Not run: the plan is already written and nothing was done since. Do the next step of the plan now "
    "with a tool call."
)
CLAIM_NOTE = (
    "[cowork] Your answer says something was changed, but no tool call in this task changed anything. "
    "Make the changes now with tool calls. (If the task needs none, check with a tool, then answer and "
    "say plainly what you did and did not do.)"
)
INVENTED_NOTE = (
    "[cowork] You wrote a tool result yourself. Results come only from cowork, after you call a tool: "
    "nothing you described has happened. Call the tools now."
)
UNPARSED_NOTE = (
    "[cowork] Your reply looks like a tool call, but it was not in a form cowork can read, so nothing ran. "
    "Write the call again exactly in the form you were shown, with nothing else, or answer in plain words."
)
WARNINGS = {
    "no_changes": "the answer says files were changed, but no tool changed anything in this turn",
    "unparsed_tool_call": "the model wrote a tool call cowork could not read, so it never ran",
    "invented_tool_result": "the model wrote tool results itself instead of calling tools: they are not real",
}

_CLAIM = re.compile(
    r"\b(moved|sorted|created|renamed|organi[sz]ed|wrote|written|deleted|removed|updated|edited|saved|added|"
    r"fixed|converted|replaced|changed|appended|extracted|copied|generated)\b",
    re.I,
)
_NEGATION = re.compile(r"\b(not|never|no|nothing|cannot|couldn't|didn't|haven't|hasn't|wasn't|unable|without)\b|n't\b", re.I)


def claims_changes(text: str) -> bool:
    """Whether ``text`` says something was changed (a past-tense change verb not negated in the
    few words before it, in the same sentence)."""
    for match in _CLAIM.finditer(text):
        before = re.split(r"[.!?\n]", text[max(0, match.start() - 40):match.start()])[-1]
        if not _NEGATION.search(before):
            return True
    return False


def _key(call: ToolCallPart) -> tuple[str, str]:
    args = call.args
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except ValueError:
            return call.tool_name, args
    return call.tool_name, json.dumps(args, sort_keys=True)


class TurnGuards:
    """The guards of one turn. ``tool(name)`` finds an offered tool (None when unknown)."""

    def __init__(self, tool: Callable[[str], Tool | None]) -> None:
        self._tool = tool
        self._seen: Counter[tuple[str, str]] = Counter()
        self._only_planned = False  # the last response's calls all were planning calls
        self._changed = False  # a mutating call succeeded in this turn
        self._claim_told = False
        self._unparsed_told = 0
        self.warnings: list[TurnWarning] = []
        self.require_call = False
        """The next response must be a tool call (set with a corrective message, cleared by a call)."""

    def _planning(self, call: ToolCallPart) -> bool:
        tool = self._tool(call.tool_name)
        return tool is not None and tool.traits.planning

    def screen(self, calls: list[ToolCallPart]) -> tuple[list[ToolCallPart], list[tuple[ToolCallPart, str]]]:
        """Split one response's calls into those to run and those answered at once ``(call, note)``."""
        self.require_call = False
        run: list[ToolCallPart] = []
        refused: list[tuple[ToolCallPart, str]] = []
        planning_only = all(self._planning(c) for c in calls)
        for call in calls:
            key = _key(call)
            tool = self._tool(call.tool_name)
            if self._seen[key] >= REPEAT_LIMIT and not (tool is not None and tool.traits.waits):
                refused.append((call, REPEATED_NOTE.format(n=self._seen[key])))
            elif self._planning(call) and self._only_planned:
                refused.append((call, PLANNED_NOTE))
            else:
                run.append(call)
            self._seen[key] += 1
        self._only_planned = planning_only
        return run, refused

    def record(self, returns: list[ToolReturnPart]) -> None:
        """Note the results of calls that ran (a mutating tool's success counts as a change)."""
        changed = False
        for part in returns:
            tool = self._tool(part.tool_name)
            if part.outcome == "success" and tool is not None and tool.traits.mutating:
                changed = self._changed = True
        if changed:  # what a read-only call returns may differ now: its repeats count afresh
            self._seen = Counter({k: n for k, n in self._seen.items() if self._mutating(k[0])})

    def _mutating(self, name: str) -> bool:
        tool = self._tool(name)
        return tool is None or tool.traits.mutating

    def check_answer(self, response: ModelResponse, *, can_retry: bool) -> str | None:
        """For a response without tool calls: the corrective message to send the model before
        it answers again, or None to accept the answer (recording any warning that stands)."""
        text = "".join(p.content for p in response.parts if isinstance(p, TextPart))
        details = response.provider_details or {}
        for flag, note in (("invented_tool_result", INVENTED_NOTE), ("unparsed_tool_call", UNPARSED_NOTE)):
            if details.get(flag):
                if can_retry and self._unparsed_told < UNPARSED_RETRIES:
                    self._unparsed_told += 1
                    self.require_call = True
                    return note
                self._warn(flag)
                return None
        if not self._changed and (self._claim_told or claims_changes(text)):
            if can_retry and not self._claim_told:
                self._claim_told = True
                self.require_call = True
                return CLAIM_NOTE
            self._warn("no_changes")  # still nothing changed after the model was told
        return None

    def _warn(self, code: str) -> None:
        if all(w.code != code for w in self.warnings):
            self.warnings.append(TurnWarning(code=code, message=WARNINGS[code]))  # type: ignore[arg-type]
