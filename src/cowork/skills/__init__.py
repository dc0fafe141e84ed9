"""Skills in the Agent Skills format (https://agentskills.io/specification) and project
instructions (AGENTS.md).

A skill is a folder with a ``SKILL.md`` (YAML front matter ``name`` and ``description``, then
Markdown instructions) and optional ``scripts/``, ``references/`` and ``assets/``. cowork finds
them in the workspace (``.cowork/skills/``, ``.agents/skills/``), the person's folder
(``$COWORK_HOME/skills/``) and the ones it ships (``cowork/skills/builtin/``); the nearer one wins a
name clash (:mod:`.catalog`). Only names and descriptions go into a turn's instructions
(:mod:`.context`); the model loads a skill's body with the ``skill`` tool (:mod:`.tool`).

:func:`extension` is what a cowork server is given (``Runtime(extensions=[extension()])``).
"""

from __future__ import annotations

from cowork.engine.extensions import Extension

from .catalog import (
    BUILTIN_ROOT, MAX_SKILL_MD_BYTES, Catalog, InvalidSkill, Skill, SkillRoot, discover, load_skill,
    skill_roots, validate,
)
from .context import HINT_THRESHOLD, SkillsContext, hint_for, match_scores
from .tool import SkillsService, SkillTool, SkillToolset
from .agents_md import agents_md_extension


def extension(*, builtin: bool = True, budget_chars: int | None = None, hint: bool = True) -> Extension:
    """The skills extension: the ``skill`` tool (:class:`SkillToolset`), the context section that
    lists the skills and hints at one (:class:`SkillsContext`), and a :class:`SkillsService`
    (``service``) the server's ``skills/list`` reads.

    Args:
        builtin: also discover the skills cowork ships.
        budget_chars: the most characters the skills section may take (default
            :data:`cowork.skills.context.DEFAULT_BUDGET_CHARS`, about 2,000 tokens).
        hint: add the "looks like a job for skill X" line when a prompt matches a skill.
    """
    service = SkillsService(builtin=builtin)
    kwargs = {} if budget_chars is None else {"budget_chars": budget_chars}
    return Extension(
        "skills",
        toolsets=[SkillToolset(service)],
        context_sources=[SkillsContext(service, hint=hint, **kwargs)],
        service=service,
    )


__all__ = [
    "BUILTIN_ROOT", "HINT_THRESHOLD", "MAX_SKILL_MD_BYTES", "Catalog", "InvalidSkill", "Skill", "SkillRoot",
    "SkillTool", "SkillToolset", "SkillsContext", "SkillsService", "discover", "extension", "hint_for",
    "load_skill", "match_scores", "skill_roots", "validate", "agents_md_extension",
]
