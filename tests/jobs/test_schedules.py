"""Schedules (cowork.jobs.schedules) with an injected clock: cron in time zones across
daylight-saving changes, three hours of downtime under each missed-fire policy, each overlap
policy, two servers on one store firing nothing twice, pause and resume, and bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cowork.checkpoints import CheckpointSettings
from cowork.config import EngineSettings
from cowork.engine import Runtime
from cowork.jobs import RunLimits, Runs, Scheduler
from cowork.jobs.schedules import describe, fire_times, parse_trigger
from cowork.store import NotFound

from engine_support import MODEL, Script

BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def local(tz: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=tz)


def utc(t: datetime) -> datetime:
    return t.astimezone(UTC)


# -- trigger arithmetic ------------------------------------------------------------------------


def test_a_daily_0230_berlin_job_across_spring_forward_and_fall_back():
    daily = parse_trigger({"cron": "30 2 * * *", "timezone": "Europe/Berlin"})
    spring = fire_times(daily, utc(local(BERLIN, 2027, 3, 26, 12)), utc(local(BERLIN, 2027, 3, 26, 12)), limit=3)
    # 2027-03-28 02:30 does not exist in Berlin (02:00 → 03:00): it fires at 03:00 CEST, once
    assert [t.astimezone(BERLIN).isoformat() for t in spring] == [
        "2027-03-27T02:30:00+01:00", "2027-03-28T03:00:00+02:00", "2027-03-29T02:30:00+02:00"]
    autumn = fire_times(daily, utc(local(BERLIN, 2027, 10, 29, 12)), utc(local(BERLIN, 2027, 10, 29, 12)), limit=3)
    # 2027-10-31 02:30 happens twice (03:00 CEST → 02:00 CET): it fires once, at the first
    assert [t.astimezone(BERLIN).isoformat() for t in autumn] == [
        "2027-10-30T02:30:00+02:00", "2027-10-31T02:30:00+02:00", "2027-11-01T02:30:00+01:00"]
    assert [t.hour for t in autumn] == [0, 0, 1]  # in UTC: the wall time stays, the offset moves


def test_a_weekday_job_in_new_york_keeps_local_time_over_the_dst_change():
    weekday = parse_trigger({"cron": "0 9 * * 1-5", "timezone": "America/New_York"})
    start = utc(local(NEW_YORK, 2027, 3, 12, 10))  # Friday; DST starts Sunday 2027-03-14
    times = fire_times(weekday, start, start, limit=3)
    assert [t.astimezone(NEW_YORK).isoformat() for t in times] == [
        "2027-03-15T09:00:00-04:00", "2027-03-16T09:00:00-04:00", "2027-03-17T09:00:00-04:00"]
    assert describe(weekday) == "At 09:00 on Monday through Friday (America/New_York)"


def test_every_and_at_triggers():
    anchor = datetime(2027, 1, 1, tzinfo=UTC)
    every = parse_trigger({"every": 900})
    assert fire_times(every, anchor, anchor + timedelta(minutes=20), limit=2) == [
        anchor + timedelta(minutes=30), anchor + timedelta(minutes=45)]
    assert describe(every) == "Every 15 minutes"
    at = parse_trigger({"at": "2027-01-02T08:00:00+01:00"})
    assert fire_times(at, anchor, anchor) == [datetime(2027, 1, 2, 7, tzinfo=UTC)]
    assert fire_times(at, anchor, datetime(2027, 1, 3, tzinfo=UTC)) == []


@pytest.mark.parametrize("bad, message", [
    ({"cron": "61 * * * *", "timezone": "UTC"}, "bad cron expression"),
    ({"cron": "0 9 * * *", "timezone": "Mars/Olympus"}, "unknown time zone"),
    ({"cron": "0 9 * * *"}, "not a trigger"),
    ({"every": 0}, "not a trigger"),
    ({"at": "2027-01-01T00:00:00"}, "not a trigger"),  # a naive time: in which zone?
    ("daily", "not a trigger"),
])
def test_bad_triggers_are_refused_with_the_reason(bad, message):
    with pytest.raises(ValueError, match=message):
        parse_trigger(bad)


# -- firing ------------------------------------------------------------------------------------


FAST = RunLimits(total=8, per_workspace=8, poll_seconds=0.05)


@pytest.fixture
async def rt(tmp_path: Path):
    runtime = await Runtime.open(f"sqlite+aiosqlite:///{tmp_path / 'cowork.db'}",
                                 settings=EngineSettings(max_steps=4, stream_timeout=5),
                                 checkpoint_settings=CheckpointSettings())
    runtime.use_model(MODEL, Script(*["done"] * 50).model)
    yield runtime
    await runtime.close()


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    return path


async def fires(scheduler: Scheduler, schedule_id: str) -> list[tuple[str, str, str | None]]:
    """(fire time in UTC, outcome, reason) oldest first."""
    history = await scheduler.history(schedule_id, 500)
    return [(f.scheduled_for.strftime("%m-%d %H:%M"), f.outcome, f.reason) for f in reversed(history)]


async def test_a_due_fire_starts_one_run_and_a_second_round_or_server_does_not_fire_it_again(rt, ws, tmp_path):
    clock = Clock(datetime(2027, 5, 3, 8, 59, tzinfo=UTC))
    runs = Runs(rt, dispatch=False)
    scheduler = Scheduler(runs, dispatch=False, clock=clock)
    made = await scheduler.create(ws, "Summarise the week", {"cron": "0 9 * * *", "timezone": "UTC"}, model=MODEL)
    assert [t.isoformat() for t in made.next_fires[:2]] == ["2027-05-03T09:00:00+00:00", "2027-05-04T09:00:00+00:00"]
    assert made.description == "At 09:00 every day (UTC)"

    clock.now = datetime(2027, 5, 3, 9, 0, 5, tzinfo=UTC)
    other = await Runtime.open(f"sqlite+aiosqlite:///{tmp_path / 'cowork.db'}")  # a second server, same store
    try:
        second = Scheduler(Runs(other, dispatch=False), dispatch=False, clock=clock)
        await scheduler.tick()
        await second.tick(clock.now)
        await scheduler.tick()
    finally:
        await other.close()
    [run] = await runs.list()
    assert (run.reason, run.trigger, run.state) == ("schedule", made.id, "queued")
    assert await fires(scheduler, made.id) == [("05-03 09:00", "started", None)]
    again = await scheduler.get(made.id)
    assert again.last_fire_at == datetime(2027, 5, 3, 9, tzinfo=UTC)
    assert again.next_fires[0] == datetime(2027, 5, 4, 9, tzinfo=UTC)


@pytest.mark.parametrize("policy, expected", [
    ("skip", [("05-03 09:00", "skipped"), ("05-03 10:00", "skipped"), ("05-03 11:00", "skipped"),
              ("05-03 12:00", "started")]),
    ("once", [("05-03 09:00", "skipped"), ("05-03 10:00", "skipped"), ("05-03 11:00", "started"),
              ("05-03 12:00", "started")]),
    ("each", [("05-03 09:00", "started"), ("05-03 10:00", "started"), ("05-03 11:00", "started"),
              ("05-03 12:00", "started")]),
])
async def test_three_hours_of_downtime_under_each_missed_policy(rt, ws, policy, expected):
    clock = Clock(datetime(2027, 5, 3, 8, 30, tzinfo=UTC))
    runs = Runs(rt, dispatch=False)
    scheduler = Scheduler(runs, dispatch=False, clock=clock)
    made = await scheduler.create(ws, "Check the build", {"cron": "0 * * * *", "timezone": "UTC"}, model=MODEL,
                                  missed=policy, overlap="queue")
    clock.now = datetime(2027, 5, 3, 12, 0, 20, tzinfo=UTC)  # down from 08:30 to 12:00: 09, 10, 11 missed
    await scheduler.tick()
    got = await fires(scheduler, made.id)
    assert [(t, o) for t, o, _ in got] == expected
    assert len(await runs.list()) == sum(o == "started" for _, o in expected)
    reasons = [r for _, o, r in got if o == "skipped"]
    assert all(r.startswith("missed: no cowork server was running") for r in reasons)
    if policy != "skip":
        assert "late" in got[2][2]  # the missed fire that ran says how late it started


async def test_each_overlap_policy(rt, ws):
    clock = Clock(datetime(2027, 5, 3, 8, 59, 30, tzinfo=UTC))
    runs = Runs(rt, dispatch=False)  # nothing starts: the previous run stays queued
    scheduler = Scheduler(runs, dispatch=False, clock=clock)
    made = {}
    for policy in ("skip", "queue", "cancel"):
        made[policy] = await scheduler.create(ws, f"overlap {policy}", {"every": 60}, model=MODEL, overlap=policy)
    for minute in (0, 1):
        clock.now = datetime(2027, 5, 3, 9, minute, 31, tzinfo=UTC)
        await scheduler.tick()

    skip = await fires(scheduler, made["skip"].id)
    assert [o for _, o, _ in skip] == ["started", "skipped"] and "was still queued ('skip' policy)" in skip[1][2]
    queue_runs = [r for r in await runs.list() if r.trigger == made["queue"].id]
    assert [r.state for r in queue_runs] == ["queued", "queued"]
    cancel_runs = [r for r in await runs.list() if r.trigger == made["cancel"].id]
    assert [r.state for r in cancel_runs] == ["queued", "cancelled"]  # newest first: the old one was cancelled
    assert "cancelled the previous run" in (await fires(scheduler, made["cancel"].id))[1][2]


async def test_pause_resume_run_now_and_a_one_shot_that_ends(rt, ws):
    clock = Clock(datetime(2027, 5, 3, 9, 0, tzinfo=UTC))
    runs = Runs(rt, dispatch=False)
    scheduler = Scheduler(runs, dispatch=False, clock=clock)
    hourly = await scheduler.create(ws, "hourly", {"cron": "0 * * * *", "timezone": "UTC"}, model=MODEL)
    paused = await scheduler.set_enabled(hourly.id, False)
    assert paused.next_fires == [] and not paused.enabled
    clock.now = datetime(2027, 5, 3, 14, 10, tzinfo=UTC)
    await scheduler.tick()
    resumed = await scheduler.set_enabled(hourly.id, True)
    await scheduler.tick()
    assert await fires(scheduler, hourly.id) == []  # a pause is not downtime: nothing was "missed"
    assert resumed.next_fires[0] == datetime(2027, 5, 3, 15, tzinfo=UTC)
    now_run = await scheduler.run_now(hourly.id)
    assert now_run.reason == "schedule" and (await fires(scheduler, hourly.id))[0][2] == "run now, by a person"

    once = await scheduler.create(ws, "once", {"at": "2027-05-03T16:30:00+02:00"}, model=MODEL)
    clock.now = datetime(2027, 5, 3, 14, 30, 10, tzinfo=UTC)
    await scheduler.tick()
    done = await scheduler.get(once.id)
    assert not done.enabled and done.next_fires == [] and [o for _, o, _ in await fires(scheduler, once.id)] == ["started"]


async def test_continue_keeps_one_session_and_runs_start_for_real(rt, ws):
    clock = Clock(datetime(2027, 5, 3, 8, 59, 30, tzinfo=UTC))
    runs = Runs(rt, limits=FAST)
    await runs.start()
    scheduler = Scheduler(runs, dispatch=False, clock=clock)
    try:
        made = await scheduler.create(ws, "Note the time", {"every": 60}, model=MODEL, session="continue",
                                      overlap="queue", approvals="deny")
        started = []
        for minute in (0, 1):
            clock.now = datetime(2027, 5, 3, 9, minute, 31, tzinfo=UTC)
            await scheduler.tick()
            started.append((await runs.list())[0])
            await runs.wait(started[-1].id, 10)
    finally:
        await runs.close()
    assert started[0].session_id == started[1].session_id == (await scheduler.get(made.id)).session_id
    assert [(await runs.get(r.id)).state for r in started] == ["completed", "completed"]
    history = await scheduler.history(made.id)
    assert [f.run_state for f in history] == ["completed", "completed"]


async def test_bad_schedules_are_refused(rt, ws, tmp_path):
    clock = Clock(datetime(2027, 5, 3, 9, 0, tzinfo=UTC))
    scheduler = Scheduler(Runs(rt, dispatch=False), dispatch=False, clock=clock)
    with pytest.raises(ValueError, match="in the past"):
        await scheduler.create(ws, "x", {"at": "2027-05-03T08:00:00+00:00"})
    with pytest.raises(ValueError, match="overlap must be one of"):
        await scheduler.create(ws, "x", {"every": 60}, overlap="pile-up")
    with pytest.raises(ValueError, match="bad session pattern"):
        await scheduler.create(ws, "x", {"every": 60}, allow=["bash:"])
    with pytest.raises(ValueError, match="empty"):
        await scheduler.create(ws, " ", {"every": 60})
    with pytest.raises(ValueError):
        await scheduler.create(tmp_path / "missing", "x", {"every": 60})
    with pytest.raises(NotFound):
        await scheduler.get("sched_nope")
    with pytest.raises(NotFound):
        await scheduler.delete("sched_nope")
    assert await scheduler.list() == []


@pytest.mark.parametrize("policy, started", [("once", 2), ("each", 10)])  # with 09:00, on time
async def test_a_downtime_longer_than_one_round_still_runs_once_or_the_latest_ten(rt, ws, monkeypatch, policy, started):
    import cowork.jobs.schedules as schedules

    monkeypatch.setattr(schedules, "MAX_FIRES_PER_ROUND", 25)  # 60 missed fires take three rounds
    clock = Clock(datetime(2027, 5, 3, 8, 0, 30, tzinfo=UTC))
    runs = Runs(rt, dispatch=False)
    scheduler = Scheduler(runs, dispatch=False, clock=clock)
    made = await scheduler.create(ws, "every minute", {"every": 60}, model=MODEL, missed=policy, overlap="queue")
    clock.now = datetime(2027, 5, 3, 9, 0, 45, tzinfo=UTC)  # an hour down: 59 fires missed, 09:00 on time
    for _ in range(4):
        await scheduler.tick()
    got = await fires(scheduler, made.id)
    assert len(got) == 60 and len(await runs.list()) == started
    ran = [t for t, o, _ in got if o == "started"]
    assert ran[-2:] == ["05-03 08:59", "05-03 09:00"]  # the latest missed fire, then the one on time
