"""The commands the shipped skills' SKILL.md give the model work through cowork's real ``bash``
tool inside the OS sandbox (bubblewrap and Landlock): the body is rendered by the skills loader
(``{python}`` → cowork's interpreter, ``{skill_dir}`` → the skill's folder), the command lines are
taken from it as written, and run in a workspace."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import docx
import openpyxl
import pytest
from pypdf import PdfReader, PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject
from sandbox_support import need

from cowork.skills import BUILTIN_ROOT, Skill, load_skill
from cowork.tools import get_tool
from cowork.tools.base import ToolContext, ToolResult


@pytest.fixture(params=["bwrap", "landlock"])
def backend(request: pytest.FixtureRequest) -> str:
    need(request.param)
    return request.param


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    return root.resolve()


def body(name: str) -> str:
    skill = load_skill(BUILTIN_ROOT / name, "builtin", BUILTIN_ROOT)
    assert isinstance(skill, Skill), skill
    text = skill.rendered_body()
    assert "{python}" not in text and "{skill_dir}" not in text
    return text


def line(text: str, marker: str) -> str:
    """The first line of ``text`` containing ``marker`` (a command as the skill writes it)."""
    found = next((ln for ln in text.splitlines() if marker in ln and not ln.lstrip().startswith("#")), None)
    assert found is not None, marker
    return found.strip()


def block(text: str, marker: str) -> str:
    """The fenced ```bash block of ``text`` that contains ``marker``, verbatim."""
    for code in re.findall(r"```bash\n(.*?)```", text, re.S):
        if marker in code:
            return code
    raise AssertionError(f"no bash block with {marker!r}")


async def bash(ws: Path, backend: str, command: str) -> ToolResult:
    tool = get_tool("bash")
    result = await tool.run(tool.Args.model_validate({"command": command}), ToolContext(workspace=ws, sandbox=backend))
    assert result.metadata.get("sandbox") == backend
    return result


def make_pdf(path: Path, texts: list[str]) -> None:
    w = PdfWriter()
    font = w._add_object(DictionaryObject({NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"):
                                           NameObject("/Type1"), NameObject("/BaseFont"): NameObject("/Helvetica")}))
    for text in texts:
        page = w.add_blank_page(612, 792)
        stream = DecodedStreamObject()
        stream.set_data(f"BT /F1 18 Tf 72 700 Td ({text}) Tj ET".encode())
        page[NameObject("/Contents")] = w._add_object(stream)
        page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})})
    with open(path, "wb") as fh:
        w.write(fh)


async def test_pdf_commands_of_skill_md_work_in_the_sandbox(ws: Path, backend: str) -> None:
    text = body("pdf")
    make_pdf(ws / "A.pdf", ["Alpha page", "Beta page"])
    make_pdf(ws / "B.pdf", ["Gamma page"])
    make_pdf(ws / "C.pdf", ["Delta page", "Epsilon page"])
    got = await bash(ws, backend, line(text, "pdf_tool.py text IN.pdf").replace("IN.pdf", "A.pdf"))
    assert got.output.startswith("exit code: 0\n"), got.output
    assert "=== page 1 of 2 ===\nAlpha page" in got.output and "Beta page" in got.output
    got = await bash(ws, backend, line(text, "pdf_tool.py merge"))  # merge OUT.pdf A.pdf B.pdf C.pdf, as written
    assert got.output.startswith("exit code: 0\n"), got.output
    assert [p.extract_text().strip() for p in PdfReader(ws / "OUT.pdf").pages] == [
        "Alpha page", "Beta page", "Gamma page", "Delta page", "Epsilon page"]
    got = await bash(ws, backend, line(text, "split IN.pdf parts/ --ranges").replace("IN.pdf", "OUT.pdf"))
    assert got.output.startswith("exit code: 0\n"), got.output
    assert sorted(p.name for p in (ws / "parts").iterdir()) == ["OUT_p1-2.pdf", "OUT_p3-5.pdf"]
    assert [p.extract_text().strip() for p in PdfReader(ws / "parts" / "OUT_p3-5.pdf").pages] == [
        "Gamma page", "Delta page", "Epsilon page"]


async def test_spreadsheet_commands_of_skill_md_work_in_the_sandbox(ws: Path, backend: str) -> None:
    text = body("spreadsheet")
    got = await bash(ws, backend, block(text, "<<'JSON'"))  # the here-document example, verbatim
    assert got.output.startswith("exit code: 0\n"), got.output
    wb = openpyxl.load_workbook(ws / "out.xlsx")
    assert [[c.value for c in r] for r in wb.active.iter_rows()] == [["name", "qty"], ["apple", 3], ["pear", 5]]
    got = await bash(ws, backend, line(text, "spreadsheet_tool.py read data.xlsx").replace("data.xlsx", "out.xlsx"))
    assert "| name | qty |\n|---|---|\n| apple | 3 |\n| pear | 5 |" in got.output, got.output
    (ws / "data.csv").write_text("id,label\n007,x\n8,y\n")
    got = await bash(ws, backend, line(text, "convert data.csv data.xlsx"))
    assert got.output.startswith("exit code: 0\n"), got.output
    assert [c.value for c in openpyxl.load_workbook(ws / "data.xlsx").active["A"]] == ["id", "007", 8]


async def test_docx_commands_of_skill_md_work_in_the_sandbox(ws: Path, backend: str) -> None:
    text = body("docx")
    got = await bash(ws, backend, block(text, "<<'MD'"))  # the here-document example, verbatim
    assert got.output.startswith("exit code: 0\n"), got.output
    assert docx.Document(str(ws / "memo.docx")).paragraphs[0].style.name == "Heading 1"
    got = await bash(ws, backend, line(text, "docx_tool.py read report.docx").replace("report.docx", "memo.docx"))
    assert got.output == "exit code: 0\n# Memo\n\nShort intro.\n\n- first point\n- second point\n", got.output


async def test_writing_outside_the_workspace_is_a_clear_error(ws: Path, backend: str) -> None:
    text = body("pdf")
    make_pdf(ws / "a.pdf", ["one"])
    target = Path("/var/tmp") / f"cowork-builtin-{uuid.uuid4().hex[:8]}"  # on the read-only root, outside /tmp
    merge = line(text, "pdf_tool.py merge").replace("OUT.pdf", f"{target}/out.pdf").replace(" A.pdf B.pdf C.pdf", " a.pdf")
    got = await bash(ws, backend, merge)
    assert got.output.startswith("exit code: 2\npdf_tool: error: cannot write "), got.output
    assert "only the workspace is writable" in got.output and "Traceback" not in got.output
    assert not target.exists()
