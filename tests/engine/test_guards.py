"""Loop guards and honesty checks (:mod:`cowork.engine.guards`): TurnGuards on its own with the
real built-in tools, then through real turns driven by scripted FunctionModels, including the
compact harness a model with ``harness = "compact"`` gets."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from engine_support import MODEL, Script, collect, tool_returns, user_texts
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models import Model, ModelRequestParameters
from pydantic_ai.models.function import FunctionModel

from cowork.engine.guards import CLAIM_NOTE, INVENTED_NOTE, PLANNED_NOTE, REPEATED_NOTE, UNPARSED_NOTE, TurnGuards
from cowork.engine.guards import claims_changes
from cowork.providers.local import NativeStreamedResponse
from cowork.tools import BUILTIN_TOOLS

TODOS = {"todos": [{"content": "sort the files", "status": "in_progress"}]}


def _guards() -> TurnGuards:
    return TurnGuards(BUILTIN_TOOLS.get)


def _call(name: str, args: dict | str, n: int = 0) -> ToolCallPart:
    return ToolCallPart(name, args, f"call_{name}_{n}")


def _ok(call: ToolCallPart, outcome: str = "success") -> ToolReturnPart:
    return ToolReturnPart(call.tool_name, "ok", call.tool_call_id, outcome=outcome)  # type: ignore[arg-type]


def _answer(text: str, **details) -> ModelResponse:
    return ModelResponse(parts=[TextPart(text)], provider_details=details or None)


# -- TurnGuards on its own ------------------------------------------------------------------------


def test_the_third_identical_call_is_refused_whatever_the_argument_order_or_encoding():
    guards = _guards()
    first = guards.screen([_call("read", {"path": "a.txt", "limit": 5})])
    second = guards.screen([_call("read", '{"limit": 5, "path": "a.txt"}')])  # same call, as a JSON string
    assert [len(first[0]), len(second[0])] == [1, 1]
    run, refused = guards.screen([_call("read", {"path": "a.txt", "limit": 5}), _call("read", {"path": "b.txt"})])
    assert [c.args for c in run] == [{"path": "b.txt"}]
    assert refused[0][1] == REPEATED_NOTE.format(n=2) and "2 times" in refused[0][1]
    # Still refused the fourth time; a different call is not.
    assert guards.screen([_call("read", {"path": "a.txt", "limit": 5})])[0] == []


def test_a_tool_that_waits_may_repeat_the_same_call():
    from cowork.engine.subagents import WaitAgentsTool

    waiting = WaitAgentsTool(None)  # type: ignore[arg-type]  # the guards read its traits only
    guards = TurnGuards(lambda name: waiting if name == "wait_agents" else BUILTIN_TOOLS.get(name))
    for n in range(4):  # subagents still working: the same wait again is not a loop
        run, refused = guards.screen([_call("wait_agents", {"timeout": 60}, n)])
        assert len(run) == 1 and not refused


def test_a_successful_mutating_call_resets_the_count_of_read_only_calls_only():
    guards = _guards()
    ls, write = _call("ls", {"path": "."}), _call("write", {"path": "x", "content": "1"})
    for _ in range(2):
        guards.screen([ls, write])
        guards.record([_ok(ls), _ok(write)])
    run, refused = guards.screen([ls, write])
    # The write's second success reset ls; write itself (mutating) keeps its count.
    assert run == [ls] and [c for c, _ in refused] == [write]


def test_a_failed_mutating_call_does_not_reset_nor_count_as_a_change():
    guards = _guards()
    ls, write = _call("ls", {}), _call("write", {"path": "x", "content": "1"})
    guards.screen([ls])
    guards.screen([ls])
    guards.screen([write])
    guards.record([_ok(write, "failed")])
    assert guards.screen([ls])[0] == []
    assert guards.check_answer(_answer("I wrote x."), can_retry=True) == CLAIM_NOTE


def test_planning_twice_in_a_row_is_refused_but_planning_after_work_is_not():
    guards = _guards()
    assert guards.screen([_call("todo_write", TODOS, 1)])[0]
    run, refused = guards.screen([_call("todo_write", {"todos": []}, 2)])
    assert run == [] and refused[0][1] == PLANNED_NOTE
    guards.screen([_call("ls", {})])
    assert guards.screen([_call("todo_write", {"todos": []}, 3)])[0]
    # A plan sent together with real work does not count as only planning.
    guards.screen([_call("todo_write", TODOS, 4), _call("read", {"path": "a"})])
    assert guards.screen([_call("todo_write", {"todos": [{"content": "x", "status": "pending"}]}, 5)])[0]


def test_a_claim_without_a_change_is_told_once_then_warned():
    guards = _guards()
    assert guards.check_answer(_answer("Moved 3 files into docs/."), can_retry=True) == CLAIM_NOTE
    assert guards.require_call and guards.warnings == []
    guards.screen([_call("ls", {})])  # a call clears require_call
    assert not guards.require_call
    assert guards.check_answer(_answer("Moved 3 files into docs/."), can_retry=True) is None
    assert [w.code for w in guards.warnings] == ["no_changes"]
    # Once told, even an answer without a claim keeps the warning (still nothing changed), once.
    assert guards.check_answer(_answer("Here is the list."), can_retry=True) is None
    assert [w.code for w in guards.warnings] == ["no_changes"]


def test_a_claim_after_a_real_change_and_an_honest_answer_pass():
    guards = _guards()
    move = _call("move", {"source": "a", "destination": "b/"})
    guards.screen([move])
    guards.record([_ok(move)])
    assert guards.check_answer(_answer("Moved a into b/."), can_retry=True) is None
    assert guards.warnings == []
    honest = _guards()
    assert honest.check_answer(_answer("I did not move anything: the folder is empty."), can_retry=True) is None
    assert honest.warnings == [] and not honest.require_call


def test_a_claim_on_the_last_step_is_warned_at_once():
    guards = _guards()
    assert guards.check_answer(_answer("I created report.md."), can_retry=False) is None
    assert [w.code for w in guards.warnings] == ["no_changes"]


def test_an_unparsed_call_is_asked_again_twice_then_warned():
    guards = _guards()
    unparsed = _answer('<tools>{"name": "mv"}</tools>', unparsed_tool_call=True)
    assert guards.check_answer(unparsed, can_retry=True) == UNPARSED_NOTE and guards.require_call
    assert guards.check_answer(unparsed, can_retry=True) == UNPARSED_NOTE
    assert guards.check_answer(unparsed, can_retry=True) is None
    assert [w.code for w in guards.warnings] == ["unparsed_tool_call"]
    assert _guards().check_answer(unparsed, can_retry=False) is None


def test_no_call_is_required_until_a_guard_asks_for_one():
    assert not _guards().require_call


def test_unknown_tools_are_neither_planning_nor_changes():
    guards = TurnGuards(lambda name: None)
    call = _call("mcp_thing", {})
    assert guards.screen([call])[0] == [call]
    guards.record([_ok(call)])
    assert guards.check_answer(_answer("Updated the ticket."), can_retry=True) == CLAIM_NOTE


@pytest.mark.parametrize("text, expected", [
    ("Moved 3 files", True),
    ("I moved all the files.", True),
    ("Done! I have created notes.md and updated README.md.", True),
    ("The files are now organized by year.", True),
    ("I did not move anything", False),
    ("I didn't change any file.", False),
    ("Nothing was deleted.", False),
    ("I could not find the folder, so no files were moved.", False),
    ("The folder has 3 files: a.txt, b.txt, c.txt.", False),
    ("I was unable to move the files. Then I listed them.", False),
    ("I did not read it. I renamed a.txt to b.txt.", True),  # the negation is in another sentence
    ("", False),
])
def test_claims_changes(text, expected):
    assert claims_changes(text) is expected


# -- through real turns ---------------------------------------------------------------------------


class CompactModel(FunctionModel):
    """A scripted model the engine drives with the compact harness (as it does the local model)."""

    harness = "compact"


async def _start(rt, workspace: Path, script: Script, text: str = "do it", mode: str = "yolo"):
    rt.use_model(MODEL, script.model)
    session = await rt.create_session(workspace, MODEL, mode)
    await rt.start_turn(session.id, text)
    return session, await collect(rt, session.id)


def _compact(script: Script) -> Script:
    script.model = CompactModel(stream_function=script._stream, model_name="scripted")
    return script


async def test_a_repeated_false_claim_is_told_then_warned_on_turn_completed(runtime, workspace):
    script = Script("I moved all the files.", "I moved all the files.")
    _, events = await _start(runtime, workspace, script, "Move the files into old/.")
    assert len(script.calls) == 2
    assert CLAIM_NOTE not in user_texts(script.calls[0][0])
    assert user_texts(script.calls[1][0])[-1] == CLAIM_NOTE
    assert script.calls[1][1].allow_text_output is False  # asked for a call after the note
    end = events[-1]
    assert end.type == "turn.completed" and [w.code for w in end.warnings] == ["no_changes"]
    assert "no tool changed anything" in end.warnings[0].message


async def test_a_claim_followed_by_the_real_work_ends_without_warnings(runtime, workspace):
    script = Script("I moved all the files.", [("move", {"source": "notes.txt", "destination": "old/"})],
                    "I moved all the files.")
    _, events = await _start(runtime, workspace, script, "Move the files into old/.")
    assert (workspace / "old" / "notes.txt").exists()
    assert events[-1].type == "turn.completed" and events[-1].warnings == []


async def test_an_honest_answer_gets_no_note_and_no_warning(runtime, workspace):
    script = Script("I did not move anything; which folder do you mean?")
    _, events = await _start(runtime, workspace, script, "Move the files.")
    assert len(script.calls) == 1 and events[-1].warnings == []


async def test_the_same_read_three_times_is_answered_with_the_note_and_not_run(runtime, workspace):
    read = [("read", {"path": "notes.txt"})]
    script = Script(read, read, read, "done")
    _, events = await _start(runtime, workspace, script)
    calls = [e.item for e in events if e.type == "item.completed" and e.item.type == "tool_call"]
    assert [c.status for c in calls] == ["completed", "completed", "failed"]
    assert "alpha" in calls[1].output and "alpha" not in calls[2].output
    third = tool_returns(script.calls[3][0])[-1]
    assert third.content == REPEATED_NOTE.format(n=2)
    assert events[-1].type == "turn.completed" and events[-1].warnings == []


async def test_a_read_after_a_successful_write_runs_again(runtime, workspace):
    read = [("read", {"path": "notes.txt"})]
    script = Script(read, read, [("write", {"path": "notes.txt", "content": "gamma\n"})], read, "done")
    _, events = await _start(runtime, workspace, script)
    calls = [e.item for e in events if e.type == "item.completed" and e.item.type == "tool_call"]
    assert [(c.name, c.status) for c in calls] == [("read", "completed")] * 2 + [("write", "completed"), ("read", "completed")]
    assert "gamma" in calls[-1].output


async def test_compact_harness_lists_the_workspace_and_offers_a_compact_tool_set(runtime, workspace):
    (workspace / "docs").mkdir()
    (workspace / "docs" / "a.md").write_text("x")
    (workspace / ".secret").write_text("x")
    script = _compact(Script([("ls", {"path": "."})], "There are two entries."))
    _, events = await _start(runtime, workspace, script, "List the files in this folder.")
    assert events[-1].type == "turn.completed"
    first, second = script.calls[0][1], script.calls[1][1]
    assert first.instructions.startswith("You are cowork, an agent that does tasks")
    assert "docs/\ndocs/a.md\nnotes.txt" in first.instructions and ".secret" not in first.instructions
    names = [t.name for t in first.function_tools]
    assert "web_fetch" not in names and "todo_write" not in names
    assert {"read", "write", "move", "ls"} <= set(names)
    read = next(t for t in first.function_tools if t.name == "read")
    assert read.metadata["workspace"] == str(workspace) and read.metadata["existing_paths"] == {"path": "file"}
    assert next(t for t in first.function_tools if t.name == "write").metadata["existing_paths"] == {}
    assert next(t for t in first.function_tools if t.name == "move").metadata["existing_paths"] == {"source": "any"}
    assert first.allow_text_output is True and second.allow_text_output is True  # no guard asked for a call


async def test_compact_harness_offers_the_plan_tool_for_a_task_of_several_steps(runtime, workspace):
    script = _compact(Script([("ls", {})], "done"))
    await _start(runtime, workspace, script, "First list the folder. Then read notes.txt. Finally summarize it.")
    names = [t.name for t in script.calls[0][1].function_tools]
    assert "todo_write" in names and "web_fetch" not in names


async def test_the_full_harness_keeps_every_tool_and_allows_text_first(runtime, workspace):
    script = Script("Hello.")
    await _start(runtime, workspace, script, "Say hello.")
    info = script.calls[0][1]
    assert {"web_fetch", "todo_write"} <= {t.name for t in info.function_tools}
    assert info.allow_text_output is True
    assert info.instructions.startswith("You are cowork, an AI agent")


# -- through real turns, with the embedded model's own stream over scripted llama.cpp SSE lines -----


class SSEModel(Model):
    """A compact-harness model answering each request with :class:`NativeStreamedResponse` over
    the next scripted text (as llama.cpp's server streams it), reporting 100 cached prompt tokens."""

    harness = "compact"

    def __init__(self, *texts: str) -> None:
        super().__init__()
        self.texts = list(texts)
        self.requests: list[tuple[list[ModelMessage], ModelRequestParameters]] = []

    @property
    def model_name(self) -> str:
        return "sse"

    @property
    def system(self) -> str:
        return "local"

    async def request(self, messages, model_settings, model_request_parameters):  # pragma: no cover - streamed only
        raise NotImplementedError

    @asynccontextmanager
    async def request_stream(self, messages, model_settings, model_request_parameters, run_context: Any = None):
        self.requests.append((messages, model_request_parameters))
        text = self.texts.pop(0) if self.texts else "Done."

        async def lines() -> AsyncIterator[str]:
            for i in range(0, len(text), 7):
                yield "data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": text[i:i + 7]}}]})
            yield "data: " + json.dumps({"choices": [], "usage": {"prompt_tokens": 150, "completion_tokens": 12},
                                         "timings": {"cache_n": 100}})
            yield "data: [DONE]"

        yield NativeStreamedResponse(
            model_request_parameters=model_request_parameters, _model_name="sse", _lines=lines(),
            _tool_names=frozenset(t.name for t in model_request_parameters.function_tools),
        )


async def _start_sse(rt, workspace: Path, model: SSEModel, text: str):
    rt.use_model(MODEL, model)
    session = await rt.create_session(workspace, MODEL, "yolo")
    await rt.start_turn(session.id, text)
    return await collect(rt, session.id)


async def test_a_call_written_as_a_fenced_block_runs_and_cached_tokens_reach_turn_usage(runtime, workspace):
    model = SSEModel('I will read it.\n```json\n{"name": "read", "arguments": {"path": "notes.txt"}}\n```',
                     "The file says alpha and beta.")
    events = await _start_sse(runtime, workspace, model, "What is in notes.txt?")
    calls = [e.item for e in events if e.type == "item.completed" and e.item.type == "tool_call"]
    assert [(c.name, c.status) for c in calls] == [("read", "completed")] and "alpha" in calls[0].output
    end = events[-1]
    assert end.type == "turn.completed" and end.warnings == []
    assert (end.usage.requests, end.usage.input_tokens, end.usage.cached_input_tokens) == (2, 300, 200)
    assert model.requests[0][1].allow_text_output is True  # nothing required a call yet


async def test_an_unreadable_call_is_asked_again_twice_then_warned(runtime, workspace):
    bad = '<tools>\ntidy_up(folder=".")\n</tools>'
    model = SSEModel(bad, bad, bad, "never asked")
    events = await _start_sse(runtime, workspace, model, "Tidy this folder.")
    assert len(model.requests) == 3
    assert [user_texts(m).count(UNPARSED_NOTE) for m, _ in model.requests] == [0, 1, 2]
    assert [p.allow_text_output for _, p in model.requests] == [True, False, False]
    end = events[-1]
    assert end.type == "turn.completed" and [w.code for w in end.warnings] == ["unparsed_tool_call"]
    assert not any(e.type == "item.completed" and e.item.type == "tool_call" for e in events)


async def test_a_tool_result_the_model_wrote_itself_is_refused_and_the_real_call_then_runs(runtime, workspace):
    """The 1.5B model sometimes answers with ``<tool_response>Moved …</tool_response>``: nothing
    moved. It is told so, must call tools, and its next (forced) response really moves the file."""
    (workspace / "a.jpg").write_bytes(b"jpg")
    invented = "<tool_response>\nMoved a.jpg into 2019/\n</tool_response>"
    model = SSEModel(invented, '[{"name": "move", "arguments": {"source": "a.jpg", "destination": "2019/a.jpg"}}]',
                     "Moved a.jpg into 2019/.")
    events = await _start_sse(runtime, workspace, model, "Put the photo in a folder 2019.")
    assert [user_texts(m).count(INVENTED_NOTE) for m, _ in model.requests] == [0, 1, 1]
    assert [p.allow_text_output for _, p in model.requests] == [True, False, True]
    assert (workspace / "2019" / "a.jpg").read_bytes() == b"jpg" and not (workspace / "a.jpg").exists()
    end = events[-1]
    assert end.type == "turn.completed" and end.warnings == []
