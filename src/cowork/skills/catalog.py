"""Finding, parsing and validating skills in the Agent Skills format.

A skill is a folder whose ``SKILL.md`` starts with YAML front matter between two ``---`` lines
(https://agentskills.io/specification)::

    ---
    name: pdf                      # required: lowercase letters/digits/hyphens, <= 64, = folder name
    description: Read, merge ...   # required: non-empty, <= 1,024 characters
    license: Apache-2.0            # optional
    compatibility: needs Python    # optional, <= 500 characters
    metadata: {author: me}         # optional: string -> string (block style only, see below)
    allowed-tools: bash read       # optional: space-separated string or a list
    ---
    Markdown instructions (the *body*) ...

plus optional ``scripts/``, ``references/`` and ``assets/`` folders. Any other front-matter key is
an error, as in the reference validator (``skills-ref``).

**Parsing agrees with the reference.** The front matter is read with PyYAML's safe loader made
as strict as the reference's strictyaml: every scalar is a string (``name: 123`` is the string
``"123"``, ``yes`` stays ``"yes"``), and flow style (``{...}``, ``[...]``), anchors, aliases,
explicit tags and duplicate keys are errors. The name rules are the reference's (Unicode NFKC,
lowercase, letters/digits/hyphens, no leading, trailing or double hyphen). cowork is stricter
in four places the reference does not check: ``metadata`` must map strings to strings,
``allowed-tools`` must be a string or a list of strings, ``license`` must be a string, and
``SKILL.md`` must be UTF-8 and at most :data:`MAX_SKILL_MD_BYTES`.

**Discovery** (:func:`discover`) reads the roots of :func:`skill_roots`, nearest first: the
workspace's ``.cowork/skills/`` and ``.agents/skills/`` (scope ``workspace``),
``$COWORK_HOME/skills/`` (``user``), then the skills cowork ships (``builtin``,
:data:`BUILTIN_ROOT`). Each sub-folder of a root is one skill. The first valid skill of a name
wins; later ones are *shadowed* (listed with the path that hides them). An invalid skill is
reported with its reasons and never offered to the model, in part or whole. A skill folder that is
a symlink is followed only when its target lies inside the same root (resolved); ``SKILL.md`` and
the files the ``skill`` tool reads must lie inside the skill's folder.

Parsed skills are cached by (file, size, mtime, inode), so listing them every turn costs a few
``stat`` calls.
"""

from __future__ import annotations

import functools
import os
import shlex
import stat
import sys
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import yaml

from cowork import config

MAX_SKILL_MD_BYTES = 256 * 1024
"""The largest ``SKILL.md`` read (bytes); a bigger one makes the skill invalid."""
MAX_NAME_CHARS = 64
MAX_DESCRIPTION_CHARS = 1024
MAX_COMPATIBILITY_CHARS = 500
ALLOWED_FIELDS = frozenset({"name", "description", "license", "allowed-tools", "metadata", "compatibility"})
"""The front-matter keys of the specification; any other is an error."""
SKILL_FILES = ("SKILL.md", "skill.md")
"""The file names of a skill's instructions, preferred first (the reference accepts both)."""
MAX_LISTED_FILES = 200
"""At most this many files of a skill's folder are listed by :meth:`Skill.files`."""
MAX_READ_BYTES = 512 * 1024
"""The largest file of a skill folder :meth:`Skill.read_file` returns."""

BUILTIN_ROOT = Path(__file__).resolve().parent / "builtin"
"""The skills cowork ships (``src/cowork/skills/builtin/<name>/``)."""

Scope = Literal["workspace", "user", "builtin"]
SCOPES: tuple[Scope, ...] = ("workspace", "user", "builtin")
"""Nearest first: on a name clash the earlier scope wins."""

PLACEHOLDERS = ("{python}", "{skill_dir}")
"""Written in a SKILL.md body, replaced when the body is given to the model
(:meth:`Skill.rendered_body`): the interpreter cowork runs under (``sys.executable``, whose
libraries the shipped scripts use) and the skill folder's absolute path."""


class SkillFormatError(ValueError):
    """``SKILL.md`` is not a YAML front matter block followed by Markdown (the message says why)."""


# -- YAML, as strict as the reference's strictyaml ------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader where every scalar is a string and flow style, anchors, aliases,
    explicit tags and duplicate keys are refused (what strictyaml refuses)."""

    yaml_implicit_resolvers: dict = {}  # no int/bool/null/float/timestamp: every scalar is a str

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        where = f"line {event.start_mark.line + 1}" if event.start_mark else "the front matter"
        if isinstance(event, yaml.AliasEvent):
            raise SkillFormatError(f"aliases (*name) are not allowed ({where})")
        if getattr(event, "anchor", None):
            raise SkillFormatError(f"anchors (&name) are not allowed ({where})")
        if getattr(event, "tag", None) not in (None, "!"):
            raise SkillFormatError(f"explicit tags ({event.tag}) are not allowed ({where})")
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)) and event.flow_style:
            raise SkillFormatError(f"flow style ({{...}} or [...]) is not allowed; use block style ({where})")
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:
                raise SkillFormatError(f"a key must be a plain string (line {key_node.start_mark.line + 1})") from None
            if duplicate:
                raise SkillFormatError(f"duplicate key {key!r} (line {key_node.start_mark.line + 1})")
            seen.add(key)
        return super().construct_mapping(node, deep=True)


def parse_skill_md(text: str) -> tuple[dict[str, Any], str]:
    """Split ``SKILL.md`` text into its front matter (a dict of strings, lists and dicts) and its
    body (Markdown, stripped).

    Raises:
        SkillFormatError: no opening ``---`` line, no closing one, YAML that does not parse or that
            uses what the reference refuses (flow style, anchors, tags, duplicate keys), or front
            matter that is not a mapping.
    """
    text = text.removeprefix("\ufeff")
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise SkillFormatError("SKILL.md must start with YAML frontmatter (---)")
    end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
    if end is None:
        raise SkillFormatError("SKILL.md frontmatter not properly closed with ---")
    front = "".join(lines[1:end])
    try:
        meta = yaml.load(front, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except SkillFormatError as exc:
        raise SkillFormatError(f"Invalid YAML in frontmatter: {exc}") from None
    except yaml.YAMLError as exc:
        raise SkillFormatError(f"Invalid YAML in frontmatter: {' '.join(str(exc).split())}") from None
    if not isinstance(meta, dict):
        raise SkillFormatError("SKILL.md frontmatter must be a YAML mapping")
    return meta, "".join(lines[end + 1:]).strip()


# -- validation ----------------------------------------------------------------------------------


def _name_errors(name: Any, folder_name: str | None) -> list[str]:
    if not isinstance(name, str) or not name.strip():
        return ["Field 'name' must be a non-empty string"]
    name = unicodedata.normalize("NFKC", name.strip())
    errors = []
    if len(name) > MAX_NAME_CHARS:
        errors.append(f"Skill name '{name}' exceeds {MAX_NAME_CHARS} character limit ({len(name)} chars)")
    if name != name.lower():
        errors.append(f"Skill name '{name}' must be lowercase")
    if name.startswith("-") or name.endswith("-"):
        errors.append("Skill name cannot start or end with a hyphen")
    if "--" in name:
        errors.append("Skill name cannot contain consecutive hyphens")
    if not all(c.isalnum() or c == "-" for c in name):
        errors.append(f"Skill name '{name}' contains invalid characters. Only letters, digits, and hyphens are allowed.")
    if folder_name is not None and unicodedata.normalize("NFKC", folder_name) != name:
        errors.append(f"Directory name '{folder_name}' must match skill name '{name}'")
    return errors


def validate_front_matter(meta: Mapping[str, Any], folder_name: str | None = None) -> list[str]:
    """The reasons ``meta`` (parsed front matter) is not a valid skill's; empty when it is.

    ``folder_name``: the skill folder's name, which ``name`` must equal (None: not checked).
    The messages are the reference validator's where it checks the same thing."""
    errors = []
    extra = set(meta) - ALLOWED_FIELDS
    if extra:
        errors.append(f"Unexpected fields in frontmatter: {', '.join(sorted(map(str, extra)))}. "
                      f"Only {sorted(ALLOWED_FIELDS)} are allowed.")
    if "name" not in meta:
        errors.append("Missing required field in frontmatter: name")
    else:
        errors += _name_errors(meta["name"], folder_name)
    description = meta.get("description")
    if "description" not in meta:
        errors.append("Missing required field in frontmatter: description")
    elif not isinstance(description, str) or not description.strip():
        errors.append("Field 'description' must be a non-empty string")
    elif len(description) > MAX_DESCRIPTION_CHARS:
        errors.append(f"Description exceeds {MAX_DESCRIPTION_CHARS} character limit ({len(description)} chars)")
    if "compatibility" in meta:
        compatibility = meta["compatibility"]
        if not isinstance(compatibility, str):
            errors.append("Field 'compatibility' must be a string")
        elif len(compatibility) > MAX_COMPATIBILITY_CHARS:
            errors.append(f"Compatibility exceeds {MAX_COMPATIBILITY_CHARS} character limit ({len(compatibility)} chars)")
    if "license" in meta and not isinstance(meta["license"], str):
        errors.append("Field 'license' must be a string")
    if "metadata" in meta:
        metadata = meta["metadata"]
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            errors.append("Field 'metadata' must map strings to strings (one 'key: value' per line)")
    if "allowed-tools" in meta:
        tools = meta["allowed-tools"]
        if not (isinstance(tools, str) or (isinstance(tools, list) and all(isinstance(t, str) for t in tools))):
            errors.append("Field 'allowed-tools' must be a space-separated string or a list of strings")
    return errors


# -- skills ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Skill:
    """One valid skill.

    Attributes:
        name: its name (equal to its folder's name).
        description: what it does and when to use it (what the model's list shows).
        scope: ``"workspace"``, ``"user"`` or ``"builtin"``.
        path: the skill's folder, absolute and resolved.
        skill_md: its ``SKILL.md``, absolute and resolved.
        body: the Markdown after the front matter, as written (see :meth:`rendered_body`).
        front_matter: the parsed front matter (strings, lists, dicts).
        license, compatibility: as written, or None.
        metadata: the ``metadata`` map (empty when absent).
        allowed_tools: ``allowed-tools`` as a tuple of names (empty when absent).
        shadows: the folders of skills of the same name this one hides (farther scopes).
    """

    name: str
    description: str
    scope: Scope
    path: Path
    skill_md: Path
    body: str
    front_matter: Mapping[str, Any] = field(default_factory=dict)
    license: str | None = None
    compatibility: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    allowed_tools: tuple[str, ...] = ()
    shadows: tuple[Path, ...] = ()

    def rendered_body(self) -> str:
        """The body with its placeholders (:data:`PLACEHOLDERS`) replaced: ``{python}`` by the
        interpreter cowork runs under, ``{skill_dir}`` by :attr:`path` (each quoted for a shell
        when it has to be)."""
        return self.body.replace("{python}", shlex.quote(sys.executable)).replace("{skill_dir}", shlex.quote(str(self.path)))

    def files(self, limit: int = MAX_LISTED_FILES) -> tuple[list[str], int]:
        """The files in the skill's folder as POSIX paths relative to it, sorted (``SKILL.md``
        and ``__pycache__`` left out; symlinks leading outside the folder left out and not
        followed), at most ``limit``; and how many more there were."""
        found: list[str] = []
        for top, dirs, names in os.walk(self.path):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__" and self._inside(Path(top, d)))
            for name in names:
                p = Path(top, name)
                rel = p.relative_to(self.path).as_posix()
                if rel in SKILL_FILES or not self._inside(p):
                    continue
                found.append(rel)
        found.sort()
        return found[:limit], max(0, len(found) - limit)

    def _inside(self, p: Path) -> bool:
        try:
            real = p.resolve()
        except (OSError, RuntimeError):
            return False
        return real == self.path or real.is_relative_to(self.path)

    def read_file(self, rel: str, max_bytes: int = MAX_READ_BYTES) -> str:
        """The text of the file ``rel`` (relative to the skill's folder).

        Raises:
            ValueError: ``rel`` is absolute, leaves the folder (``..`` or a symlink leading
                outside), is not a regular file, is over ``max_bytes``, or is not UTF-8 text.
            FileNotFoundError: no such file in the skill's folder.
        """
        if not rel or Path(rel).is_absolute() or "\0" in rel:
            raise ValueError(f"{rel!r} must be a path relative to the skill's folder {self.path}")
        p = self.path / rel
        if not self._inside(p):
            raise ValueError(f"{rel!r} leads outside the skill's folder {self.path}")
        real = p.resolve()
        try:
            st = real.stat()
        except FileNotFoundError:
            raise FileNotFoundError(f"{rel!r} is not in the skill's folder {self.path}") from None
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{rel!r} is not a regular file")
        if st.st_size > max_bytes:
            raise ValueError(f"{rel!r} is {st.st_size:,} bytes, over the {max_bytes:,}-byte limit for a skill file")
        data = real.read_bytes()
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{rel!r} is not UTF-8 text ({len(data):,} bytes); run it or use a tool that reads it") from None


@dataclass(frozen=True)
class InvalidSkill:
    """A folder of a skills root that is not a valid skill (never offered to the model).

    Attributes:
        name: the folder's name.
        scope: the root's scope.
        path: the folder as found (not resolved: a symlink is named as such).
        errors: why, one reason a line.
    """

    name: str
    scope: Scope
    path: Path
    errors: tuple[str, ...]


@dataclass(frozen=True)
class SkillRoot:
    """A folder whose sub-folders are skills, and the scope they have."""

    scope: Scope
    path: Path


def skill_roots(workspace: Path | None, *, home: Path | None = None, builtin: bool = True) -> list[SkillRoot]:
    """The roots searched, nearest first: ``WORKSPACE/.cowork/skills``, ``WORKSPACE/.agents/skills``,
    ``HOME/skills`` (``home``: default ``$COWORK_HOME``), and :data:`BUILTIN_ROOT` when ``builtin``.
    ``workspace`` None: no workspace roots (e.g. ``cowork skills list`` outside any)."""
    roots = []
    if workspace is not None:
        ws = Path(workspace).absolute()
        roots += [SkillRoot("workspace", ws / ".cowork" / "skills"), SkillRoot("workspace", ws / ".agents" / "skills")]
    roots.append(SkillRoot("user", (home or config.cowork_home()) / "skills"))
    if builtin:
        roots.append(SkillRoot("builtin", BUILTIN_ROOT))
    return roots


def _skill_md(folder: Path) -> tuple[Path | None, list[str]]:
    """The folder's SKILL.md (resolved) or the reason there is none usable."""
    for name in SKILL_FILES:
        p = folder / name
        try:
            p.lstat()
        except FileNotFoundError:
            continue
        except OSError as exc:
            return None, [f"cannot read {p}: {exc.strerror}"]
        try:
            real = p.resolve(strict=True)
        except (OSError, RuntimeError):
            return None, [f"{name} is a broken symlink"]
        if not real.is_relative_to(folder):
            return None, [f"{name} is a symlink to {real}, outside the skill's folder; not followed"]
        if not real.is_file():
            return None, [f"{name} is not a regular file"]
        return real, []
    return None, ["Missing required file: SKILL.md"]


def load_skill(folder: Path, scope: Scope = "workspace", root: Path | None = None) -> Skill | InvalidSkill:
    """Read and validate the skill in ``folder``. ``root``: the skills root it was found in; a
    folder (a symlink) leading outside it is refused. Never raises for a bad skill: the result is
    then an :class:`InvalidSkill` with the reasons."""
    folder = Path(folder).absolute()
    name = folder.name

    def invalid(*errors: str) -> InvalidSkill:
        return InvalidSkill(name, scope, folder, tuple(errors))

    try:
        real = folder.resolve(strict=True)
    except FileNotFoundError:
        return invalid(f"Path does not exist: {folder}")
    except (OSError, RuntimeError) as exc:
        return invalid(f"cannot resolve {folder}: {exc}")
    if root is not None:
        real_root = Path(root).resolve()
        if not real.is_relative_to(real_root) or real == real_root:
            return invalid(f"{folder} is a symlink to {real}, outside the skills folder {real_root}; not followed")
    if not real.is_dir():
        return invalid(f"Not a directory: {folder}")
    md, errors = _skill_md(real)
    if md is None:
        return invalid(*errors)
    st = md.stat()
    return _load(str(md), st.st_size, st.st_mtime_ns, st.st_ino, str(real), name, scope, str(folder))


@functools.lru_cache(maxsize=512)
def _load(md: str, size: int, mtime_ns: int, ino: int, real: str, name: str, scope: Scope,
          shown: str) -> Skill | InvalidSkill:
    def invalid(*errors: str) -> InvalidSkill:
        return InvalidSkill(name, scope, Path(shown), tuple(errors))

    if size > MAX_SKILL_MD_BYTES:
        return invalid(f"{Path(md).name} is {size:,} bytes, over the {MAX_SKILL_MD_BYTES // 1024} KiB limit")
    try:
        fd = os.open(md, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as f:
            data = f.read(MAX_SKILL_MD_BYTES + 1)
    except OSError as exc:
        return invalid(f"cannot read {md}: {exc.strerror}")
    if len(data) > MAX_SKILL_MD_BYTES:
        return invalid(f"{Path(md).name} is over the {MAX_SKILL_MD_BYTES // 1024} KiB limit")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return invalid(f"{Path(md).name} is not UTF-8 text (byte {exc.start})")
    try:
        meta, body = parse_skill_md(text)
    except SkillFormatError as exc:
        return invalid(str(exc))
    errors = validate_front_matter(meta, name)
    if errors:
        return invalid(*errors)
    tools = meta.get("allowed-tools") or ()
    return Skill(
        name=unicodedata.normalize("NFKC", meta["name"].strip()), description=meta["description"].strip(),
        scope=scope, path=Path(real), skill_md=Path(md), body=body, front_matter=meta,
        license=meta.get("license"), compatibility=meta.get("compatibility"), metadata=meta.get("metadata") or {},
        allowed_tools=tuple(tools.split() if isinstance(tools, str) else tools),
    )


def validate(path: Path) -> list[str]:
    """The reasons the skill at ``path`` (its folder, or its ``SKILL.md``) is invalid; empty when
    it is valid (what ``cowork skills validate PATH`` prints)."""
    path = Path(path)
    if path.name in SKILL_FILES and path.is_file():
        path = path.parent
    if not path.exists():
        return [f"Path does not exist: {path}"]
    found = load_skill(path)
    return list(found.errors) if isinstance(found, InvalidSkill) else []


# -- discovery ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Catalog:
    """What :func:`discover` found.

    Attributes:
        skills: the skills offered, nearest scope first, by name within a root.
        shadowed: ``(hidden, winner)``: valid skills hidden by a nearer one of the same name.
        invalid: folders that are not valid skills, with the reasons.
        roots: the roots searched, nearest first.
    """

    skills: tuple[Skill, ...] = ()
    shadowed: tuple[tuple[Skill, Skill], ...] = ()
    invalid: tuple[InvalidSkill, ...] = ()
    roots: tuple[SkillRoot, ...] = ()

    def get(self, name: str) -> Skill | None:
        """The skill offered under ``name`` (None: no valid skill has that name)."""
        return next((s for s in self.skills if s.name == name), None)

    def entries(self) -> list[dict[str, Any]]:
        """Every skill found, for listings: ``{name, description, scope, path, shadowed_by
        (path or None), shadows ([paths]), errors ([reasons], empty when valid)}``, offered ones
        first, then shadowed, then invalid."""
        out = [{"name": s.name, "description": s.description, "scope": s.scope, "path": str(s.path),
                "shadowed_by": None, "shadows": [str(p) for p in s.shadows], "errors": []} for s in self.skills]
        out += [{"name": s.name, "description": s.description, "scope": s.scope, "path": str(s.path),
                 "shadowed_by": str(by.path), "shadows": [], "errors": []} for s, by in self.shadowed]
        out += [{"name": s.name, "description": "", "scope": s.scope, "path": str(s.path), "shadowed_by": None,
                 "shadows": [], "errors": list(s.errors)} for s in self.invalid]
        return out


def discover(workspace: Path | None, *, home: Path | None = None, builtin: bool = True,
             roots: Sequence[SkillRoot] | None = None) -> Catalog:
    """Every skill of ``roots`` (default :func:`skill_roots` of ``workspace``), nearest first.

    A missing root is skipped; plain files and hidden folders (``.name``) in a root are ignored.
    Never raises for a bad skill or an unreadable root (a root that cannot be listed is skipped)."""
    roots = list(roots) if roots is not None else skill_roots(workspace, home=home, builtin=builtin)
    winners: dict[str, Skill] = {}
    order: list[str] = []
    shadowed: list[tuple[Skill, str]] = []
    invalid: list[InvalidSkill] = []
    for root in roots:
        try:
            entries = sorted(os.scandir(root.path), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith(".") or entry.name == "__pycache__":
                continue
            try:
                if not entry.is_dir():  # follows a symlink: a link to a folder is a candidate
                    continue
            except OSError:
                continue
            found = load_skill(Path(entry.path), root.scope, root.path)
            if isinstance(found, InvalidSkill):
                invalid.append(found)
            elif found.name in winners:
                shadowed.append((found, found.name))
                winner = winners[found.name]
                winners[found.name] = replace(winner, shadows=(*winner.shadows, found.path))
            else:
                winners[found.name] = found
                order.append(found.name)
    return Catalog(
        skills=tuple(winners[n] for n in order),
        shadowed=tuple((s, winners[n]) for s, n in shadowed),
        invalid=tuple(invalid),
        roots=tuple(roots),
    )


__all__ = [
    "ALLOWED_FIELDS", "BUILTIN_ROOT", "MAX_SKILL_MD_BYTES", "PLACEHOLDERS", "SCOPES", "Catalog", "InvalidSkill",
    "Scope", "Skill", "SkillFormatError", "SkillRoot", "discover", "load_skill", "parse_skill_md", "skill_roots",
    "validate", "validate_front_matter",
]
