"""Bad frames get JSON-RPC errors; the connection, the server and the journal stay whole."""

from __future__ import annotations

import asyncio
import json

from fakemodel import reply, text
from server_support import TERMINAL, Rpc, seqs

from cowork.protocol.rpc import ErrorCode
from cowork.server.ws import MAX_IN_FLIGHT, MAX_REQUEST_BYTES


async def test_bad_frames_get_errors_and_the_connection_stays(server, fake, workspace):
    fake.script(reply(text("still here")))
    async with Rpc.open(server.ws_url) as c:
        sid = await c.create_session(workspace)
        await c.ok("session/subscribe", {"sessionId": sid})

        await c.send_raw("{not json")
        assert (await c.next_other())["error"]["code"] == ErrorCode.PARSE_ERROR
        await c.send_raw(json.dumps("a string"))
        assert (await c.next_other())["error"]["code"] == ErrorCode.INVALID_REQUEST
        await c.send_raw(json.dumps({"jsonrpc": "1.0", "id": 7, "method": "session/list"}))
        answer = await c.next_other()
        assert answer["error"]["code"] == ErrorCode.INVALID_REQUEST and answer["id"] == 7
        await c.send_raw(json.dumps({"jsonrpc": "2.0", "id": 8, "method": 5}))
        assert (await c.next_other())["error"]["code"] == ErrorCode.INVALID_REQUEST
        await c.send_raw(json.dumps([]))
        assert (await c.next_other())["error"]["code"] == ErrorCode.INVALID_REQUEST
        await c.send_raw(b'{"jsonrpc": "2.0", "id": "bin", "method": "models/list"}')  # a binary frame
        assert "result" in await c.next_other()

        # a notification (no id) is never answered, even when it fails
        await c.send_raw(json.dumps({"jsonrpc": "2.0", "method": "no/such"}))

        # a 10 MB frame: refused with an error, connection kept
        big = json.dumps({"jsonrpc": "2.0", "id": "big", "method": "turn/start",
                          "params": {"sessionId": sid, "input": [{"type": "text", "text": "x" * 10_000_000}]}})
        assert len(big) > MAX_REQUEST_BYTES
        await c.send_raw(big)
        too_big = await c.next_other(timeout=20)
        assert too_big["error"]["code"] == ErrorCode.INVALID_REQUEST and "larger than" in too_big["error"]["message"]

        # a batch mixing good and bad requests, answered as one array (the notification inside is not)
        await c.send_raw(json.dumps([
            {"jsonrpc": "2.0", "id": "b1", "method": "session/get", "params": {"sessionId": sid}},
            {"jsonrpc": "2.0", "id": "b2", "method": "nope"},
            {"jsonrpc": "2.0", "method": "models/list"},
            1,
        ]))
        batch = await c.next_other()
        assert [a.get("id") for a in batch] == ["b1", "b2", None]
        assert "result" in batch[0] and batch[1]["error"]["code"] == ErrorCode.METHOD_NOT_FOUND
        assert batch[2]["error"]["code"] == ErrorCode.INVALID_REQUEST

        # and the connection still works: a turn runs and its events arrive gapless
        turn = await c.start(sid, "are you there?")
        await c.wait_event(lambda e: e["type"] in TERMINAL and e["turn_id"] == turn)
        assert seqs(c.events, sid) == list(range(1, len(c.events) + 1))
        assert c._other.empty(), "something was answered that should not have been"


async def test_a_flood_of_requests_is_answered_in_full(server, workspace):
    async with Rpc.open(server.ws_url) as c, Rpc.open(server.ws_url) as other:
        sid = await c.create_session(workspace)
        n = MAX_IN_FLIGHT * 20
        frames = [json.dumps({"jsonrpc": "2.0", "id": i, "method": "session/get", "params": {"sessionId": sid}})
                  for i in range(10_000, 10_000 + n)]
        await asyncio.gather(*(c.send_raw(f) for f in frames))
        answers = [await c.next_other(timeout=30) for _ in range(n)]
        assert sorted(a["id"] for a in answers) == list(range(10_000, 10_000 + n))
        assert all(a["result"]["session"]["id"] == sid for a in answers)
        # meanwhile other clients are served
        assert (await other.ok("session/get", {"sessionId": sid}))["session"]["id"] == sid
