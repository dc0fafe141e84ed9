"""``run/subscribe``: a client is told every change of a run as it happens (``run.updated``), a
read-only token sees it redacted, changes made by another server of the store are told too, and
the SDK's ``watch_runs`` loses nothing across a reconnect — real servers, a real SQLite store and
real turns, with a scripted model."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from cowork.client import AsyncClient, Client
from cowork.engine import Runtime
from cowork.jobs import RunLimits, Runs
from cowork.protocol.rpc import RUN_NOTIFICATION
from cowork.server import Auth, InProcessServer

from engine_support import MODEL, Script
from fakemodel import reply, text, tool_call
from server_support import FAST, Rpc

QUICK = RunLimits(poll_seconds=0.05)


async def served(tmp_path: Path, base_url: str, auth: Auth | None = None) -> tuple[InProcessServer, Runs]:
    runtime = await Runtime.open(f"sqlite+aiosqlite:///{tmp_path / 'cowork.db'}", settings=FAST,
                                 openai_base_url=base_url)
    runs = Runs(runtime, limits=QUICK)
    return await InProcessServer.start(runtime, auth, runs=runs), runs


async def updates_until(rpc: Rpc, run_id: str, state: str, timeout: float = 15) -> list[dict[str, Any]]:
    """The ``run.updated`` params of ``run_id`` that ``rpc`` receives, up to one in ``state``."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while True:
            frame = await rpc._other.get()
            assert frame.get("method") == RUN_NOTIFICATION, frame
            run = frame["params"]["run"]
            if run["id"] == run_id:
                seen.append(run)
                if run["state"] == state:
                    return seen


def ws_url(srv: InProcessServer) -> str:
    return srv.url.replace("http://", "ws://") + "/ws"


async def test_a_subscriber_is_told_every_state_of_a_run_and_a_read_only_one_sees_it_redacted(tmp_path, fake):
    (tmp_path / "tokens").mkdir()
    ws = tmp_path / "ws"
    ws.mkdir()
    auth, _ = Auth.for_bind("0.0.0.0", tmp_path / "tokens")
    srv, _runs = await served(tmp_path, fake.base_url, auth)
    fake.script(reply(tool_call("write", {"path": "a.txt", "content": "x"})), reply(text("Wrote a.txt.")),
                reply(text("Second one done.")))
    try:
        async with Rpc.open(ws_url(srv), token=auth.full_token) as full, \
                Rpc.open(ws_url(srv), token=auth.read_only_token) as ro:
            assert await full.ok("run/subscribe", {}) == {"runs": []}
            assert await ro.ok("run/subscribe", {"workspace": str(ws)}) == {"runs": []}
            run = (await full.ok("run/submit", {"workspace": str(ws), "prompt": "secret plan: write a.txt",
                                                "model": "openai:fake", "approvals": "wait"}))["run"]
            waiting = await updates_until(full, run["id"], "waiting_for_approval")
            assert waiting[0]["state"] == "queued" and waiting[-1]["pending_approvals"] == 1

            await full.ok("session/subscribe", {"sessionId": run["session_id"]})
            asked = await full.wait_type("approval.requested")
            await full.ok("approval/respond", {"approvalId": asked["approval_id"], "decision": "once"})
            rest = await updates_until(full, run["id"], "completed")
            told = waiting + rest
            states = [r["state"] for r in told]
            assert states[0] == "queued" and states[-1] == "completed" and "waiting_for_approval" in states
            assert states.index("waiting_for_approval") < len(states) - 1 and states[-2] != "waiting_for_approval"
            stamps = [r["updated_at"] for r in told]
            assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)  # each state told once, in order
            assert told[-1]["result"] == "Wrote a.txt." and told[-1]["prompt"] == "secret plan: write a.txt"

            seen_ro = await updates_until(ro, run["id"], "completed")
            assert {r["prompt"] for r in seen_ro} == {"[redacted]"} and {r["workspace"] for r in seen_ro} == {
                "[redacted]"}
            assert seen_ro[-1]["result"] == "Wrote a.txt."

            assert await ro.ok("run/unsubscribe") == {}
            second = (await full.ok("run/submit", {"workspace": str(ws), "prompt": "second", "model": "openai:fake",
                                                   "approvals": "deny"}))["run"]
            await updates_until(full, second["id"], "completed")
            await asyncio.sleep(0.3)
            assert ro._other.empty()  # unsubscribed: told nothing more

            # a second subscription replaces the first and its answer lists the runs now
            listed = (await full.ok("run/subscribe", {"limit": 1}))["runs"]
            assert [r["id"] for r in listed] == [second["id"]]
            bad = await full.error("run/subscribe", {"limit": 501})
            assert bad["code"] == -32602
    finally:
        await srv.stop()


async def test_changes_made_by_another_server_of_the_store_are_told(tmp_path):
    db = tmp_path / "cowork.db"
    ws = tmp_path / "ws"
    ws.mkdir()
    url = f"sqlite+aiosqlite:///{db}"
    here, there = await Runtime.open(url, settings=FAST), await Runtime.open(url, settings=FAST)
    there.use_model(MODEL, Script("Done over there.").model)
    watching, working = Runs(here, dispatch=False), Runs(there, limits=QUICK)
    await working.start()
    try:
        watch = watching.feed.watch(str(ws.resolve()))
        elsewhere = watching.feed.watch(str(tmp_path))  # another workspace: told nothing
        run = await working.submit(ws, "Say done", model=MODEL, approvals="deny")
        states = []
        async with asyncio.timeout(15):
            async for info in watch:
                assert info.id == run.id
                states.append(info.state)
                if info.state == "completed":
                    break
        assert states[-1] == "completed" and info.result == "Done over there."
        assert states == sorted(set(states), key=states.index)  # no state told twice
        got = asyncio.ensure_future(elsewhere.__anext__())
        await asyncio.sleep(1.5)  # more than one poll
        assert not got.done()
        got.cancel()
        watch.close()
        elsewhere.close()
    finally:
        await working.close()
        await watching.close()
        await here.close()
        await there.close()


async def test_watch_runs_in_the_sdk_loses_nothing_across_a_reconnect(tmp_path, fake):
    ws = tmp_path / "ws"
    ws.mkdir()
    srv, runs = await served(tmp_path, fake.base_url)
    fake.script(reply(text("First done.")), reply(text("Second done.")))
    try:
        async with AsyncClient(srv.url, reconnect_timeout=10) as client:
            updates = await client.watch_runs(str(ws))
            assert updates.runs == []
            first = await client.run_submit(workspace=str(ws), prompt="first", model="openai:fake", approvals="deny")
            async with asyncio.timeout(15):
                while (got := await updates.next()).state != "completed":
                    assert got.id == first.run.id
            for conn in list(srv._server.server_state.connections):  # drop the socket, no close frame
                conn.transport.abort()
            second = await runs.submit(ws, "second", model="openai:fake", approvals="deny")  # while it is away
            async with asyncio.timeout(15):
                while (got := await updates.next()).id != second.id or got.state != "completed":
                    assert got.id == second.id  # the first run is not told again
            assert got.result == "Second done." and client.connected
            await updates.close()
            await updates.close()  # idempotent
            async with asyncio.timeout(2):
                assert [r async for r in updates] == []

        def blocking() -> list[str]:
            with Client(srv.url) as sync:
                with sync.watch_runs(limit=5) as watched:
                    return [r.prompt for r in watched.runs]

        assert await asyncio.to_thread(blocking) == ["second", "first"]
    finally:
        await srv.stop()


def test_run_updated_is_in_the_schema_and_the_docs():
    doc = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text()
    assert "`run.updated`" in doc and "run/subscribe" in doc
    schema = json.loads((Path(__file__).parents[2] / "docs" / "protocol.schema.json").read_text())
    assert RUN_NOTIFICATION in schema["notifications"]
