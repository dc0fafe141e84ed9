"""Schedules through a real ``cowork serve`` and the real ``cowork schedules`` command: a
schedule created from the CLI shows its next fire times, survives a restart between its creation
and its fire time, fires once, and is paused, run now, shown and removed."""

from __future__ import annotations

import asyncio
import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cowork.client import AsyncClient

from fakemodel import reply, text
from server_support import COWORK, serve_env


def flat(s: str) -> str:
    """Rich's output with its line wrapping undone."""
    return " ".join(s.split())


def cowork(home: Path, base_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([COWORK, *args], capture_output=True, text=True, timeout=60,
                          env={**serve_env(home, base_url), "TZ": "Europe/Berlin", "COLUMNS": "200"}, stdin=subprocess.DEVNULL)


async def test_a_schedule_made_in_the_cli_survives_a_restart_and_fires_once(serve, fake, workspace, tmp_path):
    home = tmp_path / "home"
    fake.script(reply(text("Here is the summary.")), reply(text("And again, by hand.")))
    srv = await serve()
    at = (datetime.now(UTC) + timedelta(seconds=6)).replace(microsecond=0)
    made = await asyncio.to_thread(cowork, home, fake.base_url, "schedules", "add", "Summarise what changed",
                                   "--dir", str(workspace), "--at", at.isoformat(), "--approvals", "deny",
                                   "--server", srv.url)
    assert made.returncode == 0, made.stderr
    assert "Once at" in made.stdout and "next:" in made.stdout
    cron = await asyncio.to_thread(cowork, home, fake.base_url, "schedules", "add", "Weekday report", "--dir",
                                   str(workspace), "--cron", "0 9 * * 1-5", "--server", srv.url)
    assert cron.returncode == 0, cron.stderr
    assert "At 09:00 on Monday through Friday (Europe/Berlin)" in flat(cron.stdout)  # the machine's zone ($TZ)
    assert cron.stdout.count("CET") + cron.stdout.count("CEST") == 5  # the next five, in that zone

    await srv.stop()  # down across nothing: it is restarted before the fire time
    srv = await serve()
    async with AsyncClient(srv.url) as client:
        [once, weekly] = (await client.schedule_list()).schedules
        async with asyncio.timeout(30):
            while not (fires := (await client.schedule_history(schedule_id=once.id)).fires) \
                    or fires[0].run_state != "completed":
                await asyncio.sleep(0.1)
        assert len(fires) == 1 and fires[0].scheduled_for == at and fires[0].outcome == "started"
        run = (await client.run_get(run_id=fires[0].run_id)).run
        assert (run.reason, run.trigger, run.result) == ("schedule", once.id, "Here is the summary.")
        assert not (await client.schedule_get(schedule_id=once.id)).schedule.enabled  # a one-shot is done

    listed = await asyncio.to_thread(cowork, home, fake.base_url, "schedules", "list", "--server", srv.url, "--json")
    assert [json.loads(line)["id"] for line in listed.stdout.splitlines()] == [once.id, weekly.id]
    paused = await asyncio.to_thread(cowork, home, fake.base_url, "schedules", "pause", weekly.id[:10],
                                     "--server", srv.url)
    assert paused.returncode == 0 and "paused" in paused.stdout
    by_hand = await asyncio.to_thread(cowork, home, fake.base_url, "schedules", "run-now", weekly.id,
                                      "--server", srv.url)
    assert by_hand.returncode == 0 and "queued run" in by_hand.stdout, by_hand.stderr
    async with AsyncClient(srv.url) as client:
        async with asyncio.timeout(20):
            while (await client.schedule_history(schedule_id=weekly.id)).fires[0].run_state != "completed":
                await asyncio.sleep(0.1)
    shown = await asyncio.to_thread(cowork, home, fake.base_url, "schedules", "show", weekly.id, "--server", srv.url)
    assert "paused" in flat(shown.stdout) and "run now, by a person" in flat(shown.stdout)
    assert "completed" in shown.stdout
    gone = await asyncio.to_thread(cowork, home, fake.base_url, "schedules", "remove", once.id, "--server", srv.url)
    assert gone.returncode == 0
    missing = await asyncio.to_thread(cowork, home, fake.base_url, "schedules", "show", once.id, "--server", srv.url)
    assert missing.returncode == 2 and "no schedule" in missing.stderr
    repl = await asyncio.to_thread(lambda: subprocess.run(
        [COWORK, "chat", "--dir", str(workspace), "--server", srv.url], input="/schedules\n/exit\n",
        capture_output=True, text=True, timeout=60, env={**serve_env(home, fake.base_url), "COLUMNS": "200"}))
    assert "At 09:00 on Monday through Friday (Europe/Berlin)" in flat(repl.stdout) and "paused" in repl.stdout
    bad = await asyncio.to_thread(cowork, home, fake.base_url, "schedules", "add", "x", "--dir", str(workspace),
                                  "--cron", "0 9 * * *", "--every", "5m")
    assert bad.returncode == 2 and "exactly one of" in bad.stderr
