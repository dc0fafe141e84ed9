"""The fake provider speaks the OpenAI chat-completions wire format as real clients consume it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest
from fakemodel import FakeModelServer, cut, hang, http_error, item_from_json, reply, text, tool_call

HERE = Path(__file__).parent


@pytest.fixture
def srv():
    with FakeModelServer() as s:
        yield s


def client(srv: FakeModelServer, **kw) -> openai.AsyncOpenAI:
    kw.setdefault("max_retries", 0)
    kw.setdefault("timeout", 10)
    return openai.AsyncOpenAI(base_url=srv.base_url, api_key="x", **kw)


async def collect(stream) -> list:
    return [c async for c in stream]


def reassemble(chunks) -> tuple[str, dict[int, dict], str | None]:
    content, calls, finish = "", {}, None
    for c in chunks:
        for ch in c.choices:
            d = ch.delta
            content += d.content or ""
            for tc in d.tool_calls or []:
                slot = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
                if tc.id:
                    slot["id"] = tc.id
                if tc.function and tc.function.name:
                    slot["name"] += tc.function.name
                if tc.function and tc.function.arguments:
                    slot["arguments"] += tc.function.arguments
            finish = ch.finish_reason or finish
    return content, calls, finish


MSGS = [{"role": "user", "content": "hi"}]


async def test_streamed_text_reassembles(srv):
    msg = "Hello there, this is a longer streamed answer. ✓"
    srv.script(reply(text(msg, chunk_size=3)))
    async with client(srv) as c:
        stream = await c.chat.completions.create(model="m1", messages=MSGS, stream=True)
        chunks = await collect(stream)
    content, calls, finish = reassemble(chunks)
    assert content == msg and calls == {} and finish == "stop"
    assert len(chunks) > 10  # really streamed in pieces
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.object == "chat.completion.chunk" and c.model == "m1" for c in chunks)
    assert len({c.id for c in chunks}) == 1


async def test_events_are_flushed_as_produced(srv):
    srv.script(reply(text("x" * 10, chunk_size=1), delay=0.05))  # 13 chunks, ~0.6 s in all
    async with client(srv) as c:
        t0 = time.monotonic()
        stream = await c.chat.completions.create(model="m", messages=MSGS, stream=True)
        times = [time.monotonic() - t0 async for _ in stream]
    assert times[0] < 0.3 and times[-1] > 0.5
    assert times[5] - times[0] > 0.15  # arrivals spread out, not one buffered burst


async def test_first_delay_is_the_time_to_first_token(srv):
    srv.script(reply(text("abcd", chunk_size=1), first_delay=0.4, delay=0.01),
               item_from_json({"text": "ab", "first_delay": 0.3}))
    async with client(srv) as c:
        for first in (0.4, 0.3):
            t0 = time.monotonic()
            stream = await c.chat.completions.create(model="m", messages=MSGS, stream=True)
            times = [time.monotonic() - t0 async for _ in stream]
            assert times[0] >= first - 0.02  # the first chunk waits first_delay ...
            assert times[-1] - times[0] < first  # ... the others only their own delay


async def test_streamed_tool_calls_reassemble(srv):
    a1 = {"path": "dir/a.txt", "content": "hi there\nline 2 \"quoted\""}
    a2 = {"command": "ls -la && echo done"}
    srv.script(reply(text("Let me do it."), tool_call("write", a1, id="call_A"), tool_call("bash", a2)))
    async with client(srv) as c:
        chunks = await collect(await c.chat.completions.create(model="m", messages=MSGS, stream=True))
    content, calls, finish = reassemble(chunks)
    assert content == "Let me do it."
    assert finish == "tool_calls"
    assert sorted(calls) == [0, 1]
    assert calls[0]["id"] == "call_A" and calls[0]["name"] == "write"
    assert calls[0]["arguments"] == json.dumps(a1) and json.loads(calls[0]["arguments"]) == a1
    assert calls[1]["name"] == "bash" and calls[1]["id"].startswith("call_")
    assert json.loads(calls[1]["arguments"]) == a2
    # args are split over several chunks; only the first chunk of a call carries id + name
    per_call = [[tc for c in chunks for ch in c.choices for tc in (ch.delta.tool_calls or []) if tc.index == i]
                for i in (0, 1)]
    for frags in per_call:
        assert len(frags) > 3
        assert frags[0].id and frags[0].function.name and frags[0].type == "function"
        assert all(f.id is None and f.function.name is None for f in frags[1:])


async def test_usage_chunk_with_include_usage(srv):
    srv.script(reply(text("ok"), usage=(123, 45)), reply(text("no usage")))
    async with client(srv) as c:
        chunks = await collect(await c.chat.completions.create(
            model="m", messages=MSGS, stream=True, stream_options={"include_usage": True}))
        last = chunks[-1]
        assert last.choices == []
        assert (last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens) == (123, 45, 168)
        assert all(c.usage is None for c in chunks[:-1])
        chunks = await collect(await c.chat.completions.create(model="m", messages=MSGS, stream=True))
        assert all(c.usage is None and c.choices for c in chunks)


async def test_non_streaming(srv):
    srv.script(
        reply(text("plain answer"), usage=(10, 3)),
        reply(tool_call("read", {"path": "x"}, id="call_r"), tool_call("ls", {})),
    )
    async with client(srv) as c:
        r = await c.chat.completions.create(model="m", messages=MSGS)
        assert r.object == "chat.completion"
        assert r.choices[0].message.content == "plain answer"
        assert r.choices[0].finish_reason == "stop"
        assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (10, 3, 13)
        r = await c.chat.completions.create(model="m", messages=MSGS)
        m = r.choices[0].message
        assert r.choices[0].finish_reason == "tool_calls" and m.content is None
        assert [(t.id, t.function.name, json.loads(t.function.arguments)) for t in m.tool_calls][0] == (
            "call_r", "read", {"path": "x"})
        assert m.tool_calls[1].function.name == "ls" and m.tool_calls[1].function.arguments == "{}"
        assert r.usage.total_tokens > 0


async def test_rate_limit_429(srv):
    srv.script(http_error(429, retry_after=7))
    async with client(srv) as c:
        with pytest.raises(openai.RateLimitError) as ei:
            await c.chat.completions.create(model="m", messages=MSGS, stream=True)
    e = ei.value
    assert e.status_code == 429 and e.response.headers["retry-after"] == "7"
    assert e.code == "rate_limit_exceeded"
    assert isinstance(e.body, dict) and "message" in e.body


async def test_server_error_500_repeated_then_default(srv):
    srv.script(*[http_error(500)] * 2)
    srv.default = reply(text("OK"))
    async with client(srv) as c:
        for _ in range(2):
            with pytest.raises(openai.InternalServerError):
                await c.chat.completions.create(model="m", messages=MSGS)
        r = await c.chat.completions.create(model="m", messages=MSGS)
        assert r.choices[0].message.content == "OK"


async def test_cut_stream_is_an_error(srv):
    srv.script(cut(reply(text("this will be cut off midway", chunk_size=2)), after_chunks=3))
    got = []
    async with client(srv) as c:
        stream = await c.chat.completions.create(model="m", messages=MSGS, stream=True)
        with pytest.raises((httpx.HTTPError, openai.APIError)):
            async for chunk in stream:
                got.append(chunk)
    assert len(got) == 3


async def test_cut_non_streaming_is_an_error(srv):
    srv.script(cut(reply(text("whole answer")), after_chunks=1))
    async with client(srv) as c:
        with pytest.raises((httpx.HTTPError, openai.APIError)):
            await c.chat.completions.create(model="m", messages=MSGS)


async def test_hang_times_out_and_server_stops_promptly():
    s = FakeModelServer().start()
    try:
        s.script(hang(), hang(after_chunks=2))
        async with client(s, timeout=httpx.Timeout(5, read=1)) as c:
            t0 = time.monotonic()
            # headers arrive, then nothing: the first read of the body times out
            stream = await c.chat.completions.create(model="m", messages=MSGS, stream=True)
            with pytest.raises((httpx.TimeoutException, openai.APITimeoutError)):
                await collect(stream)
            assert time.monotonic() - t0 < 2.5
            got = []
            stream = await c.chat.completions.create(model="m", messages=MSGS, stream=True)
            with pytest.raises((httpx.TimeoutException, openai.APITimeoutError)):
                async for chunk in stream:
                    got.append(chunk)
            assert len(got) == 2
            assert time.monotonic() - t0 < 4
    finally:
        t0 = time.monotonic()
        s.stop()
        assert time.monotonic() - t0 < 2


async def test_stop_while_client_still_hanging():
    s = FakeModelServer(hang()).start()
    async with client(s, timeout=30) as c:
        import asyncio

        task = asyncio.create_task(c.chat.completions.create(model="m", messages=MSGS, stream=True))
        await asyncio.to_thread(s.wait_for_requests, 1)
        t0 = time.monotonic()
        await asyncio.to_thread(s.stop)
        assert time.monotonic() - t0 < 2
        with pytest.raises(Exception):
            stream = await task
            await collect(stream)


async def test_malformed_tool_args_verbatim(srv):
    srv.script(reply(tool_call("write", '{"path": ', id="call_bad")))
    async with client(srv) as c:
        chunks = await collect(await c.chat.completions.create(model="m", messages=MSGS, stream=True))
        _, calls, finish = reassemble(chunks)
        assert calls[0]["arguments"] == '{"path": ' and finish == "tool_calls"
        srv.script(reply(tool_call("write", "not json at all")))
        r = await c.chat.completions.create(model="m", messages=MSGS)
        assert r.choices[0].message.tool_calls[0].function.arguments == "not json at all"


async def test_requests_recorded_handler_and_default(srv):
    srv.script(reply(text("first")))
    srv.handler = lambda body: reply(text("echo:" + body["messages"][-1]["content"])) if len(body["messages"]) > 1 else None
    async with client(srv) as c:
        r1 = await c.chat.completions.create(model="m", messages=MSGS, tools=[{
            "type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}])
        r2 = await c.chat.completions.create(model="m", messages=MSGS + [{"role": "user", "content": "again"}])
        r3 = await c.chat.completions.create(model="m", messages=MSGS)
    assert r1.choices[0].message.content == "first"
    assert r2.choices[0].message.content == "echo:again"
    assert r3.choices[0].message.content == "[fakemodel] script exhausted"
    reqs = srv.wait_for_requests(3, timeout=1)
    assert len(reqs) == 3 and reqs[0]["tools"][0]["function"]["name"] == "f"
    assert reqs[1]["messages"][-1]["content"] == "again"
    assert srv.request_headers[0]["authorization"] == "Bearer x"
    with pytest.raises(TimeoutError):
        srv.wait_for_requests(4, timeout=0.1)


async def test_models_404_400(srv):
    async with client(srv) as c:
        models = await c.models.list()
        assert [m.id for m in models.data] == ["fake-model"]
    async with httpx.AsyncClient(base_url=srv.base_url) as h:
        r = await h.post("/nope", json={})
        assert r.status_code == 404 and "error" in r.json()
        r = await h.post("/chat/completions", content=b"{not json", headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
        # streaming over raw httpx: events arrive separately, last one is [DONE]
        srv.script(reply(text("abcdefgh", chunk_size=2), delay=0.01))
        async with h.stream("POST", "/chat/completions", json={"model": "m", "messages": MSGS, "stream": True}) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            lines = [ln async for ln in r.aiter_lines() if ln]
    assert lines[-1] == "data: [DONE]"
    assert len(lines) == 1 + 4 + 1 + 1  # role, 4 pieces, finish, [DONE]
    assert len(srv.requests) == 1  # 404/400 are not recorded as chat requests


async def test_pydantic_ai_consumes_stream(srv):
    from pydantic_ai.direct import model_request_stream
    from pydantic_ai.messages import ModelRequest, TextPart, ToolCallPart
    from pydantic_ai.models import ModelRequestParameters
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider
    from pydantic_ai.tools import ToolDefinition

    args = {"path": "notes/a.txt", "content": "hello\nworld"}
    srv.script(reply(text("Writing it."), tool_call("write", args, id="call_w1"), usage=(321, 12)))
    model = OpenAIChatModel("gpt-4o", provider=OpenAIProvider(
        openai_client=openai.AsyncOpenAI(base_url=srv.base_url, api_key="x", max_retries=0)))
    tool = ToolDefinition(
        name="write", description="Write a file",
        parameters_json_schema={"type": "object", "properties": {"path": {"type": "string"},
                                                                 "content": {"type": "string"}},
                                "required": ["path", "content"]})
    params = ModelRequestParameters(function_tools=[tool], allow_text_output=True)
    async with model_request_stream(model, [ModelRequest.user_text_prompt("write a file")],
                                    model_request_parameters=params) as stream:
        async for _ in stream:
            pass
        resp = stream.get()
    calls = [p for p in resp.parts if isinstance(p, ToolCallPart)]
    assert len(calls) == 1
    assert calls[0].tool_name == "write" and calls[0].tool_call_id == "call_w1"
    assert calls[0].args_as_dict() == args
    assert [p.content for p in resp.parts if isinstance(p, TextPart)] == ["Writing it."]
    assert resp.usage.input_tokens == 321 and resp.usage.output_tokens == 12
    assert resp.finish_reason == "tool_call"
    body = srv.requests[0]
    assert body["stream"] is True and body["tools"][0]["function"]["name"] == "write"
    assert body["stream_options"]["include_usage"] is True


def test_cli_script(tmp_path):
    script = [
        {"text": "from cli", "usage": [5, 2]},
        {"tool_calls": [{"name": "write", "arguments": {"path": "a"}}], "text": "lead"},
        {"error": 429, "retry_after": 1, "repeat": 2},
        {"cut": {"text": "partial"}, "after_chunks": 2},
        {"hang": True},
    ]
    (tmp_path / "s.json").write_text(json.dumps(script))
    proc = subprocess.Popen([sys.executable, str(HERE / "fakemodel.py"), "--script", str(tmp_path / "s.json"),
                             "--port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:") and line.endswith("/v1")
        base = line.split()[-1]
        c = openai.OpenAI(base_url=base, api_key="x", max_retries=0, timeout=httpx.Timeout(5, read=1))
        r = c.chat.completions.create(model="m", messages=MSGS)
        assert r.choices[0].message.content == "from cli" and r.usage.total_tokens == 7
        content, calls, _ = reassemble(list(c.chat.completions.create(model="m", messages=MSGS, stream=True)))
        assert content == "lead" and json.loads(calls[0]["arguments"]) == {"path": "a"}
        for _ in range(2):
            with pytest.raises(openai.RateLimitError):
                c.chat.completions.create(model="m", messages=MSGS)
        with pytest.raises((httpx.HTTPError, openai.APIError)):
            list(c.chat.completions.create(model="m", messages=MSGS, stream=True))
        with pytest.raises(openai.APITimeoutError):
            c.chat.completions.create(model="m", messages=MSGS)
    finally:
        proc.terminate()
        assert proc.wait(timeout=5) == 0
