"""Turn leases: who owns a running turn, renewed by a heartbeat, taken over once expired.

The SQL leases are tested on a real SQLite file shared by two "processes" (two SqlTurnLeases with
different owner ids, as two servers on two machines would have); the runtime's recovery is tested
with leases that a live, a dead and a remote owner hold.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from cowork.engine import Runtime
from cowork.engine.lease import MemoryTurnLeases
from cowork.protocol import utc_now
from cowork.store import Store
from cowork.store.leases import SqlTurnLeases, _pid_namespace

MODEL = "openai:scripted"


@pytest.fixture
async def store(tmp_path: Path):
    s = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'leases.db'}")
    yield s
    await s.close()


async def test_sql_lease_is_exclusive_until_it_expires_and_fences_the_old_owner(store: Store, tmp_path: Path):
    session = await store.create_session(tmp_path, MODEL, "yolo")
    a = SqlTurnLeases(store, ttl=0.3, owner="machine-a:1:1:aaaa")
    b = SqlTurnLeases(store, ttl=0.3, owner="machine-b:1:1:bbbb")
    lease = await a.acquire("turn_1")
    await store.start_turn(session.id, "turn_1", "hi", MODEL)
    assert (lease.owner, lease.attempt) == ("machine-a:1:1:aaaa", 1)

    assert await b.take_over("turn_1") is None  # a's lease holds
    await asyncio.sleep(0.2)
    assert await a.renew([lease]) == []  # renewed before it ran out
    await asyncio.sleep(0.2)
    assert await b.take_over("turn_1") is None  # still a's: the renewal pushed the expiry

    await asyncio.sleep(0.4)  # a stops renewing (a stuck or partitioned machine)
    taken = await b.take_over("turn_1")
    assert taken is not None and (taken.owner, taken.attempt) == ("machine-b:1:1:bbbb", 2)
    assert await a.take_over("turn_1") is None  # b holds it now
    assert await a.renew([lease]) == [lease]  # a learns that it lost the turn
    await a.release(lease)  # a stale owner's release changes nothing
    assert (await b.holder("turn_1")).attempt == 2

    await b.release(taken)
    assert await b.holder("turn_1") is None
    again = await a.take_over("turn_1")  # released: anyone may take it at once
    assert again is not None and again.attempt == 1


async def test_a_lease_of_a_dead_local_process_is_over_at_once(store: Store):
    dead = subprocess.Popen(["true"])
    dead.wait()
    ghost = SqlTurnLeases(store, ttl=3600, owner=f"{socket.gethostname()}:{_pid_namespace()}:{dead.pid}:dead")
    await ghost.acquire("turn_1")
    me = SqlTurnLeases(store, ttl=30)
    taken = await me.take_over("turn_1")
    assert taken is not None and taken.attempt == 2

    alive = subprocess.Popen(["sleep", "30"])
    try:
        other = SqlTurnLeases(store, ttl=3600, owner=f"{socket.gethostname()}:{_pid_namespace()}:{alive.pid}:live")
        await other.acquire("turn_2")
        assert await me.take_over("turn_2") is None
        # The same pid in another PID namespace (a container sharing the host name) proves nothing.
        elsewhere = SqlTurnLeases(store, ttl=3600, owner=f"{socket.gethostname()}:not-ours:{dead.pid}:x")
        await elsewhere.acquire("turn_3")
        assert await me.take_over("turn_3") is None
    finally:
        alive.kill()
        alive.wait()


async def test_memory_leases_follow_the_same_rules():
    now = [utc_now()]
    leases = MemoryTurnLeases(ttl=10, clock=lambda: now[0])
    lease = await leases.acquire("turn_1")
    with pytest.raises(ValueError):
        await leases.acquire("turn_1")
    assert await leases.take_over("turn_1") is None
    now[0] += timedelta(seconds=11)
    taken = await leases.take_over("turn_1")
    assert taken is not None and taken.attempt == 2
    assert await leases.renew([lease]) == [lease]
    assert await leases.renew([taken]) == []
    await leases.release(taken)
    assert (await leases.take_over("turn_1")).attempt == 1  # type: ignore[union-attr]


async def test_recovery_takes_over_only_turns_whose_lease_ran_out(tmp_path: Path, workspace: Path):
    """Replaces the host:pid check: a turn whose owner renews is left alone (whatever host it is
    on), an expired lease of another machine is taken over, and so is a dead local process's."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'owners.db'}"
    store = await Store.open(url)
    session = await store.create_session(workspace, MODEL, "yolo")
    alive = subprocess.Popen(["sleep", "30"])
    dead = subprocess.Popen(["true"])
    dead.wait()
    host, ns = socket.gethostname(), _pid_namespace()
    owners = {
        "turn_alive": (f"{host}:{ns}:{alive.pid}:a", 3600),
        "turn_dead": (f"{host}:{ns}:{dead.pid}:d", 3600),
        "turn_remote_live": ("another-host:1:1:r", 3600),
        "turn_remote_expired": ("another-host:1:2:x", -1),
    }
    for turn_id, (owner, ttl) in owners.items():
        await SqlTurnLeases(store, ttl=ttl, owner=owner).acquire(turn_id)
        await store.start_turn(session.id, turn_id, "hello", MODEL)
    await store.start_turn(session.id, "turn_unleased", "hello", MODEL)  # e.g. left by an older cowork
    await store.close()

    rt = await Runtime.open(url)
    try:
        interrupted = {e.turn_id for e in await rt.store.events_after(session.id) if e.type == "turn.interrupted"}
        assert interrupted == {"turn_dead", "turn_remote_expired", "turn_unleased"}
        for turn_id in ("turn_alive", "turn_remote_live"):
            assert (await rt.store.get_turn_status(turn_id))[1] == "running"
        for turn_id in interrupted:
            assert (await rt.store.get_turn_status(turn_id))[1] == "interrupted"
    finally:
        alive.kill()
        alive.wait()
        await rt.close()


async def test_runtime_renews_its_leases_and_a_sweep_takes_over_a_stopped_owner(tmp_path: Path, workspace: Path):
    """Two runtimes on one database (two servers): the first one's running turn keeps its lease
    while its heartbeat renews it; while the first is cut off from the database (its renewals do
    not arrive), the second takes the turn over at a sweep and ends it; the first, told at its
    next renewal that it lost the turn, stops it there without journaling a second end."""
    from pydantic_ai.models.function import FunctionModel

    url = f"sqlite+aiosqlite:///{tmp_path / 'two.db'}"
    gate = asyncio.Event()

    async def slow(messages, info):
        await gate.wait()
        yield "never"

    async def runtime(owner: str) -> Runtime:
        store = await Store.open(url)
        rt = Runtime(store, leases=SqlTurnLeases(store, ttl=0.6, owner=owner))
        await rt._recover()
        rt._start_heartbeat()  # what Runtime.open does: renew, and sweep for turns to take over
        return rt

    first, second = await runtime("one:1:1:one"), await runtime("two:1:1:two")
    try:
        first.use_model(MODEL, FunctionModel(stream_function=slow, model_name="scripted"))
        session = await first.create_session(workspace, MODEL, "yolo")
        started = await first.start_turn(session.id, "wait for the gate")
        await asyncio.sleep(1.5)  # > 2 TTLs: the heartbeat kept the lease, the sweeps left the turn alone
        assert (await second.store.get_turn_status(started.turn_id))[1] == "running"
        assert first.running_turn(session.id) == started.turn_id

        renew = first.leases.renew

        async def cut_off(leases):
            return []

        first.leases.renew = cut_off  # type: ignore[method-assign]
        for _ in range(50):
            await asyncio.sleep(0.1)
            if (await second.store.get_turn_status(started.turn_id))[1] != "running":
                break
        assert (await second.store.get_turn_status(started.turn_id))[1] == "interrupted"
        first.leases.renew = renew  # type: ignore[method-assign]
        for _ in range(50):
            await asyncio.sleep(0.1)
            if first.running_turn(session.id) is None:
                break
        assert first.running_turn(session.id) is None  # fenced off: stopped at the next renewal
    finally:
        gate.set()
        await second.close()
        await first.close()
    store = await Store.open(url)
    try:
        ends = [e.type for e in await store.turn_events(session.id, started.turn_id)
                if e.type in ("turn.completed", "turn.failed", "turn.interrupted")]
        assert ends == ["turn.interrupted"]
        seqs = [e.seq for e in await store.events_after(session.id, 0, 10_000)]
        assert seqs == list(range(1, len(seqs) + 1))
    finally:
        await store.close()
