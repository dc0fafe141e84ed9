"""Delivery of run outcomes (cowork.jobs.delivery) to real receivers: an SMTP server (aiosmtpd)
started here, and an HTTP receiver that fails twice then accepts; once per run, channel and event,
also when recorded again or picked up by a restarted server; "only if not empty"; the "waits for
you" message of a run whose approval is pending."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import threading
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from cowork.checkpoints import CheckpointSettings
from cowork.config import EngineSettings
from cowork.engine import Runtime
from cowork.jobs import RunLimits, Runs
from cowork.jobs.delivery import Deliveries, SmtpSettings
from cowork.store import runs as records

from engine_support import MODEL, Script

FAST = RunLimits(total=4, per_workspace=4, poll_seconds=0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield inbox, SmtpSettings("127.0.0.1", controller.port, tls="off", sender="cowork@test")
    finally:
        controller.stop()


@pytest.fixture
async def rt(tmp_path: Path):
    runtime = await Runtime.open(f"sqlite+aiosqlite:///{tmp_path / 'cowork.db'}",
                                 settings=EngineSettings(max_steps=4, stream_timeout=5),
                                 checkpoint_settings=CheckpointSettings())
    yield runtime
    await runtime.close()


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    return path


def runs_with(rt: Runtime, **deliveries) -> Runs:
    runs = Runs(rt, limits=FAST)
    runs.deliveries = Deliveries(rt.store, runs.get, retry_base=0.05, **deliveries)
    return runs


async def delivered(runs: Runs, run_id: str, states: set[str], timeout: float = 10) -> list:
    async with asyncio.timeout(timeout):
        while True:
            got = (await runs.get(run_id)).deliveries
            if got and all(d.state in states for d in got):
                return got
            await asyncio.sleep(0.05)


async def test_a_run_ends_and_exactly_one_email_goes_out(rt, ws, smtp):
    inbox, settings = smtp
    rt.use_model(MODEL, Script("Three commits since yesterday: the parser, the docs, a fix.").model)
    runs = runs_with(rt, smtp=settings)
    await runs.start()
    try:
        run = await runs.submit(ws, "Summarise what changed", model=MODEL, approvals="deny",
                                deliver={"channels": [{"type": "email", "to": ["ada@example.com"]}]})
        await runs.wait(run.id, 10)
        [status] = await delivered(runs, run.id, {"sent", "failed"})
        assert (status.kind, status.event, status.state, status.attempts) == ("email", "ended", "sent", 1)
        await runs.deliveries.enqueue(await runs.get(run.id), "ended")  # recorded again: a second watcher
        assert await runs.deliveries.round() > 0
    finally:
        await runs.close()
    assert len(inbox.messages) == 1
    to, message = inbox.messages[0]
    assert to == ["ada@example.com"] and message["Subject"] == "cowork run completed: Summarise what changed"
    assert "Three commits since yesterday" in message.get_payload() and run.id in message.get_payload()


class Receiver(BaseHTTPRequestHandler):
    answers: list[int] = []
    seen: list[tuple[dict, bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).seen.append((dict(self.headers), body))
        status = type(self).answers.pop(0) if type(self).answers else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def receiver():
    Receiver.answers, Receiver.seen = [500, 503], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/cowork"
    finally:
        server.shutdown()


async def test_an_outgoing_webhook_that_fails_twice_then_accepts_is_signed_and_sent_once(rt, ws, receiver):
    rt.use_model(MODEL, Script("All green.").model)
    runs = runs_with(rt, secret="s3cret")
    await runs.start()
    try:
        run = await runs.submit(ws, "Check the build", model=MODEL, approvals="deny",
                                deliver={"channels": [{"type": "webhook", "url": receiver}]})
        [status] = await delivered(runs, run.id, {"sent", "failed"})
    finally:
        await runs.close()
    assert (status.state, status.attempts, status.error) == ("sent", 3, None)
    assert len(Receiver.seen) == 3
    ids = {h["X-Cowork-Delivery"] for h, _ in Receiver.seen}
    assert ids == {f"{run.id}:0:ended"}  # one id for every attempt: a receiver can drop repeats
    headers, body = Receiver.seen[-1]
    assert headers["X-Cowork-Signature-256"] == "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    sent = json.loads(body)
    assert sent["event"] == "ended" and sent["run"]["id"] == run.id and sent["run"]["result"] == "All green."


async def test_a_failing_channel_is_retried_then_given_up_with_the_error(rt, ws):
    rt.use_model(MODEL, Script("done").model)
    runs = runs_with(rt)
    runs.deliveries.max_attempts = 2
    await runs.start()
    try:
        run = await runs.submit(ws, "x", model=MODEL, approvals="deny",
                                deliver={"channels": [{"type": "webhook", "url": f"http://127.0.0.1:{free_port()}/"},
                                                      {"type": "email", "to": ["ada@example.com"]}]})
        got = await delivered(runs, run.id, {"failed"})
    finally:
        await runs.close()
    assert [(d.kind, d.attempts) for d in got] == [("webhook", 2), ("email", 2)]
    assert "ConnectError" in got[0].error and "no SMTP server is configured" in got[1].error


async def test_only_if_not_empty_skips_an_empty_answer(rt, ws, smtp):
    inbox, settings = smtp
    runs = runs_with(rt, smtp=settings)
    run = await runs.submit(ws, "Anything new?", model=MODEL, deliver={
        "channels": [{"type": "email", "to": ["ada@example.com"]}], "only_if_not_empty": True})
    await records.transition(rt.store, run.id, "queued", state="completed", result=None)
    await runs.deliveries.enqueue(await runs.get(run.id), "ended")
    await runs.deliveries.round()
    [status] = (await runs.get(run.id)).deliveries
    assert status.state == "skipped" and "empty" in status.error and inbox.messages == []


async def test_a_waiting_run_mails_that_it_waits_and_a_restarted_server_sends_what_was_pending(
        rt, ws, smtp, tmp_path):
    inbox, settings = smtp
    rt.use_model(MODEL, Script([("write", {"path": "a.txt", "content": "x"})], "Written.").model)
    runs = runs_with(rt, smtp=SmtpSettings("127.0.0.1", free_port(), tls="off"))  # its SMTP server is down
    await runs.start()
    try:
        run = await runs.submit(ws, "Write a.txt", model=MODEL, approvals="wait", approval_timeout=60,
                                deliver={"channels": [{"type": "email", "to": ["ada@example.com"]}]})
        async with asyncio.timeout(10):
            while not (d := (await runs.get(run.id)).deliveries) or d[0].attempts < 1:
                await asyncio.sleep(0.05)
        assert (d[0].event, d[0].state) == ("waiting", "pending")  # failed once, to be tried again
    finally:
        await runs.close()
    later = Deliveries(rt.store, runs.get, smtp=settings, retry_base=0.05)  # the next server, SMTP back up
    async with asyncio.timeout(10):
        while (await runs.get(run.id)).deliveries[0].state != "sent":
            await later.round()
            await asyncio.sleep(0.1)
    [(_, message)] = inbox.messages
    assert message["Subject"] == "cowork run waits for you: Write a.txt"
    assert "waits for 1 approval(s)" in message.get_payload()
    assert (await runs.get(run.id)).state == "waiting_for_approval"  # it still waits: the mail said so


async def test_every_weekday_at_nine_in_berlin_emails_once_a_day_across_a_restart(tmp_path, ws, smtp):
    """The issue's case: "every weekday at 9:00 Europe/Berlin, summarise what changed in this repo
    and email me" — the next fire times are shown, the server restarts in between, and exactly one
    mail a day arrives (Friday, then Monday: nothing on the weekend)."""
    from datetime import UTC, datetime

    from cowork.jobs import Scheduler

    inbox, settings = smtp
    db = f"sqlite+aiosqlite:///{tmp_path / 'cowork.db'}"
    clock = _Clock(datetime(2027, 5, 6, 12, 0, tzinfo=UTC))  # Thursday afternoon
    made = None
    for day in (datetime(2027, 5, 7, 7, 0, 5, tzinfo=UTC),   # Friday 09:00 CEST
                datetime(2027, 5, 8, 7, 0, 5, tzinfo=UTC),   # Saturday: nothing due
                datetime(2027, 5, 10, 7, 0, 5, tzinfo=UTC)):  # Monday, after a restart over the weekend
        rt = await Runtime.open(db, settings=EngineSettings(max_steps=3), checkpoint_settings=CheckpointSettings())
        rt.use_model(MODEL, Script("Two commits: a fix and the docs.").model)
        runs = runs_with(rt, smtp=settings)
        scheduler = Scheduler(runs, dispatch=False, clock=clock)
        await runs.start()
        try:
            if made is None:
                made = await scheduler.create(
                    ws, "Summarise what changed in this repo", {"cron": "0 9 * * 1-5", "timezone": "Europe/Berlin"},
                    model=MODEL, approvals="deny", deliver={"channels": [{"type": "email", "to": ["ada@example.com"]}]})
                assert [t.isoformat() for t in made.next_fires[:2]] == ["2027-05-07T07:00:00+00:00",
                                                                        "2027-05-10T07:00:00+00:00"]
            clock.now = day
            await scheduler.tick()
            await scheduler.tick()  # a second round (or server) fires nothing more
            for run in await runs.list():
                await runs.wait(run.id, 10)
                await delivered(runs, run.id, {"sent", "failed", "skipped"})
        finally:
            await runs.close()
            await rt.close()
    assert [m["Subject"] for _, m in inbox.messages] == ["cowork run completed: Summarise what changed in this repo"] * 2


class _Clock:
    def __init__(self, now) -> None:
        self.now = now

    def __call__(self):
        return self.now
