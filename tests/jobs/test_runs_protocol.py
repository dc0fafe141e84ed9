"""The run methods over the wire: REST routes and JSON-RPC against a real in-process server with
a dispatching run queue, errors for bad input, and what a read-only token may see and do."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from cowork.engine import Runtime
from cowork.jobs import RunLimits, Runs
from cowork.protocol.rpc import ErrorCode
from cowork.server import Auth, InProcessServer

from fakemodel import reply, text
from server_support import FAST, Rpc


async def test_runs_over_rest_and_a_read_only_token_sees_them_redacted(tmp_path: Path, fake):
    (tmp_path / "tokens").mkdir()
    ws = tmp_path / "ws"
    ws.mkdir()
    auth, _ = Auth.for_bind("0.0.0.0", tmp_path / "tokens")
    runtime = await Runtime.open(f"sqlite+aiosqlite:///{tmp_path / 'cowork.db'}", settings=FAST,
                                 openai_base_url=fake.base_url)
    srv = await InProcessServer.start(runtime, auth, runs=Runs(runtime, limits=RunLimits(poll_seconds=0.05)))
    fake.script(reply(text("Three changes this week.")))
    full = {"Authorization": f"Bearer {auth.full_token}"}
    try:
        async with httpx.AsyncClient(base_url=srv.url + "/api/v1", headers=full) as api:
            made = await api.post("/runs", json={"workspace": str(ws), "prompt": "secret plan for Q3",
                                                 "model": "openai:fake", "approvals": "deny"})
            assert made.status_code == 201, made.text
            run_id = made.json()["run"]["id"]
            async with asyncio.timeout(10):
                while (got := (await api.get(f"/runs/{run_id[:10]}")).json()["run"])["state"] != "completed":
                    await asyncio.sleep(0.05)
            assert got["result"] == "Three changes this week." and got["prompt"] == "secret plan for Q3"
            listed = (await api.get("/runs", params={"state": ["completed"]})).json()["runs"]
            assert [r["id"] for r in listed] == [run_id]
            assert (await api.get("/runs", params={"state": ["queued"]})).json()["runs"] == []

            bad = await api.post("/runs", json={"workspace": "relative/dir", "prompt": "x"})
            assert bad.status_code == 422 and bad.json()["error"]["code"] == ErrorCode.INVALID_PARAMS
            missing = await api.post("/runs", json={"workspace": str(tmp_path / "nope"), "prompt": "x"})
            assert missing.status_code == 404
            pattern = await api.post("/runs", json={"workspace": str(ws), "prompt": "x", "model": "openai:fake",
                                                    "allow": ["bash:"]})
            assert pattern.status_code == 422 and "bad session pattern" in pattern.json()["error"]["message"]
            unknown = await api.get("/runs/run_doesnotexist")
            assert unknown.status_code == 404
            long = await api.post("/runs", json={"workspace": str(ws), "prompt": "x", "approvalTimeout": -1})
            assert long.status_code == 422

        async with Rpc.open(srv.url.replace("http://", "ws://") + "/ws", token=auth.read_only_token) as ro:
            seen = (await ro.ok("run/get", {"runId": run_id}))["run"]
            assert seen["prompt"] == "[redacted]" and seen["workspace"] == "[redacted]"
            assert seen["result"] == "Three changes this week." and seen["state"] == "completed"
            assert (await ro.error("run/submit", {"workspace": str(ws), "prompt": "x"}))["code"] == ErrorCode.READ_ONLY
            assert (await ro.error("run/cancel", {"runId": run_id}))["code"] == ErrorCode.READ_ONLY
    finally:
        await srv.stop()
