"""Usage and configuration errors, ``cowork protocol schema`` and ``cowork models``.

These commands do not talk to a model, so they all run at once (they are mostly start-up time)
in a module-scoped fixture; each test then checks one outcome.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from e2e_support import MODEL, Cowork, Result
from fakemodel import FakeModelServer

EVENT_TYPES = (
    "TurnStarted", "ItemStarted", "ItemDelta", "ItemCompleted", "ApprovalRequested", "ApprovalResolved",
    "TurnCompleted", "TurnFailed", "TurnInterrupted",
)

# name -> (argv after `cowork`, extra environment)
CASES: dict[str, tuple[list[str], dict[str, str | None]]] = {
    "anthropic_without_key": (["run", "hi", "--model", "anthropic:claude-x"], {"ANTHROPIC_API_KEY": None}),
    "nonsense_model": (["run", "hi", "--model", "nonsense"], {}),
    "missing_dir": (["run", "hi", "--model", MODEL, "--dir", "/does/not/exist"], {}),
    "unknown_session": (["run", "hi", "--model", MODEL, "--session", "ses_nope"], {}),
    "yes_and_read_only": (["run", "hi", "--model", MODEL, "--yes", "--read-only"], {}),
    "continue_and_session": (["run", "hi", "--model", MODEL, "--continue", "--session", "ses_x"], {}),
    "empty_task": (["run", "   ", "--model", MODEL], {}),
    "show_unknown_session": (["sessions", "show", "ses_nope"], {}),
    "unknown_flag": (["run", "hi", "--frobnicate"], {}),
    "schema": (["protocol", "schema"], {}),
    "models_with_base_url": (["models", "--json"], {}),
    "models_without_base_url": (["models", "--json"], {"OPENAI_BASE_URL": None}),
}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every case's result; each case has its own COWORK_HOME and workspace."""
    from concurrent.futures import ThreadPoolExecutor

    with FakeModelServer() as srv:
        base = tmp_path_factory.mktemp("cli")
        homes = {name: Cowork(base / name, srv) for name in CASES}

        def one(name: str) -> tuple[str, Result]:
            args, env = CASES[name]
            return name, homes[name].run(*args, env=env)

        with ThreadPoolExecutor(3) as pool:
            results: dict[str, Any] = dict(pool.map(one, CASES))
        # The one config error found after the session could be created: did it leave one behind?
        results["sessions_after_missing_key"] = homes["anthropic_without_key"].run("sessions", "list", "--json")
        results["_requests"] = srv.requests
        return results


USAGE_ERRORS = [
    "anthropic_without_key", "nonsense_model", "missing_dir", "unknown_session", "yes_and_read_only",
    "continue_and_session", "empty_task", "show_unknown_session", "unknown_flag",
]


@pytest.mark.parametrize("case", USAGE_ERRORS)
def test_usage_and_config_errors_exit_2(outcomes: dict[str, Any], case: str) -> None:
    res = outcomes[case]
    assert res.code == 2, res.explain()
    assert "Traceback" not in res.stderr, res.explain()
    assert res.stderr.strip(), "a usage error must say what is wrong"


def test_config_error_messages_name_the_problem(outcomes: dict[str, Any]) -> None:
    assert "ANTHROPIC_API_KEY" in outcomes["anthropic_without_key"].stderr
    assert "provider:model" in outcomes["nonsense_model"].stderr
    assert "/does/not/exist" in outcomes["missing_dir"].stderr
    assert "ses_nope" in outcomes["unknown_session"].stderr
    assert "--read-only" in outcomes["yes_and_read_only"].stderr
    assert "ses_nope" in outcomes["show_unknown_session"].stderr
    assert not outcomes["_requests"], "no usage error may reach the model"


def test_missing_key_leaves_no_session_behind(outcomes: dict[str, Any]) -> None:
    listing = outcomes["sessions_after_missing_key"]
    assert listing.code == 0, listing.explain()
    assert listing.stdout.strip() == "", f"the failed `cowork run` left a session behind: {listing.stdout}"


def test_protocol_schema_lists_every_event_type(outcomes: dict[str, Any]) -> None:
    res = outcomes["schema"]
    assert res.code == 0, res.explain()
    schema = json.loads(res.stdout)
    defs = schema["$defs"]
    for name in EVENT_TYPES:
        assert name in defs, f"$defs lacks {name}"
    for name in ("UserMessage", "AssistantMessage", "ToolCall", "ErrorItem", "SessionInfo", "Usage"):
        assert name in defs
    # Each event's `type` discriminator is a constant in the schema.
    assert defs["TurnInterrupted"]["properties"]["type"].get("const") == "turn.interrupted"
    assert set(schema["properties"]) == {"event", "item", "session"}
    event_refs = json.dumps(schema["properties"]["event"])
    for name in EVENT_TYPES:
        assert f"#/$defs/{name}" in event_refs


def test_models_lists_five_providers_and_openai_usable_with_base_url(outcomes: dict[str, Any]) -> None:
    with_url, without_url = outcomes["models_with_base_url"], outcomes["models_without_base_url"]
    assert with_url.code == 0 and without_url.code == 0, with_url.explain() + without_url.explain()
    models = json.loads(with_url.stdout)
    assert [m["model"].split(":")[0] for m in models] == ["openai", "anthropic", "google", "ollama", "local"]
    by_provider = {m["model"].split(":")[0]: m for m in models}
    assert by_provider["openai"]["usable"] is True
    assert "OPENAI_BASE_URL" in by_provider["openai"]["detail"]
    assert by_provider["anthropic"]["usable"] is False and "ANTHROPIC_API_KEY" in by_provider["anthropic"]["detail"]
    assert {m["model"].split(":")[0]: m["usable"] for m in json.loads(without_url.stdout)}["openai"] is False
