"""todo_write: validation and checklist rendering."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from cowork.tools import get_tool
from cowork.tools.base import ToolContext, ToolError, ToolResult


async def todo(todos: list[dict]) -> ToolResult:
    tool = get_tool("todo_write")
    return await tool.run(tool.Args.model_validate({"todos": todos}), ToolContext(Path.cwd()))


async def test_checklist_and_metadata() -> None:
    items = [
        {"content": "Read the code", "status": "completed"},
        {"content": "Write the fix", "status": "in_progress"},
        {"content": "Run the tests", "status": "pending"},
    ]
    res = await todo(items)
    assert not res.is_error
    assert res.output == (
        "Plan (1/3 done):\n[x] Read the code\n[~] Write the fix\n[ ] Run the tests"
    )
    assert res.metadata == {"todos": items}
    assert res.summary == "1/3 done"


async def test_content_is_trimmed_and_several_in_progress_allowed() -> None:
    res = await todo([{"content": "  a  ", "status": "in_progress"},
                      {"content": "b", "status": "in_progress"}])
    assert res.metadata["todos"] == [{"content": "a", "status": "in_progress"},
                                     {"content": "b", "status": "in_progress"}]


async def test_empty_list_clears_plan() -> None:
    res = await todo([])
    assert not res.is_error and res.metadata == {"todos": []} and "cleared" in res.output


async def test_empty_content_rejected() -> None:
    with pytest.raises(ToolError, match="item 2 has empty content"):
        await todo([{"content": "ok", "status": "pending"}, {"content": "  ", "status": "pending"}])


@pytest.mark.parametrize("bad", [
    [{"content": "x", "status": "done"}],
    [{"content": "x"}],
    [{"content": "x", "status": "pending", "priority": "high"}],
])
async def test_invalid_items_fail_validation(bad: list[dict]) -> None:
    with pytest.raises(ValidationError):
        await todo(bad)


def test_schema_lists_statuses() -> None:
    schema = get_tool("todo_write").parameters_schema()
    item = schema["$defs"]["TodoItem"]
    assert item["properties"]["status"]["enum"] == ["pending", "in_progress", "completed"]
    assert item["additionalProperties"] is False
