"""A private PostgreSQL server for the suite: Debian's PostgreSQL binaries, a fresh cluster in a
temporary folder, listening on 127.0.0.1 on a free port (and a socket in that folder only), trust
authentication for its one role (nothing else can reach it), stopped at the end of the session.

``$COWORK_TEST_POSTGRES_URL`` (``postgresql+asyncpg://user@host:port``) uses a server of your own
instead. Without either, tests that need PostgreSQL are skipped, except under ``CI=true``, where it
is a failure (scripts/test.sh installs Debian's ``postgresql`` package).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

ROLE = "cowork"


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PostgresServer:
    """A running server: ``url`` without a database; :meth:`database` makes a fresh one."""

    url: str
    folder: Path | None = None  # ours to stop and remove; None for $COWORK_TEST_POSTGRES_URL
    _as: list[str] | None = None

    async def database(self) -> str:
        """The URL of a new, empty database (``postgresql+asyncpg://…/NAME``)."""
        import asyncpg

        name = "t_" + uuid.uuid4().hex[:12]
        conn = await asyncpg.connect(self.url.replace("postgresql+asyncpg://", "postgresql://") + "/postgres")
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return f"{self.url}/{name}"

    def stop(self) -> None:
        if self.folder is None:
            return
        subprocess.run([*(self._as or []), _bin("pg_ctl") or "pg_ctl", "-D", str(self.folder / "db"), "-m", "immediate",
                        "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.folder, ignore_errors=True)


def start_postgres() -> PostgresServer | str:
    """A running server, or why there is none (a message)."""
    if url := os.environ.get("COWORK_TEST_POSTGRES_URL"):
        return PostgresServer(url.rstrip("/"))
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    if not initdb or not pg_ctl:
        return "no PostgreSQL server binaries (apt-get install postgresql)"
    folder = Path(tempfile.mkdtemp(prefix="cowork-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: use Debian's postgres user
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user to run PostgreSQL as"
        os.chown(folder, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    init = subprocess.run([*run_as, initdb, "-D", str(folder / "db"), "-A", "trust", "-U", ROLE, "-E", "UTF8",
                           "--no-sync"], capture_output=True, text=True, timeout=120)
    if init.returncode:
        return f"initdb failed: {init.stderr[-500:]}"
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off -c max_connections=200"
    started = subprocess.run([*run_as, pg_ctl, "-D", str(folder / "db"), "-o", options, "-l", str(folder / "log"),
                              "-w", "-t", "60", "start"], capture_output=True, text=True, timeout=90)
    if started.returncode:
        log = (folder / "log").read_text()[-800:] if (folder / "log").exists() else ""
        return f"PostgreSQL did not start: {started.stderr[-300:]} {log}"
    return PostgresServer(f"postgresql+asyncpg://{ROLE}@127.0.0.1:{port}", folder, run_as)
