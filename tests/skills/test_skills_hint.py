"""The skills section and the hint's matcher (cowork.skills.context), without a model: the
labelled prompts of hint_cases.py over stand-in descriptions and over the skills cowork ships."""

from __future__ import annotations

from pathlib import Path

import pytest
from hint_cases import CASES, FIXTURE_DESCRIPTIONS

from cowork.skills import BUILTIN_ROOT, Skill, discover, hint_for, match_scores
from cowork.skills.context import SkillsContext, hint_text, render_list, words
from cowork.skills.tool import SkillsService


def _skills(descriptions: dict[str, str]) -> list[Skill]:
    return [Skill(n, d, "builtin", Path("/s") / n, Path("/s") / n / "SKILL.md", "") for n, d in descriptions.items()]


def test_words_drop_stopwords_and_fold_plurals() -> None:
    assert words("Merge the PDFs in reports/Q1.pdf, please") == {"merge", "pdf", "report", "q1"}
    assert words("copies of spreadsheets") == {"copy", "spreadsheet"}
    assert words("a I to the") == set()


@pytest.mark.parametrize(("prompt", "expected"), CASES)
def test_the_matcher_on_the_labelled_set(prompt: str, expected: str | None) -> None:
    assert hint_for(prompt, _skills(FIXTURE_DESCRIPTIONS)) == expected, match_scores(prompt, _skills(FIXTURE_DESCRIPTIONS))


def test_the_matcher_on_the_skills_cowork_ships() -> None:
    shipped = [s for s in discover(None, home=Path("/nonexistent"), builtin=True).skills if s.scope == "builtin"]
    if {s.name for s in shipped} < {"pdf", "spreadsheet", "docx"}:
        pytest.skip(f"the builtin skills are not all there yet ({BUILTIN_ROOT})")
    wrong = [(p, e, hint_for(p, shipped), match_scores(p, shipped)) for p, e in CASES if hint_for(p, shipped) != e]
    assert len(wrong) <= 1, wrong  # at most one miss on the shipped descriptions, never a false hint
    assert all(e is not None for _, e, _, _ in wrong)


def test_an_ambiguous_prompt_gets_no_hint() -> None:
    skills = _skills({"pdf-tools": "Merge PDF files.", "pdf-forms": "Fill PDF forms."})
    assert match_scores("Do something with this pdf", skills)[0][1] == match_scores("Do something with this pdf", skills)[1][1]
    assert hint_for("Do something with this pdf", skills) is None
    assert hint_for("Fill the form in a.pdf", skills) == "pdf-forms"


def test_the_list_keeps_to_its_budget_and_says_what_it_left_out() -> None:
    many = _skills({f"skill-{i:02d}": "x" * 300 for i in range(40)})
    text, left = render_list(many, 2_000)
    assert len(text) <= 2_000 and 0 < left < 40
    assert f"({left} more skills are left out of this list" in text and "skill-39" not in text
    assert "; call skill(name=NAME) to load one by name.)" in text
    text, left = render_list(_skills(FIXTURE_DESCRIPTIONS), 8_000)
    assert left == 0 and "left out" not in text and text.count("\n- ") == 3


def test_the_context_source_sections(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    d = ws / ".cowork" / "skills" / "pdf"
    d.mkdir(parents=True)
    (d / "SKILL.md").write_text(f"---\nname: pdf\ndescription: \"{FIXTURE_DESCRIPTIONS['pdf']}\"\n---\nbody\n")
    source = SkillsContext(SkillsService(builtin=False, home=tmp_path / "home"))
    listed, hint = source.sections("s", ws, "merge a.pdf and b.pdf")
    assert (listed.kind, listed.title, listed.truncated) == ("skills", "Skills (1)", False)
    assert hint.kind == "skill_hint" and hint.text == hint_text("pdf")
    assert [s.kind for s in source.sections("s", ws, None)] == ["skills"]  # no prompt (/context): no hint
    assert [s.kind for s in source.sections("s", ws, "run skill(name=pdf) on a.pdf")] == ["skills"]
    assert not SkillsContext(SkillsService(builtin=False, home=tmp_path / "home"), hint=False).sections(
        "s", ws, "merge a.pdf")[1:]
    assert source.sections("s", tmp_path, "merge a.pdf") == []  # no skills: nothing
    with pytest.raises(ValueError, match="budget_chars"):
        SkillsContext(SkillsService(), budget_chars=10)
