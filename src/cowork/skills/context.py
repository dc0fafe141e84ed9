"""What a turn's instructions say about skills: their names and descriptions within a budget
(progressive disclosure: the body is loaded by the ``skill`` tool), and a hint when the request
clearly matches one.

**The list** (:class:`SkillsContext`, section kind ``"skills"``) has one line per offered skill,
``- NAME: DESCRIPTION``, nearest scope first, within ``budget_chars`` (default
:data:`DEFAULT_BUDGET_CHARS`, about 2,000 tokens at four characters a token). Skills that do not
fit are named without their description while names fit, and counted after that; the section
then says so (``truncated=True``).

**The hint** (section kind ``"skill_hint"``): one line, ``This request looks like a job for skill
X: call skill(name=X) first``, when the turn's prompt clearly matches one skill. The score is
lexical and simple (:func:`match_scores`):

1. Words are runs of letters and digits, lowercased (``report.PDF`` gives ``report``, ``pdf``);
   words of one character and :data:`STOPWORDS` (English function words and verbs every request
   uses: read, write, file, make...) are dropped; a plural ``-s``/``-ies`` is folded
   (``spreadsheets`` → ``spreadsheet``, ``copies`` → ``copy``). No other stemming.
2. A skill's words are those of its name (split at hyphens) and of its description.
3. A prompt word found in a skill's words scores ``weight / df``: weight 2 when it is a word of
   the skill's *name*, else 1; ``df`` the number of offered skills having that word (a word all
   skills share says little).
4. The best skill is hinted when its score is at least :data:`HINT_THRESHOLD` (2: one name word,
   or two description words) and at least :data:`HINT_MARGIN` above the second best's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from cowork.engine.extensions import ContextSection

from .catalog import Skill

DEFAULT_BUDGET_CHARS = 8_000
"""The skills section's default size limit in characters (about 2,000 tokens)."""
HINT_THRESHOLD = 2.0
"""The least score (see the module docstring) for a hint."""
HINT_MARGIN = 1.0
"""How far the best skill's score must be above the second best's for a hint."""

STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being below
between both but by can could did do does doing done down during each either else etc ever every few for
from further get gets got had has have having he her here hers him his how i if in into is it its itself
just let like may me might mine more most much must my myself no nor not now of off on once one only or
other our ours out over own per please same shall she should so some such than that the their theirs them
then there these they this those through to too under until up upon us very via was we were what when
where which while who whom why will with within without would yes yet you your yours
use used uses using need needs want wants help make makes made create creates new thing things way
file files folder folders read reads reading write writes writing open show tell give take put find
text content contents data work job task request ask asks user skill skills tool tools
""".split())
"""Words that say nothing about which skill fits (English function words, and verbs and nouns
nearly every request or skill description uses)."""

_WORD = re.compile(r"[^\W_]+")

_PREAMBLE = ("Skills are folders of instructions, scripts and reference files for particular jobs. "
             "When a request matches a skill's description, call skill(name=NAME) first to load its "
             "instructions, then follow them.")


def _fold(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def words(text: str) -> set[str]:
    """The distinct words of ``text`` the matcher compares (see the module docstring, step 1)."""
    return {_fold(w) for w in _WORD.findall(text.lower()) if len(w) > 1 and w not in STOPWORDS}


def match_scores(prompt: str, skills: Sequence[Skill]) -> list[tuple[str, float]]:
    """``(skill name, score)`` for every skill whose score for ``prompt`` is above 0, best
    first (ties by name). See the module docstring for the score."""
    asked = words(prompt)
    if not asked or not skills:
        return []
    names = {s.name: words(s.name.replace("-", " ")) for s in skills}
    vocab = {s.name: names[s.name] | words(s.description) for s in skills}
    df: dict[str, int] = {}
    for vs in vocab.values():
        for w in vs:
            df[w] = df.get(w, 0) + 1
    scores = []
    for s in skills:
        hit = asked & vocab[s.name]
        score = sum((2.0 if w in names[s.name] else 1.0) / df[w] for w in hit)
        if score > 0:
            scores.append((s.name, round(score, 3)))
    scores.sort(key=lambda x: (-x[1], x[0]))
    return scores


def hint_for(prompt: str, skills: Sequence[Skill], *, threshold: float = HINT_THRESHOLD,
             margin: float = HINT_MARGIN) -> str | None:
    """The name of the skill ``prompt`` clearly asks for, or None (see the module docstring)."""
    scores = match_scores(prompt, skills)
    if not scores or scores[0][1] < threshold:
        return None
    if len(scores) > 1 and scores[0][1] - scores[1][1] < margin:
        return None
    return scores[0][0]


def hint_text(name: str) -> str:
    """The hint line for skill ``name``."""
    return f"This request looks like a job for skill {name}: call skill(name={name}) first."


def render_list(skills: Sequence[Skill], budget_chars: int) -> tuple[str, int]:
    """The skills section's text within ``budget_chars``, and how many skills it left without
    their description (named only, or only counted)."""
    lines = [_PREAMBLE]
    used = len(_PREAMBLE)
    rest: list[Skill] = []
    for s in skills:
        line = f"- {s.name}: {' '.join(s.description.split())}"
        if rest or used + len(line) + 1 > budget_chars - 200:  # keep room for the note
            rest.append(s)
            continue
        lines.append(line)
        used += len(line) + 1
    if rest:
        named: list[str] = []
        room = budget_chars - used - 160
        for s in rest:
            if room - len(s.name) - 2 < 0:
                break
            named.append(s.name)
            room -= len(s.name) + 2
        note = f"({len(rest)} more skills are left out of this list to keep it short"
        if named:
            note += ": " + ", ".join(named)
            if len(named) < len(rest):
                note += f" and {len(rest) - len(named)} more"
        lines.append(note + "; call skill(name=NAME) to load one by name.)")
    return "\n".join(lines), len(rest)


class SkillsContext:
    """The :class:`~cowork.engine.extensions.ContextSource` of skills: the list of the offered
    skills (kind ``"skills"``) and, when the turn's prompt clearly matches one, the hint (kind
    ``"skill_hint"``). No section when the workspace has no skill.

    Args:
        service: where the skills come from (:class:`cowork.skills.tool.SkillsService`).
        budget_chars: the list's size limit in characters.
        hint: add the hint section.
    """

    name = "skills"

    def __init__(self, service: object, *, budget_chars: int = DEFAULT_BUDGET_CHARS, hint: bool = True) -> None:
        if budget_chars < 400:
            raise ValueError(f"budget_chars must be at least 400 (got {budget_chars})")
        self.service = service
        self.budget_chars = budget_chars
        self.hint = hint

    def sections(self, session_id: str, workspace: Path, prompt: str | None) -> Sequence[ContextSection]:
        skills = self.service.catalog(workspace).skills  # type: ignore[attr-defined]
        if not skills:
            return []
        text, left_out = render_list(skills, self.budget_chars)
        out = [ContextSection("skills", f"Skills ({len(skills)})", text, truncated=left_out > 0, compact=False)]
        if self.hint and prompt:
            name = hint_for(prompt, skills)
            if name is not None and f"skill(name={name})" not in prompt:
                out.append(ContextSection("skill_hint", "Skill hint", hint_text(name), invites_on_demand=True))
        return out

    def notes_for_paths(self, session_id: str, workspace: Path, paths: Sequence[Path]) -> Sequence[ContextSection]:
        return []


__all__ = [
    "DEFAULT_BUDGET_CHARS", "HINT_MARGIN", "HINT_THRESHOLD", "STOPWORDS", "SkillsContext", "hint_for", "hint_text",
    "match_scores", "render_list", "words",
]
