"""The embedded model's two tool formats: schema, history rendering, and the streamed responses
(:class:`SchemaStreamedResponse` for the JSON-constrained output, :class:`NativeStreamedResponse`
for the chat template's tool calls and calls written as text) driven by scripted llama.cpp SSE lines."""

from __future__ import annotations

import json

import pytest
from pydantic_ai.messages import ModelRequest, ModelResponse, PartDeltaEvent, PartStartEvent, TextPart, TextPartDelta
from pydantic_ai.messages import ToolCallPart, ToolReturnPart, UserPromptPart
from pydantic_ai.models import ModelRequestParameters

from cowork.engine.turn import tool_definitions
from cowork.providers.catalog import ModelConfigError, build_model, parse_model
from cowork.providers.local import NativeStreamedResponse, SchemaStreamedResponse, render_messages, resolve_weights
from cowork.providers.local import render_native_messages, step_schema


def test_step_schema_offers_each_tool_or_an_answer_with_defs_inlined():
    tools = tool_definitions()
    schema = step_schema(tools)
    names = [c["properties"]["tool"]["const"] for c in schema["oneOf"] if "tool" in c["properties"]]
    assert names == [t.name for t in tools]
    assert schema["oneOf"][-1]["required"] == ["answer"]
    # todo_write's item model is inlined where it is used: no $ref is left for llama.cpp to resolve.
    text = json.dumps(schema)
    assert "$defs" not in text and "$ref" not in text and '"title"' not in text
    todo = next(c for c in schema["oneOf"] if c["properties"].get("tool", {}).get("const") == "todo_write")
    items = todo["properties"]["arguments"]["properties"]["todos"]["items"]
    assert set(items["properties"]) == {"content", "status"}
    assert step_schema([])["oneOf"] == [schema["oneOf"][-1]]


def test_history_renders_as_the_json_the_model_writes():
    history = [
        ModelRequest(parts=[UserPromptPart("list files")], instructions="SYSTEM RULES"),
        ModelResponse(parts=[ToolCallPart("ls", {"path": "."}, "c1")]),
        ModelRequest(parts=[ToolReturnPart("ls", "a.txt\nb.txt", "c1")]),
        ModelResponse(parts=[TextPart("two files")]),
    ]
    out = render_messages(history, tool_definitions())
    assert out[0]["role"] == "system" and out[0]["content"].startswith("SYSTEM RULES")
    assert "- bash(command, timeout)" in out[0]["content"]
    assert json.loads(out[2]["content"]) == {"tool": "ls", "arguments": {"path": "."}}
    assert out[3] == {"role": "user", "content": "Result of ls:\na.txt\nb.txt"}
    assert json.loads(out[4]["content"]) == {"answer": "two files"}


async def _parse(chunks: list[str]):
    async def lines():
        for c in chunks:
            yield "data: " + json.dumps({"choices": [{"delta": {"content": c}, "finish_reason": None}]})
        yield "data: " + json.dumps({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3}})
        yield "data: [DONE]"

    stream = SchemaStreamedResponse(model_request_parameters=ModelRequestParameters(), _model_name="t", _lines=lines())
    async for _ in stream:
        pass
    return stream.get()


async def test_answer_streams_as_text_and_tool_json_becomes_a_call():
    answer = await _parse(['{"ans', 'wer": "Hel', 'lo \\"you\\""', "}"])
    assert [p.content for p in answer.parts if isinstance(p, TextPart)] == ['Hello "you"']
    assert answer.usage.input_tokens == 7 and answer.usage.output_tokens == 3
    call = await _parse(['{"tool": "re', 'ad", ', '"arguments": {"pa', 'th": "a.txt"}', "}"])
    part = call.parts[0]
    assert isinstance(part, ToolCallPart) and part.tool_name == "read"
    assert part.args_as_dict() == {"path": "a.txt"}
    # Cut off by the output limit: the call's arguments are not valid JSON, and the engine says so.
    cut = await _parse(['{"tool": "write", "arguments": {"path": "a.txt", "content": "abc'])
    with pytest.raises(ValueError):
        cut.parts[0].args_as_dict(raise_if_invalid=True)


def test_missing_weights_and_bad_names_are_clear_errors(tmp_path):
    with pytest.raises(Exception, match="no GGUF file"):
        resolve_weights(str(tmp_path / "nope.gguf"))
    with pytest.raises(ModelConfigError, match="provider:model"):
        parse_model("gpt")
    with pytest.raises(ModelConfigError, match="unknown provider"):
        parse_model("acme:x")


def test_missing_keys_name_the_variable(monkeypatch):
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    for name, var in [("openai:x", "OPENAI_API_KEY"), ("anthropic:x", "ANTHROPIC_API_KEY"), ("google:x", "GOOGLE_API_KEY")]:
        with pytest.raises(ModelConfigError, match=var):
            build_model(parse_model(name))
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    assert build_model(parse_model("openai:any")).model_name == "any"


def test_a_gguf_path_is_a_model_name():
    path, n_ctx = resolve_weights("smollm2-135m")
    model = build_model(parse_model(f"local:{path}"))
    assert model.model_name == str(path) and model.path == path


# -- the native tool format: llama.cpp's tool_calls, and calls written as text ------------------


def _sse(delta: dict | None = None, finish: str | None = None, **extra) -> str:
    return "data: " + json.dumps({"choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}], **extra})


def _content(*pieces: str) -> list[str]:
    return [_sse({"content": p}) for p in pieces]


USAGE = "data: " + json.dumps({
    "choices": [], "usage": {"prompt_tokens": 120, "completion_tokens": 9, "total_tokens": 129},
    "timings": {"cache_n": 100, "prompt_n": 20, "predicted_n": 9},
})


async def _stream(kind, lines: list[str], tools=("read", "ls", "write")):
    """Drive ``kind`` over scripted SSE lines. Returns the response and the text deltas streamed,
    each with how many lines had been read when it was emitted."""
    read = 0

    async def source():
        nonlocal read
        for line in [*lines, "data: [DONE]"]:
            read += 1
            yield line

    stream = kind(model_request_parameters=ModelRequestParameters(), _model_name="t", _lines=source(),
                  _tool_names=frozenset(tools))
    texts: list[tuple[int, str]] = []
    async for event in stream:
        if isinstance(event, PartStartEvent) and isinstance(event.part, TextPart):
            texts.append((read, event.part.content))
        elif isinstance(event, PartDeltaEvent) and isinstance(event.delta, TextPartDelta):
            texts.append((read, event.delta.content_delta))
    return stream.get(), texts


def _calls(response) -> list[tuple[str, dict]]:
    return [(p.tool_name, p.args_as_dict()) for p in response.parts if isinstance(p, ToolCallPart)]


def _text(response) -> str:
    return "".join(p.content for p in response.parts if isinstance(p, TextPart))


async def test_native_tool_call_deltas_become_one_call_with_usage_and_cached_tokens():
    lines = [
        _sse({"role": "assistant", "content": None, "tool_calls": [
            {"index": 0, "id": "call_a", "type": "function", "function": {"name": "read", "arguments": ""}}]}),
        _sse({"tool_calls": [{"index": 0, "function": {"arguments": '{"path": '}}]}),
        _sse({"tool_calls": [{"index": 0, "function": {"arguments": '"notes.txt"}'}}]}),
        _sse({}, finish="tool_calls"),
        USAGE,
    ]
    response, texts = await _stream(NativeStreamedResponse, lines)
    assert _calls(response) == [("read", {"path": "notes.txt"})]
    assert response.parts[0].tool_call_id == "call_a"
    assert texts == [] and _text(response) == ""
    assert response.finish_reason == "stop"
    assert (response.usage.input_tokens, response.usage.output_tokens, response.usage.cache_read_tokens) == (120, 9, 100)
    assert not (response.provider_details or {}).get("unparsed_tool_call")


async def test_native_fenced_call_in_content_becomes_a_call_and_the_prose_before_it_streams():
    lines = [
        *_content("Let me look", " at it.\n", "```json\n", '{"name": "read", ', '"arguments": {"path": "notes.txt"}}', "\n```"),
        _sse({}, finish="stop"), USAGE,
    ]
    response, texts = await _stream(NativeStreamedResponse, lines)
    assert _calls(response) == [("read", {"path": "notes.txt"})]
    assert _text(response).strip() == "Let me look at it."
    # The prose was streamed while the call was still coming (before the 4th content line was read).
    assert "".join(t for n, t in texts if n <= 3).strip() == "Let me look at it."
    assert not any("{" in t or "```" in t for _, t in texts)
    assert isinstance(response.parts[0], TextPart) and isinstance(response.parts[-1], ToolCallPart)
    assert response.usage.cache_read_tokens == 100


async def test_native_two_bare_calls_in_a_row_become_two_calls():
    text = '{"name": "ls", "arguments": {"path": "."}}\n{"name": "read", "arguments": {"path": "a.txt"}}'
    response, texts = await _stream(NativeStreamedResponse, [*_content(text[:30], text[30:]), USAGE])
    assert _calls(response) == [("ls", {"path": "."}), ("read", {"path": "a.txt"})]
    ids = [p.tool_call_id for p in response.parts if isinstance(p, ToolCallPart)]
    assert len(set(ids)) == 2 and all(ids)
    assert texts == [] and _text(response) == ""


async def test_native_prose_with_a_json_object_that_is_no_call_stays_text_unflagged():
    text = 'Put this in config.json: {"debug": true, "name": "demo"} and restart the app.'
    response, texts = await _stream(NativeStreamedResponse, [*_content(text[:20], text[20:50], text[50:]), USAGE])
    assert _calls(response) == []
    assert _text(response) == text
    assert "".join(t for _, t in texts) == text
    assert not (response.provider_details or {}).get("unparsed_tool_call")


async def test_native_call_markup_without_a_readable_call_is_text_flagged_unparsed():
    text = '<tools>\n{"tool name": "delete everything", "args": {}}\n</tools>'
    response, _ = await _stream(NativeStreamedResponse, [*_content("Sure.\n", text), USAGE])
    assert _calls(response) == []
    assert _text(response) == "Sure.\n" + text
    assert response.provider_details == {"unparsed_tool_call": True}


async def test_native_call_of_a_tool_not_offered_becomes_a_call_the_engine_can_refuse():
    text = '```json\n{"name": "mkdir", "arguments": {"path": "q1"}}\n```'
    response, _ = await _stream(NativeStreamedResponse, [*_content(text), USAGE])
    assert _calls(response) == [("mkdir", {"path": "q1"})]


async def test_native_text_is_not_held_back_without_tools_and_a_lone_angle_bracket_is_kept():
    response, texts = await _stream(NativeStreamedResponse, [*_content("if a < b", " then {x}"), USAGE], tools=())
    assert _text(response) == "if a < b then {x}"
    assert [n for n, _ in texts] == [1, 2]  # each piece streamed as it came
    response, _ = await _stream(NativeStreamedResponse, [*_content("Yes: a < b holds."), USAGE])
    assert _text(response) == "Yes: a < b holds." and _calls(response) == []
    assert not (response.provider_details or {}).get("unparsed_tool_call")


async def test_native_calls_are_not_also_read_from_text_beside_them():
    lines = [
        _sse({"content": '{"name": "ls", "arguments": {}}'}),
        _sse({"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "read", "arguments": '{"path": "a"}'}}]}),
        USAGE,
    ]
    response, _ = await _stream(NativeStreamedResponse, lines)
    assert _calls(response) == [("read", {"path": "a"})]
    assert not (response.provider_details or {}).get("unparsed_tool_call")


async def test_schema_stream_reports_usage_cached_tokens_and_a_length_stop():
    lines = [*_content('{"answer": "cut sh'), _sse({}, finish="length"), USAGE]
    response, texts = await _stream(SchemaStreamedResponse, lines)
    assert _text(response) == "cut sh" and "".join(t for _, t in texts) == "cut sh"
    assert response.finish_reason == "length"
    assert (response.usage.input_tokens, response.usage.output_tokens, response.usage.cache_read_tokens) == (120, 9, 100)
    call, _ = await _stream(SchemaStreamedResponse, [*_content('{"tool": "ls", "arguments": {"path": "."}}'), USAGE])
    assert _calls(call) == [("ls", {"path": "."})]


def test_native_history_uses_tool_calls_and_tool_results_with_the_example():
    history = [
        ModelRequest(parts=[UserPromptPart("list files")], instructions="SYSTEM RULES"),
        ModelResponse(parts=[TextPart("Looking."), ToolCallPart("ls", {"path": "."}, "c1")]),
        ModelRequest(parts=[ToolReturnPart("ls", "a.txt", "c1")]),
    ]
    out = render_native_messages(history, tool_definitions())
    assert out[0]["role"] == "system" and out[0]["content"].startswith("SYSTEM RULES")
    assert "<tool_call>" in out[0]["content"]
    assert out[2]["content"] == "Looking."
    assert out[2]["tool_calls"][0]["function"] == {"name": "ls", "arguments": '{"path": "."}'}
    assert out[3] == {"role": "tool", "tool_call_id": "c1", "content": "a.txt"}
    assert "<tool_call>" not in render_native_messages(history, [])[0]["content"]
