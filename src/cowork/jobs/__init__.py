"""Work without a person at the keyboard: runs (queued turns with an approval policy) and, as they
come, schedules, webhooks and delivery (docs/automation.md). The engine never imports this package;
the server gives it the runtime."""

from .runs import POLICY, RunLimits, Runs
from .schedules import Scheduler
from .webhooks import Webhooks

__all__ = ["POLICY", "RunLimits", "Runs", "Scheduler", "Webhooks"]
