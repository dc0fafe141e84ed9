"""REST + Server-Sent Events under ``/api/v1``, for clients that speak only HTTP.

The same operations as the JSON-RPC methods, with the same parameter names in JSON bodies and the
same error codes in ``{"error": {"code", "message", "data"?}}`` bodies (HTTP status by kind:
400/422 bad input, 401 token, 403 read-only or a foreign Host/Origin, 404 not found, 409
conflict, 413 a body over 4 MiB — the last two from :mod:`.guard`, which also serves HEAD wherever
GET is). Tokens go in ``Authorization: Bearer``. OpenAPI is at ``/openapi.json``, browsable at
``/docs``.

``GET /sessions/{id}/events`` streams the journal as SSE
(https://html.spec.whatwg.org/multipage/server-sent-events.html): ``id:`` is the event's ``seq``,
``event:`` its type, ``data:`` the event JSON. A reconnecting ``EventSource`` sends
``Last-Event-ID`` (a seq, else 400) and resumes right after it; ``after_seq`` does the same for
the first request;
``follow=false`` ends the stream after the journal instead of following live events. Each
event's stored JSON is written as it is, a page of the journal (or every live event that is
ready) in one write, and an idle stream gets a ``: ping`` comment every :data:`PING_S` seconds.
"""

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from pydantic import Field

from .. import __version__
from ..protocol import Mode, RunState, rpc
from ..protocol.checkpoints import RestoreTarget
from ..protocol.rpc import ErrorCode, RpcError
from ..protocol.schema import protocol_json_schema
from .auth import Auth, AuthError, Caller, bearer, redact
from .guard import is_head
from .methods import Service, rpc_errors

if TYPE_CHECKING:
    from ..engine import StoredEvent  # the type only: the server reads the journal through the runtime

log = logging.getLogger(__name__)

PING_S = 15.0
"""Seconds of silence after which an event stream gets a keep-alive comment."""

HTTP_STATUS = {
    ErrorCode.PARSE_ERROR: 400, ErrorCode.INVALID_REQUEST: 400, ErrorCode.INVALID_PARAMS: 422,
    ErrorCode.METHOD_NOT_FOUND: 404, ErrorCode.NOT_FOUND: 404, ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.READ_ONLY: 403, ErrorCode.TURN_IN_PROGRESS: 409, ErrorCode.NO_RUNNING_TURN: 409,
    ErrorCode.APPROVAL_NOT_PENDING: 409, ErrorCode.CLIENT_MESSAGE_CONFLICT: 409, ErrorCode.MODEL_CONFIG: 400,
    ErrorCode.CHECKPOINT_UNAVAILABLE: 503, ErrorCode.STORAGE_UNAVAILABLE: 503,
}


class SessionPatch(rpc.Wire):
    title: rpc.Title | None = None
    model: rpc.ModelName | None = None
    mode: Mode | None = None


class ForkBody(rpc.Wire):
    turn_id: rpc.Id | None = None


class TurnBody(rpc.Wire):
    input: list[rpc.InputPart] = Field(min_length=1, max_length=rpc.MAX_INPUT_PARTS)
    client_message_id: str | None = Field(default=None, max_length=200)


class SteerBody(rpc.Wire):
    input: list[rpc.InputPart] = Field(min_length=1, max_length=rpc.MAX_INPUT_PARTS)


class ApprovalBody(rpc.ApprovalAnswerFields):
    pass


class ApprovalsBody(ApprovalBody):
    approval_ids: list[rpc.Id] = Field(min_length=1, max_length=100)


class Health(rpc.Wire):
    status: str
    version: str
    storage: str | None = Field(default=None, description="Why the store stopped (status 'unavailable', HTTP 503).")


def _caller(request: Request, authorization: Annotated[str | None, Header()] = None,
            x_cowork_client: Annotated[str | None, Header()] = None) -> Caller:
    """The caller of a REST request: its token, and ``X-Cowork-Client`` (else ``rest``) as its name."""
    auth: Auth = request.app.state.auth
    try:
        caller = auth.caller(bearer(authorization))
    except AuthError as exc:
        raise RpcError(ErrorCode.UNAUTHORIZED, str(exc)) from None
    named = caller.named(x_cowork_client)
    return named if named.client else caller.named("rest")


def _service(request: Request) -> Service:
    return request.app.state.service


Who = Annotated[Caller, Depends(_caller)]
Svc = Annotated[Service, Depends(_service)]
api = APIRouter(prefix="/api/v1")


@api.get("/health", response_model=Health)
async def health(svc: Svc) -> Any:
    """Liveness: answers without a token; checks the database file's identity (a ``stat``), no query."""
    problem = svc.runtime.storage_problem()
    if problem is not None:
        body = {"status": "unavailable", "version": __version__, "storage": problem}
        return JSONResponse(body, status_code=503)
    return {"status": "ok", "version": __version__}


@api.get("/schema")
async def schema() -> dict[str, Any]:
    """The protocol's JSON Schema (events, items, sessions and every method)."""
    return protocol_json_schema()


@api.get("/sessions", response_model=rpc.SessionListResult)
async def list_sessions(svc: Svc, who: Who, workspace: str | None = None, cursor: str | None = None,
                        limit: Annotated[int, Query(ge=1, le=500)] = 50,
                        query: Annotated[str | None, Query(max_length=200)] = None,
                        parent_session_id: Annotated[str | None, Query(alias="parentSessionId", max_length=40)] = None,
                        ) -> dict[str, Any]:
    params = rpc.SessionListParams(workspace=workspace, cursor=cursor, limit=limit, query=query,
                                   parent_session_id=parent_session_id)
    return await svc.call("session/list", params, who)


@api.post("/sessions", status_code=201, response_model=rpc.SessionResult)
async def create_session(body: rpc.SessionCreateParams, svc: Svc, who: Who) -> dict[str, Any]:
    return await svc.call("session/create", body, who)


@api.get("/sessions/{session_id}", response_model=rpc.SessionResult)
async def get_session(session_id: str, svc: Svc, who: Who) -> dict[str, Any]:
    return await svc.call("session/get", rpc.SessionIdParams(session_id=session_id), who)


@api.patch("/sessions/{session_id}", response_model=rpc.SessionResult)
async def update_session(session_id: str, body: SessionPatch, svc: Svc, who: Who) -> dict[str, Any]:
    params = rpc.SessionUpdateParams(session_id=session_id, **body.model_dump(by_alias=False))
    return await svc.call("session/update", params, who)


@api.delete("/sessions/{session_id}", status_code=204)
async def delete_session(session_id: str, svc: Svc, who: Who) -> Response:
    await svc.call("session/delete", rpc.SessionIdParams(session_id=session_id), who)
    return Response(status_code=204)


@api.post("/sessions/{session_id}/fork", status_code=201, response_model=rpc.SessionResult)
async def fork_session(session_id: str, svc: Svc, who: Who, body: ForkBody | None = None) -> dict[str, Any]:
    turn_id = body.turn_id if body else None
    return await svc.call("session/fork", rpc.SessionForkParams(session_id=session_id, turn_id=turn_id), who)


@api.post("/sessions/{session_id}/turns", status_code=201, response_model=rpc.TurnStartResult)
async def start_turn(session_id: str, body: TurnBody, svc: Svc, who: Who, response: Response) -> dict[str, Any]:
    """Start a turn (201), or return the turn a retry with the same clientMessageId started (200)."""
    params = rpc.TurnStartParams(session_id=session_id, input=body.input, client_message_id=body.client_message_id)
    result = await svc.call("turn/start", params, who)
    if result["replayed"]:
        response.status_code = 200
    return result


@api.post("/sessions/{session_id}/steer", response_model=rpc.TurnSteerResult)
async def steer_turn(session_id: str, body: SteerBody, svc: Svc, who: Who) -> dict[str, Any]:
    return await svc.call("turn/steer", rpc.TurnSteerParams(session_id=session_id, input=body.input), who)


@api.post("/sessions/{session_id}/interrupt", response_model=rpc.TurnInterruptResult)
async def interrupt_turn(session_id: str, svc: Svc, who: Who) -> dict[str, Any]:
    return await svc.call("turn/interrupt", rpc.SessionIdParams(session_id=session_id), who)


@api.post("/approvals/{approval_id}")
async def respond_approval(approval_id: str, body: ApprovalBody, svc: Svc, who: Who) -> dict[str, Any]:
    params = rpc.ApprovalRespondParams(approval_id=approval_id, decision=body.decision, reason=body.reason,
                                       edited_plan=body.edited_plan, mode=body.mode)
    return await svc.call("approval/respond", params, who)


@api.post("/approvals", response_model=rpc.ApprovalRespondResult, response_model_exclude_none=True)
async def respond_approvals(body: ApprovalsBody, svc: Svc, who: Who) -> dict[str, Any]:
    """Answer several pending approvals alike; ``results`` says, per id, whether it was answered."""
    params = rpc.ApprovalRespondParams(approval_ids=body.approval_ids, decision=body.decision, reason=body.reason,
                                       edited_plan=body.edited_plan, mode=body.mode)
    return await svc.call("approval/respond", params, who)


class RewindBody(rpc.Wire):
    restore: RestoreTarget = "both"
    force: bool = False


class RestoreBody(rpc.Wire):
    paths: list[rpc.PathText] | None = Field(default=None, max_length=rpc.MAX_PATHS)
    preview: bool = True
    overwrite: list[rpc.PathText] = Field(default_factory=list, max_length=rpc.MAX_PATHS)
    force: bool = False


@api.post("/sessions/{session_id}/turns/{turn_id}/rewind", response_model=rpc.TurnRewindResult)
async def rewind_turn(session_id: str, turn_id: str, svc: Svc, who: Who,
                      body: RewindBody | None = None) -> dict[str, Any]:
    body = body or RewindBody()
    params = rpc.TurnRewindParams(session_id=session_id, turn_id=turn_id, restore=body.restore, force=body.force)
    return await svc.call("turn/rewind", params, who)


@api.get("/sessions/{session_id}/context", response_model=rpc.SessionContextResult)
async def session_context(session_id: str, svc: Svc, who: Who) -> dict[str, Any]:
    return await svc.call("session/context", rpc.SessionIdParams(session_id=session_id), who)


@api.get("/sessions/{session_id}/checkpoints", response_model=rpc.CheckpointListResult)
async def list_checkpoints(session_id: str, svc: Svc, who: Who,
                           limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> dict[str, Any]:
    return await svc.call("checkpoint/list", rpc.CheckpointListParams(session_id=session_id, limit=limit), who)


@api.get("/checkpoints/{checkpoint_id}/diff", response_model=rpc.CheckpointDiffResult)
async def diff_checkpoint(checkpoint_id: str, svc: Svc, who: Who,
                          path: Annotated[list[str] | None, Query()] = None,
                          to: Annotated[str | None, Query(max_length=200)] = None) -> dict[str, Any]:
    params = rpc.CheckpointDiffParams(checkpoint_id=checkpoint_id, paths=path, to_checkpoint_id=to)
    return await svc.call("checkpoint/diff", params, who)


@api.post("/checkpoints/{checkpoint_id}/restore", response_model=rpc.CheckpointRestoreResult)
async def restore_checkpoint(checkpoint_id: str, svc: Svc, who: Who,
                             body: RestoreBody | None = None) -> dict[str, Any]:
    body = body or RestoreBody()
    params = rpc.CheckpointRestoreParams(checkpoint_id=checkpoint_id, **body.model_dump(by_alias=False))
    return await svc.call("checkpoint/restore", params, who)


@api.get("/models", response_model=rpc.ModelsListResult)
async def list_models(svc: Svc, who: Who) -> dict[str, Any]:
    return await svc.call("models/list", rpc.Empty(), who)


class KeyBody(rpc.Wire):
    key: str = Field(min_length=1, max_length=4096)


@api.get("/keys", response_model=rpc.KeysListResult)
async def list_providers(svc: Svc, who: Who) -> dict[str, Any]:
    return await svc.call("keys/list", rpc.Empty(), who)


@api.put("/keys/{provider}", status_code=204, response_class=Response)
async def set_provider_key(provider: str, body: KeyBody, svc: Svc, who: Who) -> Response:
    await svc.call("keys/set", rpc.KeySetParams(provider=provider, key=body.key), who)
    return Response(status_code=204)


@api.delete("/keys/{provider}", response_model=rpc.KeyRemoveResult)
async def remove_provider_key(provider: str, svc: Svc, who: Who) -> dict[str, Any]:
    return await svc.call("keys/remove", rpc.KeyParams(provider=provider), who)


@api.get("/status", response_model=rpc.ServerStatusResult)
async def server_status(svc: Svc, who: Who) -> dict[str, Any]:
    return await svc.call("server/status", rpc.Empty(), who)


@api.post("/runs", status_code=201, response_model=rpc.RunResult)
async def submit_run(body: rpc.RunSubmitParams, svc: Svc, who: Who) -> dict[str, Any]:
    return await svc.call("run/submit", body, who)


@api.get("/runs", response_model=rpc.RunListResult)
async def list_runs(svc: Svc, who: Who, workspace: str | None = None,
                    state: Annotated[list[RunState] | None, Query(max_length=7)] = None,
                    limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    return await svc.call("run/list", rpc.RunListParams(workspace=workspace, states=state or [], limit=limit), who)


@api.get("/runs/{run_id}", response_model=rpc.RunResult)
async def get_run(run_id: str, svc: Svc, who: Who) -> dict[str, Any]:
    return await svc.call("run/get", rpc.RunIdParams(run_id=run_id), who)


@api.post("/runs/{run_id}/cancel", response_model=rpc.RunResult)
async def cancel_run(run_id: str, svc: Svc, who: Who) -> dict[str, Any]:
    return await svc.call("run/cancel", rpc.RunIdParams(run_id=run_id), who)


class SchedulePatch(rpc.Wire):
    enabled: bool


@api.post("/schedules", status_code=201, response_model=rpc.ScheduleResult)
async def create_schedule(body: rpc.ScheduleCreateParams, svc: Svc, who: Who) -> dict[str, Any]:
    return await svc.call("schedule/create", body, who)


@api.get("/schedules", response_model=rpc.ScheduleListResult)
async def list_schedules(svc: Svc, who: Who, workspace: str | None = None) -> dict[str, Any]:
    return await svc.call("schedule/list", rpc.ScheduleListParams(workspace=workspace), who)


@api.get("/schedules/{schedule_id}", response_model=rpc.ScheduleResult)
async def get_schedule(schedule_id: str, svc: Svc, who: Who) -> dict[str, Any]:
    return await svc.call("schedule/get", rpc.ScheduleIdParams(schedule_id=schedule_id), who)


@api.patch("/schedules/{schedule_id}", response_model=rpc.ScheduleResult)
async def update_schedule(schedule_id: str, body: SchedulePatch, svc: Svc, who: Who) -> dict[str, Any]:
    return await svc.call("schedule/update", rpc.ScheduleUpdateParams(schedule_id=schedule_id, enabled=body.enabled),
                          who)


@api.delete("/schedules/{schedule_id}", status_code=204)
async def delete_schedule(schedule_id: str, svc: Svc, who: Who) -> Response:
    await svc.call("schedule/delete", rpc.ScheduleIdParams(schedule_id=schedule_id), who)
    return Response(status_code=204)


@api.post("/schedules/{schedule_id}/run", status_code=201, response_model=rpc.RunResult)
async def run_schedule(schedule_id: str, svc: Svc, who: Who) -> dict[str, Any]:
    return await svc.call("schedule/run", rpc.ScheduleIdParams(schedule_id=schedule_id), who)


@api.get("/schedules/{schedule_id}/history", response_model=rpc.ScheduleHistoryResult)
async def schedule_history(schedule_id: str, svc: Svc, who: Who,
                           limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    return await svc.call("schedule/history", rpc.ScheduleHistoryParams(schedule_id=schedule_id, limit=limit), who)


@api.post("/webhooks", status_code=201, response_model=rpc.WebhookSecretResult)
async def create_webhook(body: rpc.WebhookCreateParams, svc: Svc, who: Who) -> dict[str, Any]:
    return await svc.call("webhook/create", body, who)


@api.get("/webhooks", response_model=rpc.WebhookListResult)
async def list_webhooks(svc: Svc, who: Who, workspace: str | None = None) -> dict[str, Any]:
    return await svc.call("webhook/list", rpc.WebhookListParams(workspace=workspace), who)


@api.delete("/webhooks/{webhook_id}", status_code=204)
async def delete_webhook(webhook_id: str, svc: Svc, who: Who) -> Response:
    await svc.call("webhook/delete", rpc.WebhookIdParams(webhook_id=webhook_id), who)
    return Response(status_code=204)


@api.post("/webhooks/{webhook_id}/rotate", response_model=rpc.WebhookSecretResult)
async def rotate_webhook(webhook_id: str, svc: Svc, who: Who) -> dict[str, Any]:
    return await svc.call("webhook/rotate", rpc.WebhookIdParams(webhook_id=webhook_id), who)


@api.get("/tools", response_model=rpc.ToolsListResult)
async def list_tools(svc: Svc, who: Who, session_id: str | None = None) -> dict[str, Any]:
    return await svc.call("tools/list", rpc.ToolsListParams(session_id=session_id), who)


@api.get("/workspaces", response_model=rpc.WorkspaceListResult)
async def list_workspaces(svc: Svc, who: Who) -> dict[str, Any]:
    return await svc.call("workspace/list", rpc.Empty(), who)


@dataclass
class _Target:
    service: Service
    session_id: str
    caller: Caller
    hidden: set[str]


async def _journaled_session(session_id: str, svc: Svc, who: Who) -> _Target:
    """The session must exist before the stream starts (a 404, not an empty stream)."""
    with rpc_errors():
        session = await svc.runtime.get_session(session_id)
    hidden = {session.workspace} | (await svc.workspaces() if who.read_only else set())
    return _Target(svc, session_id, who, hidden)


@api.get("/sessions/{session_id}/events", response_class=StreamingResponse, responses={200: {
    "description": "Server-Sent Events: `id:` seq, `event:` type, `data:` the event JSON",
    "content": {"text/event-stream": {"schema": {"type": "string"}}},
}})
async def events(
    target: Annotated[_Target, Depends(_journaled_session)],
    request: Request,
    after_seq: Annotated[int, Query(ge=0, le=rpc.MAX_SEQ)] = 0,
    follow: bool = True,
    last_event_id: Annotated[str | None, Header()] = None,
) -> Response:
    """The session's journal after ``after_seq`` (or ``Last-Event-ID``), then live events.
    Raises RpcError (-32600, HTTP 400) for a ``Last-Event-ID`` that is not a seq."""
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    if last_event_id is not None and last_event_id.strip():
        after_seq = _seq_of(last_event_id)
    if is_head(request.scope):  # the headers a GET would get, without starting the stream
        return Response(media_type="text/event-stream", headers=headers)
    if follow:
        batches = target.service.runtime.subscribe_stored(target.session_id, after_seq)
    else:
        batches = _journal(target.service, target.session_id, after_seq)
    body = _sse(_until(batches, request.app.state.stopping), target)
    return StreamingResponse(body, media_type="text/event-stream", headers=headers)


def _seq_of(last_event_id: str) -> int:
    """The seq a ``Last-Event-ID`` names: ASCII digits within the signed 64-bit range."""
    value = last_event_id.strip()
    if not (value.isascii() and value.isdigit()) or int(value) > rpc.MAX_SEQ:
        raise RpcError(ErrorCode.INVALID_REQUEST,
                       f"Last-Event-ID {last_event_id[:40]!r} is not a seq (a whole number from 0 to {rpc.MAX_SEQ})")
    return int(value)


async def _sse(batches: "AsyncIterator[list[StoredEvent] | None]", target: _Target) -> AsyncIterator[bytes]:
    """Encode batches as SSE; ``None`` (silence) becomes a keep-alive comment."""
    async for batch in batches:
        if batch is None:
            yield b": ping\n\n"
            continue
        out = []
        for event in batch:
            data = json.dumps(redact(json.loads(event.data), target.hidden)) if target.caller.read_only else event.data
            out.append(f"id: {event.seq}\nevent: {event.type}\ndata: {data}\n\n")  # JSON has no raw newline
        yield "".join(out).encode()


def install(app: FastAPI, service: Service, auth: Auth) -> None:
    """Add the ``/api/v1`` routes and the error handlers to ``app``."""
    app.state.auth, app.state.service = auth, service

    @app.exception_handler(RpcError)
    async def _rpc_error(request: Request, exc: RpcError) -> JSONResponse:
        return JSONResponse({"error": exc.to_wire()}, status_code=HTTP_STATUS.get(exc.code, 500))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # never the input: it may be a secret (an API key too long) or huge
        errors = json.loads(json.dumps([{k: v for k, v in e.items() if k not in ("input", "ctx", "url")}
                                        for e in exc.errors()], default=str))
        error = RpcError(ErrorCode.INVALID_PARAMS, "invalid request: " + "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors), errors)
        return JSONResponse({"error": error.to_wire()}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        """Starlette's own refusals (no such route, a method the route lacks, a body that could
        not be parsed — e.g. JSON nested too deeply) in the protocol's error shape."""
        code = {400: ErrorCode.PARSE_ERROR, 404: ErrorCode.METHOD_NOT_FOUND, 405: ErrorCode.METHOD_NOT_FOUND}.get(
            exc.status_code, ErrorCode.INVALID_REQUEST)
        error = RpcError(code, str(exc.detail))
        return JSONResponse({"error": error.to_wire()}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:  # a bug; logged by uvicorn
        error = RpcError(ErrorCode.INTERNAL_ERROR, f"internal error: {type(exc).__name__}")
        return JSONResponse({"error": error.to_wire()}, status_code=500)

    app.include_router(api)


async def _until(batches: AsyncIterator[Any], stopping: asyncio.Event) -> AsyncIterator[Any]:
    """``batches`` until ``stopping`` is set (the server shuts down: the stream ends cleanly and a
    reconnecting client resumes with Last-Event-ID), with ``None`` after each :data:`PING_S`
    seconds of silence."""
    stop = asyncio.ensure_future(stopping.wait())
    step: asyncio.Future[Any] | None = None
    try:
        while True:
            step = asyncio.ensure_future(anext(batches))
            while not step.done() and not stop.done():
                done, _ = await asyncio.wait((step, stop), timeout=PING_S, return_when=asyncio.FIRST_COMPLETED)
                if not done:
                    yield None
            if not step.done():
                step.cancel()
                await asyncio.wait((step,))  # let the generator unwind before it is closed
                return
            try:
                batch = step.result()
            except StopAsyncIteration:
                return
            yield batch
    finally:
        stop.cancel()
        if step is not None and not step.done():
            # The client went away while the generator is inside anext (this stream is being
            # cancelled): close the generator once that step has unwound, outside this scope.
            step.cancel()
            step.add_done_callback(lambda _: _close_later(batches))
        else:
            await batches.aclose()  # type: ignore[attr-defined]


_closing: set[asyncio.Task[None]] = set()


def _close_later(batches: AsyncIterator[Any]) -> None:
    """Close a subscription's generator in the background, keeping the task until it is done."""
    task = asyncio.ensure_future(batches.aclose())  # type: ignore[attr-defined]
    _closing.add(task)

    def done(t: asyncio.Task[None]) -> None:
        _closing.discard(t)
        if not t.cancelled() and t.exception() is not None:
            log.debug("closing an event stream failed", exc_info=t.exception())

    task.add_done_callback(done)


async def _journal(service: Service, session_id: str, after_seq: int) -> "AsyncIterator[list[StoredEvent]]":
    """The journal as it stands now, then the end."""
    runtime = service.runtime
    end = await runtime.last_seq(session_id)
    while after_seq < end:
        page = [e for e in await runtime.journal_page(session_id, after_seq, 1000) if e.seq <= end]
        if not page:
            return
        yield page
        after_seq = page[-1].seq
