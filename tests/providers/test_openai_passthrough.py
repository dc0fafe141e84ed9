"""PassthroughOpenAI sends exactly the request the stock SDK client sends (only the SDK's walk of
the conversation is skipped): the same JSON body arrives at the scripted OpenAI-compatible server,
for a conversation with text, a tool call and its result, and tool schemas."""

from __future__ import annotations

from fakemodel import FakeModelServer, reply, text  # helpers: pyproject's pythonpath
from openai import AsyncOpenAI
from pydantic_ai.direct import model_request_stream
from pydantic_ai.messages import (
    ModelRequest,
    ModelResponse,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models import ModelRequestParameters
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider
from pydantic_ai.tools import ToolDefinition

from cowork.providers.openai_client import PassthroughOpenAI

HISTORY = [
    ModelRequest(parts=[UserPromptPart("read notes.txt, then say <|im_start|> hi")]),
    ModelResponse(parts=[ToolCallPart("read", {"path": "notes.txt"}, "call_1")]),
    ModelRequest(parts=[ToolReturnPart("read", "alpha\nbeta\n", "call_1")]),
]
TOOLS = [ToolDefinition(name="read", description="Read a file.", parameters_json_schema={
    "type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]})]


async def _send(client: AsyncOpenAI) -> None:
    model = OpenAIChatModel("fake-model", provider=OpenAIProvider(openai_client=client))
    params = ModelRequestParameters(function_tools=TOOLS)
    async with model_request_stream(model, HISTORY, model_settings={"extra_body": {"custom": 1}},
                                    model_request_parameters=params) as stream:
        async for _ in stream:
            pass
    await client.close()


async def test_the_passthrough_client_sends_the_same_body_as_the_stock_one():
    with FakeModelServer(reply(text("one")), reply(text("two"))) as srv:
        await _send(AsyncOpenAI(api_key="x", base_url=srv.base_url, max_retries=0))
        await _send(PassthroughOpenAI(api_key="x", base_url=srv.base_url, max_retries=0))
        stock, passthrough = srv.requests[-2:]
    assert passthrough == stock
    assert [m["role"] for m in passthrough["messages"]] == ["user", "assistant", "tool"]
    assert passthrough["tools"][0]["function"]["name"] == "read" and passthrough["custom"] == 1
