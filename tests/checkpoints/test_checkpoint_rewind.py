"""Checkpoints taken by turns (write, edit and bash calls, through the engine), /undo-style
restores and turn/rewind, over a real store and the real tools."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_support import MODEL, Script, collect, user_texts

from cowork.engine import TurnInProgress


async def run_turn(rt, session_id: str, script: Script, text: str):
    started = await rt.start_turn(session_id, text)
    after = (await rt.get_session(session_id)).last_seq
    events = await collect(rt, session_id, after_seq=max(0, after - 3))
    return started.turn_id, events


async def test_turns_checkpoint_before_each_change_and_rewind_restores_files_and_history(runtime, workspace: Path):
    script = Script(
        [("write", {"path": "a.txt", "content": "one\n"})],
        [("bash", {"command": "echo made-by-bash > b.txt && chmod 600 b.txt"})],
        "first done",
        [("edit", {"path": "a.txt", "old_string": "one", "new_string": "two"})],
        [("bash", {"command": "rm b.txt && mkdir -p deep/er && printf x > deep/er/c.bin"})],
        "second done",
        "third answer",
    )
    runtime.use_model(MODEL, script.model)
    session = await runtime.create_session(workspace, MODEL, "yolo")
    first, events = await run_turn(runtime, session.id, script, "make files")
    created = [e for e in events if e.type == "checkpoint.created"]
    assert [e.kind for e in created] == ["turn", "tool:write", "tool:bash"]
    assert (workspace / "b.txt").read_text() == "made-by-bash\n"

    second, events = await run_turn(runtime, session.id, script, "change them")
    assert (workspace / "a.txt").read_text() == "two\n" and not (workspace / "b.txt").exists()
    listed = await runtime.checkpoints.list(session.id)
    assert [c.kind for c in listed] == ["tool:bash", "tool:edit", "turn", "tool:bash", "tool:write", "turn"]
    assert listed[0].item_id is not None and listed[2].turn_id == second

    # what changed since the second turn's checkpoint
    diff = await runtime.checkpoints.diff(listed[2].id)
    changes = {c.path: c.change for c in diff.changes}
    assert changes == {"a.txt": "modified", "b.txt": "deleted", "deep": "added", "deep/er": "added",
                       "deep/er/c.bin": "added"}
    assert "-one\n+two\n" in next(c.diff for c in diff.changes if c.path == "a.txt")

    with_turn = await runtime.rewind_turn(session.id, second, "both")
    assert with_turn.rewound_turn_ids == [second]
    assert with_turn.files is not None and not with_turn.files.conflicts
    assert (workspace / "a.txt").read_text() == "one\n"
    assert (workspace / "b.txt").read_text() == "made-by-bash\n"
    assert (workspace / "b.txt").stat().st_mode & 0o777 == 0o600
    assert not (workspace / "deep").exists()

    _, events = await run_turn(runtime, session.id, script, "and now?")
    sent = script.calls[-1][0]
    assert "change them" not in user_texts(sent) and "make files" in user_texts(sent)
    replay = [e.type for e in await runtime.store.events_after(session.id, 0)]
    assert "turn.rewound" in replay and "checkpoint.restored" in replay


async def test_a_persons_edit_is_a_conflict_and_is_kept_unless_confirmed(runtime, workspace: Path):
    script = Script([("write", {"path": "a.txt", "content": "agent\n"})], "done")
    runtime.use_model(MODEL, script.model)
    session = await runtime.create_session(workspace, MODEL, "yolo")
    turn, _ = await run_turn(runtime, session.id, script, "write a")
    (workspace / "a.txt").write_text("person edited this\n")
    (workspace / "notes.txt").write_text("person too\n")
    before = [c for c in await runtime.checkpoints.list(session.id) if c.kind == "turn"][0]

    preview = await runtime.checkpoints.restore(before.id)
    assert preview.preview and set(preview.conflicts) == {"a.txt", "notes.txt"}
    assert (workspace / "a.txt").read_text() == "person edited this\n"  # a preview changes nothing

    kept = await runtime.checkpoints.restore(before.id, preview=False)
    assert set(kept.skipped) == {"a.txt", "notes.txt"} and kept.restored == []
    assert (workspace / "a.txt").read_text() == "person edited this\n"

    done = await runtime.checkpoints.restore(before.id, preview=False, overwrite=["a.txt"])
    assert done.restored == ["a.txt"] and done.skipped == ["notes.txt"]
    assert not (workspace / "a.txt").exists()
    assert (workspace / "notes.txt").read_text() == "person too\n"

    undo = await runtime.checkpoints.restore(done.checkpoint_id, preview=False)  # a restore can be undone
    assert undo.restored == ["a.txt"] and not undo.conflicts
    assert (workspace / "a.txt").read_text() == "person edited this\n"


async def test_rewind_is_refused_while_a_turn_runs(runtime, workspace: Path):
    script = Script([("bash", {"command": "sleep 5"})])
    runtime.use_model(MODEL, script.model)
    session = await runtime.create_session(workspace, MODEL, "yolo")
    started = await runtime.start_turn(session.id, "wait")
    with pytest.raises(TurnInProgress):
        await runtime.rewind_turn(session.id, started.turn_id, "conversation")
    await runtime.interrupt(session.id)
    # once the turn has ended the same rewind goes through
    rewound = await runtime.rewind_turn(session.id, started.turn_id, "conversation")
    assert rewound.rewound_turn_ids == [started.turn_id]
