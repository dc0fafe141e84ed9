"""The ``propose_plan`` tool: in plan mode the model proposes a numbered plan for the person.

Plan first (``cowork run --plan``, ``/plan`` in ``cowork chat``, a session in mode ``plan``): the
model may only read, then calls ``propose_plan`` with its steps. What happens to that call comes
from its :class:`PlanTraits`, which the engine reads (it never names the tool):

- it is offered to the model only while the session is in one of ``modes`` (``plan``);
- its call always asks a person (even in plan mode, where other questions are denies), with the
  numbered plan as the request's preview; the answer may carry the steps as the person edited them
  (they replace ``steps_arg``) and the mode to carry the plan out in;
- approved, it runs: the session's checklist (what ``todo_write`` keeps) becomes the steps, the
  session leaves plan mode, and the result tells the model to carry the plan out in the same turn;
- rejected, the model reads that (with the person's reason) and the session stays in plan mode.

See docs/protocol.md, "Plan mode".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import Field, StringConstraints

from cowork.tools.base import Tool, ToolArgs, ToolContext, ToolResult, ToolTraits
from cowork.tools.todo import checklist

MAX_STEPS = 20
"""Most steps of a plan (the protocol's ``MAX_PLAN_STEPS``)."""
MAX_STEP_CHARS = 500
"""Longest step, in characters (the protocol's ``MAX_PLAN_STEP_CHARS``)."""

APPROVED = "The user approved the plan. Carry it out now, step by step."
"""The first line of an approved plan's result: the model goes on in the same turn."""


@dataclass(frozen=True)
class PlanTraits(ToolTraits):
    """The traits of a tool that proposes a plan (see the module docstring).

    Attributes:
        modes: the session modes the tool is offered in; in any other it is not offered.
        steps_arg: the argument holding the steps (a list of strings) a person may edit.
    """

    modes: frozenset[str] = frozenset({"plan"})
    steps_arg: str = "steps"


def offered(tool: Tool, mode: str) -> bool:
    """Whether ``tool`` is offered to the model of a session in ``mode`` (a tool with
    :class:`PlanTraits` only in its ``modes``; every other tool always)."""
    return not isinstance(tool.traits, PlanTraits) or mode in tool.traits.modes


Step = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_STEP_CHARS)]


class ProposePlanArgs(ToolArgs):
    steps: list[Step] = Field(
        min_length=1, max_length=MAX_STEPS,
        description=f"The plan: 1 to {MAX_STEPS} short imperative steps, in the order you will carry them out.")
    summary: str | None = Field(
        default=None, max_length=2000, description="Optional: one or two sentences on the approach.")


def numbered(steps: list[str] | tuple[str, ...], summary: str | None = None) -> str:
    """``steps`` as a numbered list (``1. …``), after ``summary`` when there is one."""
    lines = [summary.strip(), ""] if summary and summary.strip() else []
    return "\n".join(lines + [f"{i}. {step}" for i, step in enumerate(steps, 1)])


class ProposePlanTool(Tool):
    """Propose a plan for the person to approve, edit or reject (plan mode only)."""

    name = "propose_plan"
    description = (
        "Propose your plan for the task as numbered steps, once you have read what you need. The user "
        "approves, edits or rejects it; nothing may change before they approve. When approved, carry "
        "the plan out at once. When rejected, revise it (taking their reason into account) or stop."
    )
    Args = ProposePlanArgs
    traits = PlanTraits(read_only=True, destructive=False, open_world=False)  # the plan is not the workspace

    def preview(self, args: ProposePlanArgs, workspace: Path) -> str | None:
        return numbered(args.steps, args.summary)

    async def run(self, args: ProposePlanArgs, ctx: ToolContext) -> ToolResult:
        todos = [{"content": step, "status": "pending"} for step in args.steps]
        listed = checklist(todos, heading="The plan")
        output = (f"{APPROVED}\n\n{listed.output}\n\nKeep the checklist up to date with todo_write as you start "
                  "and finish each step.")
        metadata = {**listed.metadata, "plan": {"steps": list(args.steps), "summary": args.summary}}
        return ToolResult(output, summary=f"plan approved · {len(todos)} steps", metadata=metadata)

