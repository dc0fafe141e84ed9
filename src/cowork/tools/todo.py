"""The ``todo_write`` tool: the model keeps its plan as a checklist the user can watch."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from cowork.tools.base import Tool, ToolArgs, ToolContext, ToolError, ToolResult, ToolTraits

TodoStatus = Literal["pending", "in_progress", "completed"]
_MARK = {"completed": "[x]", "in_progress": "[~]", "pending": "[ ]"}


class TodoItem(ToolArgs):
    content: str = Field(description="What to do, as a short imperative sentence.")
    status: TodoStatus = Field(description="pending, in_progress or completed.")


class TodoWriteArgs(ToolArgs):
    todos: list[TodoItem] = Field(
        description="The complete plan, in order; it replaces the previous one. Keep the step "
        "being worked on `in_progress` and mark steps `completed` as soon as they are done."
    )


class TodoWriteTool(Tool):
    """Replace the session's plan with a new checklist."""

    name = "todo_write"
    description = (
        "Write your plan for a multi-step task as a checklist the user can follow. Send the "
        "whole list every time (it replaces the previous one), with each item's status: "
        "pending, in_progress or completed. Update it as you start and finish steps."
    )
    Args = TodoWriteArgs
    traits = ToolTraits(read_only=True, destructive=False, open_world=False, planning=True)  # not the workspace

    async def run(self, args: TodoWriteArgs, ctx: ToolContext) -> ToolResult:
        todos = [{"content": t.content.strip(), "status": t.status} for t in args.todos]
        empty = [str(i + 1) for i, t in enumerate(todos) if not t["content"]]
        if empty:
            raise ToolError(f"todo item {', '.join(empty)} has empty content; describe each step")
        return checklist(todos)


def checklist(todos: list[dict[str, str]], heading: str = "Plan") -> ToolResult:
    """The result that sets the session's checklist to ``todos`` (``{content, status}`` dicts,
    in order): ``metadata["todos"]`` is what clients show as the checklist; the output lists it
    for the model under ``heading``."""
    if not todos:
        return ToolResult("Plan cleared (no items).", summary="plan cleared",
                          metadata={"todos": []})
    done = sum(t["status"] == "completed" for t in todos)
    lines = [f"{heading} ({done}/{len(todos)} done):"]
    lines += [f"{_MARK[t['status']]} {t['content']}" for t in todos]
    return ToolResult("\n".join(lines), summary=f"{done}/{len(todos)} done",
                      metadata={"todos": todos})
