"""Fixtures for the browser suite: Debian's Chromium under Playwright for Python (sync API),
against a real ``cowork serve`` subprocess on a free loopback port whose ``openai:fake`` model is
the scripted :class:`FakeModelServer` (helpers in :mod:`web_support`).

Chromium is ``$COWORK_CHROMIUM`` or ``/usr/bin/chromium`` (Playwright's own browser downloads are
not used: ``PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1``). Without it the suite is skipped, except under
``CI=true``, where a missing browser fails the run. Screenshots go to ``$COWORK_SCREENSHOTS``
(default ``tests/web/.screenshots``); README's are copied from there (docs/web.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fakemodel import FakeModelServer
from web_support import CHROMIUM, EVIL_HOST, REBIND_HOST, WAIT_MS, Cowork, start_cowork


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Module scope, not session: Playwright's sync API holds an event loop as the main thread's
    # running loop while it is started, which would break every asyncio test collected after it.
    if not Path(CHROMIUM).exists():
        message = f"no Chromium at {CHROMIUM} (apt-get install chromium, or set COWORK_CHROMIUM)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # --no-sandbox: Chromium's own sandbox needs namespaces it cannot have when run as root.
        # The resolver rules give the attacker tests names of their own for 127.0.0.1.
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", f"--host-resolver-rules=MAP {EVIL_HOST} 127.0.0.1, MAP {REBIND_HOST} 127.0.0.1"])
        yield b
        b.close()


@pytest.fixture
def fake() -> Iterator[FakeModelServer]:
    with FakeModelServer() as s:
        yield s


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h


@pytest.fixture
def cowork(home: Path, fake: FakeModelServer, tmp_path: Path) -> Iterator[Cowork]:
    c = start_cowork(home, fake.base_url, tmp_path / "logs")
    yield c
    c.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def new_page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """``new_page(url, init_script=None, wait_connected=True, **context_options)``: a page in a
    fresh browser context (its own storage) at ``url``, once the UI is connected. An uncaught
    error in any page fails the test."""
    contexts: list[Any] = []
    pages: list[Any] = []
    errors: list[str] = []
    console: list[str] = []

    def make(url: str, *, init_script: str | None = None, wait_connected: bool = True, **options: Any) -> Any:
        ctx = browser.new_context(**{"viewport": {"width": 1280, "height": 860}, **options})
        ctx.set_default_timeout(WAIT_MS)
        if init_script:
            ctx.add_init_script(init_script)
        contexts.append(ctx)
        page = ctx.new_page()
        page.on("pageerror", lambda e: errors.append(f"{url}: {e}"))
        page.on("console", lambda m: console.append(f"[{len(pages)}] {m.type}: {m.text}"))
        pages.append(page)
        page.goto(url)
        if wait_connected:
            page.wait_for_selector('[data-testid="app"][data-status="open"]')
        return page

    yield make
    if request.node.stash.get(_FAILED, False):  # what each page showed, for the failure report
        for i, page in enumerate(pages):
            try:
                state = page.evaluate("""() => [location.href, document.querySelector('[data-testid=app]')?.dataset.status,
                    document.getElementById('root')?.innerText.slice(0, 3000)]""")
            except Exception as e:  # noqa: BLE001 - the page may be gone
                state = repr(e)
            print(f"--- page {i}: {state}")
        print("--- console\n" + "\n".join(console[-100:]))
    for ctx in contexts:
        ctx.close()
    assert not errors, f"uncaught errors in the page: {errors}"
