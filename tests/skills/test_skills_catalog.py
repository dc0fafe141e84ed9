"""Skill discovery, parsing and validation (cowork.skills.catalog) on real folders, and agreement
with the reference validator (skills-ref) on a set of good and bad skills."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import skills_ref

from cowork.skills import MAX_SKILL_MD_BYTES, InvalidSkill, Skill, discover, load_skill, validate
from cowork.skills.catalog import BUILTIN_ROOT, parse_skill_md


def make_skill(root: Path, name: str, description: str = "Does a thing when asked.", *, folder: str | None = None,
               extra: str = "", body: str = "# Steps\nDo it.\n") -> Path:
    d = root / (folder or name)
    d.mkdir(parents=True, exist_ok=True)
    (d / "SKILL.md").write_text(f"---\nname: {name}\ndescription: {description}\n{extra}---\n{body}", encoding="utf-8")
    return d


# -- the reference validator's verdicts, compared -----------------------------------------------------

GOOD_AND_BAD: dict[str, tuple[str, str]] = {
    # folder name -> (SKILL.md text, what it shows)
    "ok": ("---\nname: ok\ndescription: A fine skill.\n---\nBody\n", "minimal"),
    "full": ("---\nname: full\ndescription: Everything.\nlicense: MIT\ncompatibility: Python 3.11\n"
             "metadata:\n  author: me\n  version: '1.0'\nallowed-tools: bash read\n---\n# Body\n", "every optional field"),
    "pdf-2": ("---\nname: pdf-2\ndescription: Digits and a hyphen.\n---\n", "digits, hyphen, empty body"),
    "numeric": ("---\nname: numeric\ndescription: 12345\n---\n", "a number is a string description"),
    "folded": ("---\nname: folded\ndescription: >\n  A long description\n  on two lines.\n---\n", "folded scalar"),
    "tools-list": ("---\nname: tools-list\ndescription: d\nallowed-tools:\n  - bash\n  - read\n---\n", "block list"),
    "Upper": ("---\nname: Upper\ndescription: d\n---\n", "uppercase name"),
    "-lead": ("---\nname: -lead\ndescription: d\n---\n", "leading hyphen"),
    "trail-": ("---\nname: trail-\ndescription: d\n---\n", "trailing hyphen"),
    "dou--ble": ("---\nname: dou--ble\ndescription: d\n---\n", "double hyphen"),
    "under_score": ("---\nname: under_score\ndescription: d\n---\n", "underscore"),
    "x" * 65: ("---\nname: " + "x" * 65 + "\ndescription: d\n---\n", "name over 64"),
    "mismatch": ("---\nname: other\ndescription: d\n---\n", "name differs from the folder"),
    "no-name": ("---\ndescription: d\n---\n", "name missing"),
    "no-desc": ("---\nname: no-desc\n---\n", "description missing"),
    "empty-desc": ("---\nname: empty-desc\ndescription:\n---\n", "empty description"),
    "long-desc": ("---\nname: long-desc\ndescription: " + "d" * 1025 + "\n---\n", "description over 1,024"),
    "long-compat": ("---\nname: long-compat\ndescription: d\ncompatibility: " + "c" * 501 + "\n---\n",
                    "compatibility over 500"),
    "unknown-key": ("---\nname: unknown-key\ndescription: d\nversion: 2\n---\n", "a key the spec does not have"),
    "no-front": ("# Just markdown\n", "no front matter"),
    "unclosed": ("---\nname: unclosed\ndescription: d\n", "front matter not closed"),
    "not-mapping": ("---\n- a\n- b\n---\n", "front matter is a list"),
    "flow": ("---\nname: flow\ndescription: d\nmetadata: {a: b}\n---\n", "flow style"),
    "dup": ("---\nname: dup\nname: dup\ndescription: d\n---\n", "duplicate key"),
    "anchor": ("---\nname: anchor\ndescription: &d text\nlicense: *d\n---\n", "anchor and alias"),
    "bad-yaml": ("---\nname: bad-yaml\ndescription: [unclosed\n---\n", "broken YAML"),
    "empty-front": ("---\n---\nbody\n", "empty front matter"),
    "list-name": ("---\nname:\n  - a\ndescription: d\n---\n", "name is a list"),
}


def _ref_valid(path: Path) -> bool:
    return not skills_ref.validate(path)


@pytest.mark.parametrize("folder", sorted(GOOD_AND_BAD))
def test_verdicts_agree_with_the_reference_validator(tmp_path: Path, folder: str) -> None:
    text, what = GOOD_AND_BAD[folder]
    d = tmp_path / folder
    d.mkdir()
    (d / "SKILL.md").write_text(text, encoding="utf-8")
    ours = validate(d)
    assert (not ours) == _ref_valid(d), f"{what}: cowork says {ours}, skills-ref says {skills_ref.validate(d)}"


def test_the_agreement_set_has_both_verdicts(tmp_path: Path) -> None:
    verdicts = []
    for folder, (text, _) in GOOD_AND_BAD.items():
        d = tmp_path / folder
        d.mkdir()
        (d / "SKILL.md").write_text(text, encoding="utf-8")
        verdicts.append(_ref_valid(d))
    assert verdicts.count(True) >= 6 and verdicts.count(False) >= 15


STRICTER = {
    "meta-list": ("---\nname: meta-list\ndescription: d\nmetadata:\n  - a\n---\n", "'metadata' must map"),
    "meta-nested": ("---\nname: meta-nested\ndescription: d\nmetadata:\n  a:\n    b: c\n---\n", "'metadata' must map"),
    "tools-map": ("---\nname: tools-map\ndescription: d\nallowed-tools:\n  a: b\n---\n", "'allowed-tools' must be"),
    "license-map": ("---\nname: license-map\ndescription: d\nlicense:\n  a: b\n---\n", "'license' must be a string"),
}


@pytest.mark.parametrize("folder", sorted(STRICTER))
def test_where_cowork_is_stricter_than_the_reference(tmp_path: Path, folder: str) -> None:
    text, reason = STRICTER[folder]
    d = tmp_path / folder
    d.mkdir()
    (d / "SKILL.md").write_text(text, encoding="utf-8")
    assert _ref_valid(d)  # the reference does not check these fields' shapes
    assert any(reason in e for e in validate(d))


def test_every_scalar_is_a_string_as_in_the_reference() -> None:
    meta, body = parse_skill_md("---\nname: yes\ndescription: 12\nlicense: null\n---\n\n# B\n")
    assert meta == {"name": "yes", "description": "12", "license": "null"} and body == "# B"


# -- loading ---------------------------------------------------------------------------------------


def test_a_valid_skill_is_loaded_with_its_fields_and_files(tmp_path: Path) -> None:
    d = make_skill(tmp_path, "csv-report", "Turn CSV files into reports.",
                   extra="license: MIT\nmetadata:\n  author: ann\nallowed-tools: bash read\n",
                   body="Run `{python} {skill_dir}/scripts/go.py IN`.\n")
    (d / "scripts").mkdir()
    (d / "scripts" / "go.py").write_text("print('hi')\n")
    (d / "references").mkdir()
    (d / "references" / "format.md").write_text("# Format\n")
    (d / "scripts" / "__pycache__").mkdir()
    (d / "scripts" / "__pycache__" / "go.cpython-311.pyc").write_bytes(b"\0")
    skill = load_skill(d, "user")
    assert isinstance(skill, Skill)
    assert (skill.name, skill.scope, skill.license, skill.allowed_tools) == ("csv-report", "user", "MIT", ("bash", "read"))
    assert skill.metadata == {"author": "ann"} and skill.path == d.resolve()
    assert skill.rendered_body() == f"Run `{sys.executable} {d.resolve()}/scripts/go.py IN`."
    assert skill.files() == (["references/format.md", "scripts/go.py"], 0)
    assert skill.read_file("references/format.md") == "# Format\n"


def test_read_file_stays_inside_the_skill_folder(tmp_path: Path) -> None:
    d = make_skill(tmp_path / "root", "demo")
    (tmp_path / "secret.txt").write_text("s3cret")
    os.symlink(tmp_path / "secret.txt", d / "leak.txt")
    skill = load_skill(d)
    assert isinstance(skill, Skill)
    assert "leak.txt" not in skill.files()[0]
    for bad in ("../../secret.txt", "leak.txt", str(tmp_path / "secret.txt")):
        with pytest.raises(ValueError, match="outside|relative"):
            skill.read_file(bad)
    with pytest.raises(FileNotFoundError):
        skill.read_file("nope.md")
    (d / "bin.dat").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ValueError, match="not UTF-8"):
        skill.read_file("bin.dat")


def test_a_huge_or_non_utf8_skill_md_is_invalid_not_read(tmp_path: Path) -> None:
    big = make_skill(tmp_path, "big", body="x" * (MAX_SKILL_MD_BYTES + 10))
    found = load_skill(big)
    assert isinstance(found, InvalidSkill) and "256 KiB limit" in found.errors[0]
    latin = tmp_path / "latin"
    latin.mkdir()
    (latin / "SKILL.md").write_bytes(b"---\nname: latin\ndescription: caf\xe9\n---\n")
    found = load_skill(latin)
    assert isinstance(found, InvalidSkill) and "not UTF-8" in found.errors[0]


def test_a_skill_md_symlink_leading_out_of_the_folder_is_not_followed(tmp_path: Path) -> None:
    outside = make_skill(tmp_path / "elsewhere", "thief")
    d = tmp_path / "root" / "thief"
    d.mkdir(parents=True)
    os.symlink(outside / "SKILL.md", d / "SKILL.md")
    found = load_skill(d)
    assert isinstance(found, InvalidSkill) and "outside the skill's folder" in found.errors[0]


# -- discovery ---------------------------------------------------------------------------------------


def test_nearer_scopes_win_and_listings_say_what_shadows_what(tmp_path: Path) -> None:
    ws, home = tmp_path / "ws", tmp_path / "home"
    make_skill(ws / ".cowork" / "skills", "shared", "Workspace version.")
    make_skill(ws / ".agents" / "skills", "shared", "Agents-folder version.")
    make_skill(ws / ".agents" / "skills", "agents-only", "Only here.")
    make_skill(home / "skills", "shared", "User version.")
    make_skill(home / "skills", "mine", "The person's own.")
    catalog = discover(ws, home=home, builtin=False)
    assert [(s.name, s.scope) for s in catalog.skills] == [("shared", "workspace"), ("agents-only", "workspace"),
                                                            ("mine", "user")]
    shared = catalog.get("shared")
    assert shared is not None and shared.description == "Workspace version."
    assert shared.shadows == ((ws / ".agents/skills/shared").resolve(), (home / "skills/shared").resolve())
    entries = {(e["name"], e["path"]): e for e in catalog.entries()}
    hidden = entries[("shared", str((home / "skills/shared").resolve()))]
    assert hidden["scope"] == "user" and hidden["shadowed_by"] == str(shared.path)


def test_invalid_skills_are_reported_and_never_offered(tmp_path: Path) -> None:
    ws, home = tmp_path / "ws", tmp_path / "home"
    make_skill(ws / ".cowork" / "skills", "Bad-Name", folder="bad")
    make_skill(home / "skills", "bad", "The user's valid one.")
    (ws / ".cowork" / "skills" / "empty").mkdir()
    (ws / ".cowork" / "skills" / "README.md").write_text("not a skill")  # a plain file: ignored
    catalog = discover(ws, home=home, builtin=False)
    assert [s.name for s in catalog.skills] == ["bad"] and catalog.skills[0].scope == "user"
    reasons = {i.name: i.errors for i in catalog.invalid}
    assert set(reasons) == {"bad", "empty"}
    assert any("must be lowercase" in r for r in reasons["bad"]) and reasons["empty"] == ("Missing required file: SKILL.md",)


def test_a_skill_folder_symlink_is_followed_only_inside_its_root(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    root = ws / ".cowork" / "skills"
    make_skill(root / "vendor", "inner")  # root/vendor/inner
    os.symlink(root / "vendor" / "inner", root / "inner")
    os.symlink("/etc", root / "etc")
    make_skill(tmp_path / "outside", "outer")
    os.symlink(tmp_path / "outside" / "outer", root / "outer")
    catalog = discover(ws, home=tmp_path / "home", builtin=False)
    assert catalog.get("inner") is not None and catalog.get("outer") is None
    reasons = {i.name: " ".join(i.errors) for i in catalog.invalid}
    assert "outside the skills folder" in reasons["etc"] and "/etc" in reasons["etc"]
    assert "outside the skills folder" in reasons["outer"]


def test_the_builtin_root_is_a_scope(tmp_path: Path) -> None:
    catalog = discover(tmp_path, home=tmp_path / "home")
    assert catalog.roots[-1].scope == "builtin" and catalog.roots[-1].path == BUILTIN_ROOT
    assert all(s.scope == "builtin" for s in catalog.skills)
    assert not discover(tmp_path, home=tmp_path / "home", builtin=False).skills


def test_a_changed_skill_md_is_read_again(tmp_path: Path) -> None:
    d = make_skill(tmp_path / "root", "demo", "First.")
    assert load_skill(d).description == "First."  # type: ignore[union-attr]
    (d / "SKILL.md").write_text("---\nname: demo\ndescription: Second, longer.\n---\n")
    assert load_skill(d).description == "Second, longer."  # type: ignore[union-attr]


def test_the_tool_says_how_to_reach_a_skills_files_from_where_it_lives(tmp_path: Path) -> None:
    from cowork.skills.tool import render_skill

    ws = tmp_path / "ws"
    for scope, root in (("workspace", ws / ".agents" / "skills"), ("user", tmp_path / "home" / "skills"),
                        ("builtin", tmp_path / "pkg")):
        d = make_skill(root, f"{scope}-one")
        (d / "references").mkdir()
        (d / "references" / "a.md").write_text("a")
        skill = load_skill(d, scope)  # type: ignore[arg-type]
        assert isinstance(skill, Skill)
        text = render_skill(skill, ws)
        assert f"Skill folder: {d.resolve()}" in text and "- references/a.md" in text
        if scope == "workspace":
            assert "read its files with read (e.g. .agents/skills/workspace-one/FILE)" in text
        elif scope == "user":
            assert "skill(name=user-one, file=FILE)" in text and "write it into the workspace first" in text
        else:
            assert "skill(name=builtin-one, file=FILE)" in text and f"absolute path ({d.resolve()}/FILE)" in text
