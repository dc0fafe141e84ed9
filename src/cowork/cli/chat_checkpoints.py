"""The checkpoint commands of ``cowork chat``: ``/checkpoints``, ``/undo``, ``/restore``, ``/rewind``
(docs/checkpoints.md). Each shows what would change first, asks before overwriting a file the
person edited since the agent's last change, then applies."""

from __future__ import annotations

from typing import Protocol

from rich.console import Console
from rich.text import Text

from ..client import AsyncClient, CoworkError
from ..protocol import CheckpointInfo, SessionInfo
from ..protocol.rpc import CheckpointRestoreResult, ErrorCode
from .chat_errors import ChatError
from .checkpoints import checkpoint_table, print_changes, print_restored


class Chat(Protocol):
    """What these commands need of :class:`cowork.cli.chat.Chat` (which imports this module)."""

    client: AsyncClient
    out: Console

    @property
    def current(self) -> SessionInfo: ...

    async def confirm(self, question: str) -> bool: ...

REWIND_TARGETS = ("both", "code", "conversation")


async def list_checkpoints(chat: Chat) -> None:
    found = await chat.client.list_checkpoints(chat.current.id, 50)
    if not found:
        chat.out.print("no checkpoints in this session yet")
        return
    chat.out.print(checkpoint_table(found))
    chat.out.print("/restore ID [paths] restores one; /undo takes back the last turn's file changes", style="dim")


async def _resolve(chat: Chat, ref: str) -> CheckpointInfo:
    found = [c for c in await chat.client.list_checkpoints(chat.current.id, 1000) if c.id.startswith(ref)]
    if len(found) == 1:
        return found[0]
    raise ChatError(f"no checkpoint {ref} in this session (see /checkpoints)" if not found else
                    f"{ref} matches {len(found)} checkpoints; give more of the id")


async def restore(chat: Chat, checkpoint_id: str, paths: list[str] | None, what: str) -> None:
    """Preview, ask about conflicts, apply."""
    preview = await chat.client.restore_checkpoint(checkpoint_id, paths, preview=True)
    if not preview.changes:
        print_changes(chat.out, preview)
        chat.out.print(f"nothing to {what}: the files already match")
        return
    chat.out.print(f"{what} changes these paths back (+ added since, - deleted since, ~ modified):")
    print_changes(chat.out, preview)
    overwrite: list[str] = []
    if preview.conflicts:
        if await chat.confirm(f"overwrite your own edits to {', '.join(preview.conflicts)}?"):
            overwrite = preview.conflicts
        else:
            chat.out.print("your edits are kept; the other paths are restored", style="dim")
    result: CheckpointRestoreResult = await chat.client.restore_checkpoint(
        checkpoint_id, paths, preview=False, overwrite=overwrite)
    print_restored(chat.out, result)


async def undo(chat: Chat) -> None:
    """Take back the file changes of the session's last turn."""
    turns = [c for c in await chat.client.list_checkpoints(chat.current.id, 1000) if c.kind == "turn"]
    if not turns:
        raise ChatError("nothing to undo: no turn of this session has changed files")
    await restore(chat, turns[0].id, None, "undo")


async def restore_command(chat: Chat, arg: str) -> None:
    ref, *paths = arg.split()
    info = await _resolve(chat, ref)
    await restore(chat, info.id, paths or None, "restore")


async def rewind(chat: Chat, arg: str) -> None:
    """``/rewind [TURN] [both|code|conversation]``: go back to before a turn (default: the last)."""
    words = arg.split()
    target = next((w for w in words if w in REWIND_TARGETS), "both")
    refs = [w for w in words if w not in REWIND_TARGETS]
    turns = [c.turn_id for c in await chat.client.list_checkpoints(chat.current.id, 1000) if c.kind == "turn"]
    if refs:
        found = [t for t in dict.fromkeys(turns) if t.startswith(refs[0])] or [refs[0]]
        turn_id = found[0]
    elif turns:
        turn_id = turns[0]
    else:
        raise ChatError("usage: /rewind TURN [both|code|conversation] (no checkpointed turn to go back to)")
    try:
        result = await chat.client.rewind_turn(chat.current.id, turn_id, target)  # type: ignore[arg-type]
    except CoworkError as exc:
        if exc.code == ErrorCode.TURN_IN_PROGRESS:
            raise ChatError(f"{exc.message}") from None
        raise
    if result.rewound_turn_ids:
        chat.out.print(Text(f"rewound {len(result.rewound_turn_ids)} turn(s): the agent no longer remembers them",
                            style="bold"))
    if result.files is not None:
        print_restored(chat.out, result.files)
