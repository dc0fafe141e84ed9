"""Whether a tool call may run: ``allow``, ``ask`` a person, or ``deny`` (the OS sandbox that confines
a command is :mod:`cowork.sandbox`).

:func:`load_policy` reads the rules in force for a workspace (built-in, ``$COWORK_HOME/policy.toml``,
the trusted workspace's ``.cowork/policy.toml``); :meth:`Policy.decide` decides one call in a
mode, with the session's "always" answers, and returns a :class:`Decision` naming the rule that
made it. See docs/security.md for the model, the modes and the rule syntax.
"""

from .engine import CallTraits, Decision, PlainTraits, Policy, load_policy
from .modes import MODE_HELP, MODES, check_mode
from .rules import Outcome, PolicyFileError, Rule
from .trust import is_trusted, set_trusted, trusted

__all__ = [
    "MODES", "MODE_HELP", "CallTraits", "Decision", "Outcome", "PlainTraits", "Policy", "PolicyFileError", "Rule", "check_mode", "is_trusted",
    "load_policy", "set_trusted", "trusted",
]
