"""Memory through the real CLI: ``cowork run`` remembers a preference in one session and the next
``cowork run`` (a new session) is offered it; ``cowork memory list | search | show | add | forget |
export | import`` over the same store."""

from __future__ import annotations

import json

from e2e_support import Cowork, message_text, tool_messages
from fakemodel import FakeModelServer, reply, text, tool_call


def test_cowork_run_remembers_a_preference_for_the_next_session(cw: Cowork, srv: FakeModelServer) -> None:
    srv.script(
        reply(tool_call("memory", {"action": "save", "kind": "preference", "scope": "user",
                                   "text": "The user wants dates written as YYYY-MM-DD"})),
        reply(text("Noted.")),
        reply(text("Today is 2026-12-07.")),
    )
    first = cw.task("Remember: I always want dates as YYYY-MM-DD.")
    assert first.code == 0, first.explain()
    assert "Remembered (preference, user)" in tool_messages(srv.requests[1])[0]["content"]
    second = cw.task("What is the date today?")
    assert second.code == 0, second.explain()
    assert first.events[0]["session_id"] != second.events[0]["session_id"]
    system = message_text(srv.requests[2]["messages"][0])
    assert "- [preference] The user wants dates written as YYYY-MM-DD" in system

    listed = cw.run("memory", "list", "--json")
    assert listed.code == 0, listed.explain()
    (memory,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert memory["kind"] == "preference" and memory["session_id"] == first.events[0]["session_id"]
    found = cw.run("memory", "search", "date format")
    assert found.code == 0 and "YYYY-MM-DD" in found.stdout, found.explain()
    shown = cw.run("memory", "show", memory["id"][:10])
    assert shown.code == 0 and "The user wants dates written as YYYY-MM-DD" in shown.stdout, shown.explain()


def test_memory_commands_add_export_import_and_forget(cw: Cowork) -> None:
    added = cw.run("memory", "add", "The staging server is staging.internal", "--kind", "fact")
    assert added.code == 0 and "remembered mem_" in added.stdout, added.explain()
    refused = cw.run("memory", "add", "key AKIAIOSFODNN7EXAMPLE", "--user")
    assert refused.code != 0 and "looks like a credential" in refused.stdout + refused.stderr
    export = cw.workspace / "memories.md"
    assert cw.run("memory", "export", "-o", str(export)).code == 0
    body = export.read_text()
    assert "## fact · workspace" in body and "staging.internal" in body
    export.write_text(body.replace("staging.internal", "staging.example.org") + "\n## rule · user\nNo force pushes.\n")
    imported = cw.run("memory", "import", str(export))
    assert imported.code == 0 and "1 added, 1 updated, 0 unchanged" in imported.stdout, imported.explain()
    listed = [json.loads(line) for line in cw.run("memory", "list", "--json").stdout.splitlines()]
    assert sorted(m["text"] for m in listed) == ["No force pushes.", "The staging server is staging.example.org"]
    gone = cw.run("memory", "forget", listed[0]["id"])
    assert gone.code == 0, gone.explain()
    assert len(cw.run("memory", "list", "--json").stdout.splitlines()) == 1
