"""The memory view in the browser: add a memory (a credential is refused and nothing is stored),
find it by search, edit it, forget it — each a memory/* call, seen by the CLI over the same store."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from web_support import COWORK, Cowork, shot, tid


def test_add_search_edit_and_forget_a_memory(cowork: Cowork, new_page, workspace: Path) -> None:
    page = new_page(f"{cowork.url}/")
    page.click(tid("memory-link"))
    page.wait_for_selector(tid("memory-empty"))

    page.fill(tid("memory-add-text"), "use ghp_abcdefghijklmnopqrstuvwxyz0123456789 for the API")
    page.click(tid("memory-add"))
    refused = page.wait_for_selector(tid("memory-add-error"))
    assert "credential" in refused.text_content().lower()
    assert page.query_selector(tid("memory-row")) is None

    page.fill(tid("memory-add-text"), "The user wants dates written as YYYY-MM-DD")
    page.select_option(tid("memory-add-kind"), "preference")
    page.click(tid("memory-add"))
    page.wait_for_selector(f'{tid("memory-row")}[data-kind="preference"]')  # saved, and the form emptied
    page.fill(tid("memory-add-text"), "The staging server is staging.internal")
    page.select_option(tid("memory-add-kind"), "fact")
    page.fill(tid("memory-add-workspace"), str(workspace))
    page.click(tid("memory-add"))
    page.wait_for_selector(f'{tid("memory-row")}[data-kind="fact"]')
    assert len(page.query_selector_all(tid("memory-row"))) == 2
    shot(page, "memory")

    page.fill(tid("memory-search"), "date format")
    for _ in range(100):  # the page's CSP forbids wait_for_function: poll
        rows = page.query_selector_all(tid("memory-row"))
        if len(rows) == 1:
            break
        page.wait_for_timeout(50)
    assert "YYYY-MM-DD" in rows[0].text_content()

    rows[0].query_selector(tid("memory-edit")).click()
    page.fill(tid("memory-edit-text"), "The user wants ISO dates (YYYY-MM-DD) everywhere")
    page.click(tid("memory-edit-save"))
    page.wait_for_selector(f'{tid("memory-text")}:has-text("ISO dates")')

    page.fill(tid("memory-search"), "")
    page.wait_for_selector(f'{tid("memory-row")}[data-kind="fact"]')
    page.once("dialog", lambda d: d.accept())
    page.query_selector(f'{tid("memory-row")}[data-kind="fact"] {tid("memory-forget")}').click()
    page.wait_for_selector(f'{tid("memory-row")}[data-kind="fact"]', state="detached")

    listed = subprocess.run([COWORK, "memory", "list", "--all", "--json", "--server", cowork.url], capture_output=True,
                            text=True, timeout=60, env={**os.environ, "COWORK_HOME": str(cowork.home)})
    assert listed.returncode == 0, listed.stderr
    assert "ISO dates" in listed.stdout and "staging.internal" not in listed.stdout
