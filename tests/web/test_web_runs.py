"""Runs in the browser: a background run that waits for a person shows in the sidebar as
"waiting for you", its session's approval card answers it and the run completes; a queued run is
cancelled from the sidebar and never starts; a run submitted while the page is open appears and
completes in the list by itself (``run/subscribe``)."""

from __future__ import annotations

from pathlib import Path

from fakemodel import FakeModelServer, reply, text, tool_call
from web_support import Cowork, shot, tid

RUN = tid("run-item")


def test_a_waiting_run_is_answered_in_its_session_and_a_queued_one_is_cancelled(
        cowork: Cowork, fake: FakeModelServer, workspace: Path, new_page) -> None:
    fake.script(reply(tool_call("write", {"path": "report.md", "content": "# Weekly\n"})),
                reply(text("I wrote report.md.")), reply(text("Nothing else to do.")))
    made = cowork.rest("POST", "/runs", json={"workspace": str(workspace), "prompt": "Write the weekly report",
                                              "approvals": "wait", "approvalTimeout": 600})
    assert made.status_code == 201, made.text
    first = made.json()["run"]
    second = cowork.rest("POST", "/runs", json={"workspace": str(workspace), "prompt": "Then tidy up",
                                                "approvals": "deny"}).json()["run"]

    page = new_page(cowork.url + "/")
    waiting = page.wait_for_selector(f'{RUN}[data-run-id="{first["id"]}"][data-state="waiting_for_approval"]')
    assert "waiting for you" in waiting.text_content()
    assert page.get_attribute(f'{RUN}[data-run-id="{second["id"]}"]', "data-state") == "queued"
    page.wait_for_selector(f'{tid("session-item")}[data-session-id="{first["session_id"]}"] {tid("session-waiting")}')
    shot(page, "runs")

    page.click(f'{RUN}[data-run-id="{second["id"]}"] {tid("run-cancel")}')  # the queued one never starts
    page.wait_for_selector(f'{RUN}[data-run-id="{second["id"]}"][data-state="cancelled"]')

    waiting.query_selector("a").click()
    page.wait_for_url(f"**/sessions/{first['session_id']}")
    page.wait_for_selector(f'{tid("approval-card", state="pending")}[aria-label="approval: write"] '
                           f'{tid("approval-once")}').click()
    page.wait_for_selector(f'{RUN}[data-run-id="{first["id"]}"][data-state="completed"]', timeout=15_000)
    assert (workspace / "report.md").read_text() == "# Weekly\n"
    run = cowork.rest("GET", f"/runs/{first['id']}").json()["run"]
    assert run["state"] == "completed" and run["result"] == "I wrote report.md."
    assert cowork.rest("GET", f"/runs/{second['id']}").json()["run"]["turn_id"] is None

    # a run submitted while the page is open appears and moves on by itself (run.updated, no reload)
    third = cowork.rest("POST", "/runs", json={"workspace": str(workspace), "prompt": "Anything else?",
                                               "approvals": "deny"}).json()["run"]
    page.wait_for_selector(f'{RUN}[data-run-id="{third["id"]}"][data-state="completed"]', timeout=15_000)
    assert page.query_selector_all(RUN)[0].get_attribute("data-run-id") == third["id"]  # newest first


def test_schedules_in_the_sidebar_pause_resume_and_run_now(
        cowork: Cowork, fake: FakeModelServer, workspace: Path, new_page) -> None:
    fake.script(reply(text("Weekly summary written.")))
    made = cowork.rest("POST", "/schedules", json={
        "workspace": str(workspace), "prompt": "Summarise the week", "approvals": "deny",
        "trigger": {"cron": "0 9 * * 1-5", "timezone": "Europe/Berlin"}})
    assert made.status_code == 201, made.text
    schedule = made.json()["schedule"]
    page = new_page(cowork.url + "/")
    item = page.wait_for_selector(f'{tid("schedule-item")}[data-schedule-id="{schedule["id"]}"]')
    assert "At 09:00 on Monday through Friday (Europe/Berlin)" in item.text_content()
    assert item.query_selector(tid("schedule-next")).text_content().startswith("next: ")
    item.query_selector(tid("schedule-toggle")).click()
    page.wait_for_selector(f'{tid("schedule-item")}[data-enabled="false"]')
    assert page.text_content(f'{tid("schedule-item")} {tid("schedule-next")}') == "paused"
    assert cowork.rest("GET", f"/schedules/{schedule['id']}").json()["schedule"]["enabled"] is False
    page.click(f'{tid("schedule-item")} {tid("schedule-toggle")}')
    page.wait_for_selector(f'{tid("schedule-item")}[data-enabled="true"]')
    page.click(f'{tid("schedule-item")} {tid("schedule-run")}')
    page.wait_for_selector(f'{tid("schedule-note")}:has-text("Queued run")')
    page.wait_for_selector(f'{RUN}[data-state="completed"]', timeout=15_000)  # the run it queued, in the runs list
    history = cowork.rest("GET", f"/schedules/{schedule['id']}/history").json()["fires"]
    assert [f["reason"] for f in history] == ["run now, by a person"]


def test_a_schedule_is_created_in_the_browser_and_bad_input_is_said(
        cowork: Cowork, fake: FakeModelServer, workspace: Path, new_page) -> None:
    page = new_page(cowork.url + "/")
    page.click(tid("new-schedule-link"))
    page.wait_for_url("**/schedules/new")
    page.fill(tid("schedule-workspace"), str(workspace))
    page.fill(tid("schedule-prompt"), "Summarise what changed in this repo since {{prev_run}}")
    page.fill(tid("schedule-cron"), "every morning")  # not cron: the server's error is shown
    page.fill(tid("schedule-timezone"), "Europe/Berlin")
    page.click(tid("schedule-create"))
    assert "cron" in page.wait_for_selector(tid("schedule-error")).text_content().lower()
    page.select_option(tid("schedule-kind"), "every")
    page.fill(tid("schedule-every"), "0")
    page.click(tid("schedule-create"))  # the browser itself refuses 0 (min=1): nothing is sent
    assert page.eval_on_selector(tid("schedule-every"), "e => e.validity.rangeUnderflow") is True
    assert cowork.rest("GET", "/schedules").json()["schedules"] == []
    page.select_option(tid("schedule-kind"), "cron")
    page.fill(tid("schedule-cron"), "0 9 * * 1-5")
    page.select_option(tid("schedule-approvals"), "deny")
    page.select_option(tid("schedule-missed"), "skip")
    shot(page, "new-schedule")
    page.click(tid("schedule-create"))

    made = page.wait_for_selector(tid("schedule-made"))
    assert made.text_content() == "At 09:00 on Monday through Friday (Europe/Berlin)"
    assert len(page.query_selector_all(f'{tid("schedule-made-next")} li')) == 5
    stored = cowork.rest("GET", f"/schedules/{made.get_attribute('data-schedule-id')}").json()["schedule"]
    assert stored["trigger"] == {"cron": "0 9 * * 1-5", "timezone": "Europe/Berlin"}
    assert (stored["approvals"], stored["missed"], stored["overlap"]) == ("deny", "skip", "skip")
    assert stored["prompt"].endswith("{{prev_run}}")
    page.wait_for_selector(f'{tid("schedule-item")}[data-schedule-id="{stored["id"]}"]')  # in the sidebar at once
