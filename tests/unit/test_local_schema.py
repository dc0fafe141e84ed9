"""What the embedded model is shown of the tools: trimmed schemas, required arguments only,
one-sentence descriptions, and a step schema whose read paths name existing workspace entries."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

from pydantic_ai.tools import ToolDefinition

from cowork.engine.tool_calls import tool_definitions
from cowork.providers.local import native_tools, required_only, step_schema, trim_schema, workspace_entries


def _definition(name: str) -> ToolDefinition:
    return next(t for t in tool_definitions() if t.name == name)


def _walk(value):
    yield value
    if isinstance(value, dict):
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)


def test_trim_schema_inlines_refs_and_drops_titles_of_a_real_tool():
    raw = _definition("todo_write").parameters_json_schema
    assert "$defs" in raw and "$ref" in json.dumps(raw)  # the real schema does use a $ref
    trimmed = trim_schema(raw)
    assert not any(isinstance(n, dict) and ({"$ref", "$defs", "title"} & n.keys()) for n in _walk(trimmed))
    item = trimmed["properties"]["todos"]["items"]
    assert item["properties"]["status"]["enum"] == ["pending", "in_progress", "completed"]
    assert item["required"] == ["content", "status"]
    # Descriptions are cut to their first sentence, or dropped.
    assert trimmed["properties"]["todos"]["description"] == "The complete plan, in order; it replaces the previous one."
    bare = trim_schema(raw, descriptions=False)
    assert not any(isinstance(n, dict) and "description" in n for n in _walk(bare))
    assert trim_schema(raw) == trimmed and "$defs" in raw  # the input is left as it was


def test_trim_schema_keeps_a_property_named_title_and_an_unresolvable_ref():
    schema = {"title": "Args", "type": "object", "properties": {"title": {"type": "string", "title": "Title"},
                                                                "x": {"$ref": "#/$defs/Missing"}}}
    assert trim_schema(schema) == {"type": "object", "properties": {"title": {"type": "string"},
                                                                    "x": {"$ref": "#/$defs/Missing"}}}


def test_required_only_keeps_required_properties_or_all_when_none_is_required():
    read = _definition("read").parameters_json_schema
    out = required_only(read)
    assert set(out["properties"]) == {"path"} and out["required"] == ["path"]
    assert "additionalProperties" not in out  # the optional ones it dropped stay acceptable
    ls = _definition("ls").parameters_json_schema
    assert set(required_only(ls)["properties"]) == {"path"}
    assert required_only({"type": "object"}) == {"type": "object", "properties": {}}


def test_native_tools_are_one_sentence_and_required_arguments_only():
    definitions = tool_definitions()
    tools = native_tools(definitions)
    assert [t["function"]["name"] for t in tools] == [d.name for d in definitions]
    for tool, definition in zip(tools, definitions):
        fn = tool["function"]
        assert tool["type"] == "function"
        # One sentence: no sentence end inside, and a prefix of the full description.
        assert fn["description"] and not re.search(r"(?<!e\.g)(?<!i\.e)\.\s", fn["description"]), fn["description"]
        assert definition.description.replace("\n", " ").startswith(fn["description"])
        required = set(definition.parameters_json_schema.get("required", []))
        assert set(fn["parameters"]["properties"]) == (required or set(definition.parameters_json_schema["properties"]))
        assert "$ref" not in json.dumps(fn["parameters"])
    # What the chat template pastes into every prompt is well under the full definitions.
    full = [{"type": "function", "function": {"name": d.name, "description": d.description,
                                              "parameters": d.parameters_json_schema}} for d in definitions]
    assert len(json.dumps(tools)) < 0.6 * len(json.dumps(full))


def _workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    (ws / "docs" / "old").mkdir(parents=True)
    (ws / "notes.txt").write_text("x")
    (ws / "docs" / "a.md").write_text("x")
    (ws / "docs" / "old" / "b.md").write_text("x")
    (ws / ".env").write_text("SECRET=1")
    (ws / ".git").mkdir()
    (ws / ".git" / "HEAD").write_text("ref")
    (ws / "docs" / ".hidden").write_text("x")
    return ws


def test_workspace_entries_are_breadth_first_without_hidden_ones(tmp_path):
    ws = _workspace(tmp_path)
    assert workspace_entries(ws) == ["docs/", "notes.txt", "docs/a.md", "docs/old/", "docs/old/b.md"]
    assert workspace_entries(ws, limit=2) == ["docs/", "notes.txt"]
    assert workspace_entries(tmp_path / "missing") == []


def _arguments(schema: dict, tool: str) -> dict:
    return next(c["properties"]["arguments"] for c in schema["oneOf"]
                if c["properties"].get("tool", {}).get("const") == tool)


def test_step_schema_limits_existing_path_arguments_to_workspace_entries(tmp_path):
    ws = _workspace(tmp_path)
    read = replace(_definition("read"), metadata={"workspace": str(ws), "existing_paths": {"path": "file"}})
    ls = replace(_definition("ls"), metadata={"workspace": str(ws), "existing_paths": {"path": "folder"}})
    move = replace(_definition("move"), metadata={"workspace": str(ws), "existing_paths": {"source": "any"}})
    write = replace(_definition("write"), metadata={"workspace": str(ws), "existing_paths": {}})
    schema = step_schema([read, ls, move, write], ws)
    assert _arguments(schema, "read")["properties"]["path"] == {"enum": ["notes.txt", "docs/a.md", "docs/old/b.md"]}
    assert _arguments(schema, "ls")["properties"]["path"] == {"enum": [".", "docs", "docs/old"]}
    assert _arguments(schema, "move")["properties"]["source"] == {
        "enum": [".", "docs/", "notes.txt", "docs/a.md", "docs/old/", "docs/old/b.md"]}
    assert _arguments(schema, "move")["properties"]["destination"] == {"type": "string"}
    assert _arguments(schema, "write")["properties"]["path"] == {"type": "string"}  # a new file may be named
    assert schema["oneOf"][-1]["required"] == ["answer"]
    # Without a workspace (or metadata) the path is any string.
    assert _arguments(step_schema([read]), "read")["properties"]["path"] == {"type": "string"}
    assert _arguments(step_schema([_definition("read")], ws), "read")["properties"]["path"] == {"type": "string"}


def test_step_schema_without_answer_must_call_a_tool():
    tools = tool_definitions()
    schema = step_schema(tools, answer=False)
    assert len(schema["oneOf"]) == len(tools)
    assert all("tool" in c["properties"] for c in schema["oneOf"])
    # With no tool to call, an answer is still possible.
    assert step_schema([], answer=False)["oneOf"] == [step_schema([])["oneOf"][-1]]


def test_trim_schema_survives_a_recursive_ref():
    """An MCP tool's tree-shaped argument: the self-reference becomes "any value", not a loop."""
    schema = {"$defs": {"Node": {"type": "object", "properties": {
        "name": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}}}},
        "type": "object", "properties": {"root": {"$ref": "#/$defs/Node"}}, "required": ["root"]}
    out = trim_schema(schema)
    assert out["properties"]["root"]["properties"]["name"] == {"type": "string"}
    assert out["properties"]["root"]["properties"]["children"] == {"type": "array", "items": {}}
