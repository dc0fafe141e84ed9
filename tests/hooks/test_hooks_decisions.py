"""How a pre_tool_use hook's answer and the policy's decision make the decision a call runs on
(:func:`cowork.engine.hook_calls.decide_with_hook`)."""

from __future__ import annotations

from cowork.engine.approvals import PLAN_RULE
from cowork.engine.extensions import HookOutcome
from cowork.engine.hook_calls import HOOK_RULE, decide_with_hook
from cowork.policy import Decision

ALLOW = Decision("allow", "read-only command", "builtin:read-only:ls")
ASK = Decision("ask", "writes a file", "mode:default", suggestion=("write",), network=True)
HARD = Decision("ask", "writes .git/hooks", "builtin:hard-deny:git-hooks", hard=True)
DENY = Decision("deny", "the session is read-only", "mode:read-only")
PLAN = Decision("ask", "the agent proposes a plan", PLAN_RULE)


def hook(decision, reason: str = "because") -> HookOutcome:
    return HookOutcome(decision=decision, reason=reason)


def test_no_answer_leaves_the_policy_alone() -> None:
    for d in (ALLOW, ASK, HARD, DENY):
        assert decide_with_hook(d, None) is d and decide_with_hook(d, hook(None)) is d


def test_a_policy_deny_always_stands() -> None:
    for answer in ("allow", "ask", "deny"):
        assert decide_with_hook(DENY, hook(answer)) is DENY


def test_deny_and_ask_win_over_what_the_policy_allows() -> None:
    denied = decide_with_hook(ALLOW, hook("deny", "no prod"))
    assert (denied.outcome, denied.rule) == ("deny", HOOK_RULE) and "no prod" in denied.reason
    asked = decide_with_hook(ALLOW, hook("ask", "look first"))
    assert (asked.outcome, asked.rule, asked.options) == ("ask", HOOK_RULE, ["once", "deny"])
    both = decide_with_hook(ASK, hook("ask", "look first"))
    assert both.rule == ASK.rule and both.suggestion == ASK.suggestion and "look first" in both.reason


def test_allow_lifts_an_ordinary_ask_only_and_never_gives_the_network() -> None:
    allowed = decide_with_hook(ASK, hook("allow", "ci bot"))
    assert (allowed.outcome, allowed.rule, allowed.network) == ("allow", HOOK_RULE, False)
    assert decide_with_hook(HARD, hook("allow")) is HARD  # a hard deny still asks a person
    assert decide_with_hook(PLAN, hook("allow")) is PLAN  # a plan still waits for its approval
    assert decide_with_hook(ALLOW, hook("allow")) is ALLOW
