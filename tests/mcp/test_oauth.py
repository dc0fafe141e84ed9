"""OAuth for HTTP MCP servers (cowork.mcp.oauth) against a real local authorization server and a
protected MCP server (tests/mcp/oauth_server.py, the SDK's server-side auth, in a subprocess).

The browser is played by httpx2: it fetches the authorization URL and follows the redirect to
the loopback callback, exactly as a browser would after the person approved.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import stat
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx2
import pytest
from mcp.client.auth import PKCEParameters
from mcp.client.session import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from oauth_support import (  # tests/mcp, on sys.path as the test's folder
    browser,
    control,
    running_oauth_servers,
)

from cowork.mcp import oauth
from cowork.mcp.oauth import LoginError, LoginRequired, McpTokenStore


@pytest.fixture(scope="module")
def oauth_server() -> Iterator[dict[str, str]]:
    with running_oauth_servers() as urls:
        yield urls


@pytest.fixture
def urls(oauth_server: dict[str, str]) -> Iterator[dict[str, str]]:
    control("POST", oauth_server, "/test/expires_in?seconds=3600")
    yield oauth_server


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir(mode=0o700)
    return path


def tampered(**changes: str):
    """A browser that changes query parameters of the authorization URL before opening it."""
    async def open_it(url: str) -> None:
        parts = urlsplit(url)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
        async with httpx2.AsyncClient(follow_redirects=True) as client:
            await client.get(urlunsplit(parts._replace(query=urlencode(query))))
    return open_it


async def log_in(urls: dict[str, str], home: Path, name: str = "notes") -> oauth.LoginResult:
    return await oauth.login(name, urls["mcp"], open_browser=False, on_url=browser, home=home)


async def call_whoami(session: ClientSession) -> str:
    result = await session.call_tool("whoami", {})
    assert not result.is_error, result
    return result.content[0].text  # type: ignore[union-attr]


@contextlib.asynccontextmanager
async def Session(url: str, auth: httpx2.Auth | None) -> AsyncIterator[ClientSession]:
    """An MCP session to the protected server with ``auth`` (what cowork's MCP client builds)."""
    async with (httpx2.AsyncClient(auth=auth) as http,
                streamable_http_client(url, http_client=http) as (read, write),
                ClientSession(read, write) as session):
        await session.initialize()
        yield session


def find(group: BaseException, kind: type[BaseException]) -> BaseException | None:
    """``group`` itself or the first exception of ``kind`` nested in exception groups."""
    if isinstance(group, kind):
        return group
    for inner in getattr(group, "exceptions", ()):
        if found := find(inner, kind):
            return found
    return None


# -- login and a call with the stored token ------------------------------------------------------


async def test_login_stores_encrypted_tokens_and_a_tool_call_uses_them(urls: dict[str, str], home: Path) -> None:
    before = control("GET", urls, "/test/stats")
    result = await log_in(urls, home)
    assert result.registered and result.has_refresh_token and result.scope == "mcp"
    assert result.authorization_server == urls["issuer"] + "/"
    assert 3500 < result.expires_at - time.time() <= 3600  # type: ignore[operator]
    stats = control("GET", urls, "/test/stats")
    assert stats["registrations"] == before["registrations"] + 1
    assert stats["code_exchanges"] == before["code_exchanges"] + 1

    file = home / "mcp-tokens.json"
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    stored = McpTokenStore(home).load("notes")
    assert stored is not None and stored.url == urls["mcp"]
    raw = file.read_text()
    assert json.loads(raw)["keys"].keys() == {"notes"}
    for secret in (stored.tokens.access_token, stored.tokens.refresh_token, stored.client_info.client_id):
        assert secret and secret not in raw  # everything about the login is encrypted
    assert stored.oauth_metadata is not None and str(stored.oauth_metadata.token_endpoint) == urls["issuer"] + "/token"
    assert oauth.login_status("notes", home=home)["client_id"] == result.client_id  # type: ignore[index]

    async with Session(urls["mcp"], oauth.auth_for("notes", urls["mcp"], home=home)) as session:
        assert await call_whoami(session) == "authorized"


async def test_without_a_stored_login_there_is_no_auth_and_the_server_refuses(urls: dict[str, str], home: Path) -> None:
    assert oauth.auth_for("notes", urls["mcp"], home=home) is None
    async with httpx2.AsyncClient() as client:
        assert (await client.post(urls["mcp"], json={})).status_code == 401
    # with always=True the refusal names the fix instead of a bare HTTP error
    with pytest.raises(BaseException) as caught:
        async with Session(urls["mcp"], oauth.auth_for("notes", urls["mcp"], home=home, always=True)):
            pass
    error = find(caught.value, LoginRequired)
    assert error is not None and "cowork mcp login notes" in str(error) and "never logged in" in str(error)


async def test_a_login_is_picked_up_by_a_provider_that_already_runs(urls: dict[str, str], home: Path) -> None:
    auth = oauth.auth_for("notes", urls["mcp"], home=home, always=True)
    async with httpx2.AsyncClient(auth=auth) as client:
        with pytest.raises(LoginRequired):
            await client.post(urls["mcp"], json={})
        await log_in(urls, home)  # e.g. `cowork mcp login notes` in another process
        response = await client.post(urls["mcp"], json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                                     headers={"Accept": "application/json, text/event-stream"})
        assert response.status_code != 401


async def test_a_login_for_another_url_is_not_used(urls: dict[str, str], home: Path) -> None:
    await log_in(urls, home)
    other = urls["mcp"].replace("127.0.0.1", "localhost")  # the same server under another name
    async with httpx2.AsyncClient(auth=oauth.auth_for("notes", other, home=home)) as client:
        with pytest.raises(LoginRequired, match=r"the stored login is for http://127\.0\.0\.1:\d+/mcp, not http://localhost"):
            await client.post(other, json={})


# -- refresh ------------------------------------------------------------------------------------


async def test_an_expiring_token_is_refreshed_in_a_running_session(urls: dict[str, str], home: Path) -> None:
    control("POST", urls, "/test/expires_in?seconds=2")
    await log_in(urls, home)
    first = McpTokenStore(home).load("notes")
    assert first is not None
    auth = oauth.auth_for("notes", urls["mcp"], home=home)
    assert auth is not None
    async with Session(urls["mcp"], auth) as session:
        assert await call_whoami(session) == "authorized"
        refreshes = control("GET", urls, "/test/stats")["refreshes"]
        await asyncio.sleep(2.2)  # the access token has expired at the server by now
        assert await call_whoami(session) == "authorized"
        assert auth.refreshes >= 1
        assert control("GET", urls, "/test/stats")["refreshes"] >= refreshes + 1
    second = McpTokenStore(home).load("notes")
    assert second is not None
    assert second.tokens.access_token != first.tokens.access_token
    assert second.tokens.refresh_token != first.tokens.refresh_token  # rotated, and the new one kept
    assert second.expires_at > first.expires_at  # type: ignore[operator]
    # a later process starts from the rotated refresh token
    control("POST", urls, "/test/expires_in?seconds=3600")
    await asyncio.sleep(2.1)
    async with Session(urls["mcp"], oauth.auth_for("notes", urls["mcp"], home=home)) as session:
        assert await call_whoami(session) == "authorized"


async def test_a_401_is_answered_by_one_refresh(urls: dict[str, str], home: Path) -> None:
    await log_in(urls, home)
    auth = oauth.auth_for("notes", urls["mcp"], home=home)
    async with Session(urls["mcp"], auth) as session:
        assert await call_whoami(session) == "authorized"
        control("POST", urls, "/test/drop_access")  # the server forgot every access token, not the refresh
        assert await call_whoami(session) == "authorized"
    assert auth.refreshes == 1  # type: ignore[union-attr]


async def test_a_refused_refresh_asks_for_a_new_login(urls: dict[str, str], home: Path) -> None:
    await log_in(urls, home)
    async with httpx2.AsyncClient(auth=oauth.auth_for("notes", urls["mcp"], home=home)) as client:
        control("POST", urls, "/test/drop_all")
        with pytest.raises(LoginRequired, match=r"refreshing its token failed \(HTTP 400\).*cowork mcp login notes"):
            await client.post(urls["mcp"], json={})


# -- logout ---------------------------------------------------------------------------------------


async def test_logout_deletes_the_login_and_the_next_call_is_a_clear_error(urls: dict[str, str], home: Path) -> None:
    await log_in(urls, home)
    await log_in(urls, home, name="other")
    with pytest.raises(BaseException) as caught:
        async with Session(urls["mcp"], oauth.auth_for("notes", urls["mcp"], home=home)) as session:
            assert await call_whoami(session) == "authorized"
            assert oauth.logout("notes", home=home) is True
            await call_whoami(session)  # the running session stops sending the token
    error = find(caught.value, LoginRequired)
    assert error is not None, caught.value
    assert "cowork mcp login notes" in str(error)
    assert McpTokenStore(home).servers() == ["other"]
    assert oauth.auth_for("notes", urls["mcp"], home=home) is None
    assert oauth.logout("notes", home=home) is False


# -- refused logins -------------------------------------------------------------------------------


async def test_a_state_mismatch_is_refused_and_nothing_is_stored(urls: dict[str, str], home: Path) -> None:
    with pytest.raises(LoginError, match="State parameter mismatch"):
        await oauth.login("notes", urls["mcp"], open_browser=False, home=home, on_url=tampered(state="forged"))
    assert McpTokenStore(home).servers() == []


async def test_a_pkce_mismatch_is_refused_and_the_previous_login_stays(urls: dict[str, str], home: Path) -> None:
    await log_in(urls, home)
    kept = McpTokenStore(home).load("notes")
    other_challenge = PKCEParameters.generate().code_challenge  # the code is bound to someone else's verifier
    with pytest.raises(LoginError, match="incorrect code_verifier"):
        await oauth.login("notes", urls["mcp"], open_browser=False, home=home,
                          on_url=tampered(code_challenge=other_challenge))
    assert McpTokenStore(home).load("notes") == kept


async def test_a_refused_authorization_is_reported(urls: dict[str, str], home: Path) -> None:
    async def person_says_no(url: str) -> None:
        query = parse_qs(urlsplit(url).query)
        async with httpx2.AsyncClient() as client:
            await client.get(query["redirect_uri"][0], params={"error": "access_denied", "state": query["state"][0],
                                                               "error_description": "the person said no"})
    with pytest.raises(LoginError, match=r"refused: access_denied \(the person said no\)"):
        await oauth.login("notes", urls["mcp"], open_browser=False, home=home, on_url=person_says_no)
    assert McpTokenStore(home).servers() == []


async def test_the_wait_for_the_browser_times_out(urls: dict[str, str], home: Path) -> None:
    shown: list[str] = []
    with pytest.raises(LoginError, match=r"no authorization reached http://127\.0\.0\.1:\d+/callback within 0\.5 s"):
        await oauth.login("notes", urls["mcp"], open_browser=False, home=home, timeout=0.5, on_url=shown.append)
    assert shown and shown[0].startswith(urls["issuer"] + "/authorize?")
    assert "code_challenge_method=S256" in shown[0]


async def test_a_server_without_oauth_or_unreachable_is_an_error(urls: dict[str, str], home: Path) -> None:
    with pytest.raises(LoginError, match=r"did not ask for an OAuth login \(HTTP 200, not 401\)"):
        await oauth.login("plain", urls["issuer"] + "/test/stats", open_browser=False, home=home, on_url=browser)
    with pytest.raises(LoginError, match="cannot reach http://127.0.0.1:9/mcp"):
        await oauth.login("gone", "http://127.0.0.1:9/mcp", open_browser=False, home=home, on_url=browser)
    assert not (home / "mcp-tokens.json").exists()


async def test_logging_in_again_reuses_the_registered_client(urls: dict[str, str], home: Path) -> None:
    first = await log_in(urls, home)
    registrations = control("GET", urls, "/test/stats")["registrations"]
    second = await log_in(urls, home)
    assert not second.registered and second.client_id == first.client_id
    assert control("GET", urls, "/test/stats")["registrations"] == registrations


# -- the store ------------------------------------------------------------------------------------


def test_the_store_refuses_a_readable_file_and_names_the_fix(home: Path) -> None:
    from cowork.providers.secrets import SecretStoreError

    path = home / "mcp-tokens.json"
    path.write_text('{"version": 1, "keys": {"x": "not a fernet token"}}')
    path.chmod(0o644)
    with pytest.raises(SecretStoreError, match="chmod 600"):
        oauth.auth_for("x", "http://127.0.0.1/mcp", home=home)
    path.chmod(0o600)
    (home / "secret.key").write_bytes(b"A" * 43 + b"=")
    (home / "secret.key").chmod(0o600)
    with pytest.raises(SecretStoreError, match=r"cannot be decrypted.*cowork mcp login x"):
        oauth.login_status("x", home=home)
    path.write_text("[]")
    with pytest.raises(SecretStoreError, match="log in to each server again with `cowork mcp login NAME`"):
        McpTokenStore(home).servers()


async def test_a_token_is_refreshed_shortly_before_it_expires(urls: dict[str, str], home: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    await log_in(urls, home)  # an hour's token: 60 s before its end it counts as due
    auth = oauth.auth_for("notes", urls["mcp"], home=home)
    assert auth is not None
    async with Session(urls["mcp"], auth) as session:
        assert await call_whoami(session) == "authorized"
        assert auth.refreshes == 0
        real = time.time
        monkeypatch.setattr(oauth, "time", SimpleNamespace(time=lambda: real() + 3600 - 30))
        before = control("GET", urls, "/test/stats")["refreshes"]
        assert await call_whoami(session) == "authorized"
        assert auth.refreshes == 1 and control("GET", urls, "/test/stats")["refreshes"] == before + 1
        assert await call_whoami(session) == "authorized"
        assert auth.refreshes == 1  # the new token is not due


async def test_an_http_sse_server_logs_in_and_calls_with_refresh_on_401(urls: dict[str, str], home: Path) -> None:
    result = await oauth.login("legacy", urls["sse"], open_browser=False, on_url=browser, home=home)
    assert result.url == urls["sse"] and result.has_refresh_token
    auth = oauth.auth_for("legacy", urls["sse"], home=home)
    async with sse_client(urls["sse"], auth=auth) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        assert await call_whoami(session) == "authorized"
        control("POST", urls, "/test/drop_access")
        assert await call_whoami(session) == "authorized"
    assert auth.refreshes == 1  # type: ignore[union-attr]


def test_a_refresh_written_after_a_logout_or_a_new_login_does_not_revive_the_old_one(home: Path) -> None:
    from mcp.shared.auth import OAuthClientInformationFull, OAuthToken

    def entry(client: str, token: str) -> oauth.StoredLogin:
        return oauth.StoredLogin(url="http://127.0.0.1:1/mcp", logged_in_at=0.0, tokens=OAuthToken(access_token=token),
                                 client_info=OAuthClientInformationFull(client_id=client))

    store = McpTokenStore(home)
    assert store.save("s", entry("old", "t1")) is True
    assert store.save("s", entry("old", "t2"), refresh=True) is True
    assert store.load("s").tokens.access_token == "t2"  # type: ignore[union-attr]
    store.save("s", entry("new", "t3"))  # a new login with another registration
    assert store.save("s", entry("old", "t4"), refresh=True) is False
    assert store.load("s").tokens.access_token == "t3"  # type: ignore[union-attr]
    assert store.remove("s") is True
    assert store.save("s", entry("new", "t5"), refresh=True) is False
    assert store.servers() == []


async def test_cowork_mcp_client_uses_the_login(urls: dict[str, str]) -> None:
    """The MCP client of cowork (cowork.mcp.manager) connects with the stored login and calls a tool."""
    from cowork.config import cowork_home
    from cowork.mcp.manager import McpManager

    home = cowork_home()  # the test's own COWORK_HOME, as a cowork server would use
    (home / "mcp.json").write_text(json.dumps({"mcpServers": {"notes": {"url": urls["mcp"], "type": "http"}}}))
    await log_in(urls, home)
    manager = McpManager(home)
    await manager.start()
    try:
        handle = manager.handle("notes", None)
        assert await handle.wait_settled(20), handle.error
        result = await handle.call_tool("whoami", {})
        assert not result.is_error and result.content[0].text == "authorized"  # type: ignore[union-attr]
    finally:
        await manager.close()
