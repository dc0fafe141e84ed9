"""Provider keys: the encrypted store, `cowork auth`, lookup order, and keys kept out of events,
logs, the journal and a command's environment."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import stat
from pathlib import Path

import pexpect
import pytest
from fakemodel import http_error, reply, text
from safety_support import COWORK, KEY, cowork, open_runtime

from cowork.providers.redaction import REDACTED, RedactingFilter, install_log_redaction, known_secrets, redact
from cowork.providers.secrets import SecretStore, SecretStoreError, provider_key, secret_store

# -- the store -----------------------------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_stored_key_is_encrypted_in_private_files_and_read_back(home: Path) -> None:
    store = secret_store()
    store.set("openai", f"  {KEY}\n")
    assert store.get("openai") == KEY
    assert store.providers() == ["openai"]
    assert mode(store.key_path) == 0o600 and mode(store.path) == 0o600
    assert KEY not in store.path.read_text() and KEY not in store.key_path.read_text()
    assert provider_key("openai") == (KEY, "store")
    assert store.remove("openai") and not store.remove("openai")
    assert provider_key("openai") is None


def test_the_environment_overrides_the_store(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret_store().set("google", KEY)
    monkeypatch.setenv("GEMINI_API_KEY", "from-the-environment")
    assert provider_key("google") == ("from-the-environment", "GEMINI_API_KEY")


def test_a_second_key_file_never_replaces_the_first(home: Path) -> None:
    store = secret_store()
    store.set("openai", KEY)
    first = store.key_path.read_bytes()
    SecretStore(home).set("anthropic", KEY + "2")  # the key file exists: it is reused, not remade
    assert store.key_path.read_bytes() == first
    assert store.get("openai") == KEY and store.get("anthropic") == KEY + "2"


@pytest.mark.parametrize("name", ["secret.key", "secrets.json"])
def test_files_others_may_read_are_refused_with_the_fix(home: Path, name: str) -> None:
    secret_store().set("openai", KEY)
    (home / name).chmod(0o644)
    with pytest.raises(SecretStoreError) as err:
        secret_store().get("openai")
    assert str(home / name) in str(err.value) and f"chmod 600 {home / name}" in err.value.fix


def test_a_corrupt_store_and_a_replaced_key_file_are_clear_errors(home: Path) -> None:
    store = secret_store()
    store.set("openai", KEY)
    store.key_path.unlink()
    with pytest.raises(SecretStoreError, match="key file .* is missing"):
        store.get("openai")
    store.key_path.write_bytes(b"")
    store.key_path.chmod(0o600)
    with pytest.raises(SecretStoreError, match="is not a Fernet key"):
        store.get("openai")
    store.key_path.unlink()
    store.set("anthropic", KEY)  # makes a new key file: the openai key can no longer be decrypted
    with pytest.raises(SecretStoreError, match="cannot be decrypted") as err:
        store.get("openai")
    assert "cowork auth set openai" in err.value.fix
    store.path.write_text("{not json")
    with pytest.raises(SecretStoreError, match="not a readable cowork secret store"):
        store.providers()


def test_unknown_provider_lists_the_known_ones(home: Path) -> None:
    with pytest.raises(SecretStoreError, match="openai, anthropic, google"):
        secret_store().set("ollama", KEY)


def test_the_model_layer_sends_the_stored_key(home: Path) -> None:
    from cowork.providers import build_model, parse_model

    secret_store().set("anthropic", KEY)
    model = build_model(parse_model("anthropic:claude-sonnet-4-5"))
    assert model.client.api_key == KEY  # type: ignore[attr-defined]


# -- cowork auth ---------------------------------------------------------------------------------


def test_auth_set_list_remove_from_stdin(home: Path) -> None:
    done = cowork("auth", "set", "openai", home=home, input=KEY + "\n")
    assert done.returncode == 0, done.stderr
    assert KEY not in done.stdout + done.stderr
    listed = cowork("auth", "list", "--json", home=home)
    rows = {r["provider"]: r for r in json.loads(listed.stdout)}
    assert rows["openai"] == {"provider": "openai", "source": "store", "key": "…" + KEY[-4:]}
    assert rows["anthropic"]["source"] is None
    env = cowork("auth", "list", "--json", home=home, OPENAI_API_KEY="sk-other-0000000000wxyz")
    assert {r["provider"]: r for r in json.loads(env.stdout)}["openai"]["source"] == "OPENAI_API_KEY"
    assert cowork("auth", "remove", "openai", home=home).returncode == 0
    again = cowork("auth", "remove", "openai", home=home)
    assert again.returncode == 1 and "no stored openai key" in again.stderr


def test_auth_errors_are_messages_not_tracebacks(home: Path) -> None:
    unknown = cowork("auth", "set", "mistral", home=home, input=KEY)
    assert unknown.returncode == 2 and "openai, anthropic, google" in unknown.stderr
    empty = cowork("auth", "set", "openai", home=home, input="\n")
    assert empty.returncode == 2 and "empty" in empty.stderr
    cowork("auth", "set", "openai", home=home, input=KEY)
    (home / "secrets.json").write_text("garbage")
    broken = cowork("auth", "list", home=home)
    assert broken.returncode == 2 and "secrets.json" in broken.stderr and "Traceback" not in broken.stderr


def test_auth_set_on_a_terminal_prompts_without_echo(home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(COWORK_HOME=str(home), NO_COLOR="1")
    child = pexpect.spawn(COWORK, ["auth", "set", "anthropic"], env=env, encoding="utf-8", timeout=30)
    child.expect("anthropic API key: ")
    child.sendline(KEY)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert KEY not in (child.before or "")
    assert secret_store().get("anthropic") == KEY


# -- keys stay out of what cowork writes and shows -------------------------------------------------


def test_redact_replaces_env_and_stored_keys(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret_store().set("anthropic", KEY)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-key-12345678")
    monkeypatch.setenv("GOOGLE_API_KEY", "short")  # too short to be a key: ordinary text stays
    assert set(known_secrets()) == {KEY, "sk-env-key-12345678"}
    assert redact(f"a {KEY} b sk-env-key-12345678 short") == f"a {REDACTED} b {REDACTED} short"


def test_log_records_are_redacted_with_their_tracebacks(home: Path, monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    path = tmp_path / "log.txt"
    handler = logging.FileHandler(path)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("cowork.test.redaction")
    logger.addHandler(handler)
    try:
        logger.warning("request with %s failed", KEY)
        try:
            raise RuntimeError(f"provider said: bad key {KEY}")
        except RuntimeError:
            logger.exception("crash")
    finally:
        logger.removeHandler(handler)
        handler.close()
    written = path.read_text()
    assert KEY not in written and written.count(REDACTED) == 2 and "RuntimeError" in written


async def test_a_key_echoed_by_the_provider_reaches_no_event_journal_or_log(
    home: Path, srv, tmp_path: Path, workspace_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret_store().set("openai", KEY)
    srv.script(http_error(401, body={"error": {"message": f"Incorrect API key provided: {KEY}", "type": "x"}}),
               reply(text(f"the key is {KEY}")))
    caplog.set_level(logging.DEBUG)  # everything, aiosqlite's statements included
    install_log_redaction()  # as the CLI and the server do: on every handler, caplog's too
    rt = await open_runtime(tmp_path, srv.base_url)
    try:
        session = await rt.create_session(workspace_dir, "openai:gpt-4o-mini", "yolo")
        await rt.start_turn(session.id, "hello")
        await rt.wait(session.id)
        await rt.start_turn(session.id, "again")
        await rt.wait(session.id)
        events = [e async for e in _journal(rt, session.id)]
    finally:
        await rt.close()
    assert srv.request_headers[0]["authorization"] == f"Bearer {KEY}"  # the stored key was used
    failed = [e for e in events if e.type == "turn.failed"][0]
    assert failed.error.code == "provider_error" and REDACTED in failed.error.message
    answer = [e.item.text for e in events if e.type == "item.completed" and e.item.type == "assistant_message"]
    assert answer == [f"the key is {REDACTED}"]
    with sqlite3.connect(tmp_path / "cowork.db") as db:
        journal = "\n".join(row[0] for row in db.execute("select data from events"))
    assert KEY not in journal and REDACTED in journal
    # every record at DEBUG, the store's statements included; that a record carrying a key is
    # redacted is proved by test_log_records_are_redacted_with_their_tracebacks
    assert caplog.records and KEY not in caplog.text


async def _journal(rt, session_id: str):
    last = (await rt.get_session(session_id)).last_seq
    async for ev in rt.subscribe(session_id):
        yield ev
        if ev.seq >= last:
            return


def test_cowork_run_never_prints_or_stores_an_echoed_key(home: Path, srv, workspace_dir: Path) -> None:
    srv.script(http_error(400, body={"error": {"message": f"bad request for key {KEY}", "type": "x"}}))
    done = cowork("run", "--json", "-C", str(workspace_dir), "-m", "openai:fake-model", "hi", home=home,
                  OPENAI_API_KEY=KEY, OPENAI_BASE_URL=srv.base_url)
    assert done.returncode == 1
    assert KEY not in done.stdout + done.stderr and REDACTED in done.stdout
    with sqlite3.connect(home / "cowork.db") as db:
        assert not any(KEY in row[0] for row in db.execute("select data from events"))


async def test_no_key_is_visible_to_a_bash_command(home: Path, workspace_dir: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from cowork.tools import get_tool
    from cowork.tools.base import ToolContext

    secret_store().set("anthropic", KEY + "stored")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    bash = get_tool("bash")
    assert bash is not None
    result = await bash.run(bash.Args(command=f"env; cat {home}/secrets.json 2>&1; echo done"),
                            ToolContext(workspace=workspace_dir))
    assert "done" in result.output
    assert KEY not in result.output and "gAAAA" not in result.output  # nor the encrypted store
