"""Undo over the real server (JSON-RPC and REST), from `cowork chat` (piped) and from
`cowork checkpoints`, for changes made by `bash` and `write` in turns of the scripted fake model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from fakemodel import FakeModelServer, reply, text, tool_call
from server_support import MODEL, Rpc, running_server

COWORK = str(Path(sys.executable).parent / "cowork")


@pytest.fixture
def fake():
    with FakeModelServer() as s:
        yield s


async def turn(rpc: Rpc, session_id: str, message: str) -> str:
    started = await rpc.ok("turn/start", {"sessionId": session_id, "input": [{"type": "text", "text": message}]})
    await rpc.wait_event(lambda e: e["turn_id"] == started["turnId"] and e["type"] == "turn.completed")
    return started["turnId"]


async def test_list_diff_restore_and_rewind_over_the_protocol(tmp_path, fake, workspace, monkeypatch):
    monkeypatch.setenv("COWORK_HOME", str(tmp_path / "home"))
    fake.script(reply(tool_call("bash", {"command": "printf 'from bash\\n' > made.txt"})),
                reply(tool_call("write", {"path": "notes.txt", "content": "rewritten\n"})), reply(text("done")),
                reply(text("second answer")))
    async with running_server(tmp_path / "cowork.db", fake.base_url) as server, Rpc.open(server.ws_url) as rpc:
        session = await rpc.create_session(workspace, mode="yolo")
        await rpc.ok("session/subscribe", {"sessionId": session})
        first = await turn(rpc, session, "make changes")
        assert (workspace / "made.txt").read_text() == "from bash\n"
        created = [e for e in rpc.events if e["type"] == "checkpoint.created"]
        assert [e["kind"] for e in created] == ["turn", "tool:bash", "tool:write"]

        listed = (await rpc.ok("checkpoint/list", {"sessionId": session}))["checkpoints"]
        before_turn = next(c for c in listed if c["kind"] == "turn")
        diff = await rpc.ok("checkpoint/diff", {"checkpointId": before_turn["id"]})
        assert {c["path"]: c["change"] for c in diff["changes"]} == {"made.txt": "added", "notes.txt": "modified"}
        preview = await rpc.ok("checkpoint/restore", {"checkpointId": before_turn["id"], "paths": ["made.txt"]})
        assert preview["preview"] and [c["path"] for c in preview["changes"]] == ["made.txt"]
        assert (workspace / "made.txt").exists()

        async with httpx.AsyncClient(base_url=server.url, trust_env=False) as http:
            got = (await http.get(f"/api/v1/sessions/{session}/checkpoints")).json()
            assert [c["id"] for c in got["checkpoints"]] == [c["id"] for c in listed]
            done = (await http.post(f"/api/v1/checkpoints/{before_turn['id']}/restore",
                                    json={"preview": False, "paths": ["made.txt"]})).json()
        assert done["restored"] == ["made.txt"] and not (workspace / "made.txt").exists()
        assert (workspace / "notes.txt").read_text() == "rewritten\n"  # not among the paths
        error = await rpc.error("checkpoint/restore", {"checkpointId": before_turn["id"], "paths": ["../x"]})
        assert error["code"] == -32602

        await turn(rpc, session, "again")
        rewound = await rpc.ok("turn/rewind", {"sessionId": session, "turnId": first, "restore": "both"})
        assert rewound["rewoundTurnIds"][0] == first and len(rewound["rewoundTurnIds"]) == 2
        assert (workspace / "notes.txt").read_text() == "alpha\nbeta\n" and not (workspace / "made.txt").exists()
        await rpc.wait_type("turn.rewound", session)
        again = await rpc.error("turn/rewind", {"sessionId": session, "turnId": first})
        assert again["code"] == -32004


def cowork(args: list[str], home: Path, base_url: str, input: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COWORK_", "OPENAI_"))}
    env.update(COWORK_HOME=str(home), OPENAI_BASE_URL=base_url, OPENAI_API_KEY="test", COWORK_STREAM_TIMEOUT="5",
               COLUMNS="200", NO_COLOR="1")
    return subprocess.run([COWORK, *args], env=env, input=input, capture_output=True, text=True, timeout=90)


def test_undo_from_chat_and_restore_from_the_cli(tmp_path, fake, workspace):
    home = tmp_path / "home"
    fake.script(reply(tool_call("bash", {"command": "rm notes.txt && mkdir out && echo 1 > out/n"})),
                reply(text("removed")))
    chat = cowork(["chat", "--dir", str(workspace), "--model", MODEL, "--mode", "yolo"], home, fake.base_url,
                  input="remove notes\n/checkpoints\n/undo\n")
    assert chat.returncode == 0, chat.stderr
    assert "tool:bash" in chat.stdout and "restored" in chat.stdout
    assert (workspace / "notes.txt").read_text() == "alpha\nbeta\n" and not (workspace / "out").exists()

    listed = cowork(["checkpoints", "list", "--dir", str(workspace), "--json"], home, fake.base_url)
    assert listed.returncode == 0, listed.stderr
    undo_id = next(line for line in listed.stdout.splitlines() if '"kind":"restore"' in line).split('"')[3]
    back = cowork(["checkpoints", "restore", undo_id, "--yes", "--dir", str(workspace)], home, fake.base_url)  # undo the undo
    assert back.returncode == 0, back.stderr
    assert not (workspace / "notes.txt").exists() and (workspace / "out" / "n").read_text() == "1\n"
    shown = cowork(["checkpoints", "diff", undo_id, "--dir", str(workspace)], home, fake.base_url)
    assert shown.returncode == 0, shown.stderr
    assert "no changes" in shown.stdout
    elsewhere = cowork(["checkpoints", "restore", undo_id, "--yes", "--dir", str(tmp_path)], home, fake.base_url)
    assert elsewhere.returncode != 0 and "belongs to" in elsewhere.stdout + elsewhere.stderr
