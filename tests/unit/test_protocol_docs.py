"""docs/protocol.md and docs/protocol.schema.json stay in step with the pydantic models."""

from __future__ import annotations

import json
import typing
from pathlib import Path

from cowork.protocol import Event, Item, SessionInfo
from cowork.protocol.schema import protocol_json_schema

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _members(union) -> list[type]:
    return list(typing.get_args(typing.get_args(union)[0]))


def test_committed_schema_is_the_generated_one():
    committed = json.loads((DOCS / "protocol.schema.json").read_text())
    assert committed == protocol_json_schema(), "run: cowork protocol schema > docs/protocol.schema.json"


def test_every_event_item_and_field_is_documented():
    page = (DOCS / "protocol.md").read_text()
    for model in _members(Event) + _members(Item) + [SessionInfo]:
        type_name = model.model_fields["type"].default if "type" in model.model_fields else None
        if type_name:
            assert f"`{type_name}`" in page, f"{type_name} is not documented"
        for field in model.model_fields:
            assert f"`{field}`" in page, f"field {field} of {model.__name__} is not documented"
