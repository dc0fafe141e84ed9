"""The embedded model's JSON convention: schema, history rendering, and parsing of its output."""

from __future__ import annotations

import json

import pytest
from pydantic_ai.messages import ModelRequest, ModelResponse, TextPart, ToolCallPart, ToolReturnPart, UserPromptPart
from pydantic_ai.models import ModelRequestParameters

from cowork.engine.turn import tool_definitions
from cowork.providers.catalog import ModelConfigError, build_model, parse_model
from cowork.providers.local import LocalStreamedResponse, render_messages, resolve_weights, step_schema


def test_step_schema_offers_each_tool_or_an_answer_with_defs_hoisted():
    tools = tool_definitions()
    schema = step_schema(tools)
    names = [c["properties"]["tool"]["const"] for c in schema["oneOf"] if "tool" in c["properties"]]
    assert names == [t.name for t in tools]
    assert schema["oneOf"][-1]["required"] == ["answer"]
    # todo_write's item model is referenced from the root, where llama.cpp resolves $ref.
    assert "TodoItem" in schema["$defs"]
    assert all("$defs" not in c["properties"]["arguments"] for c in schema["oneOf"] if "tool" in c["properties"])
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

    stream = LocalStreamedResponse(model_request_parameters=ModelRequestParameters(), _model_name="t", _lines=lines())
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
