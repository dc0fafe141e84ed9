"""The scripted model of the subagent tests (server, browser, CLI): a parent turn fans out to three
subagents, each writing one file with ``bash``. The handler answers each request by who is asking: a
subagent's requests carry the subagent preamble in their instructions."""

from __future__ import annotations

from typing import Any

from fakemodel import reply, system_text, text, tool_call, tool_texts

TASKS = {"alpha": "Write alpha.txt", "beta": "Write beta.txt", "gamma": "Write gamma.txt"}


def is_subagent(body: dict) -> bool:
    """A request of a subagent's turn."""
    return "You are a subagent" in system_text(body)


def first_user_text(body: dict) -> str:
    return next(m["content"] for m in body["messages"] if m["role"] == "user")


def fan_out(spawn_extra: dict[str, Any] | None = None, wait_timeout: float = 30):
    """Parent: spawn the three subagents in one response (with ``spawn_extra`` arguments), wait for
    them, answer. Each subagent: one bash call that writes ``NAME.txt`` (asks in default mode), then
    its report ``NAME report: wrote NAME.txt``."""
    def handler(body: dict) -> Any:
        results = tool_texts(body)
        if is_subagent(body):
            name = next(n for n, t in TASKS.items() if t in first_user_text(body))
            if not results:
                return reply(tool_call("bash", {"command": f"echo {name} > {name}.txt"}))
            return reply(text(f"{name} report: wrote {name}.txt"))
        if not results:
            return reply(*(tool_call("spawn_agent", {"task": t, **(spawn_extra or {})}) for t in TASKS.values()))
        if not any("report: wrote" in r or "interrupted:" in r for r in results):
            return reply(tool_call("wait_agents", {"timeout": wait_timeout}))
        return reply(text("All three reported."))
    return handler
