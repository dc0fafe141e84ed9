"""Tools declare traits; the engine and the policy never name a tool.

A tool defined only here, offered in a test toolset, is asked, checkpointed, confined and
previewed exactly as the built-in ``write`` with the same traits is."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_support import MODEL, Script, collect

import cowork
from cowork.policy import load_policy
from cowork.tools import BUILTIN, BUILTIN_TOOLS, StaticToolset, Tool, ToolArgs, ToolContext, ToolResult, ToolTraits
from cowork.tools.paths import resolve_in_workspace


class NoteArgs(ToolArgs):
    target: str
    text: str


class StashNote(Tool):
    """Appends a line to a file: a file edit by its traits, named nowhere in cowork."""

    name = "stash_note"
    description = "Append a note to a file of the workspace."
    Args = NoteArgs
    traits = ToolTraits(read_only=False, destructive=False, open_world=False, checkpoint=True, edits_files=True,
                        paths={"target": "write"})

    async def run(self, args: NoteArgs, ctx: ToolContext) -> ToolResult:
        path = resolve_in_workspace(ctx.workspace, args.target)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as f:
            f.write(args.text + "\n")
        return ToolResult(f"noted in {args.target}", summary="noted")

    def preview(self, args: NoteArgs, workspace: Path) -> str | None:
        return f"+++ {args.target}\n+{args.text}"


NOTE = StashNote()
WRITE = BUILTIN_TOOLS["write"]


def test_no_module_of_cowork_names_the_test_tool():
    src = Path(cowork.__file__).parent
    assert not [p for p in src.rglob("*.py") if "stash_note" in p.read_text()]


async def _run(runtime, workspace: Path, mode: str, tool: str, args: dict, answer: str = "once") -> list:
    runtime.toolsets = (BUILTIN, StaticToolset("test", [NOTE]))
    runtime.use_model(MODEL, Script([(tool, args)], "done").model)
    session = await runtime.create_session(workspace, MODEL, mode)

    def on_event(ev):
        if ev.type == "approval.requested":
            runtime.respond_approval(ev.approval_id, answer)

    await runtime.start_turn(session.id, "go")
    return await collect(runtime, session.id, on_event=on_event)


def _approval(events):
    asked = [e for e in events if e.type == "approval.requested"]
    return asked[0] if asked else None


def _call(events):
    return [e.item for e in events if e.type == "item.completed" and e.item.type == "tool_call"][-1]


async def test_a_test_toolset_tool_is_asked_previewed_and_checkpointed_like_write(runtime, workspace):
    note = await _run(runtime, workspace, "default", "stash_note", {"target": "a.txt", "text": "hello"})
    write = await _run(runtime, workspace, "default", "write", {"path": "b.txt", "content": "hello\n"})
    asked_note, asked_write = _approval(note), _approval(write)
    assert asked_note is not None and asked_write is not None
    assert (asked_note.rule, asked_note.options) == (asked_write.rule, asked_write.options) == (
        "mode:default", ["once", "session", "deny"])
    assert asked_note.suggestion == ["stash_note"] and asked_write.suggestion == ["write"]
    assert asked_note.diff == "+++ a.txt\n+hello"  # the tool's own preview
    assert asked_write.diff and "+hello" in asked_write.diff
    for events, kind in ((note, "tool:stash_note"), (write, "tool:write")):
        call = _call(events)
        assert call.status == "completed"
        taken = [i for i, e in enumerate(events) if e.type == "checkpoint.created" and e.kind == kind]
        ran = [i for i, e in enumerate(events) if e.type == "item.completed" and e.item.id == call.id]
        assert taken and events[taken[0]].item_id == call.id and taken[0] < ran[0]
    assert (workspace / "a.txt").read_text() == "hello\n"


async def test_accept_edits_runs_the_test_tool_inside_the_workspace_without_asking(runtime, workspace):
    events = await _run(runtime, workspace, "accept-edits", "stash_note", {"target": "in/a.txt", "text": "x"})
    assert _approval(events) is None and _call(events).status == "completed"
    assert (workspace / "in" / "a.txt").read_text() == "x\n"


@pytest.mark.parametrize("mode", ["default", "accept-edits", "read-only", "yolo"])
@pytest.mark.parametrize("target", ["../outside.txt", ".git/hooks/pre-commit", "~/.bashrc", "src/x.py", "."])
def test_the_test_tool_is_confined_as_write_is(workspace, mode, target):
    policy = load_policy(workspace)
    note = policy.decide(NOTE.name, {"target": target, "text": "x"}, traits=NOTE.traits, mode=mode)
    write = policy.decide(WRITE.name, {"path": target, "content": "x"}, traits=WRITE.traits, mode=mode)
    assert (note.outcome, note.rule, note.hard, note.network) == (write.outcome, write.rule, write.hard, write.network)
    assert note.reason == write.reason.replace("write ", "stash_note ", 1)


async def test_a_path_outside_the_workspace_is_asked_then_refused_by_the_tool(runtime, workspace):
    outside = workspace.parent / "outside.txt"
    events = await _run(runtime, workspace, "default", "stash_note", {"target": "../outside.txt", "text": "x"})
    asked = _approval(events)
    assert asked is not None and "outside" in asked.reason
    assert _call(events).status == "failed" and not outside.exists()
