"""``cowork webhooks`` against a real ``cowork serve``: add prints the path and the secret once, a
signed POST starts a run the server carries out, rotate-secret retires the old secret, remove ends
it."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import httpx

from cowork.jobs.webhooks import sign

from fakemodel import reply, text
from server_support import COWORK, serve_env


def cowork(home: Path, base_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([COWORK, *args], capture_output=True, text=True, timeout=60,
                          env={**serve_env(home, base_url), "COLUMNS": "200"}, stdin=subprocess.DEVNULL)


async def test_webhooks_from_the_cli(serve, fake, workspace, tmp_path):
    home = tmp_path / "home"
    fake.script(reply(text("Deployed main.")))
    srv = await serve()
    made = await asyncio.to_thread(cowork, home, fake.base_url, "webhooks", "add", "Deploy {{ payload.ref }}",
                                   "--dir", str(workspace), "--approvals", "deny", "--server", srv.url)
    assert made.returncode == 0, made.stderr
    path = next(w for w in made.stdout.split() if w.startswith(srv.url + "/hooks/"))[len(srv.url):]
    secret = made.stdout.strip().splitlines()[-1]
    body = json.dumps({"ref": "main"}).encode()
    async with httpx.AsyncClient(base_url=srv.url) as http:
        got = await http.post(path, content=body, headers={"X-Hub-Signature-256": sign(secret, body)})
        assert got.status_code == 202, got.text
        run_id = got.json()["run_id"]
        async with asyncio.timeout(20):
            while (await http.get(f"/api/v1/runs/{run_id}")).json()["run"]["state"] != "completed":
                await asyncio.sleep(0.05)
        listed = await asyncio.to_thread(cowork, home, fake.base_url, "webhooks", "list", "--server", srv.url)
        assert path in listed.stdout and secret not in listed.stdout
        rotated = await asyncio.to_thread(cowork, home, fake.base_url, "webhooks", "rotate-secret", path.split("/")[-1],
                                          "--server", srv.url)
        new = rotated.stdout.strip().splitlines()[-1]
        again = json.dumps({"ref": "v2"}).encode()
        assert (await http.post(path, content=again, headers={"X-Hub-Signature-256": sign(secret, again)})).status_code == 401
        removed = await asyncio.to_thread(cowork, home, fake.base_url, "webhooks", "remove", path.split("/")[-1],
                                          "--server", srv.url)
        assert removed.returncode == 0
        assert (await http.post(path, content=again, headers={"X-Hub-Signature-256": sign(new, again)})).status_code == 404
    show = await asyncio.to_thread(cowork, home, fake.base_url, "runs", "show", run_id, "--server", srv.url)
    assert "webhook" in show.stdout and "Deployed main." in show.stdout
