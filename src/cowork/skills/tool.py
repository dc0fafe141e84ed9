"""The ``skill`` tool: the model loads a skill's instructions when it picks one.

``skill(name=NAME)`` returns the skill's body (placeholders rendered, see
:meth:`~cowork.skills.catalog.Skill.rendered_body`), its folder's absolute path and the list of
its files, with how to use them from where the skill lives:

- a **workspace** skill lies inside the workspace: its files are read with ``read`` and its
  scripts run with ``bash``, like any workspace file;
- a **builtin** skill lies in cowork's installed package, outside the workspace: the file tools
  never leave the workspace, so its files are read with ``skill(name=NAME, file=PATH)``; its
  scripts run with ``bash`` by absolute path (the sandbox mounts the whole file system read-only,
  and the policy decides the command as it decides any other);
- a **user** skill lies in ``$COWORK_HOME/skills``, which no file tool reads and which the
  sandbox hides from commands (it holds cowork's keys and database): its files are read with
  ``skill(name=NAME, file=PATH)``, and a script is run by copying it into the workspace first.

``skill(name=NAME, file=PATH)`` returns one file of the skill's folder (text, at most
:data:`~cowork.skills.catalog.MAX_READ_BYTES`); ``PATH`` must stay inside the folder (no ``..``,
no symlink leading out). The tool is read-only (it changes nothing and never leaves the machine),
so every mode runs it without asking.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from collections.abc import Sequence
from pathlib import Path

from pydantic import Field

from cowork import config
from cowork.tools import READ_ONLY, Tool, ToolArgs, ToolContext, ToolError, ToolResult

from .catalog import Catalog, Skill, discover


class SkillsService:
    """Where the skills of a workspace come from (discovery is cheap: parsed files are cached).

    Args:
        builtin: include the skills cowork ships.
        home: the user folder whose ``skills/`` is searched (default: ``$COWORK_HOME``, read on
            each call).
    """

    def __init__(self, *, builtin: bool = True, home: Path | None = None) -> None:
        self.builtin = builtin
        self.home = home

    def catalog(self, workspace: Path | None) -> Catalog:
        """Every skill for ``workspace`` (None: the user's and the builtin ones only)."""
        return discover(workspace, home=self.home or config.cowork_home(), builtin=self.builtin)

    def entries(self, workspace: Path | None) -> list[dict]:
        """:meth:`Catalog.entries` of ``workspace``'s catalog (what ``skills/list`` answers)."""
        return self.catalog(workspace).entries()

    def get(self, workspace: Path | None, name: str) -> Skill | None:
        """The skill offered under ``name`` in ``workspace``, or None."""
        return self.catalog(workspace).get(name)

    @staticmethod
    def message(skill: Skill, request: str) -> str:
        """The user message of a direct invocation (``/NAME REQUEST``), see :func:`skill_message`."""
        return skill_message(skill, request)


class SkillArgs(ToolArgs):
    name: str = Field(description="The skill's name, as the list of skills gives it.", max_length=200)
    file: str | None = Field(default=None, max_length=1000,
                             description="Optional: a file of the skill's folder to read instead (a path relative "
                                         "to the folder, as the skill's file list gives it).")


def _how(skill: Skill, workspace: Path) -> str:
    if skill.scope == "workspace" and skill.path.is_relative_to(workspace.resolve()):
        rel = skill.path.relative_to(workspace.resolve()).as_posix()
        return (f"The folder is in the workspace ({rel}): read its files with read (e.g. {rel}/FILE) and run "
                "its scripts with bash.")
    if skill.scope == "user":
        return (f"Read its files with skill(name={skill.name}, file=FILE). The folder is in cowork's own "
                "state folder, which commands cannot see: to run one of its scripts, read it with "
                "skill(file=...) and write it into the workspace first.")
    return (f"Read its files with skill(name={skill.name}, file=FILE); run its scripts with bash by their "
            f"absolute path ({skill.path}/FILE).")


def render_skill(skill: Skill, workspace: Path) -> str:
    """What ``skill(name=...)`` returns: the rendered body, the folder, its files, how to use them."""
    files, more = skill.files()
    lines = [f'<skill name="{skill.name}" scope="{skill.scope}">', skill.rendered_body(), "</skill>", "",
             f"Skill folder: {skill.path}"]
    if files:
        lines.append("Files (relative to the folder):")
        lines += [f"- {f}" for f in files]
        if more:
            lines.append(f"- ... and {more} more")
        lines.append(_how(skill, workspace))
    return "\n".join(lines)


class SkillTool(Tool):
    """Load a skill's instructions (or one of its files)."""

    name = "skill"
    description = (
        "Load a skill: its instructions for a particular job, the absolute path of its folder and the list "
        "of its files (scripts, references). Call it with the name of a skill from the list of skills "
        "before doing a job that skill covers, then follow its instructions. With `file`, returns that "
        "file of the skill's folder instead."
    )
    Args = SkillArgs
    traits = replace(READ_ONLY, on_demand=True)  # small models get it only with a hint (engine/harness.py)

    def __init__(self, service: SkillsService) -> None:
        self.service = service

    async def run(self, args: SkillArgs, ctx: ToolContext) -> ToolResult:
        return await asyncio.to_thread(self._run, args, ctx)

    def _run(self, args: SkillArgs, ctx: ToolContext) -> ToolResult:
        catalog = self.service.catalog(ctx.workspace)
        wanted = args.name.strip()
        skill = catalog.get(wanted) or next((s for s in catalog.skills if s.name.casefold() == wanted.casefold()), None)
        if skill is None:
            known = ", ".join(s.name for s in catalog.skills) or "none"
            bad = next((i for i in catalog.invalid if i.name == args.name.strip()), None)
            why = f" (the skill in {bad.path} is invalid: {'; '.join(bad.errors)})" if bad else ""
            raise ToolError(f"no skill named {args.name!r}{why}; the skills are: {known}")
        meta = {"skill": skill.name, "scope": skill.scope, "path": str(skill.path)}
        if args.file:
            rel = args.file.strip()
            try:
                text = skill.read_file(rel)
            except (ValueError, FileNotFoundError) as exc:
                raise ToolError(str(exc)) from None
            return ToolResult(text or f"'{rel}' is empty (0 bytes).", summary=f"skill {skill.name}: {rel}",
                              metadata={**meta, "file": rel})
        files, more = skill.files()
        return ToolResult(render_skill(skill, ctx.workspace),
                          summary=f"loaded skill {skill.name} ({skill.scope} · {len(files) + more} files)",
                          metadata=meta)


class SkillToolset:
    """The toolset of the ``skill`` tool: offered in a workspace that has at least one valid
    skill, else empty (a model is not offered a tool it cannot use)."""

    name = "skills"
    version = 0

    def __init__(self, service: SkillsService) -> None:
        self.service = service
        self.tool = SkillTool(service)

    def tools(self, session_id: str, workspace: Path) -> Sequence[Tool]:
        try:
            return [self.tool] if self.service.catalog(Path(workspace)).skills else []
        except OSError:  # pragma: no cover - discovery skips what it cannot read
            return []


def skill_message(skill: Skill, request: str) -> str:
    """The user message of a direct invocation (``/NAME REQUEST`` in the REPL and the UI): the
    request, asking for skill ``NAME``, with the skill's instructions attached (so the model need
    not call the tool first)."""
    request = request.strip() or "(no further details: apply the skill to the current workspace)"
    return (f"Use the skill {skill.name} for this request: {request}\n\n"
            f"The instructions of skill {skill.name} (folder {skill.path}):\n\n{skill.rendered_body()}")


__all__ = ["SkillArgs", "SkillTool", "SkillToolset", "SkillsService", "render_skill", "skill_message"]
