"""Hooks in real turns: real hook processes (Python scripts in tmp_path), a real Runtime over
SQLite, and the scripted model server over HTTP, whose requests show what the model read."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from fakemodel import reply, text, tool_call
from hooks_support import MODEL, hook_runs, payloads, run_turn, sent, tool_items, tool_messages, toml_str, user_messages

from cowork.policy import set_trusted
from cowork.protocol import EventAdapter


async def test_a_pre_tool_use_hook_blocks_a_bash_call_and_the_model_reads_why(rt, place, fake):
    command, log = place.recorder("guard", """
        sys.stderr.write("no shell commands that touch files here: use the write tool\\n")
        sys.exit(2)
        """)
    place.hooks(f"""
        [[pre_tool_use]]
        matcher = "bash|edit"
        command = {toml_str(command)}
        timeout = 10
        """)
    fake.script(reply(tool_call("bash", {"command": "touch made.txt"}, id="call_b"),
                      tool_call("read", {"path": "notes.txt"}, id="call_r")),
                reply(text("I could not run it.")))
    session = await rt.create_session(place.workspace, MODEL, "yolo")
    events = await run_turn(rt, session.id, "make a file")

    assert events[-1].type == "turn.completed"
    assert not (place.workspace / "made.txt").exists()
    bash, read = tool_items(events)
    assert bash.status == "denied" and bash.policy.rule == "hook:pre_tool_use"
    assert read.status == "completed"  # the matcher names bash and edit only
    second = fake.requests[1]
    denied = next(m for m in tool_messages(second) if "Not allowed" in m)
    assert "pre_tool_use hook blocked this call" in denied and "use the write tool" in denied

    [run] = hook_runs(events, "pre_tool_use")
    assert (run.exit_code, run.decision, run.tool_name, run.item_id) == (2, "deny", "bash", bash.id)
    assert run.command == command and "use the write tool" in run.reason and run.source.endswith("#pre_tool_use.1")
    [payload] = payloads(log)
    assert payload["event"] == "pre_tool_use" and payload["tool_name"] == "bash"
    assert payload["tool_input"] == {"command": "touch made.txt"} and payload["call_id"] == "call_b"
    assert payload["session_id"] == session.id and payload["turn_id"] == events[0].turn_id
    assert payload["workspace"] == str(place.workspace) and payload["mode"] == "yolo"

    # journaled: what a client reading the journal later gets, as the protocol's event
    stored = [EventAdapter.validate_json(e.data) for e in await rt.journal_page(session.id, 0)]
    [ran] = [e for e in stored if e.type == "hook.ran"]
    assert ran.decision == "deny" and ran.exit_code == 2 and ran.duration_ms >= 0 and ran.event == "pre_tool_use"


async def test_a_hook_that_asks_forces_an_approval_even_in_yolo(rt, place, fake):
    command = place.script("ask", """
        json.load(sys.stdin)
        print(json.dumps({"decision": "ask", "reason": "a person checks every command in this repo"}))
        """)
    place.hooks(f"""
        [[pre_tool_use]]
        matcher = "bash"
        command = {toml_str(command)}
        """)
    fake.script(reply(tool_call("bash", {"command": "echo hi > a.txt"})), reply(text("done")))
    session = await rt.create_session(place.workspace, MODEL, "yolo")
    asked = []

    def answer(ev):
        if ev.type == "approval.requested":
            asked.append(ev)
            rt.respond_approval(ev.approval_id, "once")

    events = await run_turn(rt, session.id, "write hi", on_event=answer)
    assert events[-1].type == "turn.completed"
    [request] = asked
    assert request.rule == "hook:pre_tool_use" and "a person checks every command" in request.reason
    assert request.options == ["once", "deny"]  # "always" could not stand: the hook would ask again
    assert (place.workspace / "a.txt").read_text() == "hi\n"
    assert [r.decision for r in hook_runs(events)] == ["ask"]


async def test_allow_skips_the_approval_but_a_policy_deny_still_wins(rt, place, fake):
    command, log = place.recorder("allow", 'print(json.dumps({"decision": "allow", "reason": "ci bot"}))\n')
    place.hooks(f"""
        [[pre_tool_use]]
        command = {toml_str(command)}
        """)
    fake.script(reply(tool_call("write", {"path": "out.txt", "content": "x"})), reply(text("written")))
    session = await rt.create_session(place.workspace, MODEL, "default")  # a write asks in default mode
    events = await run_turn(rt, session.id, "write out.txt")
    assert "approval.requested" not in [e.type for e in events]
    assert (place.workspace / "out.txt").read_text() == "x"
    [item] = tool_items(events)
    assert item.policy.rule == "hook:pre_tool_use" and item.policy.outcome == "allow"

    await rt.update_session(session.id, mode="read-only")  # the policy denies every write now
    fake.script(reply(tool_call("write", {"path": "out.txt", "content": "y"})), reply(text("could not")))
    events = await run_turn(rt, session.id, "write again")
    [item] = tool_items(events)
    assert item.status == "denied" and (place.workspace / "out.txt").read_text() == "x"
    assert hook_runs(events) == [] and len(payloads(log)) == 1  # a policy-denied call runs no hook


async def test_post_tool_use_context_reaches_the_model(rt, place, fake):
    command, log = place.recorder("lint", """
        print(json.dumps({"context": "lint: notes.txt has 2 warnings (line 1, line 2)"}))
        """)
    place.hooks(f"""
        [[post_tool_use]]
        matcher = "re*"
        command = {toml_str(command)}
        """)
    fake.script(reply(tool_call("read", {"path": "notes.txt"})), reply(text("read it")))
    session = await rt.create_session(place.workspace, MODEL, "yolo")
    events = await run_turn(rt, session.id, "read notes")
    [result] = tool_messages(fake.requests[1])
    assert "alpha" in result and "lint: notes.txt has 2 warnings" in result
    [payload] = payloads(log)
    assert payload["event"] == "post_tool_use" and payload["tool_name"] == "read"
    assert "alpha" in payload["tool_output"] and payload["is_error"] is False
    assert hook_runs(events, "post_tool_use")[0].exit_code == 0


async def test_a_stop_hook_sends_the_agent_back_once(rt, place, fake):
    counter = place.scripts / "stops"
    command, log = place.recorder("stop", f"""
        path = {str(counter)!r}
        n = int(open(path).read()) if os.path.exists(path) else 0
        open(path, "w").write(str(n + 1))
        if n == 0:
            sys.stderr.write("the tests were not run: run them before you finish\\n")
            sys.exit(2)
        """)
    place.hooks(f"""
        [[stop]]
        command = {toml_str(command)}
        """)
    fake.script(reply(text("All done.")), reply(text("Ran the tests: all pass. Done.")))
    session = await rt.create_session(place.workspace, MODEL, "yolo")
    events = await run_turn(rt, session.id, "fix the bug")
    assert events[-1].type == "turn.completed" and len(fake.requests) == 2
    assert "run them before you finish" in user_messages(fake.requests[1])[-1]
    assert [r.decision for r in hook_runs(events, "stop")] == ["block", None]
    first, second = payloads(log)
    assert (first["answer"], first["stop_hook_active"]) == ("All done.", False)
    assert (second["answer"], second["stop_hook_active"]) == ("Ran the tests: all pass. Done.", True)


async def test_a_stop_hook_cannot_keep_a_turn_going_forever(rt, place, fake):
    command = place.script("never", 'sys.stderr.write("not yet\\n"); sys.exit(2)\n')
    place.hooks(f"""
        [[stop]]
        command = {toml_str(command)}
        """)
    fake.default = reply(text("done"))
    session = await rt.create_session(place.workspace, MODEL, "yolo")
    events = await run_turn(rt, session.id, "go")
    assert events[-1].type == "turn.completed"
    assert len(fake.requests) == 4 and len(hook_runs(events, "stop")) == 4  # sent back 3 times, then it ends
    notes = [e.item for e in events if e.type == "item.completed" and e.item.type == "error"]
    assert [n.code for n in notes] == ["hook_loop"] and "3 times" in notes[0].message


async def test_user_prompt_submit_can_refuse_a_prompt_without_calling_the_model(rt, place, fake):
    command = place.script("refuse", """
        data = json.load(sys.stdin)
        if "password" in data["prompt"]:
            sys.stderr.write("prompts must not contain passwords\\n")
            sys.exit(2)
        """)
    place.hooks(f"""
        [[user_prompt_submit]]
        command = {toml_str(command)}
        """)
    session = await rt.create_session(place.workspace, MODEL, "yolo")
    events = await run_turn(rt, session.id, "my password is hunter2, log in")
    assert events[-1].type == "turn.failed" and events[-1].error.code == "hook_blocked"
    assert "prompts must not contain passwords" in events[-1].error.message
    assert fake.requests == []
    fake.script(reply(text("hello")))
    events = await run_turn(rt, session.id, "say hello")
    assert events[-1].type == "turn.completed"
    assert "hunter2" not in sent(fake.requests[0])  # the refused prompt never reached the model's history


async def test_session_start_and_prompt_context_reach_the_model(rt, place, fake):
    start, start_log = place.recorder("start", 'print("The default branch is trunk.")\n')
    submit = place.script("submit", 'json.load(sys.stdin); print(json.dumps({"context": "Ticket ABC-1 is open."}))\n')
    place.hooks(f"""
        [[session_start]]
        command = {toml_str(start)}

        [[user_prompt_submit]]
        command = {toml_str(submit)}
        """)
    fake.script(reply(text("ok")), reply(text("ok again")))
    session = await rt.create_session(place.workspace, MODEL, "yolo")
    first = await run_turn(rt, session.id, "what branch?")
    second = await run_turn(rt, session.id, "and now?")
    assert "The default branch is trunk." in sent(fake.requests[0])
    assert "Ticket ABC-1 is open." in sent(fake.requests[0])
    assert len(hook_runs(first, "session_start")) == 1 and hook_runs(second, "session_start") == []
    assert len(hook_runs(second, "user_prompt_submit")) == 1
    assert [p["source"] for p in payloads(start_log)] == ["startup"]


async def test_a_hanging_hook_is_killed_with_its_process_group(rt, place, fake):
    pidfile = place.scripts / "child.pid"
    command = place.script("hang", f"""
        import subprocess, time
        child = subprocess.Popen(["sleep", "300"])
        open({str(pidfile)!r}, "w").write(str(child.pid))
        time.sleep(300)
        """)
    place.hooks(f"""
        [[pre_tool_use]]
        command = {toml_str(command)}
        timeout = 1
        """)
    fake.script(reply(tool_call("bash", {"command": "echo ran > ran.txt"})), reply(text("ok")))
    session = await rt.create_session(place.workspace, MODEL, "yolo")
    began = time.monotonic()
    events = await run_turn(rt, session.id, "run it")
    assert time.monotonic() - began < 15
    [run] = hook_runs(events, "pre_tool_use")
    assert run.exit_code is None and "timed out after 1 s" in run.error and run.decision is None
    assert run.duration_ms >= 900  # it ran until its timeout
    assert (place.workspace / "ran.txt").read_text() == "ran\n"  # a timeout does not block
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "the hook's child outlived the timeout"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


async def test_bad_toml_fails_the_turn_with_a_clear_error(rt, place, fake):
    path = place.hooks("""
        [[pre_tool_use]
        command = "true"
        """)
    session = await rt.create_session(place.workspace, MODEL, "yolo")
    events = await run_turn(rt, session.id, "hi")
    assert events[-1].type == "turn.failed" and events[-1].error.code == "hooks_error"
    assert str(path) in events[-1].error.message and "not valid TOML" in events[-1].error.message
    assert fake.requests == []


async def test_the_workspace_hooks_file_counts_only_once_the_workspace_is_trusted(rt, place, fake):
    command = place.script("ws", 'sys.stderr.write("the workspace hook ran\\n"); sys.exit(2)\n')
    place.hooks(f"""
        [[user_prompt_submit]]
        command = {toml_str(command)}
        """, workspace=True)
    fake.default = reply(text("ok"))
    session = await rt.create_session(place.workspace, MODEL, "yolo")
    events = await run_turn(rt, session.id, "hello")
    assert events[-1].type == "turn.completed" and hook_runs(events) == []
    set_trusted(place.workspace, True, place.home)
    events = await run_turn(rt, session.id, "hello again")
    assert events[-1].type == "turn.failed" and "the workspace hook ran" in events[-1].error.message


async def test_a_hook_gets_the_scrubbed_environment_in_the_workspace(rt, place, fake, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_secretsecretsecret")
    monkeypatch.setenv("SOME_PLAIN_SETTING", "visible?")
    dump = place.scripts / "env.json"
    command = place.script("env", f"""
        json.load(sys.stdin)
        json.dump({{"env": dict(os.environ), "cwd": os.getcwd()}}, open({str(dump)!r}, "w"))
        """)
    place.hooks(f"""
        [[user_prompt_submit]]
        command = {toml_str(command)}
        """)
    fake.script(reply(text("ok")))
    session = await rt.create_session(place.workspace, MODEL, "yolo")
    await run_turn(rt, session.id, "hi")
    seen = json.loads(dump.read_text())
    env = seen["env"]
    assert "OPENAI_API_KEY" not in env and "GITHUB_TOKEN" not in env and "SOME_PLAIN_SETTING" not in env
    assert not any("sk-hooks-test-canary" in v for v in env.values())
    assert env["COWORK_SESSION_ID"] == session.id and env["COWORK_WORKSPACE"] == str(place.workspace)
    assert env["COWORK_EVENT"] == "user_prompt_submit" and env["PATH"] == os.environ["PATH"]
    assert seen["cwd"] == str(place.workspace)


async def test_a_failing_hook_is_reported_and_does_not_block(rt, place, fake):
    command = place.script("broken", 'sys.stderr.write("Traceback: boom\\n"); sys.exit(1)\n')
    place.hooks(f"""
        [[pre_tool_use]]
        command = {toml_str(command)}
        """)
    fake.script(reply(tool_call("bash", {"command": "echo ok > ok.txt"})), reply(text("ok")))
    session = await rt.create_session(place.workspace, MODEL, "yolo")
    events = await run_turn(rt, session.id, "go")
    [run] = hook_runs(events)
    assert run.exit_code == 1 and run.decision is None and run.error == "exited with status 1: Traceback: boom"
    assert (place.workspace / "ok.txt").exists()


async def test_a_client_over_the_websocket_sees_hook_ran(place, fake, tmp_path):
    from cowork.client import AsyncClient
    from cowork.engine import Runtime
    from cowork.hooks import extension
    from cowork.protocol import is_terminal
    from cowork.server import InProcessServer

    command = place.script("deny", 'sys.stderr.write("not on a Friday\\n"); sys.exit(2)\n')
    place.hooks(f"""
        [[pre_tool_use]]
        matcher = "write"
        command = {toml_str(command)}
        """)
    fake.script(reply(tool_call("write", {"path": "a.txt", "content": "x"})), reply(text("ok")))
    runtime = await Runtime.open(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}", openai_base_url=fake.base_url,
                                 extensions=[extension()])
    server = await InProcessServer.start(runtime)
    try:
        async with AsyncClient(server.url, client_name="hooks-test") as client:
            session = await client.create_session(str(place.workspace), model=MODEL, mode="yolo")
            sub = await client.subscribe(session.id)
            await client.start_turn(session.id, [{"type": "text", "text": "write a.txt"}])
            events = []
            async for event in sub:
                events.append(event)
                if is_terminal(event):
                    break
    finally:
        await server.stop()
    [ran] = [e for e in events if e.type == "hook.ran"]
    assert (ran.event, ran.decision, ran.tool_name, ran.reason) == ("pre_tool_use", "deny", "write", "not on a Friday")
    assert not (place.workspace / "a.txt").exists()
