"""The protocol's methods over the :class:`~cowork.engine.Runtime`, shared by both transports.

Each handler takes the validated parameter model of :data:`cowork.protocol.rpc.METHODS` and
returns its result model. Runtime errors become :class:`~cowork.protocol.rpc.RpcError` with the
codes of :class:`~cowork.protocol.rpc.ErrorCode`. The WebSocket endpoint (``ws.py``) and the REST
routes (``rest.py``) only translate frames and HTTP to these calls.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..checkpoints import CheckpointUnavailable
from ..engine import (
    ApprovalNotPending,
    ClientMessageConflict,
    NoRunningTurn,
    NotFound,
    Runtime,
    StorageUnavailable,
    TurnInProgress,
)
from ..engine.approvals import PlanAnswer
from ..engine.ids import complete_ids
from ..policy import load_policy
from ..jobs import Runs, Scheduler, Webhooks
from ..policy.modes import policy_mode
from ..protocol import rpc
from ..protocol.rpc import ErrorCode, RpcError
from ..providers import ModelConfigError, configured_models, default_model, parse_model
from ..providers.secrets import KEY_VARIABLES, SecretStoreError, provider_key, secret_store
from ..tools.plan import PlanTraits, offered
from .auth import Caller, redact
from .memory_methods import MemoryMethods

_ERROR_CODES: tuple[tuple[type[Exception], int], ...] = (  # first match wins: subclasses before ValueError
    (NotFound, ErrorCode.NOT_FOUND),
    (TurnInProgress, ErrorCode.TURN_IN_PROGRESS),
    (NoRunningTurn, ErrorCode.NO_RUNNING_TURN),
    (ApprovalNotPending, ErrorCode.APPROVAL_NOT_PENDING),
    (ClientMessageConflict, ErrorCode.CLIENT_MESSAGE_CONFLICT),
    (ModelConfigError, ErrorCode.MODEL_CONFIG),
    (CheckpointUnavailable, ErrorCode.CHECKPOINT_UNAVAILABLE),
    (StorageUnavailable, ErrorCode.STORAGE_UNAVAILABLE),
    (ValueError, ErrorCode.INVALID_PARAMS),
)


@contextlib.contextmanager
def rpc_errors() -> Iterator[None]:
    """Translate the runtime's exceptions into :class:`RpcError` (see ``_ERROR_CODES``)."""
    try:
        yield
    except RpcError:
        raise
    except Exception as exc:
        for kind, code in _ERROR_CODES:
            if isinstance(exc, kind):
                raise RpcError(code, str(exc)) from None
        raise


def _existing_folder(workspace: str) -> Path:
    """``workspace`` as a Path. Raises RpcError: -32602 for a relative path, -32004 for one that
    is not an existing folder."""
    if not Path(workspace).is_absolute():
        raise RpcError(ErrorCode.INVALID_PARAMS, f"workspace must be an absolute path, not {workspace!r}")
    if not Path(workspace).is_dir():
        raise RpcError(ErrorCode.NOT_FOUND, f"workspace {workspace} is not an existing folder")
    return Path(workspace)


def _text(parts: list[rpc.TextInput]) -> str:
    return "\n\n".join(p.text for p in parts)


class Service:
    """One per server: the method handlers, plus redaction for read-only callers."""

    def __init__(self, runtime: Runtime, runs: Runs | None = None, scheduler: Scheduler | None = None,
                 webhooks: Webhooks | None = None) -> None:
        self.runtime = runtime
        self.runs = runs or Runs(runtime, dispatch=False)
        self.scheduler = scheduler or Scheduler(self.runs, dispatch=False)
        self.webhooks = webhooks or Webhooks(self.runs)
        self._handlers: dict[str, Callable[[Any, Caller], Awaitable[BaseModel]]] = {
            "session/create": self.session_create,
            "session/list": self.session_list,
            "session/get": self.session_get,
            "session/update": self.session_update,
            "session/delete": self.session_delete,
            "session/fork": self.session_fork,
            "turn/start": self.turn_start,
            "turn/steer": self.turn_steer,
            "turn/interrupt": self.turn_interrupt,
            "approval/respond": self.approval_respond,
            "models/list": self.models_list,
            "tools/list": self.tools_list,
            "workspace/list": self.workspace_list,
            "skills/list": self.skills_list,
            "skills/get": self.skills_get,
            "session/context": self.session_context,
            "tool/call": self.tool_call,
            "mcp/list": self.mcp_list,
            "mcp/restart": self.mcp_restart,
            "mcp/enable": self.mcp_enable,
            "mcp/approve": self.mcp_approve,
            "mcp/prompts": self.mcp_prompts,
            "mcp/prompt": self.mcp_prompt,
            "turn/rewind": self.turn_rewind,
            "checkpoint/list": self.checkpoint_list,
            "checkpoint/diff": self.checkpoint_diff,
            "checkpoint/restore": self.checkpoint_restore,
            "keys/list": self.keys_list,
            "keys/set": self.keys_set,
            "keys/remove": self.keys_remove,
            "server/status": self.server_status,
            "run/submit": self.run_submit,
            "run/list": self.run_list,
            "run/get": self.run_get,
            "run/cancel": self.run_cancel,
            "schedule/create": self.schedule_create,
            "schedule/list": self.schedule_list,
            "schedule/get": self.schedule_get,
            "schedule/update": self.schedule_update,
            "schedule/delete": self.schedule_delete,
            "schedule/run": self.schedule_run,
            "schedule/history": self.schedule_history,
            "webhook/create": self.webhook_create,
            "webhook/list": self.webhook_list,
            "webhook/delete": self.webhook_delete,
            "webhook/rotate": self.webhook_rotate,
            **MemoryMethods(runtime).handlers(),
        }

    async def call(self, method: str, params: BaseModel, caller: Caller) -> dict[str, Any]:
        """Run ``method`` for ``caller`` and return its result as JSON-ready data (redacted for
        read-only callers). Raises RpcError."""
        spec = rpc.METHODS[method]
        if spec.mutating and caller.read_only:
            raise RpcError(ErrorCode.READ_ONLY, f"{method} changes something; this token is read-only")
        try:
            with rpc_errors():
                params = await complete_ids(self.runtime, params)  # id prefixes a person typed (engine/ids.py)
                result = await self._handlers[method](params, caller)
        except RpcError:
            raise
        except Exception:
            await self._gone(params)  # e.g. turn/start racing session/delete: the store's foreign key
            raise
        return await self.visible(result.model_dump(mode="json"), caller)

    async def visible(self, data: dict[str, Any], caller: Caller) -> dict[str, Any]:
        """``data`` (JSON-ready) as ``caller`` may see it: redacted for a read-only token
        (:func:`~cowork.server.auth.redact`)."""
        return redact(data, await self.workspaces()) if caller.read_only else data

    async def _gone(self, params: BaseModel) -> None:
        """Raise NOT_FOUND when the session a failed call named no longer exists (it was deleted
        while the call ran); return otherwise."""
        session_id = getattr(params, "session_id", None)
        if not isinstance(session_id, str):
            return
        try:
            await self.runtime.get_session(session_id)
        except NotFound:
            raise RpcError(ErrorCode.NOT_FOUND, f"session {session_id!r} was deleted") from None

    async def workspaces(self) -> set[str]:
        """Every workspace path the store knows (what redaction hides)."""
        return {path for path, _, _ in await self.runtime.list_workspaces()}

    # -- sessions ------------------------------------------------------------------------------

    async def session_create(self, p: rpc.SessionCreateParams, caller: Caller) -> rpc.SessionResult:
        workspace = _existing_folder(p.workspace)
        model = p.model or default_model()
        self.runtime.model(model)  # fail now on a missing key, not at the first turn
        session = await self.runtime.create_session(workspace, model, p.mode or "default", p.title or "")
        return rpc.SessionResult(session=session)

    async def session_list(self, p: rpc.SessionListParams, caller: Caller) -> rpc.SessionListResult:
        workspace = Path(p.workspace) if p.workspace else None
        sessions, cursor = await self.runtime.list_sessions(workspace, p.limit, p.cursor, p.query, p.parent_session_id)
        return rpc.SessionListResult(sessions=sessions, next_cursor=cursor)

    async def session_get(self, p: rpc.SessionIdParams, caller: Caller) -> rpc.SessionResult:
        return rpc.SessionResult(session=await self.runtime.get_session(p.session_id))

    async def session_update(self, p: rpc.SessionUpdateParams, caller: Caller) -> rpc.SessionResult:
        if p.model:
            self.runtime.model(p.model)
        session = await self.runtime.update_session(p.session_id, title=p.title, model=p.model, mode=p.mode)
        return rpc.SessionResult(session=session)

    async def session_delete(self, p: rpc.SessionIdParams, caller: Caller) -> rpc.Empty:
        await self.runtime.delete_session(p.session_id)
        return rpc.Empty()

    async def session_fork(self, p: rpc.SessionForkParams, caller: Caller) -> rpc.SessionResult:
        return rpc.SessionResult(session=await self.runtime.fork_session(p.session_id, p.turn_id))

    # -- turns ---------------------------------------------------------------------------------

    async def turn_start(self, p: rpc.TurnStartParams, caller: Caller) -> rpc.TurnStartResult:
        started = await self.runtime.start_turn(p.session_id, _text(p.input), client_message_id=p.client_message_id)
        return rpc.TurnStartResult(turn_id=started.turn_id, replayed=started.replayed)

    async def turn_steer(self, p: rpc.TurnSteerParams, caller: Caller) -> rpc.TurnSteerResult:
        return rpc.TurnSteerResult(turn_id=await self.runtime.steer(p.session_id, _text(p.input)))

    async def turn_interrupt(self, p: rpc.SessionIdParams, caller: Caller) -> rpc.TurnInterruptResult:
        await self.runtime.get_session(p.session_id)
        return rpc.TurnInterruptResult(interrupted=await self.runtime.interrupt(p.session_id))

    async def approval_respond(self, p: rpc.ApprovalRespondParams, caller: Caller) -> rpc.ApprovalRespondResult:
        plan = None  # a plan approval's edited steps and the mode to carry it out in
        if p.edited_plan is not None or p.mode is not None:
            plan = PlanAnswer(tuple(p.edited_plan) if p.edited_plan is not None else None, p.mode)
        if p.approval_id is not None:
            await self.runtime.answer_approval(p.approval_id, p.decision, p.reason, plan=plan, answered_by=caller.client)
            return rpc.ApprovalRespondResult()
        errors = await self.runtime.answer_approvals(p.approval_ids or [], p.decision, p.reason, plan=plan,
                                                     answered_by=caller.client)
        return rpc.ApprovalRespondResult(results=[
            rpc.ApprovalAnswer(approval_id=i, answered=e is None, error=e)
            for i, e in zip(p.approval_ids or [], errors, strict=True)
        ])

    # -- runs (cowork.jobs) ----------------------------------------------------------------------

    async def run_submit(self, p: rpc.RunSubmitParams, caller: Caller) -> rpc.RunResult:
        workspace = _existing_folder(p.workspace)
        if p.model:
            self.runtime.model(p.model)  # fail now on a missing key, not when the run starts
        run = await self.runs.submit(workspace, p.prompt, model=p.model, mode=p.mode, title=p.title,
                                     session_id=p.session_id, approvals=p.approvals,
                                     approval_timeout=p.approval_timeout, allow=p.allow, deliver=p.deliver)
        return rpc.RunResult(run=run)

    async def run_list(self, p: rpc.RunListParams, caller: Caller) -> rpc.RunListResult:
        workspace = str(Path(p.workspace).resolve()) if p.workspace else None
        return rpc.RunListResult(runs=await self.runs.list(workspace=workspace, states=list(p.states), limit=p.limit))

    async def run_get(self, p: rpc.RunIdParams, caller: Caller) -> rpc.RunResult:
        return rpc.RunResult(run=await self.runs.get(p.run_id))

    async def run_cancel(self, p: rpc.RunIdParams, caller: Caller) -> rpc.RunResult:
        return rpc.RunResult(run=await self.runs.cancel(p.run_id))

    async def schedule_create(self, p: rpc.ScheduleCreateParams, caller: Caller) -> rpc.ScheduleResult:
        workspace = _existing_folder(p.workspace)
        if p.model:
            self.runtime.model(p.model)
        schedule = await self.scheduler.create(
            workspace, p.prompt, p.trigger.model_dump(mode="json"), model=p.model, mode=p.mode,
            overlap=p.overlap, missed=p.missed, approvals=p.approvals, approval_timeout=p.approval_timeout,
            allow=p.allow, session=p.session, enabled=p.enabled,
            deliver=p.deliver.model_dump(mode="json") if p.deliver else None)
        return rpc.ScheduleResult(schedule=schedule)

    async def schedule_list(self, p: rpc.ScheduleListParams, caller: Caller) -> rpc.ScheduleListResult:
        workspace = str(Path(p.workspace).resolve()) if p.workspace else None
        return rpc.ScheduleListResult(schedules=await self.scheduler.list(workspace))

    async def schedule_get(self, p: rpc.ScheduleIdParams, caller: Caller) -> rpc.ScheduleResult:
        return rpc.ScheduleResult(schedule=await self.scheduler.get(p.schedule_id))

    async def schedule_update(self, p: rpc.ScheduleUpdateParams, caller: Caller) -> rpc.ScheduleResult:
        return rpc.ScheduleResult(schedule=await self.scheduler.set_enabled(p.schedule_id, p.enabled))

    async def schedule_delete(self, p: rpc.ScheduleIdParams, caller: Caller) -> rpc.Empty:
        await self.scheduler.delete(p.schedule_id)
        return rpc.Empty()

    async def schedule_run(self, p: rpc.ScheduleIdParams, caller: Caller) -> rpc.RunResult:
        return rpc.RunResult(run=await self.scheduler.run_now(p.schedule_id))

    async def schedule_history(self, p: rpc.ScheduleHistoryParams, caller: Caller) -> rpc.ScheduleHistoryResult:
        return rpc.ScheduleHistoryResult(fires=await self.scheduler.history(p.schedule_id, p.limit))

    async def webhook_create(self, p: rpc.WebhookCreateParams, caller: Caller) -> rpc.WebhookSecretResult:
        workspace = _existing_folder(p.workspace)
        if p.model:
            self.runtime.model(p.model)
        webhook, secret = await self.webhooks.create(
            workspace, p.prompt, model=p.model, mode=p.mode, approvals=p.approvals,
            approval_timeout=p.approval_timeout, allow=p.allow, session=p.session, auth=p.auth,
            rate_per_minute=p.rate_per_minute, deliver=p.deliver.model_dump(mode="json") if p.deliver else None)
        return rpc.WebhookSecretResult(webhook=webhook, secret=secret)

    async def webhook_list(self, p: rpc.WebhookListParams, caller: Caller) -> rpc.WebhookListResult:
        workspace = str(Path(p.workspace).resolve()) if p.workspace else None
        return rpc.WebhookListResult(webhooks=await self.webhooks.list(workspace))

    async def webhook_delete(self, p: rpc.WebhookIdParams, caller: Caller) -> rpc.Empty:
        await self.webhooks.delete(p.webhook_id)
        return rpc.Empty()

    async def webhook_rotate(self, p: rpc.WebhookIdParams, caller: Caller) -> rpc.WebhookSecretResult:
        webhook, secret = await self.webhooks.rotate(p.webhook_id)
        return rpc.WebhookSecretResult(webhook=webhook, secret=secret)

    # -- providers' keys, status ---------------------------------------------------------------

    async def keys_list(self, p: rpc.Empty, caller: Caller) -> rpc.KeysListResult:
        return rpc.KeysListResult(providers=await asyncio.to_thread(_key_statuses))

    async def keys_set(self, p: rpc.KeySetParams, caller: Caller) -> rpc.Empty:
        key = p.key.strip()
        if not key or any(c.isspace() or not c.isprintable() for c in key):
            raise RpcError(ErrorCode.INVALID_PARAMS, "an API key is one word of printable characters (no spaces)")
        await asyncio.to_thread(_key_store_call, "set", p.provider, key)
        return rpc.Empty()

    async def keys_remove(self, p: rpc.KeyParams, caller: Caller) -> rpc.KeyRemoveResult:
        return rpc.KeyRemoveResult(removed=await asyncio.to_thread(_key_store_call, "remove", p.provider))

    async def server_status(self, p: rpc.Empty, caller: Caller) -> rpc.ServerStatusResult:
        from .. import __version__
        from ..health import local_checks
        from ..sandbox import support

        checks, found = await asyncio.gather(asyncio.to_thread(local_checks), asyncio.to_thread(support))
        configured = self.runtime.settings.sandbox
        kind = None if configured == "off" or found.backend == "none" else (
            found.backend if configured == "auto" else configured)
        detail = "off (--sandbox off): commands run unconfined" if configured == "off" else (
            f"{kind} ({'automatic' if configured == 'auto' else 'configured'})" if kind else found.problem or "none")
        dialect, database = self.runtime.storage()
        problem = self.runtime.storage_problem()
        return rpc.ServerStatusResult(
            version=__version__,
            sandbox=rpc.SandboxStatus(available=kind is not None, kind=kind, detail=detail),
            store=rpc.StoreStatus(kind="postgresql" if dialect.startswith("postgres") else "sqlite",
                                  detail=problem or database, available=problem is None),
            checks=[rpc.HealthCheck(name=c.name, status=c.status, detail=c.detail, fix=c.fix) for c in checks],
        )

    # -- checkpoints ---------------------------------------------------------------------------

    async def turn_rewind(self, p: rpc.TurnRewindParams, caller: Caller) -> rpc.TurnRewindResult:
        rewound = await self.runtime.rewind_turn(p.session_id, p.turn_id, p.restore, p.force)
        return rpc.TurnRewindResult.model_validate(rewound, from_attributes=True)  # domain -> wire (same fields)

    async def checkpoint_list(self, p: rpc.CheckpointListParams, caller: Caller) -> rpc.CheckpointListResult:
        await self.runtime.get_session(p.session_id)
        return rpc.CheckpointListResult(checkpoints=await self.runtime.checkpoints.list(p.session_id, p.limit))

    async def checkpoint_diff(self, p: rpc.CheckpointDiffParams, caller: Caller) -> rpc.CheckpointDiffResult:
        diff = await self.runtime.checkpoints.diff(p.checkpoint_id, p.paths, p.to_checkpoint_id)
        return rpc.CheckpointDiffResult.model_validate(diff, from_attributes=True)

    async def checkpoint_restore(self, p: rpc.CheckpointRestoreParams, caller: Caller) -> rpc.CheckpointRestoreResult:
        restored = await self.runtime.checkpoints.restore(p.checkpoint_id, p.paths, preview=p.preview,
                                                          overwrite=p.overwrite, force=p.force)
        return rpc.CheckpointRestoreResult.model_validate(restored, from_attributes=True)

    # -- catalogue -----------------------------------------------------------------------------

    async def models_list(self, p: rpc.Empty, caller: Caller) -> rpc.ModelsListResult:
        default = default_model()
        entries = [
            rpc.ModelEntry(model=m.model, provider=parse_model(m.model).provider, usable=m.usable,
                           detail=m.detail, default=m.model == default)
            for m in configured_models()
        ]
        if not any(e.default for e in entries):
            entries.insert(0, rpc.ModelEntry(model=default, provider=parse_model(default).provider, usable=True,
                                             detail="COWORK_MODEL", default=True))
        return rpc.ModelsListResult(models=entries, default=default)

    async def tools_list(self, p: rpc.ToolsListParams, caller: Caller) -> rpc.ToolsListResult:
        session = await self.runtime.get_session(p.session_id) if p.session_id else None
        tools = self.runtime.tools(session)
        permission: dict[str, Any] = {}
        if session is not None:  # what the session's model is offered in its mode (a subagent: what it was given)
            tools = {name: t for name, t in tools.items() if offered(t, session.mode)
                     and (session.parent is None or name in session.parent.tools)}
            allowed = await self.runtime.allowed_tools(session.id)
            policy = await asyncio.to_thread(load_policy, Path(session.workspace))
            mode = policy_mode(session.mode)
            permission = {t.name: "ask" if isinstance(t.traits, PlanTraits)  # a plan always asks a person
                          else policy.tool_outcome(t.name, mutating=t.mutating, mode=mode, session=allowed)
                          for t in tools.values()}
        return rpc.ToolsListResult(tools=[
            rpc.ToolEntry(
                name=t.name, description=t.description, parameters=t.parameters_schema(), mutating=t.mutating,
                permission=permission.get(t.name), turn_only=t.traits.turn_only,
            )
            for t in tools.values()
        ])

    async def tool_call(self, p: rpc.ToolCallParams, caller: Caller) -> rpc.ToolCallResult:
        turn_id, item = await self.runtime.call_tool(p.session_id, p.name, p.arguments)
        return rpc.ToolCallResult(turn_id=turn_id, item=item)

    async def session_context(self, p: rpc.SessionIdParams, caller: Caller) -> rpc.SessionContextResult:
        sections = await self.runtime.context(await self.runtime.get_session(p.session_id))
        return rpc.SessionContextResult(sections=[
            rpc.ContextEntry(kind=s.kind, title=s.title, source=s.source, chars=len(s.text), truncated=s.truncated)
            for s in sections
        ])

    async def workspace_list(self, p: rpc.Empty, caller: Caller) -> rpc.WorkspaceListResult:
        return rpc.WorkspaceListResult(workspaces=[
            rpc.WorkspaceEntry(path=path, session_count=count, last_active_at=last)
            for path, count, last in await self.runtime.list_workspaces()
        ])

    # -- skills (the "skills" extension's service, when the server has it) ------------------------

    async def _skills_workspace(self, p: rpc.SkillsListParams) -> Path | None:
        if p.session_id:
            return Path((await self.runtime.get_session(p.session_id)).workspace)
        return _existing_folder(p.workspace) if p.workspace else None

    def _skills_service(self) -> Any:
        extension = self.runtime.extension("skills")
        return extension.service if extension is not None else None

    async def skills_list(self, p: rpc.SkillsListParams, caller: Caller) -> rpc.SkillsListResult:
        workspace = await self._skills_workspace(p)
        service = self._skills_service()
        entries = await asyncio.to_thread(service.entries, workspace) if service is not None else []
        return rpc.SkillsListResult(skills=[rpc.SkillEntry(**e) for e in entries])

    async def skills_get(self, p: rpc.SkillsGetParams, caller: Caller) -> rpc.SkillsGetResult:
        workspace = await self._skills_workspace(p)
        service = self._skills_service()
        catalog = await asyncio.to_thread(service.catalog, workspace) if service is not None else None
        skill = catalog.get(p.name) if catalog is not None else None
        if skill is None:
            known = ", ".join(s.name for s in catalog.skills) if catalog is not None else ""
            raise RpcError(ErrorCode.NOT_FOUND, f"no skill named {p.name!r} (skills: {known or 'none'})")
        entry = next(e for e in catalog.entries() if e["path"] == str(skill.path) and not e["shadowed_by"])
        message = service.message(skill, p.request) if p.request is not None else ""
        return rpc.SkillsGetResult(skill=rpc.SkillEntry(**entry), body=skill.rendered_body(), message=message)

    # -- MCP servers (the "mcp" extension's service, when the server has it) ---------------------

    @staticmethod
    @contextlib.contextmanager
    def _unknown_server() -> Iterator[None]:
        """The MCP service's LookupError (an unknown server name) is the protocol's NOT_FOUND."""
        try:
            yield
        except LookupError as exc:
            raise RpcError(ErrorCode.NOT_FOUND, str(exc.args[0] if exc.args else exc)) from None

    def _mcp(self, required: bool = True) -> Any:
        extension = self.runtime.extension("mcp")
        if extension is None or extension.service is None:
            if required:
                raise RpcError(ErrorCode.NOT_FOUND, "this cowork server has no MCP client (no mcp extension)")
            return None
        return extension.service

    @staticmethod
    def _mcp_workspace(workspace: str | None) -> Path | None:
        if workspace is None:
            return None
        if not Path(workspace).is_absolute():
            raise RpcError(ErrorCode.INVALID_PARAMS, f"workspace must be an absolute path, not {workspace!r}")
        if not Path(workspace).is_dir():
            raise RpcError(ErrorCode.NOT_FOUND, f"workspace {workspace} is not an existing folder")
        return Path(workspace).resolve()

    async def mcp_list(self, p: rpc.McpListParams, caller: Caller) -> rpc.McpListResult:
        service = self._mcp(required=False)
        workspace = self._mcp_workspace(p.workspace)
        return rpc.McpListResult(servers=await service.list(workspace) if service is not None else [])

    async def mcp_restart(self, p: rpc.McpServerParams, caller: Caller) -> rpc.McpServerResult:
        service = self._mcp()
        with self._unknown_server():
            return rpc.McpServerResult(server=await service.restart(p.name, self._mcp_workspace(p.workspace)))

    async def mcp_enable(self, p: rpc.McpEnableParams, caller: Caller) -> rpc.McpServerResult:
        service = self._mcp()
        with self._unknown_server():
            return rpc.McpServerResult(server=await service.enable(p.name, p.enabled, self._mcp_workspace(p.workspace)))

    async def mcp_approve(self, p: rpc.McpApproveParams, caller: Caller) -> rpc.McpServerResult:
        service = self._mcp()
        workspace = self._mcp_workspace(p.workspace)
        assert workspace is not None
        with self._unknown_server():
            return rpc.McpServerResult(server=await service.approve(p.name, workspace))

    async def mcp_prompts(self, p: rpc.McpListParams, caller: Caller) -> rpc.McpPromptsResult:
        service = self._mcp(required=False)
        workspace = self._mcp_workspace(p.workspace)
        return rpc.McpPromptsResult(prompts=await service.prompts(workspace) if service is not None else [])

    async def mcp_prompt(self, p: rpc.McpPromptParams, caller: Caller) -> rpc.McpPromptResult:
        service = self._mcp()
        with self._unknown_server():
            return await service.prompt(p.server, p.name, p.arguments, self._mcp_workspace(p.workspace))


__all__ = ["Service", "rpc_errors"]


def _key_statuses() -> list[rpc.KeyStatus]:
    """Each provider that takes a key: whether it has one and where from — never the key."""
    entries = []
    for provider, variables in KEY_VARIABLES.items():
        try:
            found = provider_key(provider)
        except SecretStoreError as exc:  # an unusable store: say so, the environment still counts
            found, problem = None, exc.problem
        else:
            problem = None
        source = None if found is None else "store" if found[1] == "store" else "env"
        detail = (f"key from {found[1]}" if source == "env" else "stored, encrypted" if source == "store"
                  else problem or f"no key: set {variables[0]} or store one")
        entries.append(rpc.KeyStatus(provider=provider, key_variable=variables[0], has_key=found is not None,
                                         source=source, detail=detail))
    return entries


def _key_store_call(action: str, provider: str, key: str | None = None) -> bool:
    """``set`` or ``remove`` in the encrypted key store. Raises RpcError: -32602 for a provider
    that takes no key, -32603 for an unusable store (its message names the file and the fix)."""
    if provider not in KEY_VARIABLES:
        raise RpcError(ErrorCode.INVALID_PARAMS, f"unknown provider {provider!r}: keys are kept for "
                                                 f"{', '.join(KEY_VARIABLES)}")
    try:
        store = secret_store()
        if action == "set":
            store.set(provider, key or "")
            return True
        return store.remove(provider)
    except SecretStoreError as exc:
        raise RpcError(ErrorCode.INTERNAL_ERROR, str(exc)) from None
