"""``cowork webhooks add | list | remove | rotate-secret``: webhook triggers that start runs when
``POST /hooks/ID`` arrives with a valid signature (docs/automation.md, "Webhooks"), through the
protocol's ``webhook/*`` methods. (``hooks.toml`` hooks, the person's own commands at turn
events, are another thing: docs/extensions.md.)"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from .common import out, print_list, usage_error, with_client
from .options import ServerOpt, TokenOpt, workspace_of
from .runs import AllowOpt, ApprovalTimeoutOpt, ApprovalsOpt, EmailOpt, IfNotEmptyOpt, NotifyOpt, check_approvals
from .runs import deliver_of

app = typer.Typer(help="Webhooks: POST /hooks/ID on the server starts a run (signed with the webhook's secret).",
                  no_args_is_help=True)
IdArg = Annotated[str, typer.Argument(help="Webhook id or a unique prefix of one.")]


def _say_secret(webhook: Any, secret: str, server: str | None) -> None:
    base = (server or "http://127.0.0.1:8765").rstrip("/")
    out.print(f"webhook [bold]{webhook.id}[/bold]: POST {base}{webhook.path}")
    how = ("sign each body: X-Hub-Signature-256: sha256=HMAC-SHA256(secret, body) (GitHub's form)"
           if webhook.auth == "hmac" else "send it in the X-Cowork-Webhook-Secret header")
    out.print(f"secret (shown once; {how}):")
    print(secret)


@app.command("add")
def add(
    prompt: Annotated[str, typer.Argument(help="The runs' prompt; {{payload.…}} reads the request's JSON body.")],
    dir: Annotated[Path | None, typer.Option("--dir", "-C", help="Workspace folder (default: current folder).")] = None,
    auth: Annotated[str, typer.Option("--auth", help="hmac (X-Hub-Signature-256 of the body) or header "
                                      "(the secret in X-Cowork-Webhook-Secret).")] = "hmac",
    model: Annotated[str | None, typer.Option("--model", "-m", help="provider:model (default: the server's).")] = None,
    mode: Annotated[str, typer.Option("--mode", help="The runs' session mode.")] = "default",
    approvals: ApprovalsOpt = "wait",
    approval_timeout: ApprovalTimeoutOpt = 1800.0,
    allow: AllowOpt = None,
    rate: Annotated[int, typer.Option("--rate", min=1, max=10_000, help="Requests accepted per minute.")] = 30,
    continue_session: Annotated[bool, typer.Option("--continue-session", help="Every run continues one session.")] = False,
    email: EmailOpt = None,
    notify_url: NotifyOpt = None,
    only_if_not_empty: IfNotEmptyOpt = False,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Create a webhook; prints its URL path and its secret (once)."""
    workspace = workspace_of(dir)
    if not workspace.is_dir():
        raise usage_error(f"workspace {workspace} is not an existing folder")
    check_approvals(approvals)
    deliver = deliver_of(email, notify_url, only_if_not_empty)

    async def work(client: Any) -> Any:
        return await client.webhook_create(
            workspace=str(workspace), prompt=prompt, model=model, mode=mode, approvals=approvals,  # type: ignore[arg-type]
            approval_timeout=approval_timeout, allow=allow or [], auth=auth, rate_per_minute=rate,  # type: ignore[arg-type]
            session="continue" if continue_session else "new", deliver=deliver)

    got = with_client(work, server, token)
    _say_secret(got.webhook, got.secret, server)


@app.command("list")
def list_(
    dir: Annotated[Path | None, typer.Option("--dir", "-C", help="Only webhooks of this workspace.")] = None,
    json_lines: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Webhooks (never their secrets)."""
    workspace = str(dir.expanduser().resolve()) if dir else None
    found = with_client(lambda client: client.webhook_list(workspace=workspace), server, token).webhooks
    print_list(found, json_lines, "no webhooks (cowork webhooks add)", _webhooks_table)


def _webhooks_table(found: list[Any]) -> Table:
    table = Table("id", "path", "auth", "rate/min", "workspace", "prompt", box=None)
    for w in found:
        prompt = " ".join(w.prompt.split())
        table.add_row(w.id, w.path, w.auth, str(w.rate_per_minute), w.workspace,
                      prompt if len(prompt) <= 50 else prompt[:49] + "…")
    return table


@app.command("remove")
def remove(webhook_id: IdArg, server: ServerOpt = None, token: TokenOpt = None) -> None:
    """Remove a webhook and its secret (its runs stay)."""
    with_client(lambda client: client.webhook_delete(webhook_id=webhook_id), server, token)
    out.print(f"removed {webhook_id}")


@app.command("rotate-secret")
def rotate_secret(webhook_id: IdArg, server: ServerOpt = None, token: TokenOpt = None) -> None:
    """Give a webhook a new secret (the old one stops working at once); prints it once."""
    got = with_client(lambda client: client.webhook_rotate(webhook_id=webhook_id), server, token)
    _say_secret(got.webhook, got.secret, server)


__all__ = ["app"]
