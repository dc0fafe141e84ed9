"""The Python SDK (cowork.client) against the real server: uvicorn in-process on a free port over a
real Runtime (SQLite in tmp_path) whose model is a scripted pydantic-ai FunctionModel."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from pydantic_ai.messages import ModelMessage
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, FunctionModel

from cowork.client import AsyncClient, Client, ConnectionLost, CoworkError, Subscription
from cowork.client.connection import ws_url
from cowork.config import EngineSettings
from cowork.engine import Runtime
from cowork.protocol import is_terminal
from cowork.protocol.rpc import ErrorCode
from cowork.server import Auth, bind, create_app, url_of

MODEL = "openai:scripted"

pytestmark = pytest.mark.timeout(30)


class Scripted:
    """A streaming FunctionModel answering from steps: a text (streamed in 5-character chunks), a
    list of (tool, args) calls, or a callable returning an async iterator of stream chunks."""

    def __init__(self) -> None:
        self.steps: list[Any] = []
        self.model = FunctionModel(stream_function=self._stream, model_name="scripted")

    async def _stream(self, messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[Any]:
        step = self.steps.pop(0) if self.steps else "done"
        if callable(step):
            async for chunk in step():
                yield chunk
        elif isinstance(step, str):
            for i in range(0, len(step), 5):
                yield step[i:i + 5]
        else:
            for n, (name, args) in enumerate(step):
                yield {n: DeltaToolCall(name=name, json_args=args, tool_call_id=f"call_{n}")}


def gated(before: int, after: int, gate: asyncio.Event | threading.Event) -> Callable[[], AsyncIterator[str]]:
    """A stream of ``before`` chunks, a wait for ``gate``, then ``after`` more chunks."""

    async def stream() -> AsyncIterator[str]:
        for i in range(before):
            yield f"a{i} "
        while not gate.is_set():
            if isinstance(gate, asyncio.Event):
                await gate.wait()
            else:
                await asyncio.sleep(0.005)
        for i in range(after):
            yield f"b{i} "

    return stream


class _Quiet(uvicorn.Server):
    """uvicorn without its signal handlers (the test runner owns them)."""

    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[override]
        yield


class Server:
    """The real app served by uvicorn; stop() and start(port) again keep the runtime."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.app = create_app(runtime)
        self.port = 0
        self.url = ""
        self._server: _Quiet | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, port: int | None = None) -> None:
        sock = bind("127.0.0.1", self.port if port is None else port)
        self.port, self.url = sock.getsockname()[1], url_of(sock)
        self._server = _Quiet(uvicorn.Config(self.app, lifespan="on", log_level="warning",
                                             timeout_graceful_shutdown=1))
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            assert not self._task.done(), "uvicorn stopped at start"
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        assert self._server is not None and self._task is not None
        self._server.should_exit = True
        await self._task

    def drop_connections(self) -> int:
        """Abort the server side of every TCP connection (no close frame)."""
        assert self._server is not None
        conns = list(self._server.server_state.connections)
        for conn in conns:
            conn.transport.abort()
        return len(conns)


async def open_runtime(tmp_path: Path, script: Scripted) -> Runtime:
    rt = await Runtime.open(
        f"sqlite+aiosqlite:///{tmp_path / 'cowork.db'}",
        settings=EngineSettings(max_steps=10, stream_timeout=10, max_retries=1, retry_base_delay=0.01),
    )
    rt.use_model(MODEL, script.model)
    return rt


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "notes.txt").write_text("alpha\n")
    return ws


@pytest.fixture
def script() -> Scripted:
    return Scripted()


@pytest.fixture
async def server(tmp_path: Path, script: Scripted) -> AsyncIterator[Server]:
    rt = await open_runtime(tmp_path, script)
    srv = Server(rt)
    await srv.start()
    yield srv
    with contextlib.suppress(Exception):
        await srv.stop()
    await rt.close()


async def until_turn_end(sub: Subscription, timeout: float = 10) -> list[Any]:
    events: list[Any] = []

    async def follow() -> None:
        async for event in sub:
            events.append(event)
            if is_terminal(event):
                return

    await asyncio.wait_for(follow(), timeout)
    return events


def assert_gapless(events: list[Any], first: int = 1) -> None:
    seqs = [e.seq for e in events]
    assert seqs == list(range(first, first + len(seqs))), seqs


# -- tests ---------------------------------------------------------------------------------------


def test_ws_url() -> None:
    assert ws_url("http://127.0.0.1:8765") == "ws://127.0.0.1:8765/ws"
    assert ws_url("https://h.example/base/") == "wss://h.example/base/ws"
    assert ws_url("ws://h:1/ws") == "ws://h:1/ws"
    with pytest.raises(ValueError):
        ws_url("ftp://h")


async def test_every_method(server: Server, script: Scripted, workspace: Path) -> None:
    async with AsyncClient(server.url, client_name="sdk-test") as client:  # an http:// base URL
        assert client.server_info is not None and client.server_info.name == "cowork"
        assert client.capabilities is not None and "turn/start" in client.capabilities.methods

        session = await client.create_session(str(workspace), model=MODEL, title="first", mode="default")
        assert session.workspace == str(workspace) and session.title == "first" and session.last_seq == 0
        assert (await client.get_session(session.id)).id == session.id
        page = await client.list_sessions(workspace=str(workspace), limit=10)
        assert [s.id for s in page.sessions] == [session.id] and page.next_cursor is None
        updated = await client.update_session(session.id, title="renamed", mode="read-only")
        assert (updated.title, updated.mode) == ("renamed", "read-only")
        await client.update_session(session.id, mode="default")

        models = await client.list_models()
        assert models.default and any(m.default for m in models.models)
        tools = await client.list_tools(session.id)
        by_name = {t.name: t for t in tools}
        assert by_name["write"].mutating and by_name["write"].permission == "ask"
        assert by_name["read"].permission == "allow"
        assert all(t.permission is None for t in await client.list_tools())

        # A turn that asks for an approval, answered through the SDK.
        sub = await client.subscribe(session.id)
        script.steps = [[("write", '{"path": "out.txt", "content": "hi"}')], "written"]
        started = await client.start_turn(session.id, [{"type": "text", "text": "write out.txt"}])
        assert not started.replayed
        events: list[Any] = []
        async for event in sub:
            events.append(event)
            if event.type == "approval.requested":
                await client.respond_approval(event.approval_id, "once")
            if is_terminal(event):
                break
        assert events[-1].type == "turn.completed" and events[-1].turn_id == started.turn_id
        assert (workspace / "out.txt").read_text() == "hi"
        assert_gapless(events)
        assert sub.last_seq == events[-1].seq

        # steer and interrupt a running turn
        gate = asyncio.Event()
        script.steps = [gated(3, 3, gate)]
        turn = await client.start_turn(session.id, "long one")
        async for event in sub:  # wait until it is streaming
            events.append(event)
            if event.type == "item.delta":
                break
        assert await client.steer_turn(session.id, "and also this") == turn.turn_id
        assert await client.interrupt_turn(session.id) is True
        rest = await until_turn_end(sub)
        assert rest[-1].type == "turn.interrupted" and rest[-1].turn_id == turn.turn_id
        assert any(e.type == "item.completed" and e.item.type == "user_message" and e.item.text == "and also this"
                   for e in rest)
        assert await client.interrupt_turn(session.id) is False
        assert_gapless([*events, *rest])

        ws_entries = await client.list_workspaces()
        assert [(w.path, w.session_count) for w in ws_entries] == [(str(workspace), 1)]

        fork = await client.fork_session(session.id, started.turn_id)
        assert fork.id != session.id and fork.workspace == session.workspace

        # raw call, then unsubscribe / delete
        raw = await client.call("session/get", {"sessionId": fork.id})
        assert raw["session"]["id"] == fork.id
        await client.unsubscribe(session.id)
        with pytest.raises(StopAsyncIteration):
            await sub.__anext__()
        await client.delete_session(fork.id)
        with pytest.raises(CoworkError) as err:
            await client.get_session(fork.id)
        assert err.value.code == ErrorCode.NOT_FOUND


async def test_error_answers(server: Server, workspace: Path) -> None:
    async with AsyncClient(f"ws://127.0.0.1:{server.port}/ws") as client:
        with pytest.raises(CoworkError) as err:
            await client.get_session("sess_nope")
        assert err.value.code == -32004 and isinstance(err.value.message, str)
        with pytest.raises(CoworkError) as err:
            await client.subscribe("sess_nope")
        assert err.value.code == ErrorCode.NOT_FOUND
        with pytest.raises(CoworkError) as err:
            await client.create_session(str(workspace / "missing"), model=MODEL)
        assert err.value.code == ErrorCode.NOT_FOUND
        session = await client.create_session(str(workspace), model=MODEL)
        with pytest.raises(CoworkError) as err:
            await client.steer_turn(session.id, "nothing runs")
        assert err.value.code == ErrorCode.NO_RUNNING_TURN
        with pytest.raises(CoworkError) as err:
            await client.respond_approval("appr_nope", "once")
        assert err.value.code == ErrorCode.APPROVAL_NOT_PENDING
        with pytest.raises(CoworkError) as err:
            await client.call("no/such", {})
        assert err.value.code == ErrorCode.METHOD_NOT_FOUND
        with pytest.raises(CoworkError) as err:
            await client.call("session/get", {"sessionId": session.id, "typo": 1})
        assert err.value.code == ErrorCode.INVALID_PARAMS
        assert await client.get_session(session.id)  # the connection is still fine


async def test_token(tmp_path: Path, script: Scripted, workspace: Path) -> None:
    rt = await open_runtime(tmp_path, script)
    srv = Server(rt)
    srv.app = create_app(rt, Auth(require_token=True, full_token="secret-full", read_only_token="secret-ro"))
    await srv.start()
    try:
        async with AsyncClient(srv.url, token="secret-full") as client:
            assert client.capabilities is not None and not client.capabilities.read_only
            await client.create_session(str(workspace), model=MODEL)
        async with AsyncClient(srv.url, token="secret-ro") as client:
            assert client.capabilities is not None and client.capabilities.read_only
            with pytest.raises(CoworkError) as err:
                await client.create_session(str(workspace), model=MODEL)
            assert err.value.code == ErrorCode.READ_ONLY
        for token in ("wrong", None):
            with pytest.raises(CoworkError) as err:
                await AsyncClient(srv.url, token=token).connect()
            assert err.value.code == ErrorCode.UNAUTHORIZED
    finally:
        await srv.stop()
        await rt.close()


async def test_subscribe_replay_then_live(server: Server, script: Scripted, workspace: Path) -> None:
    async with AsyncClient(server.url) as client:
        a = await client.create_session(str(workspace), model=MODEL)
        b = await client.create_session(str(workspace), model=MODEL)
        script.steps = ["first answer, streamed in pieces"]
        first = await client.start_turn(a.id, "one")
        await server.runtime.wait(a.id)
        journaled = (await client.get_session(a.id)).last_seq
        assert journaled > 5

        # after_seq in the middle: replay from there, then live, no gap, no duplicate
        sub_a = await client.subscribe(a.id, after_seq=2)
        assert sub_a.subscribed_seq == journaled and sub_a.last_seq == 2
        sub_b = await client.subscribe(b.id)  # a second session on the same client
        replayed = []
        while len(replayed) < journaled - 2:
            replayed.append(await sub_a.next(timeout=5))
        assert_gapless(replayed, first=3)
        assert replayed[-1].type == "turn.completed" and replayed[-1].turn_id == first.turn_id

        # a second subscription of the same session on the same client sees everything too
        sub_a2 = await client.subscribe(a.id)
        script.steps = ["second answer", "answer for b"]
        second = await client.start_turn(a.id, "two")
        live = await until_turn_end(sub_a)
        assert_gapless(live, first=journaled + 1)
        assert live[0].type == "turn.started" and live[-1].turn_id == second.turn_id
        all_a = await until_turn_end(sub_a2)
        all_a += await until_turn_end(sub_a2)
        assert_gapless(all_a)
        await sub_a2.close()

        await client.start_turn(b.id, "for b")
        events_b = await until_turn_end(sub_b)
        assert_gapless(events_b) and {e.session_id for e in events_b} == {b.id}
        await sub_a.close()
        await sub_b.close()
        with pytest.raises(StopAsyncIteration):
            await sub_a.next(timeout=1)


async def test_start_turn_is_idempotent(server: Server, script: Scripted, workspace: Path) -> None:
    async with AsyncClient(server.url) as client:
        session = await client.create_session(str(workspace), model=MODEL)
        script.steps = ["once"]
        first = await client.start_turn(session.id, "hello", client_message_id="msg-1")
        again = await client.start_turn(session.id, "hello", client_message_id="msg-1")
        assert not first.replayed and again.replayed and again.turn_id == first.turn_id
        await server.runtime.wait(session.id)
        with pytest.raises(CoworkError) as err:
            await client.start_turn(session.id, "something else", client_message_id="msg-1")
        assert err.value.code == ErrorCode.CLIENT_MESSAGE_CONFLICT
        page = await client.list_sessions()
        assert page.sessions[0].last_seq == (await client.get_session(session.id)).last_seq


async def test_reconnect_mid_turn_is_gapless(server: Server, script: Scripted, workspace: Path) -> None:
    async with AsyncClient(server.url, reconnect_timeout=5) as client:
        session = await client.create_session(str(workspace), model=MODEL)
        sub = await client.subscribe(session.id)
        gate = asyncio.Event()
        script.steps = [gated(40, 200, gate)]
        turn = await client.start_turn(session.id, "stream a lot")
        events = []
        while len(events) < 20:
            events.append(await sub.next(timeout=5))

        assert server.drop_connections() == 1
        # written on the dead socket before the client noticed: a safe request is re-sent,
        # one that changes something fails with "outcome unknown".
        safe = asyncio.create_task(client.get_session(session.id))
        unsafe = asyncio.create_task(client.update_session(session.id, title="lost?"))
        gate.set()  # the turn streams on while the client is away
        events += await until_turn_end(sub)

        assert events[-1].type == "turn.completed" and events[-1].turn_id == turn.turn_id
        assert_gapless(events)
        assert events[-1].seq == (await server.runtime.store.last_seq(session.id))
        assert sum(e.type == "item.delta" for e in events) >= 240
        assert (await safe).id == session.id
        with pytest.raises(ConnectionLost, match="may or may not"):
            await unsafe
        assert client.connected


async def test_reconnect_after_server_restart(server: Server, script: Scripted, workspace: Path) -> None:
    async with AsyncClient(server.url, reconnect_timeout=5) as client:
        session = await client.create_session(str(workspace), model=MODEL)
        sub = await client.subscribe(session.id)
        gate = asyncio.Event()
        script.steps = [gated(10, 100, gate)]
        await client.start_turn(session.id, "stream")
        events = [await sub.next(timeout=5) for _ in range(5)]
        await server.stop()
        assert not client.connected
        gate.set()
        await asyncio.sleep(0.2)  # the client retries against a closed port meanwhile
        await server.start(server.port)
        events += await until_turn_end(sub)
        assert_gapless(events)
        assert events[-1].type == "turn.completed"
        # the retry of turn/start after a reconnect is answered with the same turn
        again = await client.start_turn(session.id, "x", client_message_id="cm")
        assert (await client.start_turn(session.id, "x", client_message_id="cm")).turn_id == again.turn_id


async def test_connection_lost_for_good(server: Server, script: Scripted, workspace: Path) -> None:
    client = AsyncClient(server.url, reconnect=False)
    await client.connect()
    session = await client.create_session(str(workspace), model=MODEL)
    sub = await client.subscribe(session.id)
    server.drop_connections()
    with pytest.raises(ConnectionLost):
        await sub.next(timeout=5)
    with pytest.raises(ConnectionLost):
        await client.get_session(session.id)
    await client.close()

    client = AsyncClient(server.url, reconnect_timeout=0.3)
    await client.connect()
    sub = await client.subscribe(session.id)
    await server.stop()
    with pytest.raises(ConnectionLost):
        await sub.next(timeout=5)
    with pytest.raises(ConnectionLost):
        await client.list_models()
    await client.close()

    with pytest.raises(ConnectionLost):
        await AsyncClient(server.url).connect()


def test_sync_client(tmp_path: Path, workspace: Path) -> None:
    """Plain blocking code; the server runs on its own loop in another thread."""
    script = Scripted()
    ready = threading.Event()
    state: dict[str, Any] = {}

    def serve() -> None:
        async def main() -> None:
            rt = await open_runtime(tmp_path, script)
            srv = Server(rt)
            await srv.start()
            state["url"], state["loop"], state["stop"] = srv.url, asyncio.get_running_loop(), asyncio.Event()
            ready.set()
            await state["stop"].wait()
            await srv.stop()
            await rt.close()

        asyncio.run(main())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        with Client(state["url"]) as client:
            assert client.server_info is not None and client.connected
            session = client.create_session(str(workspace), model=MODEL)
            assert client.get_session(session.id).id == session.id
            sub = client.subscribe(session.id)
            script.steps = ["synchronous hello"]
            turn = client.start_turn(session.id, "hi")
            events = []
            for event in sub:
                events.append(event)
                if is_terminal(event):
                    break
            assert_gapless(events)
            assert events[-1].turn_id == turn.turn_id and sub.last_seq == events[-1].seq
            with pytest.raises(TimeoutError):
                sub.next(timeout=0.1)
            sub.close()
            with pytest.raises(StopIteration):
                sub.next(timeout=1)
            with pytest.raises(CoworkError) as err:
                client.get_session("sess_nope")
            assert err.value.code == ErrorCode.NOT_FOUND
            assert client.list_sessions().sessions[0].id == session.id
            assert client.list_workspaces()[0].path == str(workspace)
            assert client.list_models().default
            assert client.list_tools()
            assert client.interrupt_turn(session.id) is False
        with pytest.raises(RuntimeError):
            client.list_models()
    finally:
        state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(10)


async def test_id_prefixes_are_taken_everywhere(server: Server, script: Scripted, workspace: Path) -> None:
    """A unique prefix stands for a whole session, turn, checkpoint or approval id in any method
    (the server completes it, so every client gets this); an ambiguous one is refused, naming
    the candidates, and one that starts nothing is unknown."""
    async with AsyncClient(server.url) as client:
        a = await client.create_session(str(workspace), model=MODEL)
        b = await client.create_session(str(workspace), model=MODEL)
        common = next(i for i, (x, y) in enumerate(zip(a.id, b.id)) if x != y)
        assert (await client.get_session(a.id[:common + 1])).id == a.id
        kind = a.id.split("_")[0] + "_"
        with pytest.raises(CoworkError) as err:
            await client.get_session(kind)  # starts both
        assert err.value.code == ErrorCode.INVALID_PARAMS and "more than one session" in err.value.message
        assert a.id in err.value.message and b.id in err.value.message
        with pytest.raises(CoworkError) as err:
            await client.get_session(kind + "zzzz")
        assert err.value.code == ErrorCode.NOT_FOUND

        short = a.id[:len(kind) + 8]
        sub = await client.subscribe(short)
        assert sub.session_id == a.id  # completed: events carry the whole id
        script.steps = [[("write", '{"path": "p.txt", "content": "new"}')], "done"]
        started = await client.start_turn(short, "write p.txt")
        events: list[Any] = []
        async for event in sub:
            events.append(event)
            if event.type == "approval.requested":
                await client.respond_approval(event.approval_id[:12], "once")  # approval prefix
            if is_terminal(event):
                break
        assert events[-1].type == "turn.completed" and (workspace / "p.txt").read_text() == "new"

        checkpoints = await client.list_checkpoints(short)
        assert checkpoints
        ckpt = checkpoints[0]
        diff = await client.diff_checkpoint(ckpt.id[:len("ckpt_") + 8])
        assert diff.checkpoint.id == ckpt.id
        fork = await client.fork_session(short, started.turn_id[:len("turn_") + 8])  # turn prefix
        assert fork.id != a.id
        result = await client.rewind_turn(short, started.turn_id[:len("turn_") + 8], "conversation")
        assert result.rewound_turn_ids == [started.turn_id]
