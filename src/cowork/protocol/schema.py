"""JSON Schema export of the public protocol (``cowork protocol schema``, ``GET /api/v1/schema``).

The document is JSON Schema draft 2020-12 (https://json-schema.org/draft/2020-12/schema) as
emitted by pydantic: ``properties`` holds one entry per family (event, item, session),
``methods`` maps every JSON-RPC method to the ``$ref`` of its params and result,
``notifications`` every server notification to the schema of its params, and every model is
under ``$defs``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from .events import Event
from .items import Item
from .rpc import EVENT_NOTIFICATION, METHODS, PROTOCOL_VERSION, RUN_NOTIFICATION, ErrorCode, RunUpdatedParams
from .sessions import SessionInfo

REF = "#/$defs/{model}"


def protocol_json_schema() -> dict[str, Any]:
    """Return the JSON Schema of events, items, sessions and methods as one document."""
    class _Protocol(BaseModel):
        event: Event
        item: Item
        session: SessionInfo

    models = [(m.params, "validation") for m in METHODS.values()] + [(m.result, "serialization") for m in METHODS.values()]
    models.append((RunUpdatedParams, "serialization"))
    refs, methods_doc = models_json_schema([(_Protocol, "validation"), *models], ref_template=REF)  # type: ignore[arg-type]
    defs = methods_doc.get("$defs", {})
    props = defs.pop("_Protocol")["properties"]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://cowork.dev/schema/protocol.json",
        "title": "cowork protocol",
        "description": "Events, items, sessions and JSON-RPC methods of the cowork protocol "
                       f"(version {PROTOCOL_VERSION}). Server notifications: method '{EVENT_NOTIFICATION}' "
                       f"with an event as params, '{RUN_NOTIFICATION}' with a run.",
        "properties": {"event": props["event"], "item": props["item"], "session": props["session"]},
        "methods": {
            name: {
                "summary": m.summary,
                "mutating": m.mutating,
                "params": refs[(m.params, "validation")],
                "result": refs[(m.result, "serialization")],
            }
            for name, m in METHODS.items()
        },
        "notifications": {
            EVENT_NOTIFICATION: props["event"],
            RUN_NOTIFICATION: refs[(RunUpdatedParams, "serialization")],
        },
        "errors": {name: code for name, code in vars(ErrorCode).items() if name.isupper()},
        "$defs": defs,
    }
