"""docs/protocol.md and docs/protocol.schema.json stay in step with the pydantic models.

When a test here fails, the message says what to update. The models are the source of truth:
change docs/protocol.md (or regenerate docs/protocol.schema.json), not the test.
"""

from __future__ import annotations

import json
import re
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from cowork.protocol import Event, EventAdapter, Item, SessionInfo
from cowork.protocol.rpc import EVENT_NOTIFICATION, METHODS, ErrorCode
from cowork.protocol.schema import protocol_json_schema

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGE = (DOCS / "protocol.md").read_text()
DOC = "docs/protocol.md"
CODES: dict[str, int] = {k: v for k, v in vars(ErrorCode).items() if k.isupper() and isinstance(v, int)}


def _members(union) -> list[type]:
    return list(typing.get_args(typing.get_args(union)[0]))


def _sections() -> dict[str, str]:
    """Heading text (without the #s) -> the text up to the next ``##`` or ``###`` heading."""
    sections: dict[str, str] = {}
    parts = re.split(r"^(#{2,3} .+)$", PAGE, flags=re.MULTILINE)
    for heading, body in zip(parts[1::2], parts[2::2], strict=True):
        sections[heading.lstrip("#").strip()] = body
    return sections


def _json_blocks(text: str) -> list[str]:
    return re.findall(r"^```json\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def _values(block: str) -> list[Any]:
    """Every JSON value in a ```json block: one pretty-printed value, or several, e.g. one a line."""
    decoder, values, i = json.JSONDecoder(), [], 0
    while True:
        while i < len(block) and block[i].isspace():
            i += 1
        if i == len(block):
            return values
        try:
            value, i = decoder.raw_decode(block, i)
        except ValueError as exc:
            raise AssertionError(f"{DOC}: a ```json block is not valid JSON ({exc}):\n{block[:300]}") from None
        values.append(value)


def _all_values() -> list[Any]:
    return [v for block in _json_blocks(PAGE) for v in _values(block)]


def _wire_models(annotation: Any, seen: set[type]) -> None:
    """Collect the models reachable from ``annotation`` (fields of fields, list items, unions)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:
            return
        seen.add(annotation)
        for field in annotation.model_fields.values():
            _wire_models(field.annotation, seen)
        return
    for arg in typing.get_args(annotation):
        _wire_models(arg, seen)


# -- schema and objects -------------------------------------------------------------------------


def test_committed_schema_is_the_generated_one():
    committed = json.loads((DOCS / "protocol.schema.json").read_text())
    assert committed == protocol_json_schema(), (
        "docs/protocol.schema.json is stale; regenerate it: cowork protocol schema > docs/protocol.schema.json")


def test_every_event_item_and_field_is_documented():
    for model in _members(Event) + _members(Item) + [SessionInfo]:
        type_name = model.model_fields["type"].default if "type" in model.model_fields else None
        if type_name:
            assert f"`{type_name}`" in PAGE, f"{DOC}: document `{type_name}` in the Items or Events table"
        for field in model.model_fields:
            assert f"`{field}`" in PAGE, f"{DOC}: field `{field}` of {model.__name__} is not documented"


def test_every_event_shown_is_valid():
    """Every event in the page (lines of the turn example, `params` of `event` notifications)."""
    shown = 0
    for value in _all_values():
        if isinstance(value, dict) and value.get("method") == EVENT_NOTIFICATION:
            value = value.get("params")
        if isinstance(value, dict) and {"session_id", "seq", "type"} <= value.keys():
            try:
                EventAdapter.validate_python(value)
            except ValueError as exc:
                raise AssertionError(f"{DOC}: this example event does not match the models: {value}\n{exc}") from None
            shown += 1
    assert shown >= 10, f"{DOC}: the one-turn example with its events is missing"


# -- methods ------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_has_a_section_with_a_valid_exchange(method: str):
    spec = METHODS[method]
    sections = _sections()
    how = (f"add a `### {method}` section to {DOC} (what it does, params, result, errors), then a ```json block "
           f"with the request and a ```json block with its response")
    assert method in sections, f"{method} is in METHODS (src/cowork/protocol/rpc.py) but not documented: {how}"
    blocks = _json_blocks(sections[method])
    assert len(blocks) >= 2, f"### {method}: {how}"

    request = _values(blocks[0])
    assert len(request) == 1 and isinstance(request[0], dict), f"### {method}: the first ```json block is one request"
    request = request[0]
    assert request.get("jsonrpc") == "2.0" and request.get("method") == method and "id" in request, (
        f"### {method}: the first ```json block must be {{\"jsonrpc\": \"2.0\", \"id\": N, \"method\": \"{method}\", "
        f"\"params\": {{...}}}}, not {request}")
    try:
        spec.params.model_validate(request.get("params", {}))
    except ValueError as exc:
        raise AssertionError(f"### {method}: the example params no longer match {spec.params.__name__}; "
                             f"update the example and the params table in {DOC}\n{exc}") from None

    response = _values(blocks[1])
    assert len(response) == 1 and isinstance(response[0], dict), f"### {method}: the second ```json block is one response"
    response = response[0]
    assert response.get("jsonrpc") == "2.0" and response.get("id") == request["id"] and "result" in response, (
        f"### {method}: the second ```json block must be the response "
        f"{{\"jsonrpc\": \"2.0\", \"id\": {request['id']}, \"result\": {{...}}}}")
    try:
        spec.result.model_validate(response["result"])
    except ValueError as exc:
        raise AssertionError(f"### {method}: the example result no longer matches {spec.result.__name__}; "
                             f"update the example and the result description in {DOC}\n{exc}") from None


def test_the_method_table_says_which_methods_change_something():
    rows = dict(re.findall(r"^\| `([a-z/]+)` \| (yes|no) \|", PAGE, flags=re.MULTILINE))
    expected = {name: "yes" if m.mutating else "no" for name, m in METHODS.items()}
    wrong = {name: f"should be {flag!r}, is {rows.get(name)!r}" for name, flag in expected.items() if rows.get(name) != flag}
    wrong.update({name: "not in METHODS" for name in rows.keys() - expected.keys()})
    assert not wrong, (
        f"the table under '## Methods' in {DOC} must list every method of METHODS with yes/no as its `mutating` "
        f"flag (refused to read-only tokens): {wrong}")


def test_every_param_and_result_field_is_documented():
    models: set[type] = set()
    for spec in METHODS.values():
        _wire_models(spec.params, models)
        _wire_models(spec.result, models)
    missing = sorted(
        f"`{field.alias or name}` ({model.__name__})"
        for model in models for name, field in model.model_fields.items()
        if f"`{field.alias or name}`" not in PAGE
    )
    assert not missing, f"{DOC}: document these fields in their method's section (by their wire name): {missing}"


# -- errors -------------------------------------------------------------------------------------


def test_every_error_code_is_in_the_error_table():
    from cowork.server.rest import HTTP_STATUS

    rows = {name: (int(code), http.strip())
            for code, name, http in re.findall(r"^\| `(-\d+)` \| `([A-Z_]+)` \| ([^|]+) \|", PAGE, flags=re.MULTILINE)}
    for name, code in CODES.items():
        assert name in rows, (f"ErrorCode.{name} ({code}) is missing from the table under '## Errors' in {DOC}: "
                              f"add | `{code}` | `{name}` | HTTP status | when it happens |")
        assert rows[name][0] == code, f"{DOC}: ErrorCode.{name} is {code}, the error table says {rows[name][0]}"
        if code in HTTP_STATUS:
            assert rows[name][1] == str(HTTP_STATUS[code]), (
                f"{DOC}: {name} maps to HTTP {HTTP_STATUS[code]} in src/cowork/server/rest.py, the table says "
                f"{rows[name][1]}")
    assert set(rows) == set(CODES), f"{DOC}: the error table lists codes that ErrorCode lacks: {set(rows) - set(CODES)}"


def test_example_errors_use_real_codes():
    errors = [v["error"] for v in _all_values() if isinstance(v, dict) and isinstance(v.get("error"), dict)]
    assert errors, f"{DOC}: show an example error response under '## Errors'"
    for error in errors:
        assert error.get("code") in CODES.values() and isinstance(error.get("message"), str), (
            f"{DOC}: example error {error} has no code of ErrorCode or no message")


# -- transports ---------------------------------------------------------------------------------


def test_transports_and_limits_are_documented():
    from cowork.server.rest import api
    from cowork.server.ws import MAX_IN_FLIGHT, MAX_REQUEST_BYTES

    for route in api.routes:
        for verb in sorted(route.methods - {"HEAD"}):  # type: ignore[attr-defined]
            entry = f"`{verb} {route.path}`"  # type: ignore[attr-defined]
            assert entry in PAGE, f"the REST route {entry} (src/cowork/server/rest.py) is not in the routes table of {DOC}"
    for needle in ("`/ws`", "`/api/v1", "`/openapi.json`", "`GET /api/v1/schema`", "`cowork protocol schema`",
                   "(protocol.schema.json)", "https://www.jsonrpc.org/specification", f"`{MAX_REQUEST_BYTES}`",
                   f"`{MAX_IN_FLIGHT}`", "`Last-Event-ID`", "`afterSeq`"):
        assert needle in PAGE, f"{DOC} no longer mentions {needle}; the Transports / Limits sections must"
