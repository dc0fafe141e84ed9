"""Runs through a real ``cowork serve`` process and the real ``cowork`` command: ``cowork run
--background``, ``cowork runs list | show | follow | cancel``, a second client answering a run's
approval, a run queued with no server that the server then starts, and ``kill -9`` during a run."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from pathlib import Path

from cowork.client import AsyncClient

from fakemodel import hang, reply, text, tool_call
from server_support import COWORK, serve_env


def cowork(home: Path, base_url: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([COWORK, *args], capture_output=True, text=True, timeout=timeout,
                          env=serve_env(home, base_url), stdin=subprocess.DEVNULL)


async def state_of(client: AsyncClient, run_id: str, wanted: set[str], timeout: float = 20) -> object:
    async with asyncio.timeout(timeout):
        while True:
            run = (await client.run_get(run_id=run_id)).run
            if run.state in wanted:
                return run
            await asyncio.sleep(0.05)


async def test_a_background_run_from_the_cli_waits_for_a_person_who_answers_from_another_client(
        serve, fake, workspace, tmp_path):
    home = tmp_path / "home"
    fake.script(reply(tool_call("write", {"path": "a.txt", "content": "x"})), reply(text("Wrote a.txt.")))
    srv = await serve()
    done = await asyncio.to_thread(cowork, home, fake.base_url, "run", "--background", "Write a.txt", "--dir",
                                   str(workspace), "--server", srv.url, "--approvals", "wait", "--json")
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    assert run["state"] == "queued" and run["approvals"] == "wait" and run["reason"] == "person"

    async with AsyncClient(srv.url, client_name="second-client") as client:
        waiting = await state_of(client, run["id"], {"waiting_for_approval"})
        assert waiting.pending_approvals == 1
        sessions = (await client.list_sessions()).sessions
        assert [s.pending_approvals for s in sessions if s.id == run["session_id"]] == [1]  # "waiting for you"
        page = await client.subscribe(run["session_id"], after_seq=0)
        asked = None
        while asked is None:
            ev = await page.next(10)
            asked = ev if ev.type == "approval.requested" else None
        await client.respond_approval(asked.approval_id, "once")
        await state_of(client, run["id"], {"completed"})

    followed = await asyncio.to_thread(cowork, home, fake.base_url, "runs", "follow", run["id"][:12], "--server",
                                       srv.url)
    assert followed.returncode == 0, followed.stderr
    assert "Wrote a.txt." in followed.stdout
    assert (workspace / "a.txt").read_text() == "x"
    listed = await asyncio.to_thread(cowork, home, fake.base_url, "runs", "list", "--server", srv.url, "--json")
    assert [json.loads(line)["state"] for line in listed.stdout.splitlines()] == ["completed"]
    shown = await asyncio.to_thread(cowork, home, fake.base_url, "runs", "show", run["id"], "--server", srv.url)
    assert "completed" in shown.stdout and "Wrote a.txt." in shown.stdout and run["session_id"] in shown.stdout
    repl = await asyncio.to_thread(
        lambda: subprocess.run([COWORK, "chat", "--dir", str(workspace), "--server", srv.url], input="/runs\n/exit\n",
                               capture_output=True, text=True, timeout=60, env=serve_env(home, fake.base_url)))
    assert repl.returncode == 0, repl.stderr
    assert "completed" in repl.stdout and "Write a.txt" in repl.stdout and run["id"][:8] in repl.stdout


async def test_a_run_queued_with_no_server_is_started_by_the_server_and_cancel_stops_one(
        serve, fake, workspace, tmp_path):
    home = tmp_path / "home"
    fake.script(reply(text("Done without a server in the command.")), hang(seconds=60))
    queued = await asyncio.to_thread(cowork, home, fake.base_url, "run", "--background", "Say done", "--dir",
                                     str(workspace), "--approvals", "deny")
    assert queued.returncode == 0, queued.stderr
    assert "no server was given" in queued.stdout
    srv = await serve()  # a server on the same store: it starts what was queued
    async with AsyncClient(srv.url) as client:
        [run] = (await client.run_list()).runs
        ended = await state_of(client, run.id, {"completed", "failed"})
        assert ended.state == "completed" and ended.result == "Done without a server in the command."

        hung = (await client.run_submit(workspace=str(workspace), prompt="Take forever", approvals="deny")).run
        await state_of(client, hung.id, {"running"})
        cancelled = await asyncio.to_thread(cowork, home, fake.base_url, "runs", "cancel", hung.id, "--server",
                                            srv.url)
        assert cancelled.returncode == 0 and "cancelled" in cancelled.stdout, cancelled.stdout + cancelled.stderr
        assert (await client.run_get(run_id=hung.id)).run.state == "cancelled"

    refused = await asyncio.to_thread(cowork, home, fake.base_url, "run", "Say done", "--dir", str(workspace),
                                      "--allow", "write")
    assert refused.returncode == 2 and "--background" in refused.stderr


async def test_kill_9_during_a_run_leaves_it_interrupted_and_the_queue_goes_on(serve, fake, workspace):
    fake.script(hang(seconds=60), reply(text("After the crash.")))
    srv = await serve()
    async with AsyncClient(srv.url, reconnect=False) as client:
        run = (await client.run_submit(workspace=str(workspace), prompt="Hang", approvals="deny")).run
        async with asyncio.timeout(20):
            while not fake.requests:  # its turn has started and asked the model
                await asyncio.sleep(0.05)
        later = (await client.run_submit(workspace=str(workspace), prompt="Then this", approvals="deny")).run
        assert await srv.stop(signal.SIGKILL) == -signal.SIGKILL

    srv = await serve()
    async with AsyncClient(srv.url) as client:
        crashed = await state_of(client, run.id, {"interrupted", "completed", "failed"})
        assert crashed.state == "interrupted" and "stopped" in crashed.error, crashed
        after = await state_of(client, later.id, {"completed", "failed", "interrupted"})
        assert after.state == "completed" and after.result == "After the crash."
        turns = (await client.run_list(states=["interrupted"])).runs
        assert [r.id for r in turns] == [run.id]
