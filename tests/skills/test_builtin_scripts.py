"""The skills cowork ships (src/cowork/skills/builtin: pdf, spreadsheet, docx): their SKILL.md
against the reference validator, and every script subcommand run for real, as a subprocess of
cowork's Python, on files the tests make with pypdf, openpyxl and python-docx."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import docx
import openpyxl
import pytest
import skills_ref
from pypdf import PdfReader, PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

import cowork

BUILTIN = Path(cowork.__file__).parent / "skills" / "builtin"
SCRIPTS = {"pdf": "pdf_tool.py", "spreadsheet": "spreadsheet_tool.py", "docx": "docx_tool.py"}
SUBCOMMANDS = {"pdf": ("text", "info", "merge", "split"), "spreadsheet": ("read", "sheets", "write", "convert"),
               "docx": ("read", "info", "write")}


def run(skill: str, *args: str | Path, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    script = BUILTIN / skill / "scripts" / SCRIPTS[skill]
    return subprocess.run([sys.executable, str(script), *map(str, args)], cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=60)


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


def as_json(done: subprocess.CompletedProcess[str]) -> dict:
    return json.loads(ok(done))


def bad(done: subprocess.CompletedProcess[str], prog: str, *words: str) -> str:
    """Exit 2, one stderr line ``PROG: error: ...`` containing ``words``, no traceback."""
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: "), done.stderr
    for w in words:
        assert w.lower() in lines[0].lower(), lines[0]
    return lines[0]


def make_pdf(path: Path, texts: list[str | None], *, password: str | None = None, title: str = "Test doc") -> Path:
    """Letter pages; a page with text draws it in Helvetica (a minimal content stream), None is blank."""
    w = PdfWriter()
    font = w._add_object(DictionaryObject({NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"):
                                           NameObject("/Type1"), NameObject("/BaseFont"): NameObject("/Helvetica")}))
    for text in texts:
        page = w.add_blank_page(612, 792)
        if text:
            stream = DecodedStreamObject()
            stream.set_data(f"BT /F1 18 Tf 72 700 Td ({text}) Tj ET".encode())
            page[NameObject("/Contents")] = w._add_object(stream)
            page[NameObject("/Resources")] = DictionaryObject(
                {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})})
    w.add_metadata({"/Title": title, "/Author": "Ada Lovelace"})
    if password:
        w.encrypt(password, algorithm="AES-256")
    with open(path, "wb") as fh:
        w.write(fh)
    return path


def page_texts(path: Path) -> list[str]:
    return [p.extract_text().strip() for p in PdfReader(path).pages]


# -- SKILL.md -------------------------------------------------------------------------------------


@pytest.mark.parametrize("skill", sorted(SCRIPTS))
def test_skill_md_passes_the_reference_validator(skill: str) -> None:
    assert skills_ref.validate(BUILTIN / skill) == []
    props = skills_ref.read_properties(BUILTIN / skill)
    assert props.name == skill and props.license == "Apache-2.0" and props.compatibility
    assert len(props.description) <= 1024


@pytest.mark.parametrize(("skill", "words"), [
    ("pdf", ("PDF", "merge", "split", "text", "metadata")),
    ("spreadsheet", ("Excel", ".xlsx", "CSV", "convert")),
    ("docx", ("Word", ".docx", "Markdown")),
])
def test_description_uses_the_words_a_user_would(skill: str, words: tuple[str, ...]) -> None:
    description = skills_ref.read_properties(BUILTIN / skill).description
    for w in words:
        assert w in description, w


@pytest.mark.parametrize("skill", sorted(SCRIPTS))
def test_every_command_in_skill_md_names_a_real_script_and_subcommand(skill: str, tmp_path: Path) -> None:
    """Each ``{python} {skill_dir}/scripts/X.py SUB`` line of the body points at a script that
    exists and a subcommand its parser accepts; every subcommand is documented."""
    body = (BUILTIN / skill / "SKILL.md").read_text()
    used = re.findall(r"\{python\} \{skill_dir\}/scripts/(\S+\.py) (\w+)", body)
    assert used
    for script, sub in used:
        assert (BUILTIN / skill / "scripts" / script).is_file()
        assert sub in SUBCOMMANDS[skill], sub
        assert ok(run(skill, sub, "--help", cwd=tmp_path))
    assert {sub for _, sub in used} == set(SUBCOMMANDS[skill])
    # references the body points to exist
    for ref in re.findall(r"`(references/[\w.-]+)`", body):
        assert (BUILTIN / skill / ref).is_file(), ref


# -- pdf --------------------------------------------------------------------------------------------


def test_pdf_text_of_all_pages_and_of_a_range(tmp_path: Path) -> None:
    make_pdf(tmp_path / "a.pdf", ["Hello page one", None, "Third page here"])
    out = ok(run("pdf", "text", "a.pdf", cwd=tmp_path))
    assert "=== page 1 of 3 ===\nHello page one" in out and "=== page 3 of 3 ===\nThird page here" in out
    data = as_json(run("pdf", "text", "a.pdf", "--pages", "3,1", "--json", cwd=tmp_path))
    assert data["page_count"] == 3
    assert [(p["page"], p["text"].strip()) for p in data["pages"]] == [(3, "Third page here"), (1, "Hello page one")]
    done = run("pdf", "text", "a.pdf", "--pages", "2", cwd=tmp_path)
    assert done.returncode == 0 and "no text found" in done.stderr and "OCR" in done.stderr


def test_pdf_info_reports_pages_metadata_size_and_encryption(tmp_path: Path) -> None:
    make_pdf(tmp_path / "a.pdf", ["x", "y"], title="Quarterly")
    info = as_json(run("pdf", "info", "a.pdf", "--json", cwd=tmp_path))
    assert info["pages"] == 2 and info["encrypted"] is False
    assert info["metadata"]["Title"] == "Quarterly" and info["metadata"]["Author"] == "Ada Lovelace"
    assert info["page_size"] == {"width_pt": 612.0, "height_pt": 792.0, "width_mm": 215.9, "height_mm": 279.4,
                                 "all_pages_same": True}
    assert "pages: 2" in ok(run("pdf", "info", "a.pdf", cwd=tmp_path))

    make_pdf(tmp_path / "e.pdf", ["secret words"], password="pw")
    locked = as_json(run("pdf", "info", "e.pdf", "--json", cwd=tmp_path))
    assert locked["encrypted"] is True and locked["decrypted"] is False and locked["pages"] is None
    opened = as_json(run("pdf", "info", "e.pdf", "--json", "--password", "pw", cwd=tmp_path))
    assert opened["decrypted"] is True and opened["pages"] == 1
    assert "secret words" in ok(run("pdf", "text", "e.pdf", "--password", "pw", cwd=tmp_path))


def test_pdf_merge_keeps_order_and_split_by_every_and_ranges(tmp_path: Path) -> None:
    make_pdf(tmp_path / "a.pdf", ["A one", "A two"])
    make_pdf(tmp_path / "b.pdf", ["B one", "B two", "B three"])
    merged = as_json(run("pdf", "merge", "out/m.pdf", "a.pdf", "b.pdf", "--json", cwd=tmp_path))
    assert merged["pages"] == 5
    assert page_texts(tmp_path / "out" / "m.pdf") == ["A one", "A two", "B one", "B two", "B three"]

    every = as_json(run("pdf", "split", "out/m.pdf", "parts", "--every", "2", "--json", cwd=tmp_path))
    assert [Path(f["path"]).name for f in every["files"]] == ["m_p1-2.pdf", "m_p3-4.pdf", "m_p5.pdf"]
    assert page_texts(tmp_path / "parts" / "m_p3-4.pdf") == ["B one", "B two"]

    ranges = as_json(run("pdf", "split", "out/m.pdf", "r", "--ranges", "2-3,5-", "--json", cwd=tmp_path))
    assert [(f["first_page"], f["last_page"]) for f in ranges["files"]] == [(2, 3), (5, 5)]
    assert page_texts(tmp_path / "r" / "m_p2-3.pdf") == ["A two", "B one"]

    ok(run("pdf", "split", "b.pdf", "single", cwd=tmp_path))
    assert sorted(p.name for p in (tmp_path / "single").iterdir()) == ["b_p1.pdf", "b_p2.pdf", "b_p3.pdf"]
    assert not list(tmp_path.rglob(".*.tmp-*"))  # no temporary file left behind


def test_pdf_bad_input_is_exit_2_with_one_line(tmp_path: Path) -> None:
    make_pdf(tmp_path / "a.pdf", ["one", "two"])
    make_pdf(tmp_path / "e.pdf", ["locked"], password="pw")
    (tmp_path / "junk.pdf").write_bytes(b"this is not a pdf at all")
    (tmp_path / "trunc.pdf").write_bytes((tmp_path / "a.pdf").read_bytes()[:200])
    bad(run("pdf", "text", "missing.pdf", cwd=tmp_path), "pdf_tool", "missing.pdf", "no such file")
    bad(run("pdf", "info", "junk.pdf", cwd=tmp_path), "pdf_tool", "junk.pdf", "not a readable PDF")
    bad(run("pdf", "text", "trunc.pdf", cwd=tmp_path), "pdf_tool", "trunc.pdf")
    bad(run("pdf", "text", "a.pdf", "--pages", "3", cwd=tmp_path), "pdf_tool", "out of range", "2 pages")
    bad(run("pdf", "text", "a.pdf", "--pages", "2-1", cwd=tmp_path), "pdf_tool", "backwards")
    bad(run("pdf", "text", "a.pdf", "--pages", "x", cwd=tmp_path), "pdf_tool", "bad page range")
    bad(run("pdf", "text", "a.pdf", "--pages", "0", cwd=tmp_path), "pdf_tool", "numbered from 1")
    bad(run("pdf", "text", "e.pdf", cwd=tmp_path), "pdf_tool", "encrypted", "--password")
    bad(run("pdf", "text", "e.pdf", "--password", "nope", cwd=tmp_path), "pdf_tool", "wrong password")
    bad(run("pdf", "merge", "a.pdf", "a.pdf", cwd=tmp_path), "pdf_tool", "also an input")
    bad(run("pdf", "merge", "m.pdf", "a.pdf", "missing.pdf", cwd=tmp_path), "pdf_tool", "missing.pdf")
    assert not (tmp_path / "m.pdf").exists()
    bad(run("pdf", "split", "a.pdf", "p", "--every", "0", cwd=tmp_path), "pdf_tool", "--every")
    bad(run("pdf", "split", "a.pdf", "p", "--every", "1", "--ranges", "1", cwd=tmp_path), "pdf_tool", "not allowed")
    bad(run("pdf", "frobnicate", "a.pdf", cwd=tmp_path), "pdf_tool", "invalid choice")
    bad(run("pdf", cwd=tmp_path), "pdf_tool", "required")


# -- spreadsheet ------------------------------------------------------------------------------------

TRICKY_CSV = (
    "name,qty,price,code,id,when,note\n"
    "Apple,3,1.5,007,12345678901234567890,2024-01-02,\"comma, inside\"\n"
    "Pear,-4,1.50,0,,, =not a formula\n"
    "Größe,0.25,-0.0,1e3,42,TRUE,\"two\nlines\"\n"
    "Fig,,,,,,=1+2\n"
)


def test_csv_to_xlsx_to_csv_is_identical_and_types_numbers_only_when_safe(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(TRICKY_CSV, encoding="utf-8")
    ok(run("spreadsheet", "convert", "a.csv", "a.xlsx", cwd=tmp_path))
    ok(run("spreadsheet", "convert", "a.xlsx", "b.csv", cwd=tmp_path))
    assert (tmp_path / "b.csv").read_text(encoding="utf-8") == TRICKY_CSV

    ws = openpyxl.load_workbook(tmp_path / "a.xlsx").active
    assert ws.title == "Sheet1"
    assert [ws["B2"].value, ws["C2"].value, ws["D2"].value, ws["E2"].value] == [3, 1.5, "007", "12345678901234567890"]
    assert ws["C3"].value == "1.50" and ws["D4"].value == "1e3" and ws["F4"].value == "TRUE"
    assert ws["G5"].value == "=1+2" and ws["G5"].data_type == "s"  # text, not a formula
    # --formulas makes it a formula; --text keeps numbers as text
    ok(run("spreadsheet", "convert", "a.csv", "f.xlsx", "--formulas", "--text", "--sheet", "Data", cwd=tmp_path))
    wf = openpyxl.load_workbook(tmp_path / "f.xlsx")["Data"]
    assert wf["G5"].data_type == "f" and wf["B2"].value == "3"


def test_write_from_json_then_sheets_and_read(tmp_path: Path) -> None:
    payload = {"Sales": [["Region", "Q1", "Q2", "Total"], ["North", 10, 12.5, "=B2+C2"], ["South", 3, None, True]],
               "People": [{"name": "Ada", "team": "R&D"}, {"name": "Lin", "city": "Oslo"}]}
    (tmp_path / "in.json").write_text(json.dumps(payload))
    out = ok(run("spreadsheet", "write", "book.xlsx", "--from-json", "in.json", "--header", cwd=tmp_path))
    assert "Sales (3 rows)" in out and "People (3 rows)" in out
    wb = openpyxl.load_workbook(tmp_path / "book.xlsx")
    assert wb.sheetnames == ["Sales", "People"]
    assert wb["Sales"]["D2"].value == "=B2+C2" and wb["Sales"]["A1"].font.b and wb["Sales"].freeze_panes == "A2"
    assert [[c.value for c in r] for r in wb["People"].iter_rows()] == [
        ["name", "team", "city"], ["Ada", "R&D", None], ["Lin", None, "Oslo"]]

    sheets = as_json(run("spreadsheet", "sheets", "book.xlsx", "--json", cwd=tmp_path))["sheets"]
    assert [(s["name"], s["rows"], s["columns"]) for s in sheets] == [("Sales", 3, 4), ("People", 3, 3)]

    done = run("spreadsheet", "read", "book.xlsx", "--json", cwd=tmp_path)
    data = as_json(done)
    assert data["sheet"] == "Sales" and data["rows"][1] == ["North", 10, 12.5, None]  # never computed
    assert "1 formula cell(s) have no computed value" in done.stderr
    assert as_json(run("spreadsheet", "read", "book.xlsx", "--formulas", "--json", cwd=tmp_path))["rows"][1][3] == "=B2+C2"
    table = ok(run("spreadsheet", "read", "book.xlsx", "--sheet", "2", cwd=tmp_path))
    assert "| name | team | city |\n|---|---|---|\n| Ada | R&D |  |" in table

    # a bare list of rows from stdin; --no-formulas keeps '=' text
    ok(run("spreadsheet", "write", "s.xlsx", "--from-json", "-", "--no-formulas", cwd=tmp_path,
           stdin='[["a", "=x"], [1, 2]]'))
    ws = openpyxl.load_workbook(tmp_path / "s.xlsx")["Sheet1"]
    assert ws["B1"].value == "=x" and ws["B1"].data_type == "s" and ws["A2"].value == 1


def test_xlsx_to_csv_gives_computed_values_unless_formulas_are_asked(tmp_path: Path) -> None:
    (tmp_path / "in.json").write_text(json.dumps({"S": [["a", "b", "sum"], [1, 2, "=A2+B2"]]}))
    ok(run("spreadsheet", "write", "raw.xlsx", "--from-json", "in.json", cwd=tmp_path))
    # give the formula the cached value a spreadsheet app would have saved
    with zipfile.ZipFile(tmp_path / "raw.xlsx") as src, zipfile.ZipFile(tmp_path / "calc.xlsx", "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                assert b"<f>A2+B2</f><v></v>" in data
                data = data.replace(b"<f>A2+B2</f><v></v>", b"<f>A2+B2</f><v>3</v>")
            dst.writestr(item, data)
    done = run("spreadsheet", "convert", "calc.xlsx", "v.csv", cwd=tmp_path)
    ok(done)
    assert done.stderr == ""
    assert list(csv.reader(open(tmp_path / "v.csv"))) == [["a", "b", "sum"], ["1", "2", "3"]]
    ok(run("spreadsheet", "convert", "calc.xlsx", "f.tsv", "--formulas", cwd=tmp_path))
    assert (tmp_path / "f.tsv").read_text() == "a\tb\tsum\n1\t2\t=A2+B2\n"


def test_read_csv_detects_delimiters_and_caps_rows(tmp_path: Path) -> None:
    (tmp_path / "semi.csv").write_text("a;b\n1;2\n3;4\n5;6\n", encoding="utf-8-sig")  # with a BOM
    data = as_json(run("spreadsheet", "read", "semi.csv", "--max-rows", "2", "--json", cwd=tmp_path))
    assert data["rows"] == [["a", "b"], ["1", "2"]] and data["total_rows"] == 4 and data["truncated"] is True
    assert "showing the first 2" in ok(run("spreadsheet", "read", "semi.csv", "--max-rows", "2", cwd=tmp_path))
    (tmp_path / "t.tsv").write_text("x\ty\n1\t2\n")
    assert as_json(run("spreadsheet", "read", "t.tsv", "--json", cwd=tmp_path))["rows"] == [["x", "y"], ["1", "2"]]
    (tmp_path / "latin.csv").write_bytes("név,ár\nalma,3\n".encode("cp1252"))
    bad(run("spreadsheet", "read", "latin.csv", cwd=tmp_path), "spreadsheet_tool", "--encoding")
    assert as_json(run("spreadsheet", "read", "latin.csv", "--encoding", "cp1252", "--json", cwd=tmp_path))["rows"][0] \
        == ["név", "ár"]


def test_spreadsheet_bad_input_is_exit_2_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "junk.xlsx").write_bytes(b"PK\x03\x04 not really a zip")
    (tmp_path / "ok.json").write_text('{"S": [[1]]}')
    ok(run("spreadsheet", "write", "ok.xlsx", "--from-json", "ok.json", cwd=tmp_path))
    p = "spreadsheet_tool"
    bad(run("spreadsheet", "read", "missing.xlsx", cwd=tmp_path), p, "missing.xlsx", "no such file")
    bad(run("spreadsheet", "read", "junk.xlsx", cwd=tmp_path), p, "junk.xlsx", "not a readable")
    bad(run("spreadsheet", "read", "old.xls", cwd=tmp_path), p, ".xls files are not supported")
    bad(run("spreadsheet", "read", "ok.xlsx", "--sheet", "Nope", cwd=tmp_path), p, "no sheet 'Nope'", "S")
    bad(run("spreadsheet", "sheets", "a.csv", cwd=tmp_path), p)
    bad(run("spreadsheet", "write", "o.xlsx", "--from-json", "-", cwd=tmp_path, stdin="[1, 2"), p, "invalid JSON")
    bad(run("spreadsheet", "write", "o.xlsx", "--from-json", "-", cwd=tmp_path, stdin='"text"'), p, "object of sheets")
    bad(run("spreadsheet", "write", "o.xlsx", "--from-json", "-", cwd=tmp_path, stdin='{"S": [1, 2]}'), p, "row 1")
    bad(run("spreadsheet", "write", "o.xlsx", "--from-json", "-", cwd=tmp_path, stdin='{"a/b": [[1]]}'), p, "sheet name")
    bad(run("spreadsheet", "write", "o.xlsx", "--from-json", "-", cwd=tmp_path, stdin='{"S": [[{"x": 1}]]}'), p, "dict")
    bad(run("spreadsheet", "write", "o.csv", "--from-json", "ok.json", cwd=tmp_path), p, ".xlsx")
    bad(run("spreadsheet", "convert", "ok.xlsx", "ok.xlsx", cwd=tmp_path), p, "same file")
    bad(run("spreadsheet", "read", "ok.xlsx", "--max-rows", "-1", cwd=tmp_path), p, "--max-rows")
    bad(run("spreadsheet", "read", "ok.xlsx", "--max-rows", "many", cwd=tmp_path), p, "invalid int")
    assert not (tmp_path / "o.xlsx").exists()


# -- docx -------------------------------------------------------------------------------------------

MARKDOWN = """# Quarterly report

Intro with **bold**, *italic* and `code`, see [the site](https://example.com).

## Sales

- North grew
- South held
  - except in May
1. collect
2. report

| Region | Sales |
|---|---|
| North | 10 |
| South | 20 |

> Numbers are provisional.

### Next steps

Plan the audit.
"""


def test_markdown_to_docx_and_back(tmp_path: Path) -> None:
    (tmp_path / "r.md").write_text(MARKDOWN)
    out = ok(run("docx", "write", "r.docx", "--from-markdown", "r.md", cwd=tmp_path))
    assert "3 headings" in out and "1 tables" in out
    d = docx.Document(str(tmp_path / "r.docx"))
    assert [p.style.name for p in d.paragraphs if p.text.startswith(("Quarterly", "Sales", "Next"))] == \
        ["Heading 1", "Heading 2", "Heading 3"]
    intro = next(p for p in d.paragraphs if p.text.startswith("Intro"))
    assert [r.text for r in intro.runs if r.bold] == ["bold"] and [r.text for r in intro.runs if r.italic] == ["italic"]
    assert intro.text == "Intro with bold, italic and code, see the site (https://example.com)."
    assert d.tables[0].style.name == "Table Grid" and d.core_properties.title == "Quarterly report"
    assert d.core_properties.author == ""  # not python-docx's template author

    blocks = as_json(run("docx", "read", "r.docx", "--json", cwd=tmp_path))["blocks"]
    assert [(b["level"], b["text"]) for b in blocks if b["type"] == "heading"] == \
        [(1, "Quarterly report"), (2, "Sales"), (3, "Next steps")]
    assert [(b["ordered"], b["level"], b["text"]) for b in blocks if b["type"] == "list_item"] == [
        (False, 0, "North grew"), (False, 0, "South held"), (False, 1, "except in May"),
        (True, 0, "collect"), (True, 0, "report")]
    assert [b["rows"] for b in blocks if b["type"] == "table"] == [[["Region", "Sales"], ["North", "10"], ["South", "20"]]]
    text = ok(run("docx", "read", "r.docx", cwd=tmp_path))
    assert text.startswith("# Quarterly report\n\nIntro with bold")
    assert "- South held\n  - except in May\n1. collect\n2. report" in text
    assert "| Region | Sales |\n|---|---|\n| North | 10 |" in text and "> Numbers are provisional." in text
    # and from stdin
    ok(run("docx", "write", "s.docx", "--from-markdown", "-", cwd=tmp_path, stdin="# From stdin\n\nbody\n"))
    assert ok(run("docx", "read", "s.docx", cwd=tmp_path)) == "# From stdin\n\nbody\n"


def test_read_a_document_made_by_python_docx(tmp_path: Path) -> None:
    d = docx.Document()
    d.add_heading("The title", level=0)
    d.add_heading("Part one", level=1)
    d.add_paragraph("First paragraph.")
    d.add_paragraph("")  # empty paragraphs are skipped
    custom = d.styles.add_style("Chapter Heading", docx.enum.style.WD_STYLE_TYPE.PARAGRAPH)
    custom.base_style = d.styles["Heading 2"]
    d.add_paragraph("A custom heading", style="Chapter Heading")
    d.add_paragraph("bullet", style="List Bullet 2")
    t = d.add_table(rows=2, cols=2)
    for (r, c), value in {(0, 0): "k", (0, 1): "v", (1, 0): "a|b", (1, 1): "2"}.items():
        t.cell(r, c).text = value
    d.add_paragraph("After the table.")
    d.core_properties.author = "Grace"
    d.save(str(tmp_path / "m.docx"))
    text = ok(run("docx", "read", "m.docx", cwd=tmp_path))
    assert text == ("# The title\n\n# Part one\n\nFirst paragraph.\n\n## A custom heading\n\n  - bullet\n\n"
                    "| k | v |\n|---|---|\n| a\\|b | 2 |\n\nAfter the table.\n")
    info = as_json(run("docx", "info", "m.docx", "--json", cwd=tmp_path))
    assert info["properties"]["author"] == "Grace"
    assert (info["headings"], info["tables"], info["paragraphs"], info["sections"]) == (3, 1, 3, 1)
    assert info["page_size_mm"] == [215.9, 279.4]
    listing = ok(run("docx", "info", "m.docx", cwd=tmp_path))
    assert "outline:\n  The title\n  Part one\n    A custom heading" in listing


def test_docx_bad_input_is_exit_2_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "junk.docx").write_bytes(b"not a zip")
    with zipfile.ZipFile(tmp_path / "empty.docx", "w") as z:
        z.writestr("hello.txt", "a zip without a document")
    (tmp_path / "old.doc").write_bytes(b"\xd0\xcf\x11\xe0 old word")
    p = "docx_tool"
    bad(run("docx", "read", "missing.docx", cwd=tmp_path), p, "missing.docx", "no such file")
    bad(run("docx", "read", "junk.docx", cwd=tmp_path), p, "junk.docx", "not a readable .docx")
    bad(run("docx", "info", "empty.docx", cwd=tmp_path), p, "empty.docx", "not a readable .docx")
    bad(run("docx", "read", "old.doc", cwd=tmp_path), p, ".doc files are not supported")
    bad(run("docx", "read", str(tmp_path), cwd=tmp_path), p, "is a folder")
    bad(run("docx", "write", "out.txt", "--from-markdown", "-", cwd=tmp_path, stdin="# x\n"), p, ".docx")
    bad(run("docx", "write", "out.docx", "--from-markdown", "nope.md", cwd=tmp_path), p, "nope.md", "no such file")
    bad(run("docx", "write", "out.docx", cwd=tmp_path), p, "--from-markdown")
    assert not (tmp_path / "out.docx").exists()
