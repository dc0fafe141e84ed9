"""grep with ripgrep and with the pure-Python fallback, which must print the same thing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import cowork.tools.search as search
from cowork.tools import get_tool
from cowork.tools.base import ToolContext, ToolError, ToolResult

HAVE_RG = shutil.which("rg") is not None


@pytest.fixture(params=["rg", "python"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "rg":
        if not HAVE_RG:
            pytest.skip("rg is not installed")
    else:
        monkeypatch.setattr(search, "find_rg", lambda: None)
    return request.param


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "a.py").write_text("import os\n\ndef main():\n    print('hello')\n    return 0\n")
    (root / "src" / "pkg" / "b.py").write_text("HELLO = 1\nother = 2\n")
    (root / "notes.md").write_text("say hello\n")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("hello from git\n")
    (root / "blob.bin").write_bytes(b"hello\0binary")
    return root.resolve()


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    out = tmp_path / "outside"
    out.mkdir()
    (out / "secret.txt").write_text("hello secret\n")
    return out.resolve()


async def grep(ws: Path, **kwargs) -> ToolResult:
    tool = get_tool("grep")
    return await tool.run(tool.Args.model_validate(kwargs), ToolContext(workspace=ws))


async def test_basic_matches(backend: str, ws: Path) -> None:
    res = await grep(ws, pattern="hello")
    assert not res.is_error
    assert res.output.split("\n") == ["notes.md:1:say hello", "src/a.py:4:    print('hello')"]
    assert res.summary == "2 matches in 2 files"


async def test_ignore_case_glob_and_path(backend: str, ws: Path) -> None:
    res = await grep(ws, pattern="hello", ignore_case=True, path="src")
    assert res.output.split("\n") == ["src/a.py:4:    print('hello')", "src/pkg/b.py:1:HELLO = 1"]
    res = await grep(ws, pattern="hello", ignore_case=True, glob="*.md")
    assert res.output == "notes.md:1:say hello"
    res = await grep(ws, pattern="hello", ignore_case=True, glob="!*.py")
    assert res.output == "notes.md:1:say hello"
    res = await grep(ws, pattern="=", path="src/pkg/b.py")
    assert res.output == "src/pkg/b.py:1:HELLO = 1\nsrc/pkg/b.py:2:other = 2"
    res = await grep(ws, pattern="other", path="src/pkg/b.py", glob="*.md")  # named file wins
    assert res.output == "src/pkg/b.py:2:other = 2"
    res = await grep(ws, pattern="e", glob="src/pkg/*.py")  # a glob with / is path-relative
    assert res.output == "src/pkg/b.py:2:other = 2"


async def test_context_lines_and_separators(backend: str, ws: Path) -> None:
    (ws / "c.txt").write_text("".join(f"l{i}\n" for i in range(1, 21)).replace("l3\n", "hit\n")
                              .replace("l15\n", "hit\n"))
    res = await grep(ws, pattern="^hit$", path="c.txt", context=1)
    assert res.output.split("\n") == [
        "c.txt-2-l2", "c.txt:3:hit", "c.txt-4-l4", "--", "c.txt-14-l14", "c.txt:15:hit",
        "c.txt-16-l16",
    ]


async def test_no_match_is_not_an_error(backend: str, ws: Path) -> None:
    res = await grep(ws, pattern="zzz_nothing")
    assert not res.is_error and res.output.startswith("No matches for 'zzz_nothing'")


async def test_invalid_regex(backend: str, ws: Path) -> None:
    with pytest.raises(ToolError, match="(?s)grep failed.*(unclosed|missing \\))"):
        await grep(ws, pattern="foo(")


async def test_skips_git_and_binary(backend: str, ws: Path) -> None:
    res = await grep(ws, pattern="hello|binary")
    assert ".git" not in res.output and "blob.bin" not in res.output


async def test_match_cap(backend: str, ws: Path) -> None:
    (ws / "many.txt").write_text("match\n" * 700)
    res = await grep(ws, pattern="match", path="many.txt")
    lines = res.output.split("\n")
    assert len(lines) == search.MAX_MATCHES + 1
    assert lines[-2] == f"many.txt:{search.MAX_MATCHES}:match"
    assert lines[-1].startswith(f"[stopped after {search.MAX_MATCHES} matches")
    assert res.summary == f"{search.MAX_MATCHES}+ matches in 1 file"


async def test_long_lines_cut(backend: str, ws: Path) -> None:
    (ws / "min.js").write_text("needle" + "x" * 5000 + "\n")
    res = await grep(ws, pattern="needle", path="min.js")
    assert res.output.endswith("[... 4,006 more characters]")
    assert len(res.output) < 1200


async def test_confinement(backend: str, ws: Path, outside: Path) -> None:
    (ws / "outdir").symlink_to(outside, target_is_directory=True)
    (ws / "outfile.txt").symlink_to(outside / "secret.txt")
    for path in ["..", "../outside", str(outside), "outdir", "outfile.txt", "outdir/secret.txt"]:
        with pytest.raises(ToolError, match="outside the workspace"):
            await grep(ws, pattern="secret", path=path)
    # symlinks met while walking the workspace are not followed
    res = await grep(ws, pattern="secret")
    assert "No matches" in res.output


@pytest.mark.skipif(not HAVE_RG, reason="rg is not installed")
async def test_backends_agree(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (ws / "src" / "c.txt").write_text("alpha\nbeta hello\ngamma\n\n\nhello again\n")
    cases = [dict(pattern="hello", context=2), dict(pattern=r"\bo\w+", ignore_case=True),
             dict(pattern="e", glob="src/**/*.py")]
    with_rg = [(await grep(ws, **case)).output for case in cases]
    monkeypatch.setattr(search, "find_rg", lambda: None)
    with_python = [(await grep(ws, **case)).output for case in cases]
    assert with_rg == with_python
