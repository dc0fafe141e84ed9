"""A turn that stopped at a limit is not shown as a success: only ``end_turn`` gets the check
mark; the step and output limits say the task may be unfinished."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from rich.console import Console

from cowork.cli.render import Renderer
from cowork.protocol import TurnCompleted


def _end_line(stop_reason: str) -> str:
    out = io.StringIO()
    renderer = Renderer(Console(file=out, width=200, color_system=None), live=False)
    renderer.event(TurnCompleted(session_id="ses_1", seq=9, turn_id="turn_1", ts=datetime.now(UTC), stop_reason=stop_reason,
                                 duration_ms=1200, usage={"input_tokens": 10, "output_tokens": 2, "requests": 1}))
    return out.getvalue()


def test_a_finished_turn_is_done() -> None:
    assert _end_line("end_turn").startswith("✓ done")


@pytest.mark.parametrize("stop_reason, words", [("max_steps", "stopped at the step limit"),
                                                ("max_tokens", "output limit reached")])
def test_a_turn_cut_short_by_a_limit_says_so_without_a_check_mark(stop_reason: str, words: str) -> None:
    line = _end_line(stop_reason)
    assert "✓" not in line and words in line and "the task may be unfinished" in line


@pytest.mark.parametrize("code, message", [
    ("no_changes", "the answer says files were changed, but no tool changed anything in this turn"),
    ("unparsed_tool_call", "the model wrote a tool call cowork could not read, so it never ran"),
])
def test_a_turn_with_a_warning_shows_it_instead_of_a_check_mark(code: str, message: str) -> None:
    out = io.StringIO()
    renderer = Renderer(Console(file=out, width=200, color_system=None), live=False)
    renderer.event(TurnCompleted(session_id="ses_1", seq=9, turn_id="turn_1", ts=datetime.now(UTC), stop_reason="end_turn",
                                 duration_ms=1200, usage={"input_tokens": 10, "output_tokens": 2, "requests": 1},
                                 warnings=[{"code": code, "message": message}]))
    text = out.getvalue()
    assert "✓" not in text and f"! {message}" in text and "the task may not be" in text
