"""Read, write and inspect Word .docx documents (python-docx; Markdown parsed by markdown-it-py).

Usage (run with the Python of cowork's environment, which has python-docx)::

    docx_tool.py read IN.docx [--json]
    docx_tool.py info IN.docx [--json]
    docx_tool.py write OUT.docx --from-markdown FILE|-

``read`` prints the body in document order as Markdown: headings as ``#`` .. ``######`` (the
Title style as ``#``), list paragraphs as ``-`` / ``1.`` items, tables as pipe tables, other
paragraphs as text. ``--json`` gives blocks: ``{"type": "heading", "level": N, "text": ...}``
(level 0 is the Title style), ``{"type": "paragraph", "style": ..., "text": ...}``,
``{"type": "list_item", "ordered": bool, "level": N, "text": ...}`` and
``{"type": "table", "rows": [[cell text, ...], ...]}``. Headers, footers, footnotes, comments and
text boxes are not read.

``write`` takes Markdown: ``#`` headings (levels 1-6), paragraphs, ``-``/``*``/``1.`` lists (nested up
to 3 levels), pipe tables, block quotes, code blocks, and inline **bold**, *italic*,
``code``, ~~strike~~ and links (written as "text (url)").

Exit codes: 0 done; 2 bad input (missing or corrupt file, a .doc file, bad option), one line on
stderr (``docx_tool: error: ...``), never a traceback.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import sys
import zipfile
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

PROG = "docx_tool"
EXIT_BAD_INPUT = 2

try:
    import docx
    from docx.shared import Pt
    from docx.table import Table
    from docx.text.paragraph import Paragraph
except ImportError:  # pragma: no cover - only outside cowork's environment
    print(f"{PROG}: error: python-docx is not installed in this Python ({sys.executable}); run the script with "
          "the Python of cowork's environment", file=sys.stderr)
    sys.exit(EXIT_BAD_INPUT)

MONO = "Courier New"


class BadInput(Exception):
    """A problem with the command line or an input file: one line on stderr, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise BadInput(f"{message} (see {self.prog} --help)")


def emit(args: argparse.Namespace, data: Any, text: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    else:
        print(text)


def open_docx(path: str) -> Any:
    """The python-docx Document of ``path``.

    Raises:
        BadInput: missing, a folder, an old binary .doc, or not a readable .docx package.
    """
    p = Path(path)
    if not p.exists():
        raise BadInput(f"{path}: no such file")
    if p.is_dir():
        raise BadInput(f"{path}: is a folder, not a .docx file")
    if p.suffix.lower() in (".doc", ".rtf", ".odt"):
        raise BadInput(f"{path}: {p.suffix} files are not supported (only .docx); convert it first, "
                       "e.g. soffice --headless --convert-to docx FILE")
    try:
        return docx.Document(str(p))
    except OSError as exc:
        raise BadInput(f"{path}: cannot read ({exc.strerror or exc})") from None
    except Exception as exc:  # noqa: BLE001 - a corrupt zip/XML can fail anywhere inside python-docx
        raise BadInput(f"{path}: not a readable .docx file ({type(exc).__name__}: {exc})") from None


# ---------------------------------------------------------------------------------------------
# reading


def heading_level(par: Paragraph) -> int | None:
    """1-9 for ``Heading N`` (or a style based on it), 0 for ``Title``, None for other paragraphs."""
    style = par.style
    for _ in range(5):
        if style is None:
            return None
        name = style.name or ""
        if name == "Title":
            return 0
        m = re.fullmatch(r"[Hh]eading ([1-9])", name)
        if m:
            return int(m[1])
        style = style.base_style
    return None


def list_info(par: Paragraph) -> tuple[bool, int] | None:
    """(ordered, level) for a list paragraph (a ``List Bullet``/``List Number`` style or Word
    numbering), else None. Word numbering without those styles is reported as a bullet."""
    name = (par.style.name if par.style is not None else "") or ""
    m = re.fullmatch(r"List (Bullet|Number)(?: ([2-9]))?", name)
    if m:
        return m[1] == "Number", int(m[2] or 1) - 1
    ppr = par._p.pPr
    if ppr is not None and ppr.numPr is not None:
        ilvl = ppr.numPr.ilvl
        return False, int(ilvl.val) if ilvl is not None and ilvl.val is not None else 0
    return None


def table_rows(table: Table) -> list[list[str]]:
    return [[cell.text.strip() for cell in row.cells] for row in table.rows]


def blocks(document: Any) -> list[dict[str, Any]]:
    """The body's non-empty paragraphs and its tables, in document order (see the module doc)."""
    out: list[dict[str, Any]] = []
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            out.append({"type": "table", "rows": table_rows(item)})
            continue
        text = item.text.strip()
        if not text:
            continue
        level = heading_level(item)
        if level is not None:
            out.append({"type": "heading", "level": level, "text": text})
            continue
        info = list_info(item)
        if info is not None:
            out.append({"type": "list_item", "ordered": info[0], "level": info[1], "text": text})
            continue
        out.append({"type": "paragraph", "style": item.style.name if item.style is not None else None, "text": text})
    return out


def pipe_table(rows: list[list[str]]) -> str:
    if not rows:
        return ""
    width = max(len(r) for r in rows)

    def cell(t: str) -> str:
        return t.replace("|", "\\|").replace("\n", " ")

    lines = []
    for i, row in enumerate(rows):
        lines.append("| " + " | ".join([cell(t) for t in row] + [""] * (width - len(row))) + " |")
        if i == 0:
            lines.append("|" + "---|" * width)
    return "\n".join(lines)


def to_markdown(items: list[dict[str, Any]]) -> str:
    parts: list[str] = []
    prev = None
    numbers: dict[int, int] = {}  # the running number of ordered items, per list level
    for b in items:
        if b["type"] != "list_item":
            numbers.clear()
        if b["type"] == "heading":
            s = "#" * max(1, b["level"]) + " " + b["text"]
        elif b["type"] == "list_item":
            for deeper in [k for k in numbers if k > b["level"]]:
                del numbers[deeper]
            if b["ordered"]:
                numbers[b["level"]] = numbers.get(b["level"], 0) + 1
            s = "  " * b["level"] + (f"{numbers[b['level']]}. " if b["ordered"] else "- ") + b["text"]
        elif b["type"] == "table":
            s = pipe_table(b["rows"])
        elif b.get("style") in ("Quote", "Intense Quote"):
            s = "> " + b["text"]
        else:
            s = b["text"]
        sep = "\n" if prev == "list_item" and b["type"] == "list_item" else "\n\n"
        parts.append(s if not parts else sep + s)
        prev = b["type"]
    return "".join(parts)


def cmd_read(args: argparse.Namespace) -> int:
    items = blocks(open_docx(args.input))
    if not items:
        print(f"{PROG}: warning: the document body has no text", file=sys.stderr)
    emit(args, {"file": args.input, "blocks": items}, to_markdown(items))
    return 0


def app_properties(path: str) -> dict[str, int]:
    """Pages, Words, Characters, Paragraphs as Word last saved them in docProps/app.xml (may be stale)."""
    out: dict[str, int] = {}
    try:
        with zipfile.ZipFile(path) as z:
            root = ElementTree.fromstring(z.read("docProps/app.xml"))
    except (KeyError, OSError, zipfile.BadZipFile, ElementTree.ParseError):
        return out
    for el in root:
        tag = el.tag.rsplit("}", 1)[-1]
        if tag in ("Pages", "Words", "Characters", "Paragraphs") and (el.text or "").strip().isdigit():
            out[tag.lower()] = int(el.text.strip())
    return out


def cmd_info(args: argparse.Namespace) -> int:
    document = open_docx(args.input)
    items = blocks(document)
    cp = document.core_properties
    props = {name: getattr(cp, name) for name in (
        "title", "subject", "author", "keywords", "comments", "category", "last_modified_by", "revision",
        "created", "modified")}
    props = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in props.items() if v not in (None, "")}
    text = "\n".join(b["text"] for b in items if "text" in b)
    section = document.sections[0] if len(document.sections) else None
    data: dict[str, Any] = {
        "file": args.input,
        "bytes": Path(args.input).stat().st_size,
        "properties": props,
        "headings": sum(1 for b in items if b["type"] == "heading"),
        "paragraphs": sum(1 for b in items if b["type"] in ("paragraph", "list_item")),
        "tables": sum(1 for b in items if b["type"] == "table"),
        "images": len(document.inline_shapes),
        "sections": len(document.sections),
        "words": len(text.split()),
        "saved_by_word": app_properties(args.input),
    }
    if section is not None and section.page_width is not None and section.page_height is not None:
        data["page_size_mm"] = [round(section.page_width.mm, 1), round(section.page_height.mm, 1)]
    outline = [("  " * max(0, b["level"] - 1)) + b["text"] for b in items if b["type"] == "heading"]
    lines = [f"file: {args.input}", f"bytes: {data['bytes']}"]
    lines += [f"{k}: {v}" for k, v in props.items()]
    lines.append(f"headings: {data['headings']} · paragraphs: {data['paragraphs']} · tables: {data['tables']} · "
                 f"images: {data['images']} · sections: {data['sections']} · words (body): {data['words']}")
    if "page_size_mm" in data:
        lines.append(f"page size: {data['page_size_mm'][0]} x {data['page_size_mm'][1]} mm")
    if data["saved_by_word"].get("pages"):
        lines.append(f"pages (as recorded in the file by the app that saved it; may be stale): "
                     f"{data['saved_by_word']['pages']}")
    if outline:
        lines += ["outline:", *("  " + o for o in outline)]
    emit(args, data, "\n".join(lines))
    return 0


# ---------------------------------------------------------------------------------------------
# writing


class MarkdownWriter:
    """Renders markdown-it-py tokens (CommonMark plus tables and strikethrough) into a Document."""

    def __init__(self, document: Any) -> None:
        self.doc = document
        self.lists: list[bool] = []  # ordered? per open list
        self.item_first = False  # the next paragraph is the first of a list item
        self.quote = 0
        self.par: Any = None
        self.table: list[list[list[Any]]] | None = None  # rows of cells (inline tokens)
        self.first_heading: str | None = None

    def _list_style(self) -> str:
        depth = min(len(self.lists), 3)
        suffix = "" if depth == 1 else f" {depth}"
        if self.item_first:
            self.item_first = False
            return ("List Number" if self.lists[-1] else "List Bullet") + suffix
        return "List Continue" + suffix

    def render(self, tokens: list[Any]) -> None:
        for tok in tokens:
            t = tok.type
            if t == "heading_open":
                level = int(tok.tag[1])
                self.par = self.doc.add_heading("", level=level)
            elif t == "paragraph_open":
                if self.table is not None:
                    continue
                style = self._list_style() if self.lists else ("Quote" if self.quote else None)
                self.par = self.doc.add_paragraph(style=style)
            elif t == "inline":
                if self.table is not None:
                    self.table[-1].append(tok.children or [])
                elif self.par is not None:
                    self.inline(self.par, tok.children or [])
                    if self.first_heading is None and self.par.style.name == "Heading 1":
                        self.first_heading = self.par.text
            elif t in ("heading_close", "paragraph_close"):
                if self.table is None:
                    self.par = None
            elif t in ("bullet_list_open", "ordered_list_open"):
                self.lists.append(t == "ordered_list_open")
            elif t in ("bullet_list_close", "ordered_list_close"):
                self.lists.pop()
            elif t == "list_item_open":
                self.item_first = True
            elif t == "blockquote_open":
                self.quote += 1
            elif t == "blockquote_close":
                self.quote -= 1
            elif t in ("fence", "code_block"):
                par = self.doc.add_paragraph(style="No Spacing")
                lines = tok.content.rstrip("\n").split("\n")
                for i, line in enumerate(lines):
                    run = par.add_run(line)
                    run.font.name, run.font.size = MONO, Pt(9)
                    if i < len(lines) - 1:
                        run.add_break()
            elif t == "html_block":
                self.doc.add_paragraph(tok.content.strip())
            elif t == "table_open":
                self.table = []
            elif t == "tr_open" and self.table is not None:
                self.table.append([])
            elif t == "table_close" and self.table is not None:
                self.add_table(self.table)
                self.table = None
            # hr, thead/tbody and the other closers carry nothing to write

    def add_table(self, rows: list[list[list[Any]]]) -> None:
        if not rows:
            return
        width = max(len(r) for r in rows)
        table = self.doc.add_table(rows=len(rows), cols=width)
        table.style = "Table Grid"
        for r, row in enumerate(rows):
            for c, children in enumerate(row):
                self.inline(table.cell(r, c).paragraphs[0], children, bold=(r == 0))

    def inline(self, par: Any, children: list[Any], bold: bool = False) -> None:
        state = {"bold": bold, "italic": False, "strike": False}
        href: list[str] = []
        link_text: list[str] = []

        def run(text: str, mono: bool = False) -> None:
            r = par.add_run(text)
            r.bold = state["bold"] or None
            r.italic = state["italic"] or None
            if state["strike"]:
                r.font.strike = True
            if mono:
                r.font.name = MONO
            if href:
                link_text.append(text)

        for tok in children:
            t = tok.type
            if t == "text":
                run(tok.content)
            elif t == "code_inline":
                run(tok.content, mono=True)
            elif t == "softbreak":
                run(" ")
            elif t == "hardbreak":
                par.add_run().add_break()
            elif t in ("strong_open", "strong_close"):
                state["bold"] = t == "strong_open" or bold
            elif t in ("em_open", "em_close"):
                state["italic"] = t == "em_open"
            elif t in ("s_open", "s_close"):
                state["strike"] = t == "s_open"
            elif t == "link_open":
                href.append(str(tok.attrs.get("href", "")))
                link_text.clear()
            elif t == "link_close" and href:
                url = href.pop()
                if url and "".join(link_text) != url:
                    run(f" ({url})")
            elif t == "image":
                run(f"[image: {tok.content or tok.attrs.get('src', '')}]")
            elif t == "html_inline":
                run(tok.content)


def cmd_write(args: argparse.Namespace) -> int:
    out = Path(args.output)
    if out.suffix.lower() != ".docx":
        raise BadInput(f"{args.output}: write makes .docx files (name it OUT.docx)")
    try:
        if args.from_markdown == "-":
            source = sys.stdin.read()
        else:
            src = Path(args.from_markdown)
            if not src.is_file():
                raise BadInput(f"{args.from_markdown}: no such file")
            source = src.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{args.from_markdown}: cannot read ({exc})") from None
    try:
        from markdown_it import MarkdownIt
    except ImportError:  # pragma: no cover
        raise BadInput(f"markdown-it-py is not installed in this Python ({sys.executable})") from None
    document = docx.Document()
    writer = MarkdownWriter(document)
    try:
        writer.render(MarkdownIt("commonmark").enable(["table", "strikethrough"]).parse(source))
    except ValueError as exc:  # e.g. control characters that XML cannot hold
        raise BadInput(f"{args.from_markdown}: cannot put this text into a .docx ({exc})") from None
    cp = document.core_properties  # the template's own values (author "python-docx", dated 2013) are not ours
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0, tzinfo=None)
    cp.author, cp.comments, cp.last_modified_by, cp.created, cp.modified, cp.revision = "", "", "", now, now, 1
    if writer.first_heading:
        cp.title = writer.first_heading
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}.docx")
        try:
            document.save(str(tmp))
            os.replace(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as exc:
        hint = " (in cowork's sandbox only the workspace is writable)" if exc.errno in (13, 30) else ""
        raise BadInput(f"cannot write {out}: {exc.strerror or exc}{hint}") from None
    items = blocks(document)
    counts = {k: sum(1 for b in items if b["type"] == k) for k in ("heading", "paragraph", "list_item", "table")}
    emit(args, {"output": args.output, **counts},
         f"wrote {args.output} ({counts['heading']} headings, {counts['paragraph']} paragraphs, "
         f"{counts['list_item']} list items, {counts['table']} tables)")
    return 0


# ---------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Read, write and inspect Word .docx files (python-docx).")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON instead of text")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("read", parents=[common], help="the body as Markdown (headings, lists, tables)")
    p.add_argument("input", metavar="IN.docx")
    p.set_defaults(func=cmd_read)
    p = sub.add_parser("info", parents=[common], help="properties, counts, outline")
    p.add_argument("input", metavar="IN.docx")
    p.set_defaults(func=cmd_info)
    p = sub.add_parser("write", parents=[common], help="write a .docx from Markdown")
    p.add_argument("output", metavar="OUT.docx")
    p.add_argument("--from-markdown", required=True, metavar="FILE", help="Markdown file, or - for stdin")
    p.set_defaults(func=cmd_write)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv``; returns the exit code (0 done, 2 bad input)."""
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except BadInput as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
