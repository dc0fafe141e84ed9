"""JSON Schema export of the public protocol (``cowork protocol schema``).

The document is JSON Schema draft 2020-12 (https://json-schema.org/draft/2020-12/schema) as
emitted by pydantic: one top-level ``oneOf`` per family with every model under ``$defs``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from .events import Event
from .items import Item
from .sessions import SessionInfo


def protocol_json_schema() -> dict[str, Any]:
    """Return the JSON Schema of events, items and sessions as one document."""
    class _Protocol(BaseModel):
        event: Event
        item: Item
        session: SessionInfo

    schema = _Protocol.model_json_schema(ref_template="#/$defs/{model}")
    defs = schema.pop("$defs", {})
    props = schema["properties"]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://cowork.dev/schema/protocol.json",
        "title": "cowork protocol",
        "description": "Events, items and sessions of the cowork protocol.",
        "properties": {"event": props["event"], "item": props["item"], "session": props["session"]},
        "$defs": defs,
    }

