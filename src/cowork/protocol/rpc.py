"""The methods of the protocol: JSON-RPC 2.0 (https://www.jsonrpc.org/specification) requests,
their parameters and results, and the error codes.

Naming on the wire: method parameters and result envelopes are camelCase (``sessionId``,
``afterSeq``); the objects they carry — sessions, events, items — are the snake_case models of
:mod:`cowork.protocol`, exactly as journaled. Unknown parameters are an error (``-32602``), so a
typo never passes silently.

:data:`METHODS` maps every method name to its parameter and result models; the server dispatches
with it, the SDK types its calls with it, and ``cowork protocol schema`` exports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from .checkpoints import CheckpointInfo, FileChange, NotRestored, RestoreTarget
from .events import ApprovalDecision
from .items import ToolCall
from .runs import Deliver, RunApprovals, RunInfo, RunState
from .schedules import Missed, Overlap, ScheduleFire, ScheduleInfo, Trigger
from .webhooks import WebhookAuth, WebhookInfo
from .memory import MAX_MEMORY_CHARS, MemoryHit, MemoryInfo, MemoryKind, MemoryScope, SearchMode
from .sessions import Mode, SessionInfo

PROTOCOL_VERSION = "1"
"""Version of the method set. A server answers ``initialize`` with its own version; a client
that does not speak it should disconnect."""


# -- limits (docs/protocol.md#limits): strings and lists a request may carry ---------------------

MAX_SEQ = 2**63 - 1
"""Largest ``seq`` (and ``afterSeq``): the signed 64-bit range the store keeps."""
MAX_TITLE_CHARS = 500
"""Longest session title, in characters."""
MAX_TEXT_CHARS = 1024 * 1024
"""Longest text of one input part, in characters (a message that long still fits a 4 MiB request)."""
MAX_INPUT_PARTS = 100
MAX_ID_CHARS = 200
MAX_PATH_CHARS = 4096
MAX_PATHS = 1000
MAX_PLAN_STEPS = 20
"""Most steps of a plan (``propose_plan``, ``editedPlan``)."""
MAX_PLAN_STEP_CHARS = 500
"""Longest step of a plan, in characters."""

Id = Annotated[str, Field(max_length=MAX_ID_CHARS)]
"""A session, turn, approval or checkpoint id (or a prefix of one)."""
Title = Annotated[str, Field(max_length=MAX_TITLE_CHARS)]
ModelName = Annotated[str, Field(max_length=200, description="'provider:model'")]
PathText = Annotated[str, Field(max_length=MAX_PATH_CHARS)]


class Wire(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields are refused."""

    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_name=True, validate_by_alias=True, serialize_by_alias=True,
        extra="forbid",
    )


class Empty(Wire):
    """No parameters / an empty result."""


# -- initialize --------------------------------------------------------------------------------


class ClientInfo(Wire):
    model_config = ConfigDict(extra="allow")
    name: str = Field(max_length=200)
    version: str | None = Field(default=None, max_length=200)


EVENT_BATCH_MAX = 500
"""At most this many ``event`` notifications in one batch frame."""


class ClientCapabilities(Wire):
    event_batches: bool = Field(
        default=False,
        description="The client accepts several `event` notifications in one frame, as a JSON-RPC 2.0 batch "
                    f"(an array of up to {EVENT_BATCH_MAX} notifications, in seq order). The server then sends "
                    "a replay, and live events that are ready together, in batches.")


class InitializeParams(Wire):
    protocol_version: str = Field(max_length=32, description="The protocol version the client speaks, e.g. '1'.")
    client_info: ClientInfo
    capabilities: ClientCapabilities = Field(default_factory=ClientCapabilities)
    auth_token: str | None = Field(
        default=None, max_length=1000, description="Bearer token, for clients that cannot set an Authorization header.")


class ServerInfo(Wire):
    name: str
    version: str


class Capabilities(Wire):
    methods: list[str] = Field(description="Every method this server answers.")
    read_only: bool = Field(description="True when this connection's token is read-only.")
    turn_start_while_running: Literal["refused"] = Field(
        default="refused",
        description="A turn/start while the session has a running turn is refused (-32010); "
                    "use turn/steer to add to the running turn.")
    max_request_bytes: int = Field(description="Requests larger than this get -32600.")
    event_batches: bool = Field(
        default=False, description="True when this connection gets `event` notifications in batches (the client asked).")


class InitializeResult(Wire):
    protocol_version: str
    server_info: ServerInfo
    capabilities: Capabilities


# -- sessions ----------------------------------------------------------------------------------


class SessionCreateParams(Wire):
    workspace: PathText = Field(description="Absolute path of an existing folder.")
    model: ModelName | None = Field(default=None, description="'provider:model'; default: the server's default model.")
    title: Title | None = None
    mode: Mode | None = None


class SessionResult(Wire):
    session: SessionInfo


class SessionListParams(Wire):
    workspace: PathText | None = Field(default=None, description="Only sessions of this workspace.")
    cursor: str | None = Field(default=None, max_length=1000, description="nextCursor of the previous page.")
    limit: int = Field(default=50, ge=1, le=500)
    query: str | None = Field(default=None, max_length=200,
                              description="Only sessions whose title contains this (ASCII letters case-insensitively).")
    parent_session_id: Id | None = Field(default=None, description="List the subagents of this session instead "
                                         "(those are left out otherwise).")


class SessionListResult(Wire):
    sessions: list[SessionInfo] = Field(description="Newest first (by creation).")
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null on the last page.")


class SessionIdParams(Wire):
    session_id: Id


class SessionUpdateParams(Wire):
    session_id: Id
    title: Title | None = None
    model: ModelName | None = None
    mode: Mode | None = None


class SessionForkParams(Wire):
    session_id: Id
    turn_id: Id | None = Field(
        default=None, description="Keep the conversation up to and including this turn; default: all of it.")


class SubscribeParams(Wire):
    session_id: Id
    after_seq: int = Field(default=0, ge=0, le=MAX_SEQ, description="Replay journaled events with a greater seq first.")


class SubscribeResult(Wire):
    last_seq: int = Field(description="The newest committed seq when the subscription began.")


# -- turns -------------------------------------------------------------------------------------


class TextInput(Wire):
    type: Literal["text"] = "text"
    text: str = Field(max_length=MAX_TEXT_CHARS)


InputPart = Annotated[TextInput, Field(discriminator="type")]


class TurnStartParams(Wire):
    session_id: Id
    input: list[InputPart] = Field(min_length=1, max_length=MAX_INPUT_PARTS)
    client_message_id: str | None = Field(
        default=None, max_length=200,
        description="Makes the call idempotent: a retry with the same id returns the same turn.")


class TurnStartResult(Wire):
    turn_id: str
    replayed: bool = Field(description="True when clientMessageId matched a turn already started.")


class TurnSteerParams(Wire):
    session_id: Id
    input: list[InputPart] = Field(min_length=1, max_length=MAX_INPUT_PARTS)


class TurnSteerResult(Wire):
    turn_id: str = Field(description="The running turn the message was added to.")


class TurnInterruptResult(Wire):
    interrupted: bool = Field(description="False when no turn was running.")


# -- approvals ---------------------------------------------------------------------------------


class ApprovalAnswerFields(Wire):
    """A person's answer to an approval (the fields ``approval/respond`` and the REST routes share)."""

    decision: ApprovalDecision
    reason: str | None = Field(default=None, max_length=4000, description="Passed to the model on deny.")
    edited_plan: list[Annotated[str, Field(max_length=MAX_PLAN_STEP_CHARS)]] | None = Field(
        default=None, min_length=1, max_length=MAX_PLAN_STEPS,
        description="Only for a plan approval (docs/protocol.md, \"Plan mode\") answered `once`: the steps as the "
                    "person edited them, in order; they replace the model's and are what is carried out. Each "
                    f"step is non-empty (surrounding blanks are dropped); 1 to {MAX_PLAN_STEPS} steps.")
    mode: Mode | None = Field(
        default=None,
        description="Only for a plan approval answered `once`: the mode the session switches to for carrying "
                    "the plan out (not `plan`); default `default`.")

    @model_validator(mode="after")
    def _plan_answer(self) -> ApprovalAnswerFields:
        if self.edited_plan is not None:
            steps = [step.strip() for step in self.edited_plan]
            empty = [str(i + 1) for i, step in enumerate(steps) if not step]
            if empty:
                raise ValueError(f"editedPlan step {', '.join(empty)} is empty; describe each step or leave it out")
            self.edited_plan = steps
        if (self.edited_plan is not None or self.mode is not None) and self.decision != "once":
            raise ValueError("editedPlan and mode answer a plan approved with decision 'once', "
                             f"not {self.decision!r}")
        if self.mode == "plan":
            raise ValueError("mode is the mode the plan is carried out in; it cannot be 'plan'")
        return self


class ApprovalRespondParams(ApprovalAnswerFields):
    approval_id: Id | None = Field(default=None, description="The approval to answer (or give approvalIds).")
    approval_ids: list[Id] | None = Field(
        default=None, min_length=1, max_length=100,
        description="Several pending approvals answered alike, each on its own (instead of approvalId).")

    @model_validator(mode="after")
    def _one_form(self) -> ApprovalRespondParams:
        if (self.approval_id is None) == (self.approval_ids is None):
            raise ValueError("give exactly one of approvalId and approvalIds")
        return self


class ApprovalAnswer(Wire):
    approval_id: str
    answered: bool = Field(description="False when this approval was not answered (see error).")
    error: str | None = Field(default=None, description="Why it was not: not pending, or the decision is not offered.")


class ApprovalRespondResult(Wire):
    results: list[ApprovalAnswer] | None = Field(
        default=None, exclude_if=lambda v: v is None,
        description="With approvalIds: one entry per id, in order (absent with approvalId: `{}`).")


# -- checkpoints (docs/checkpoints.md) ---------------------------------------------------------


class CheckpointListParams(Wire):
    session_id: Id
    limit: int = Field(default=200, ge=1, le=1000)


class CheckpointListResult(Wire):
    checkpoints: list[CheckpointInfo] = Field(description="Newest first.")


class CheckpointDiffParams(Wire):
    checkpoint_id: Id
    paths: list[PathText] | None = Field(default=None, max_length=MAX_PATHS,
                                         description="Only these files or folders (relative or absolute).")
    to_checkpoint_id: Id | None = Field(
        default=None, description="Compare with this checkpoint (of the same workspace) instead of the workspace now.")


class CheckpointDiffResult(Wire):
    checkpoint: CheckpointInfo
    changes: list[FileChange]
    not_restorable: list[NotRestored] = Field(description="Differences a restore cannot undo, and why.")


class CheckpointRestoreParams(Wire):
    checkpoint_id: Id
    paths: list[PathText] | None = Field(default=None, max_length=MAX_PATHS,
                                         description="Only these files or folders; default: everything.")
    preview: bool = Field(default=True, description="Only say what would change (the default); false applies it.")
    overwrite: list[PathText] = Field(default_factory=list, max_length=MAX_PATHS,
                                      description="Conflicting paths the person agreed to lose.")
    force: bool = Field(default=False, description="Overwrite every conflicting path.")


class CheckpointRestoreResult(Wire):
    preview: bool
    changes: list[FileChange] = Field(description="What differs (what a restore changes), with diffs.")
    conflicts: list[str] = Field(description="Paths a person edited since the agent's last change.")
    restored: list[str] = Field(default_factory=list, description="Paths changed back (empty in a preview).")
    skipped: list[str] = Field(default_factory=list, description="Conflicts left alone (not confirmed).")
    not_restored: list[NotRestored] = Field(default_factory=list,
                                            description="Paths that could not be brought back, and why.")
    checkpoint_id: str | None = Field(
        default=None, description="The checkpoint taken just before applying: restore it to undo this restore.")


class TurnRewindParams(Wire):
    session_id: Id
    turn_id: Id = Field(description="Go back to before this turn: it and every later turn are rewound.")
    restore: RestoreTarget = "both"
    force: bool = Field(default=False, description="With code: overwrite files a person edited too.")


class TurnRewindResult(Wire):
    rewound_turn_ids: list[str] = Field(description="Turns dropped from the model's history (conversation, both).")
    files: CheckpointRestoreResult | None = Field(
        default=None, description="The restore of the turn's checkpoint (code, both); null when not asked.")


# -- catalogue ---------------------------------------------------------------------------------


class ModelEntry(Wire):
    model: str = Field(description="'provider:model'")
    provider: str
    usable: bool = Field(description="Configured (key present, or needs none).")
    detail: str
    default: bool


class ModelsListResult(Wire):
    models: list[ModelEntry]
    default: str


class ToolsListParams(Wire):
    session_id: Id | None = Field(default=None, description="Include what the session's policy decides.")


class ToolEntry(Wire):
    name: str
    description: str
    parameters: dict[str, Any] = Field(description="JSON Schema of the arguments.")
    mutating: bool = Field(description="Can change the workspace.")
    permission: Literal["allow", "ask", "deny"] | None = Field(
        default=None, description="The session's policy for this tool (only with sessionId).")
    turn_only: bool = Field(default=False, description="Only a model's turn can call it (it acts on that turn: "
                            "spawn_agent and the other subagent tools); tool/call refuses it.")


class ToolsListResult(Wire):
    tools: list[ToolEntry]


class ToolCallParams(Wire):
    session_id: Id
    name: str = Field(max_length=200, description="A tool the session is offered (tools/list with sessionId).")
    arguments: dict[str, Any] = Field(default_factory=dict,
                                      description="The tool's arguments (its `parameters` schema in tools/list).")


class ToolCallResult(Wire):
    turn_id: str = Field(description="The turn of its own the call was journaled in; turn/rewind with restore "
                                     "`code` undoes what it changed.")
    item: ToolCall = Field(description="The finished tool_call item: status (`completed`, `failed`, `denied`, "
                                       "`interrupted`), output (what a model would read), summary, metadata.")


class WorkspaceEntry(Wire):
    path: str
    session_count: int
    last_active_at: AwareDatetime | None


class WorkspaceListResult(Wire):
    workspaces: list[WorkspaceEntry] = Field(description="Most recently active first.")


class ContextEntry(Wire):
    kind: str = Field(description="What it is: 'agents_md', 'skills', ...")
    title: str = Field(description="A short name for people ('Project instructions').")
    source: str = Field(description="Where it came from: a file's absolute path, 'builtin', or '' when it is "
                                    "made from several places (the skills list, the MCP servers' note).")
    chars: int = Field(description="Characters of text the model reads.")
    truncated: bool = Field(description="The text was cut to its size cap (a visible '[truncated]' mark ends it).")


class SessionContextResult(Wire):
    sections: list[ContextEntry] = Field(
        description="What a turn of the session loads into its instructions now, in order "
                    "(AGENTS.md files, the skills list...).")


class SkillsListParams(Wire):
    session_id: Id | None = Field(default=None, description="The skills a turn of this session sees (its workspace's).")
    workspace: PathText | None = Field(default=None, description="The skills of this folder (absolute path). "
                                       "With neither, the user's and the builtin ones only.")


class SkillEntry(Wire):
    name: str
    description: str = Field(description="Empty for an invalid skill.")
    scope: Literal["workspace", "user", "builtin"] = Field(
        description="Where it was found: the workspace's .cowork/skills or .agents/skills, $COWORK_HOME/skills, "
                    "or the skills cowork ships. The nearer one wins a name clash.")
    path: str = Field(description="The skill's folder.")
    shadowed_by: str | None = Field(default=None, description="The folder of the nearer skill of the same name "
                                    "that hides this one (it is not offered).")
    shadows: list[str] = Field(default_factory=list, description="The folders of the skills this one hides.")
    errors: list[str] = Field(default_factory=list, description="Why the skill is invalid (it is never offered); "
                              "empty when it is valid.")


class SkillsListResult(Wire):
    skills: list[SkillEntry] = Field(description="Offered skills (nearest scope first), then shadowed ones, "
                                     "then invalid ones.")


class SkillsGetParams(SkillsListParams):
    name: str = Field(max_length=200, description="An offered skill's name.")
    request: str | None = Field(default=None, max_length=MAX_TEXT_CHARS,
                                description="What the person asked with `/NAME REQUEST`: the answer's `message` "
                                            "is then the turn text that invokes the skill directly.")


class SkillsGetResult(Wire):
    skill: SkillEntry
    body: str = Field(description="Its instructions: SKILL.md after the front matter, {python} and {skill_dir} "
                                  "replaced (what the skill tool gives the model).")
    message: str = Field(default="", description="With `request`: the user message of a direct invocation (use "
                                                 "skill NAME for REQUEST, its instructions attached), for turn/start.")


class McpListParams(Wire):
    workspace: PathText | None = Field(default=None, description="Also this folder's project servers (absolute "
                                       "path: its .mcp.json and .cowork/mcp.json). Without it, the user's only.")


class McpServerEntry(Wire):
    name: str
    scope: Literal["user", "project"] = Field(description="$COWORK_HOME/mcp.json, or the workspace's files.")
    source: str = Field(description="The config file it comes from.")
    transport: Literal["stdio", "http", "sse"] | None = Field(
        default=None, description="What it speaks (the one that worked, for a URL without a type); None when invalid.")
    status: Literal["starting", "ready", "failed", "disabled", "needs_approval", "untrusted"] = Field(
        description="needs_approval: a project server not approved for this workspace (mcp/approve); untrusted: "
                    "its workspace is not trusted (cowork trust).")
    error: str | None = Field(default=None, description="Why it failed or may not run.")
    tools: list[str] = Field(default_factory=list, description="Its tools as the model sees them (mcp__SERVER__TOOL).")
    log_path: str | None = Field(default=None, description="Its stderr and connection log.")
    enabled: bool = True


class McpListResult(Wire):
    servers: list[McpServerEntry] = Field(description="In config order, user servers first.")


class McpServerParams(Wire):
    name: str = Field(max_length=200, description="A configured server's name.")
    workspace: PathText | None = Field(default=None, description="The folder whose servers are meant (absolute path).")


class McpEnableParams(McpServerParams):
    enabled: bool = Field(description="Written into the server's config file; it starts or stops.")


class McpApproveParams(Wire):
    name: str = Field(max_length=200, description="A project server of the workspace.")
    workspace: PathText = Field(description="The workspace (absolute path) it is approved for, as configured now.")


class McpServerResult(Wire):
    server: McpServerEntry


class McpPromptArgument(Wire):
    name: str
    description: str = ""
    required: bool = False


class McpPromptEntry(Wire):
    server: str
    name: str
    command: str = Field(description="Its slash command without the slash: mcp__SERVER__PROMPT.")
    description: str = ""
    arguments: list[McpPromptArgument] = Field(default_factory=list)


class McpPromptsResult(Wire):
    prompts: list[McpPromptEntry]


class McpPromptParams(Wire):
    server: str = Field(max_length=200)
    name: str = Field(max_length=200, description="The prompt's name as the server gives it.")
    arguments: dict[str, str] = Field(default_factory=dict)
    workspace: PathText | None = None


class McpPromptMessage(Wire):
    role: Literal["user", "assistant"]
    text: str = Field(description="The message's text (an image or audio block as a [placeholder]).")


class McpPromptResult(Wire):
    description: str = ""
    messages: list[McpPromptMessage]
    text: str = Field(description="The messages' text joined: what a client sends as the user's turn.")


# -- the method table ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Method:
    params: type[Wire]
    result: type[Wire]
    mutating: bool
    """Refused to read-only tokens."""
    summary: str


# -- providers, status -------------------------------------------------------------------------


class KeyStatus(Wire):
    provider: str
    key_variable: str = Field(description="The environment variable read first for its key, e.g. OPENAI_API_KEY.")
    has_key: bool
    source: Literal["env", "store"] | None = Field(
        description="Where the key comes from: an environment variable (it wins), the encrypted store, or none.")
    detail: str = Field(description="For people: the variable that holds the key, or how to give one.")


class KeysListResult(Wire):
    providers: list[KeyStatus]


class KeySetParams(Wire):
    provider: str = Field(max_length=40)
    key: str = Field(min_length=1, max_length=4096, description="The API key; never logged, echoed or sent back.")


class KeyParams(Wire):
    provider: str = Field(max_length=40)


class KeyRemoveResult(Wire):
    removed: bool = Field(description="False when no key was stored (an environment variable is not touched).")


class HealthCheck(Wire):
    name: str
    status: Literal["ok", "warn", "fail"]
    detail: str
    fix: str


class SandboxStatus(Wire):
    available: bool
    kind: str | None = Field(description="'bwrap' or 'landlock': what bash commands run in; null when none.")
    detail: str


class StoreStatus(Wire):
    kind: Literal["sqlite", "postgresql"]
    detail: str = Field(description="The database (password hidden), or why it stopped.")
    available: bool


class ServerStatusResult(Wire):
    version: str
    sandbox: SandboxStatus
    store: StoreStatus
    checks: list[HealthCheck] = Field(description="The local checks of `cowork doctor` (no network).")


# -- runs (docs/automation.md) -----------------------------------------------------------------

MAX_RUN_RULES = 100
"""Most pre-granted rules (``allow``) one run may carry."""


class RunSubmitParams(Wire):
    workspace: PathText = Field(description="Absolute path of an existing folder.")
    prompt: str = Field(min_length=1, max_length=MAX_TEXT_CHARS, description="What the run's turn is asked to do.")
    model: ModelName | None = Field(default=None, description="'provider:model'; default: the server's default model.")
    mode: Mode | None = Field(default=None, description="The mode of a new session (default: default).")
    title: Title | None = Field(default=None, description="A new session's title (default: the prompt's start).")
    session_id: Id | None = Field(default=None, description="Continue this session (of the same workspace) "
                                  "instead of starting a new one.")
    approvals: RunApprovals = Field(default="wait", description="What happens to a call the policy asks about "
                                    "(docs/automation.md): deny at once, or wait up to approvalTimeout.")
    approval_timeout: float = Field(default=1800.0, ge=0, le=7 * 86400,
                                    description="Seconds a `wait` approval stays pending before it is denied.")
    allow: list[Annotated[str, Field(min_length=1, max_length=1000)]] = Field(
        default_factory=list, max_length=MAX_RUN_RULES,
        description="Pre-granted \"always in this session\" patterns (`bash:git status`, `write`, `path:docs/**`, "
                    "`web_fetch:example.com`): calls they cover run without asking.")
    deliver: Deliver | None = Field(default=None, description="Where the run's outcome goes (webhook, email).")


class RunResult(Wire):
    run: RunInfo


class RunIdParams(Wire):
    run_id: Id


class RunListParams(Wire):
    workspace: PathText | None = Field(default=None, description="Only runs of this workspace.")
    states: list[RunState] = Field(default_factory=list, max_length=7, description="Only runs in these states.")
    limit: int = Field(default=50, ge=1, le=500)


class RunListResult(Wire):
    runs: list[RunInfo] = Field(description="Newest first.")


class RunSubscribeParams(Wire):
    workspace: PathText | None = Field(default=None, description="Only runs of this workspace.")
    limit: int = Field(default=50, ge=0, le=500, description="How many of the newest runs the answer lists.")


class RunUpdatedParams(Wire):
    """The params of a ``run.updated`` notification: a run as it stands after a change."""

    run: RunInfo


# -- schedules (docs/automation.md) ------------------------------------------------------------


class ScheduleCreateParams(Wire):
    workspace: PathText = Field(description="Absolute path of an existing folder.")
    prompt: str = Field(min_length=1, max_length=MAX_TEXT_CHARS, description="What each run is asked to do.")
    trigger: Trigger = Field(description="{cron, timezone} | {every} (seconds) | {at} (an aware time).")
    model: ModelName | None = Field(default=None, description="'provider:model'; default: the server's default model.")
    mode: Mode = "default"
    overlap: Overlap = Field(default="skip", description="A fire while the previous run still goes: skip, queue, cancel.")
    missed: Missed = Field(default="once", description="Fires missed while no server ran: skip, once, each.")
    approvals: RunApprovals = Field(default="wait", description="Each run's approval policy (as run/submit).")
    approval_timeout: float = Field(default=1800.0, ge=0, le=7 * 86400)
    allow: list[Annotated[str, Field(min_length=1, max_length=1000)]] = Field(
        default_factory=list, max_length=MAX_RUN_RULES, description="Pre-granted patterns of each run (as run/submit).")
    session: Literal["new", "continue"] = Field(default="new", description="Each run in a new session, or all in one.")
    enabled: bool = True
    deliver: Deliver | None = Field(default=None, description="Where each run's outcome goes (as run/submit).")


class ScheduleResult(Wire):
    schedule: ScheduleInfo


class ScheduleIdParams(Wire):
    schedule_id: Id


class ScheduleListParams(Wire):
    workspace: PathText | None = Field(default=None, description="Only schedules of this workspace.")


class ScheduleListResult(Wire):
    schedules: list[ScheduleInfo] = Field(description="Oldest first.")


class ScheduleUpdateParams(Wire):
    schedule_id: Id
    enabled: bool = Field(description="false pauses the schedule; true resumes it (counting from now).")


class ScheduleHistoryParams(Wire):
    schedule_id: Id
    limit: int = Field(default=50, ge=1, le=500)


class ScheduleHistoryResult(Wire):
    fires: list[ScheduleFire] = Field(description="Newest first.")


# -- webhooks (docs/automation.md) -------------------------------------------------------------


class WebhookCreateParams(Wire):
    workspace: PathText = Field(description="Absolute path of an existing folder.")
    prompt: str = Field(min_length=1, max_length=MAX_TEXT_CHARS,
                        description="The runs' prompt template ({{payload.…}} reads the request's JSON body).")
    model: ModelName | None = None
    mode: Mode = "default"
    approvals: RunApprovals = "wait"
    approval_timeout: float = Field(default=1800.0, ge=0, le=7 * 86400)
    allow: list[Annotated[str, Field(min_length=1, max_length=1000)]] = Field(default_factory=list,
                                                                            max_length=MAX_RUN_RULES)
    session: Literal["new", "continue"] = "new"
    auth: WebhookAuth = Field(default="hmac", description="hmac (X-Hub-Signature-256) or header "
                              "(X-Cowork-Webhook-Secret).")
    rate_per_minute: int = Field(default=30, ge=1, le=10_000)
    deliver: Deliver | None = Field(default=None, description="Where each run's outcome goes (as run/submit).")


class WebhookSecretResult(Wire):
    webhook: WebhookInfo
    secret: str = Field(description="The webhook's secret: shown this once (webhook/rotate makes a new one).")


class WebhookIdParams(Wire):
    webhook_id: Id


class WebhookListParams(Wire):
    workspace: PathText | None = None


class WebhookListResult(Wire):
    webhooks: list[WebhookInfo]


# -- memory (docs/memory.md) -------------------------------------------------------------------


class MemoryIndexStatus(Wire):
    model: str | None = Field(description="The embedding model and version; null while it loads or when none is installed.")
    state: Literal["ready", "loading", "indexing", "unavailable"] = Field(
        description="indexing: memories are being embedded for the model (search is full text meanwhile).")
    pending: int = Field(description="Memories waiting for a vector of the current model.")


class MemoryListParams(Wire):
    workspace: PathText | None = Field(default=None, description="The memories seen in this workspace (its own and "
                                       "the user's); default: every memory.")
    kinds: list[MemoryKind] = Field(default_factory=list, max_length=4, description="Only these kinds.")
    limit: int = Field(default=200, ge=1, le=10_000)


class MemoryListResult(Wire):
    memories: list[MemoryInfo] = Field(description="Newest first.")
    index: MemoryIndexStatus


class MemorySearchParams(Wire):
    query: str = Field(min_length=1, max_length=1000)
    workspace: PathText | None = Field(default=None, description="As memory/list.")
    limit: int = Field(default=10, ge=1, le=50)
    mode: Literal["hybrid", "full_text", "vector"] | None = Field(
        default=None, description="Force one ranking; default: hybrid when the vectors are current, else full text.")


class MemorySearchResult(Wire):
    hits: list[MemoryHit] = Field(description="Best first.")
    mode: SearchMode = Field(description="What the search ran on.")
    note: str = Field(default="", description="Why it ran on full text alone, when it did.")


class MemoryIdParams(Wire):
    memory_id: Id


class MemoryResult(Wire):
    memory: MemoryInfo


class MemorySaveParams(Wire):
    text: str = Field(min_length=1, max_length=MAX_MEMORY_CHARS, description="Refused when it looks like a credential.")
    kind: MemoryKind = "fact"
    scope: MemoryScope = "workspace"
    workspace: PathText | None = Field(default=None, description="Absolute path; required for scope workspace.")
    private: bool = False


class MemoryUpdateParams(Wire):
    memory_id: Id
    text: str | None = Field(default=None, min_length=1, max_length=MAX_MEMORY_CHARS)
    kind: MemoryKind | None = None
    private: bool | None = None


class MemoryExportParams(Wire):
    workspace: PathText | None = Field(default=None, description="As memory/list.")
    include_private: bool = Field(default=False, description="Also private memories (never for a read-only token).")


class MemoryExportResult(Wire):
    markdown: str = Field(description="The memories as Markdown (docs/memory.md, \"Export and import\").")
    count: int


class MemoryImportParams(Wire):
    markdown: str = Field(min_length=1, max_length=MAX_TEXT_CHARS, description="An export, as edited by a person.")


class MemoryImportResult(Wire):
    added: int
    updated: int
    unchanged: int


METHODS: dict[str, Method] = {
    "initialize": Method(InitializeParams, InitializeResult, False, "Open the connection; must come first."),
    "session/create": Method(SessionCreateParams, SessionResult, True, "Create a session in a workspace."),
    "session/list": Method(SessionListParams, SessionListResult, False, "Sessions, newest first, by pages."),
    "session/get": Method(SessionIdParams, SessionResult, False, "One session."),
    "session/update": Method(SessionUpdateParams, SessionResult, True, "Change title, model or mode."),
    "session/delete": Method(SessionIdParams, Empty, True, "Delete a session, its journal and history."),
    "session/fork": Method(SessionForkParams, SessionResult, True, "Copy a session, up to a turn."),
    "session/subscribe": Method(SubscribeParams, SubscribeResult, False,
                                "Replay events after afterSeq as `event` notifications, then follow live."),
    "session/unsubscribe": Method(SessionIdParams, Empty, False, "Stop the session's event notifications."),
    "turn/start": Method(TurnStartParams, TurnStartResult, True, "Start a turn; follow it with events."),
    "turn/steer": Method(TurnSteerParams, TurnSteerResult, True, "Add a user message to the running turn."),
    "turn/interrupt": Method(SessionIdParams, TurnInterruptResult, True, "Interrupt the running turn."),
    "turn/rewind": Method(TurnRewindParams, TurnRewindResult, True,
                          "Go back to before a turn: drop it from the history and/or restore its files."),
    "checkpoint/list": Method(CheckpointListParams, CheckpointListResult, False, "A session's checkpoints."),
    "checkpoint/diff": Method(CheckpointDiffParams, CheckpointDiffResult, False,
                              "What changed in the workspace since a checkpoint."),
    "checkpoint/restore": Method(CheckpointRestoreParams, CheckpointRestoreResult, True,
                                 "Preview or restore a checkpoint (all of it or some paths)."),
    "approval/respond": Method(ApprovalRespondParams, ApprovalRespondResult, True,
                               "Answer one pending approval, or several alike."),
    "models/list": Method(Empty, ModelsListResult, False, "Models and whether they are usable."),
    "tools/list": Method(ToolsListParams, ToolsListResult, False, "Tools, with a session's policy."),
    "workspace/list": Method(Empty, WorkspaceListResult, False, "Workspaces that have sessions."),
    "skills/list": Method(SkillsListParams, SkillsListResult, False,
                          "Skills a session or folder sees: scope, path, what shadows what, invalid ones with reasons."),
    "skills/get": Method(SkillsGetParams, SkillsGetResult, False, "One offered skill with its instructions."),
    "session/context": Method(SessionIdParams, SessionContextResult, False,
                              "What a turn's instructions load: AGENTS.md files, skills... (size, truncated)."),
    "tool/call": Method(ToolCallParams, ToolCallResult, True,
                        "Run one tool for a session, under its policy, approvals, sandbox and checkpoints, "
                        "in a turn of its own."),
    "mcp/list": Method(McpListParams, McpListResult, False, "MCP servers with status, error, tools and log."),
    "mcp/restart": Method(McpServerParams, McpServerResult, True, "Reconnect an MCP server now."),
    "mcp/enable": Method(McpEnableParams, McpServerResult, True, "Enable or disable an MCP server (in its config)."),
    "mcp/approve": Method(McpApproveParams, McpServerResult, True, "Approve a project MCP server for a workspace."),
    "mcp/prompts": Method(McpListParams, McpPromptsResult, False, "The prompts of the ready MCP servers."),
    "mcp/prompt": Method(McpPromptParams, McpPromptResult, False, "An MCP prompt's messages, arguments filled in."),
    "keys/list": Method(Empty, KeysListResult, False, "Providers that take an API key, and whether one is set."),
    "keys/set": Method(KeySetParams, Empty, True, "Store a provider's API key (encrypted; never shown back)."),
    "keys/remove": Method(KeyParams, KeyRemoveResult, True, "Forget a provider's stored API key."),
    "server/status": Method(Empty, ServerStatusResult, False, "Version, sandbox, store and the local doctor checks."),
    "run/submit": Method(RunSubmitParams, RunResult, True, "Queue a run (a turn started without a person); returns at once."),
    "run/list": Method(RunListParams, RunListResult, False, "Runs, newest first."),
    "run/get": Method(RunIdParams, RunResult, False, "One run and where it stands."),
    "run/cancel": Method(RunIdParams, RunResult, True, "Cancel a queued or running run."),
    "run/subscribe": Method(RunSubscribeParams, RunListResult, False,
                            "The newest runs now, then a `run.updated` notification at every change of a run."),
    "run/unsubscribe": Method(Empty, Empty, False, "Stop the `run.updated` notifications."),
    "schedule/create": Method(ScheduleCreateParams, ScheduleResult, True, "Create a schedule that starts runs."),
    "schedule/list": Method(ScheduleListParams, ScheduleListResult, False, "Schedules with their next fire times."),
    "schedule/get": Method(ScheduleIdParams, ScheduleResult, False, "One schedule."),
    "schedule/update": Method(ScheduleUpdateParams, ScheduleResult, True, "Pause or resume a schedule."),
    "schedule/delete": Method(ScheduleIdParams, Empty, True, "Remove a schedule (its runs stay)."),
    "schedule/run": Method(ScheduleIdParams, RunResult, True, "Start one run of a schedule now."),
    "schedule/history": Method(ScheduleHistoryParams, ScheduleHistoryResult, False, "A schedule's fires and their runs."),
    "webhook/create": Method(WebhookCreateParams, WebhookSecretResult, True, "Create a webhook that starts runs."),
    "webhook/list": Method(WebhookListParams, WebhookListResult, False, "Webhooks (never their secrets)."),
    "webhook/delete": Method(WebhookIdParams, Empty, True, "Remove a webhook and its secret."),
    "webhook/rotate": Method(WebhookIdParams, WebhookSecretResult, True, "Give a webhook a new secret."),
    "memory/list": Method(MemoryListParams, MemoryListResult, False, "Memories, newest first, and the index's state."),
    "memory/search": Method(MemorySearchParams, MemorySearchResult, False, "Hybrid search of memories."),
    "memory/get": Method(MemoryIdParams, MemoryResult, False, "One memory."),
    "memory/save": Method(MemorySaveParams, MemoryResult, True, "Remember a text (never a credential)."),
    "memory/update": Method(MemoryUpdateParams, MemoryResult, True, "Change a memory's text, kind or private flag."),
    "memory/forget": Method(MemoryIdParams, Empty, True, "Forget a memory."),
    "memory/export": Method(MemoryExportParams, MemoryExportResult, False, "Memories as Markdown."),
    "memory/import": Method(MemoryImportParams, MemoryImportResult, True, "Read an edited export back."),
}

EVENT_NOTIFICATION = "event"
"""A session's event: ``{"method": "event", "params": <an Event>}`` (``session/subscribe``)."""
RUN_NOTIFICATION = "run.updated"
"""A run changed: ``{"method": "run.updated", "params": {"run": <a RunInfo>}}`` (``run/subscribe``)."""


# -- errors ------------------------------------------------------------------------------------


class ErrorCode:
    """JSON-RPC 2.0 codes, then cowork's own in the implementation-defined range -32000..-32099."""

    PARSE_ERROR = -32700
    INVALID_REQUEST = -32600  # also: a request larger than max_request_bytes
    METHOD_NOT_FOUND = -32601
    INVALID_PARAMS = -32602
    INTERNAL_ERROR = -32603
    NOT_INITIALIZED = -32001
    UNAUTHORIZED = -32002  # missing or wrong token
    FORBIDDEN = -32005  # a Host or Origin header that does not name this server (DNS rebinding, cross-site)
    RESPONSE_TOO_LARGE = -32006  # the answer would be larger than the server's answer limit
    READ_ONLY = -32003  # the token is read-only and the method changes something
    NOT_FOUND = -32004  # unknown session, turn or workspace folder
    TURN_IN_PROGRESS = -32010  # turn/start (or session/delete) while a turn runs
    NO_RUNNING_TURN = -32011  # turn/steer with nothing running
    APPROVAL_NOT_PENDING = -32012  # unknown or already answered (the first answer wins)
    CLIENT_MESSAGE_CONFLICT = -32013  # clientMessageId reused with a different input
    MODEL_CONFIG = -32020  # unknown provider, missing API key, model failed to load
    CHECKPOINT_UNAVAILABLE = -32030  # checkpoints are off, or the shadow repository cannot be read or written
    STORAGE_UNAVAILABLE = -32040  # the database file was deleted or replaced (restart the server), or stays locked


ERROR_NAMES: dict[int, str] = {
    v: k.lower() for k, v in vars(ErrorCode).items() if isinstance(v, int) and not k.startswith("_")
}


class RpcError(Exception):
    """An error answer: ``code`` from :class:`ErrorCode`, a message for people, optional data."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_wire(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


__all__ = [
    "MAX_ID_CHARS", "MAX_INPUT_PARTS", "MAX_PATHS", "MAX_PLAN_STEPS", "MAX_PLAN_STEP_CHARS", "MAX_PATH_CHARS", "MAX_SEQ", "MAX_TEXT_CHARS", "MAX_TITLE_CHARS",
    "Id", "ModelName", "PathText", "Title",
    "EVENT_BATCH_MAX", "EVENT_NOTIFICATION", "RUN_NOTIFICATION", "ERROR_NAMES", "METHODS", "PROTOCOL_VERSION", "ApprovalAnswer", "ApprovalAnswerFields", "ApprovalRespondParams",
    "ApprovalRespondResult", "Capabilities",
    "ClientCapabilities", "ClientInfo", "Empty", "ErrorCode", "InitializeParams", "InitializeResult", "InputPart", "Method",
    "ModelEntry", "ModelsListResult", "RpcError", "ServerInfo", "SessionCreateParams", "SessionForkParams",
    "SessionIdParams", "SessionListParams", "SessionListResult", "SessionResult", "SessionUpdateParams",
    "SubscribeParams", "SubscribeResult", "TextInput", "ToolCallParams", "ToolCallResult", "ToolEntry", "ToolsListParams", "ToolsListResult",
    "TurnInterruptResult", "TurnStartParams", "TurnStartResult", "TurnSteerParams", "TurnSteerResult",
    "SkillEntry", "SkillsGetParams", "SkillsGetResult", "SkillsListParams", "SkillsListResult",
    "WorkspaceEntry", "WorkspaceListResult", "ContextEntry", "SessionContextResult",
    "McpApproveParams", "McpEnableParams", "McpListParams", "McpListResult", "McpPromptArgument", "McpPromptEntry",
    "McpPromptMessage", "McpPromptParams", "McpPromptResult", "McpPromptsResult", "McpServerEntry", "McpServerParams",
    "McpServerResult",
    "CheckpointDiffParams", "CheckpointDiffResult", "CheckpointListParams", "CheckpointListResult",
    "CheckpointRestoreParams", "CheckpointRestoreResult", "TurnRewindParams", "TurnRewindResult",
    "MemoryExportParams", "MemoryExportResult", "MemoryIdParams", "MemoryImportParams", "MemoryImportResult",
    "MemoryIndexStatus", "MemoryListParams", "MemoryListResult", "MemoryResult", "MemorySaveParams",
    "MemorySearchParams", "MemorySearchResult", "MemoryUpdateParams",
]
