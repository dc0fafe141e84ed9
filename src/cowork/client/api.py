"""The typed methods of the SDK, derived from the protocol's method table
(:data:`cowork.protocol.rpc.METHODS`: method name → params model, result model) rather than written
out by hand, for :class:`~cowork.client.AsyncClient` and its blocking twin
:class:`~cowork.client.Client`.

Two sets, both made here at import time:

* one method per row of ``METHODS`` (except ``initialize``, which the wire runs), named by the rule
  ``"session/create"`` → ``session_create``: keyword arguments are the params model's fields (snake
  case), the answer is the result model (``SessionResult``…). A new protocol method is one row in
  ``METHODS`` plus one server handler; it appears here by itself.
* the friendly names of :data:`FRIENDLY` (``create_session``, ``start_turn``…): the same calls with
  some leading arguments positional and, where the result wraps one thing, that thing returned
  (``create_session`` returns ``SessionResult.session``).

For every call: ``os.PathLike`` values are sent as strings, an ``input`` may be a plain string (one
text part), and ``turn/start`` gets a fresh ``clientMessageId`` (uuid4) when none is given, so the
re-send after a reconnect is safe. Bad arguments raise pydantic's ``ValidationError`` before
anything is sent; an error answer raises :class:`CoworkError`; a lost connection
:class:`ConnectionLost`. ``session/subscribe``, ``session/unsubscribe``, ``run/subscribe`` and
``run/unsubscribe`` belong to the subscriptions (:meth:`AsyncClient.subscribe`,
:meth:`AsyncClient.watch_runs`), not to this module.
"""

from __future__ import annotations

import inspect
import os
import uuid
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from ..protocol.rpc import METHODS, Method, TextInput, Wire

NOTHING = ""
"""``Call.returns`` for a method whose friendly form returns None."""


@dataclass(frozen=True)
class Call:
    """A friendly name for a method of ``METHODS``: ``positional`` are its leading parameters in
    order (the rest are keyword-only), ``returns`` the field of the result given back instead of
    the whole result (:data:`NOTHING`: None; None: the result model itself); ``hidden`` are
    parameters this form does not offer."""

    method: str
    positional: tuple[str, ...] = ()
    returns: str | None = None
    hidden: tuple[str, ...] = ()


FRIENDLY: dict[str, Call] = {
    "create_session": Call("session/create", ("workspace",), "session"),
    "list_sessions": Call("session/list"),
    "get_session": Call("session/get", ("session_id",), "session"),
    "update_session": Call("session/update", ("session_id",), "session"),
    "delete_session": Call("session/delete", ("session_id",), NOTHING),
    "fork_session": Call("session/fork", ("session_id", "turn_id"), "session"),
    "start_turn": Call("turn/start", ("session_id", "input")),
    "steer_turn": Call("turn/steer", ("session_id", "input"), "turn_id"),
    "interrupt_turn": Call("turn/interrupt", ("session_id",), "interrupted"),
    "rewind_turn": Call("turn/rewind", ("session_id", "turn_id", "restore")),
    "respond_approval": Call("approval/respond", ("approval_id", "decision", "reason"), NOTHING,
                             hidden=("approval_ids",)),
    "respond_approvals": Call("approval/respond", ("approval_ids", "decision", "reason"), "results",
                              hidden=("approval_id",)),
    "list_models": Call("models/list"),
    "list_tools": Call("tools/list", ("session_id",), "tools"),
    "list_workspaces": Call("workspace/list", (), "workspaces"),
    "list_checkpoints": Call("checkpoint/list", ("session_id", "limit"), "checkpoints"),
    "diff_checkpoint": Call("checkpoint/diff", ("checkpoint_id", "paths")),
    "restore_checkpoint": Call("checkpoint/restore", ("checkpoint_id", "paths")),
}
"""Friendly name → the call it makes (the names the SDK had before the table was the source)."""

SUBSCRIPTION_METHODS = frozenset({"initialize", "session/subscribe", "session/unsubscribe", "run/subscribe",
                                  "run/unsubscribe"})
"""Rows of ``METHODS`` with no generated method: the wire runs ``initialize``; the subscriptions
own the others (:meth:`AsyncClient.subscribe`, :meth:`AsyncClient.unsubscribe`,
:meth:`AsyncClient.watch_runs`)."""


def method_name(method: str) -> str:
    """The generated name of a protocol method: ``"session/create"`` → ``"session_create"``."""
    return method.replace("/", "_").replace("-", "_")


def _inputs(text: str | Sequence[Mapping[str, Any] | TextInput]) -> list[TextInput]:
    if isinstance(text, str):
        return [TextInput(text=text)]
    return [part if isinstance(part, TextInput) else TextInput.model_validate(part) for part in text]


_ADAPT: dict[str, Callable[[Any], Any]] = {"input": _inputs}
"""Parameter name → what turns the caller's value into the model's (for any method that has it)."""

_DEFAULTS: dict[tuple[str, str], Callable[[], Any]] = {("turn/start", "client_message_id"): lambda: str(uuid.uuid4())}
"""(method, parameter) → a value made per call when the caller gives none."""


def params_of(method: str, given: Mapping[str, Any]) -> Wire:
    """The params model of ``method`` built from ``given`` (snake-case names) by the rules in the
    module docstring. Raises pydantic's ValidationError for a missing or bad argument."""
    spec = METHODS[method]
    values: dict[str, Any] = {}
    for name, value in given.items():
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if name in _ADAPT and value is not None:
            value = _ADAPT[name](value)
        values[name] = value
    for (m, name), make in _DEFAULTS.items():
        if m == method and values.get(name) is None:
            values[name] = make()
    return spec.params.model_validate(values)


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "").replace("cowork.protocol.", "")


def _signature(spec: Method, call: Call, returns: Any) -> inspect.Signature:
    positional = call.positional
    fields = spec.params.model_fields
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    for i, name in enumerate(positional):
        field = fields[name]
        # required when a later positional one is (``respond_approval(approval_id, decision)``)
        required = field.is_required() or any(fields[later].is_required() for later in positional[i + 1:])
        default = inspect.Parameter.empty if required else field.get_default(call_default_factory=True)
        annotation = str | Sequence[Mapping[str, Any] | TextInput] if name in _ADAPT else field.annotation
        params.append(inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default,
                                        annotation=annotation))
    for name, field in fields.items():
        if name in positional or name in call.hidden:
            continue
        default = inspect.Parameter.empty if field.is_required() else field.get_default(call_default_factory=True)
        annotation = str | Sequence[Mapping[str, Any] | TextInput] if name in _ADAPT else field.annotation
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation))
    return inspect.Signature(params, return_annotation=returns)


def _doc(method: str, spec: Method, call: Call) -> str:
    returns = call.returns
    lines = [f"``{method}``: {spec.summary}", "",
             f"Parameters ({spec.params.__name__}; camelCase on the wire):"]
    for name, field in spec.params.model_fields.items():
        if name in call.hidden:
            continue
        default = "required" if field.is_required() else f"default {field.get_default(call_default_factory=True)!r}"
        about = f" {field.description}" if field.description else ""
        lines.append(f"  ``{name}`` ({_type_name(field.annotation)}, {default}).{about}")
    what = spec.result.__name__ if returns is None else "None" if returns == NOTHING else \
        f"{spec.result.__name__}.{returns}"
    lines += ["", f"Returns {what}. Raises CoworkError for an error answer (codes: docs/protocol.md, "
                  f"section {method}), ConnectionLost when the server cannot be reached, "
                  "pydantic.ValidationError for bad arguments."]
    return "\n".join(lines)


@dataclass(frozen=True)
class Generated:
    """One typed method: its name, the protocol method it calls, the positional parameters, what it
    returns (see :class:`Call`), its signature and docstring."""

    name: str
    method: str
    positional: tuple[str, ...]
    returns: str | None
    signature: inspect.Signature
    doc: str

    def unwrap(self, result: BaseModel) -> Any:
        if self.returns is None:
            return result
        if self.returns == NOTHING:
            return None
        return getattr(result, self.returns)


def generated() -> list[Generated]:
    """Every typed method, the ``METHODS`` rows first, then :data:`FRIENDLY`."""
    out: list[Generated] = []
    calls = [(method_name(m), Call(m)) for m in METHODS if m not in SUBSCRIPTION_METHODS]
    for name, call in [*calls, *FRIENDLY.items()]:
        spec = METHODS[call.method]
        if call.returns is None:
            returns: Any = spec.result
        elif call.returns == NOTHING:
            returns = None
        else:
            returns = spec.result.model_fields[call.returns].annotation
        out.append(Generated(name, call.method, call.positional, call.returns,
                             _signature(spec, call, returns), _doc(call.method, spec, call)))
    return out


METHOD_SET = generated()


def _bind(g: Generated, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    bound = g.signature.bind(None, *args, **kwargs)
    bound.arguments.pop("self")
    return dict(bound.arguments)


class AsyncAPI:
    """The typed methods as coroutines; the class that has them supplies ``_request(method, params)``
    → result model. Generated from :data:`METHOD_SET` (see the module docstring)."""

    async def _request(self, method: str, params: Wire) -> Any:  # pragma: no cover - supplied by the client
        raise NotImplementedError


class SyncAPI:
    """The same methods, blocking: each runs the :class:`AsyncAPI` method of ``self._client``
    through ``self._run``."""

    _client: Any

    def _run(self, coro: Coroutine[Any, Any, Any]) -> Any:  # pragma: no cover - supplied by the client
        raise NotImplementedError


def _async_method(g: Generated) -> Callable[..., Any]:
    async def method(self: AsyncAPI, *args: Any, **kwargs: Any) -> Any:
        params = params_of(g.method, _bind(g, args, kwargs))
        return g.unwrap(await self._request(g.method, params))

    return _named(method, g, g.doc)


def _sync_method(g: Generated) -> Callable[..., Any]:
    def method(self: SyncAPI, *args: Any, **kwargs: Any) -> Any:
        return self._run(getattr(self._client, g.name)(*args, **kwargs))

    return _named(method, g, f"Blocking :meth:`AsyncClient.{g.name}`.\n\n{g.doc}")


def _named(fn: Callable[..., Any], g: Generated, doc: str) -> Callable[..., Any]:
    fn.__name__ = g.name
    fn.__doc__ = doc
    fn.__signature__ = g.signature  # type: ignore[attr-defined]
    fn.__annotations__ = {p.name: p.annotation for p in g.signature.parameters.values()
                          if p.annotation is not inspect.Parameter.empty}
    fn.__annotations__["return"] = g.signature.return_annotation
    return fn


for _g in METHOD_SET:
    _a, _s = _async_method(_g), _sync_method(_g)
    _a.__qualname__, _s.__qualname__ = f"AsyncAPI.{_g.name}", f"SyncAPI.{_g.name}"
    setattr(AsyncAPI, _g.name, _a)
    setattr(SyncAPI, _g.name, _s)
del _g, _a, _s

__all__ = ["FRIENDLY", "METHOD_SET", "NOTHING", "AsyncAPI", "Call", "Generated", "SyncAPI", "method_name", "params_of"]


# -- the type stub -----------------------------------------------------------------------------------


def _source(annotation: Any, names: dict[str, str]) -> str:
    """``annotation`` as stub source; the classes it names are added to ``names`` (name → module)."""
    import types
    import typing

    if annotation is type(None) or annotation is None:
        return "None"
    if annotation is Any:
        return "Any"
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_source(a, names) for a in args)
    if origin is typing.Literal:
        names["Literal"] = "typing"
        return f"Literal[{', '.join(repr(a) for a in args)}]"
    if origin is typing.Annotated:
        return _source(args[0], names)
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        if origin.__module__ == "collections.abc":
            names[name] = "collections.abc"
        return f"{name}[{', '.join(_source(a, names) for a in args)}]" if args else name
    if isinstance(annotation, type):
        if annotation.__module__ != "builtins":
            names[annotation.__name__] = annotation.__module__
        return annotation.__name__
    raise TypeError(f"cannot write {annotation!r} in a stub")


def stub() -> str:
    """The text of ``api.pyi``: :class:`AsyncAPI` and :class:`SyncAPI` with every generated method
    typed, for type checkers (at run time the methods carry the same signatures)."""
    names: dict[str, str] = {"Any": "typing", "Coroutine": "collections.abc"}
    methods: list[tuple[str, str]] = []
    for g in METHOD_SET:
        parts, star = ["self"], False
        for p in list(g.signature.parameters.values())[1:]:
            if p.kind is inspect.Parameter.KEYWORD_ONLY and not star:
                parts.append("*")
                star = True
            default = "" if p.default is inspect.Parameter.empty else " = ..."
            parts.append(f"{p.name}: {_source(p.annotation, names)}{default}")
        methods.append((f"{g.name}({', '.join(parts)})", _source(g.signature.return_annotation, names)))
    by_module: dict[str, list[str]] = {}
    for name, module in names.items():
        by_module.setdefault(module, []).append(name)
    lines = ['"""Generated from the method table by ``cowork.client.api.stub()``; tests/client/test_api.py checks it',
             'is current and says how to regenerate it. Do not edit."""', "", "from dataclasses import dataclass"]
    lines += [f"from {m} import {', '.join(sorted(n))}" for m, n in sorted(by_module.items())]
    lines += ["", "NOTHING: str", "SUBSCRIPTION_METHODS: frozenset[str]", "",
              "@dataclass(frozen=True)", "class Call:", "    method: str", "    positional: tuple[str, ...] = ...",
              "    returns: str | None = ...", "    hidden: tuple[str, ...] = ...", "",
              "FRIENDLY: dict[str, Call]", "", "class Generated:", "    name: str", "    method: str",
              "    positional: tuple[str, ...]", "    returns: str | None", "    doc: str",
              "    def unwrap(self, result: Any) -> Any: ...", "",
              "METHOD_SET: list[Generated]", "",
              "def method_name(method: str) -> str: ...", "def params_of(method: str, given: Any) -> Any: ...",
              "def generated() -> list[Generated]: ...", "def stub() -> str: ...", "",
              "class AsyncAPI:", "    async def _request(self, method: str, params: Any) -> Any: ..."]
    lines += [f"    async def {sig} -> {ret}: ..." for sig, ret in methods]
    lines += ["", "class SyncAPI:", "    _client: Any",
              "    def _run(self, coro: Coroutine[Any, Any, Any]) -> Any: ..."]
    lines += [f"    def {sig} -> {ret}: ..." for sig, ret in methods]
    return "\n".join(lines) + "\n"
