"""The SDK's typed methods come from the protocol's method table (cowork.protocol.rpc.METHODS):
every row has one, with the params model's fields as its arguments and the result model as its
answer, for the async and the blocking client alike; a new row gets one with nothing else written."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from pydantic import ValidationError

from cowork.client import AsyncClient, Client
from cowork.client import api
from cowork.client.connection import SAFE_TO_REPEAT
from cowork.protocol.rpc import METHODS, Method, SessionIdParams, TextInput, TurnInterruptResult, Wire


@pytest.mark.parametrize("method", [m for m in METHODS if m not in api.SUBSCRIPTION_METHODS])
def test_every_method_has_a_typed_method(method: str) -> None:
    spec = METHODS[method]
    name = api.method_name(method)
    for cls in (AsyncClient, Client):
        fn = getattr(cls, name)
        sig = inspect.signature(fn)
        params = [p for p in sig.parameters.values() if p.name != "self"]
        assert [p.name for p in params] == list(spec.params.model_fields), (cls, name)
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params)
        assert sig.return_annotation is spec.result
        assert method in fn.__doc__ and spec.summary in fn.__doc__
    assert inspect.iscoroutinefunction(getattr(AsyncClient, name))
    assert not inspect.iscoroutinefunction(getattr(Client, name))


def test_subscription_methods_are_the_subscriptions() -> None:
    assert AsyncClient.session_subscribe is AsyncClient.subscribe
    assert Client.session_unsubscribe is Client.unsubscribe
    assert not hasattr(AsyncClient, "initialize")


@pytest.mark.parametrize("name", list(api.FRIENDLY))
def test_friendly_names_call_a_method_of_the_table(name: str) -> None:
    call = api.FRIENDLY[name]
    fields = METHODS[call.method].params.model_fields
    sig = inspect.signature(getattr(AsyncClient, name))
    assert set(sig.parameters) - {"self"} == set(fields) - set(call.hidden)
    leading = [p.name for p in sig.parameters.values() if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    assert leading == ["self", *call.positional]
    assert inspect.signature(getattr(Client, name)) == sig


def test_a_new_row_gets_a_method(monkeypatch: pytest.MonkeyPatch) -> None:
    """What "a new method is one row plus one handler" rests on: nothing in the client names it."""

    class PingParams(Wire):
        session_id: str
        times: int = 1

    monkeypatch.setitem(METHODS, "session/ping", Method(PingParams, TurnInterruptResult, False, "Ping a session."))
    made = {g.name: g for g in api.generated()}
    ping = made["session_ping"]
    assert ping.method == "session/ping" and ping.signature.return_annotation is TurnInterruptResult
    assert [p for p in ping.signature.parameters if p != "self"] == ["session_id", "times"]
    assert isinstance(api.params_of("session/ping", {"session_id": "s"}), PingParams)


async def test_generated_method_sends_the_model_and_unwraps() -> None:
    sent: list[tuple[str, Wire]] = []

    class Recorder(api.AsyncAPI):
        async def _request(self, method: str, params: Wire) -> object:
            sent.append((method, params))
            return METHODS[method].result.model_validate(
                {"interrupted": True} if method == "turn/interrupt" else
                {"turnId": "turn_1", "replayed": False})

    rec = Recorder()
    assert await rec.interrupt_turn("sess_1") is True
    assert await rec.turn_interrupt(session_id="sess_1") == TurnInterruptResult(interrupted=True)
    assert sent[0] == ("turn/interrupt", SessionIdParams(session_id="sess_1"))
    started = await rec.start_turn("sess_1", "hello")
    assert started.turn_id == "turn_1"
    params = sent[-1][1]
    assert params.input == [TextInput(text="hello")] and params.client_message_id  # a fresh uuid4
    await rec.start_turn("sess_1", [{"type": "text", "text": "x"}], client_message_id="cm")
    assert sent[-1][1].client_message_id == "cm"
    with pytest.raises(TypeError):
        await rec.interrupt_turn("sess_1", "extra")
    with pytest.raises(TypeError):
        await rec.turn_interrupt()  # type: ignore[call-arg]
    with pytest.raises(ValidationError):  # checked before anything is sent
        await rec.turn_interrupt(session_id=5)  # type: ignore[arg-type]
    assert len(sent) == 4


def test_params_rules(tmp_path: Path) -> None:
    created = api.params_of("session/create", {"workspace": tmp_path})
    assert created.workspace == str(tmp_path)  # os.PathLike sent as a string
    assert api.params_of("turn/steer", {"session_id": "s", "input": "more"}).input == [TextInput(text="more")]


def test_safe_to_repeat_follows_the_table() -> None:
    assert SAFE_TO_REPEAT == {m for m, spec in METHODS.items() if not spec.mutating and m != "initialize"} | {
        "turn/start", "turn/interrupt"}
    assert "session/create" not in SAFE_TO_REPEAT and "approval/respond" not in SAFE_TO_REPEAT


def test_the_type_stub_is_current() -> None:
    """Type checkers read src/cowork/client/api.pyi (the methods are made at run time)."""
    path = Path(api.__file__).with_suffix(".pyi")
    assert path.read_text() == api.stub(), (
        "src/cowork/client/api.pyi is stale; regenerate it: python -c \"from cowork.client.api import stub; "
        "print(stub(), end='')\" > src/cowork/client/api.pyi")
    compile(path.read_text(), str(path), "exec")  # valid Python
