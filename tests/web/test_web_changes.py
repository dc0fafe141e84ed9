"""The changes panel: what a session changed, file by file; restore one file, undo one turn, rewind
the conversation, browse the checkpoints — all through the checkpoint API, in a real browser."""

from __future__ import annotations

from pathlib import Path

from fakemodel import FakeModelServer, reply, text, tool_call
from web_support import Cowork, shot, tid


def changed(page) -> dict[str, str]:
    page.wait_for_selector(f'{tid("changes-panel")} .scope-line:not(:has-text("Loading"))')
    return {e.get_attribute("data-path"): e.get_attribute("data-change")
            for e in page.query_selector_all(tid("file-change"))}


def wait_changed(page, expected: dict[str, str]) -> None:
    """Wait until the panel lists exactly ``expected`` (path -> added | modified | deleted)."""
    try:
        _wait_changed(page, expected)
    except Exception as e:
        raise AssertionError(f"the panel shows {changed(page)}, not {expected}") from e


def _wait_changed(page, expected: dict[str, str]) -> None:
    page.wait_for_function("""expected => {
        const got = {};
        for (const e of document.querySelectorAll('[data-testid="file-change"]')) got[e.dataset.path] = e.dataset.change;
        return JSON.stringify(got, Object.keys(got).sort()) === JSON.stringify(expected, Object.keys(expected).sort());
    }""", arg=expected, timeout=8000)


def test_changes_panel_restores_one_file_undoes_a_turn_and_rewinds_the_conversation(
        cowork: Cowork, fake: FakeModelServer, new_page, workspace: Path) -> None:
    (workspace / "keep.txt").write_text("original\n")
    fake.script(
        reply(tool_call("write", {"path": "a.txt", "content": "one\n"})),
        reply(tool_call("write", {"path": "b.txt", "content": "two\n"})),
        reply(tool_call("edit", {"path": "keep.txt", "old_string": "original", "new_string": "changed"})),
        reply(text("Made a.txt and b.txt, changed keep.txt.")),
        reply(tool_call("edit", {"path": "a.txt", "old_string": "one", "new_string": "ONE"})),
        reply(text("Shouted a.txt.")),
    )
    sid = cowork.create_session(workspace, title="changes", mode="yolo")
    page = new_page(f"{cowork.url}/sessions/{sid}")
    for n, message in enumerate(("make the files", "shout a.txt"), start=1):
        page.fill(tid("composer-input"), message)
        page.keyboard.press("Enter")
        page.wait_for_selector(f'{tid("turn")}:nth-of-type({n})[data-status="completed"]')
    assert (workspace / "a.txt").read_text() == "ONE\n"

    # Wide screens open the panel by itself; the whole session is compared with its start.
    page.wait_for_selector(tid("changes-panel"))
    wait_changed(page, {"a.txt": "added", "b.txt": "added", "keep.txt": "modified"})
    keep = page.query_selector(tid("file-change", path="keep.txt"))
    assert "-original" in keep.text_content() and "+changed" in keep.text_content()
    page.click(tid("diff-mode-toggle"))
    page.wait_for_selector(f'{tid("file-change", path="keep.txt")} .diff-split')
    page.click('button:has-text("Checkpoints")')
    assert len(page.query_selector_all(tid("checkpoint-entry"))) >= 2
    shot(page, "changes")

    # Undo the second turn: a.txt goes back to what the first turn left; the conversation stays.
    second = page.get_attribute(f'{tid("turn")}:nth-of-type(2)', "data-turn-id")
    page.select_option(tid("changes-scope"), f"turn:{second}")
    wait_changed(page, {"a.txt": "modified"})
    page.click(tid("undo-turn"))
    page.wait_for_selector(f'{tid("rewind-preview")} >> text=a.txt')
    page.click(tid("restore-confirm"))
    assert "1 path restored" in page.wait_for_selector(tid("restore-result")).text_content()
    page.keyboard.press("Escape")
    assert (workspace / "a.txt").read_text() == "one\n"
    assert page.get_attribute(f'{tid("turn")}:nth-of-type(2)', "class").count("turn-rewound") == 0

    page.select_option(tid("changes-scope"), "session")
    wait_changed(page, {"a.txt": "added", "b.txt": "added", "keep.txt": "modified"})
    # Restore one file: b.txt did not exist at the start, so restoring it removes it.
    page.click(f'{tid("file-change", path="b.txt")} {tid("restore-file")}')
    page.wait_for_selector(f'{tid("restore-preview")} >> text=b.txt')
    page.click(tid("restore-confirm"))
    page.wait_for_selector(tid("restore-result"))
    page.keyboard.press("Escape")
    assert not (workspace / "b.txt").exists()
    assert (workspace / "a.txt").read_text() == "one\n" and (workspace / "keep.txt").read_text() == "changed\n"
    wait_changed(page, {"a.txt": "added", "keep.txt": "modified"})

    # Rewind the conversation to before the second turn (files untouched): greyed, out of history.
    page.click(f'{tid("turn")}:nth-of-type(2) {tid("rewind-turn")}')
    page.click(tid("rewind-conversation"))
    assert "1 turn rewound" in page.wait_for_selector(tid("restore-result")).text_content()
    page.keyboard.press("Escape")
    page.wait_for_selector(f'{tid("turn")}:nth-of-type(2).turn-rewound')
    assert (workspace / "a.txt").read_text() == "one\n"
    fake.script(reply(text("fine")))
    page.fill(tid("composer-input"), "what do you remember?")
    page.keyboard.press("Enter")
    page.wait_for_selector(f'{tid("turn")}:nth-of-type(3)[data-status="completed"]')
    history = " ".join(str(m.get("content")) for m in fake.requests[-1]["messages"] if m.get("role") == "user")
    assert "make the files" in history and "shout a.txt" not in history
