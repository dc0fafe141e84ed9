"""Read, inspect, merge and split PDF files (pypdf).

Usage (run with the Python of cowork's environment, which has pypdf)::

    pdf_tool.py text IN.pdf [--pages 1-3,5] [--json]
    pdf_tool.py info IN.pdf [--json]
    pdf_tool.py merge OUT.pdf IN1.pdf IN2.pdf ... [--json]
    pdf_tool.py split IN.pdf OUTDIR [--every N | --ranges 1-2,3-5] [--json]

Every subcommand takes ``--password PW`` for encrypted files. Pages are numbered from 1; a range
is ``A-B`` (inclusive), ``A-`` (to the end) or ``-B`` (from the start), several joined by commas.

Exit codes: 0 done; 2 bad input (a missing, corrupt or encrypted file, a bad page range, a bad
option), reported as one line on stderr (``pdf_tool: error: ...``), never a traceback.
Written files go through a temporary file in the same folder, so a failure leaves no half file.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

PROG = "pdf_tool"
EXIT_BAD_INPUT = 2

try:
    from pypdf import PdfReader, PdfWriter
    from pypdf.errors import FileNotDecryptedError, PdfReadError, WrongPasswordError
except ImportError:  # pragma: no cover - only outside cowork's environment
    print(f"{PROG}: error: pypdf is not installed in this Python ({sys.executable}); run the script with "
          "the Python of cowork's environment", file=sys.stderr)
    sys.exit(EXIT_BAD_INPUT)

logging.getLogger("pypdf").setLevel(logging.ERROR)  # recoverable-structure warnings are noise here


class BadInput(Exception):
    """A problem with the command line or an input file: one line on stderr, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise BadInput(f"{message} (see {self.prog} --help)")


# ---------------------------------------------------------------------------------------------
# page ranges


def parse_ranges(spec: str, count: int) -> list[tuple[int, int]]:
    """``"1-3,5,8-"`` → ``[(1, 3), (5, 5), (8, count)]`` (1-based, inclusive), in the given order.

    Raises:
        BadInput: a malformed part, page 0, a backwards range, or a page past ``count``.
    """
    out: list[tuple[int, int]] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            raise BadInput(f"empty part in page range {spec!r}: use forms like 1-3,5,8-")
        first_s, dash, last_s = part.partition("-")
        try:
            first = int(first_s) if first_s.strip() else 1
            last = (int(last_s) if last_s.strip() else count) if dash else first
        except ValueError:
            raise BadInput(f"bad page range {part!r}: use forms like 1-3,5,8-") from None
        if first < 1 or last < 1:
            raise BadInput(f"bad page range {part!r}: pages are numbered from 1")
        if last < first:
            raise BadInput(f"bad page range {part!r}: it runs backwards")
        if last > count:
            raise BadInput(f"page {last} is out of range: the document has {count} page{'s' if count != 1 else ''}")
        out.append((first, last))
    return out


def parse_pages(spec: str | None, count: int) -> list[int]:
    """The 1-based page numbers ``spec`` names (all pages when None), in order, repeats kept."""
    if spec is None:
        return list(range(1, count + 1))
    return [n for first, last in parse_ranges(spec, count) for n in range(first, last + 1)]


# ---------------------------------------------------------------------------------------------
# files


def require_file(path: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise BadInput(f"{path}: no such file")
    if p.is_dir():
        raise BadInput(f"{path}: is a folder, not a PDF file")
    return p


def open_pdf(path: str, password: str | None) -> PdfReader:
    """A reader of ``path``, decrypted when it is encrypted (with ``password``, else the empty one).

    Raises:
        BadInput: missing, unreadable, not a PDF, wrong password, or encrypted without one.
    """
    p = require_file(path)
    try:
        reader = PdfReader(p, password=password)
    except WrongPasswordError:
        raise BadInput(f"{path}: wrong password") from None
    except PdfReadError as exc:
        if password is not None and "not an encrypted" in str(exc).lower():
            reader = PdfReader(p)  # --password given for a plain file: ignore it
        else:
            raise BadInput(f"{path}: not a readable PDF ({exc})") from None
    except OSError as exc:
        raise BadInput(f"{path}: cannot read ({exc.strerror or exc})") from None
    except Exception as exc:  # noqa: BLE001 - a corrupt file can fail anywhere inside the parser
        raise BadInput(f"{path}: not a readable PDF ({type(exc).__name__}: {exc})") from None
    return reader


def page_count(reader: PdfReader, path: str) -> int:
    try:
        return len(reader.pages)
    except FileNotDecryptedError:
        raise BadInput(f"{path}: the PDF is encrypted; pass --password PASSWORD") from None
    except Exception as exc:  # noqa: BLE001
        raise BadInput(f"{path}: cannot read the page tree ({type(exc).__name__}: {exc})") from None


def write_pdf(writer: PdfWriter, out: Path) -> None:
    """Write ``writer`` to ``out`` through a temporary file in the same folder (made if missing)."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
        try:
            with open(tmp, "wb") as fh:
                writer.write(fh)
            os.replace(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as exc:
        hint = " (in cowork's sandbox only the workspace is writable)" if exc.errno in (13, 30) else ""
        raise BadInput(f"cannot write {out}: {exc.strerror or exc}{hint}") from None


def emit(args: argparse.Namespace, data: Any, text: str) -> None:
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    else:
        print(text)


# ---------------------------------------------------------------------------------------------
# subcommands


def cmd_text(args: argparse.Namespace) -> int:
    reader = open_pdf(args.input, args.password)
    count = page_count(reader, args.input)
    pages = []
    failed = []
    for n in parse_pages(args.pages, count):
        try:
            text = reader.pages[n - 1].extract_text() or ""
        except Exception as exc:  # noqa: BLE001 - one bad page must not lose the others
            failed.append(n)
            print(f"{PROG}: warning: page {n}: text extraction failed ({type(exc).__name__}: {exc})", file=sys.stderr)
            text = ""
        pages.append({"page": n, "text": text})
    if not any(p["text"].strip() for p in pages) and not failed:
        print(f"{PROG}: warning: no text found; the pages may be scanned images (that needs OCR)", file=sys.stderr)
    body = "\n".join(f"=== page {p['page']} of {count} ===\n{p['text'].rstrip()}\n" for p in pages)
    emit(args, {"file": args.input, "page_count": count, "pages": pages}, body.rstrip("\n"))
    return 0


def _date(meta: Any, attr: str, raw: Any) -> str | None:
    try:
        value = getattr(meta, attr)
    except Exception:  # noqa: BLE001 - a malformed date string
        value = None
    if value is not None:
        return value.isoformat()
    return None if raw is None else str(raw)


def _page_size(reader: PdfReader) -> dict[str, Any] | None:
    sizes = []
    for page in reader.pages:
        box = page.mediabox
        sizes.append((round(float(box.width), 1), round(float(box.height), 1)))
    if not sizes:
        return None
    w, h = sizes[0]
    return {"width_pt": w, "height_pt": h, "width_mm": round(w * 25.4 / 72, 1), "height_mm": round(h * 25.4 / 72, 1),
            "all_pages_same": len(set(sizes)) == 1}


def cmd_info(args: argparse.Namespace) -> int:
    reader = open_pdf(args.input, args.password)
    p = Path(args.input)
    data: dict[str, Any] = {"file": args.input, "bytes": p.stat().st_size, "encrypted": reader.is_encrypted}
    try:
        data["pdf_version"] = reader.pdf_header.removeprefix("%PDF-")
    except Exception:  # noqa: BLE001
        data["pdf_version"] = None
    try:
        count = len(reader.pages)
    except FileNotDecryptedError:
        data.update(decrypted=False, pages=None, metadata=None)
        emit(args, data, "\n".join([
            f"file: {args.input}", f"bytes: {data['bytes']}", "encrypted: yes (not decrypted: pass --password)",
        ]))
        return 0
    except Exception as exc:  # noqa: BLE001
        raise BadInput(f"{args.input}: cannot read the page tree ({type(exc).__name__}: {exc})") from None
    data.update(decrypted=True if reader.is_encrypted else None, pages=count)
    try:
        meta = reader.metadata
    except Exception:  # noqa: BLE001 - a broken /Info dictionary
        meta = None
    raw = {str(k).lstrip("/"): v for k, v in (meta or {}).items()}
    metadata = {k: str(v) for k, v in raw.items() if k not in ("CreationDate", "ModDate")}
    if "CreationDate" in raw:
        metadata["CreationDate"] = _date(meta, "creation_date", raw["CreationDate"])
    if "ModDate" in raw:
        metadata["ModDate"] = _date(meta, "modification_date", raw["ModDate"])
    data["metadata"] = metadata
    try:
        data["page_size"] = _page_size(reader)
    except Exception:  # noqa: BLE001
        data["page_size"] = None
    try:
        data["form_fields"] = len(reader.get_fields() or {})
    except Exception:  # noqa: BLE001
        data["form_fields"] = None
    lines = [f"file: {args.input}", f"bytes: {data['bytes']}", f"pages: {count}",
             f"encrypted: {'yes (decrypted)' if reader.is_encrypted else 'no'}", f"pdf version: {data['pdf_version']}"]
    size = data["page_size"]
    if size:
        lines.append(f"page size: {size['width_pt']} x {size['height_pt']} pt ({size['width_mm']} x {size['height_mm']} mm)"
                     + ("" if size["all_pages_same"] else ", first page; sizes vary"))
    if data["form_fields"]:
        lines.append(f"form fields: {data['form_fields']}")
    lines += [f"{k}: {v}" for k, v in metadata.items()]
    emit(args, data, "\n".join(lines))
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    out = Path(args.output)
    if out.suffix.lower() != ".pdf":
        raise BadInput(f"output {args.output} should end in .pdf (merge OUT.pdf IN1.pdf IN2.pdf ...)")
    ins = [Path(p) for p in args.inputs]
    if out.exists() and any(out.resolve() == p.resolve() for p in ins if p.exists()):
        raise BadInput(f"output {args.output} is also an input; write the merged file elsewhere")
    writer = PdfWriter()
    total = 0
    for path in args.inputs:
        reader = open_pdf(path, args.password)
        n = page_count(reader, path)
        try:
            writer.append(reader)
        except Exception as exc:  # noqa: BLE001
            raise BadInput(f"{path}: cannot copy its pages ({type(exc).__name__}: {exc})") from None
        total += n
    write_pdf(writer, out)
    emit(args, {"output": args.output, "pages": total, "inputs": args.inputs},
         f"wrote {args.output} ({total} pages from {len(args.inputs)} files)")
    return 0


def cmd_split(args: argparse.Namespace) -> int:
    reader = open_pdf(args.input, args.password)
    count = page_count(reader, args.input)
    if args.every is not None and args.every < 1:
        raise BadInput(f"--every must be at least 1 (got {args.every})")
    if args.ranges:
        ranges = parse_ranges(args.ranges, count)
    else:
        step = args.every or 1
        ranges = [(a, min(a + step - 1, count)) for a in range(1, count + 1, step)]
    outdir = Path(args.outdir)
    if outdir.exists() and not outdir.is_dir():
        raise BadInput(f"{args.outdir}: exists and is not a folder")
    stem, width = Path(args.input).stem, len(str(count))
    files = []
    for first, last in ranges:
        name = f"{stem}_p{first:0{width}d}" + ("" if first == last else f"-{last:0{width}d}") + ".pdf"
        writer = PdfWriter()
        for n in range(first, last + 1):
            writer.add_page(reader.pages[n - 1])
        write_pdf(writer, outdir / name)
        files.append({"path": str(outdir / name), "first_page": first, "last_page": last})
    emit(args, {"input": args.input, "page_count": count, "files": files},
         "\n".join(f"wrote {f['path']} (pages {f['first_page']}-{f['last_page']})" for f in files))
    return 0


# ---------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Read, inspect, merge and split PDF files (pypdf).")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON instead of text")
    common.add_argument("--password", help="password of encrypted input files")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("text", parents=[common], help="extract the text of pages")
    p.add_argument("input", metavar="IN.pdf")
    p.add_argument("--pages", help="pages to extract, e.g. 1-3,5,8- (default: all)")
    p.set_defaults(func=cmd_text)
    p = sub.add_parser("info", parents=[common], help="page count, encryption, metadata, page size")
    p.add_argument("input", metavar="IN.pdf")
    p.set_defaults(func=cmd_info)
    p = sub.add_parser("merge", parents=[common], help="concatenate PDFs into one")
    p.add_argument("output", metavar="OUT.pdf")
    p.add_argument("inputs", metavar="IN.pdf", nargs="+")
    p.set_defaults(func=cmd_merge)
    p = sub.add_parser("split", parents=[common], help="split into files by page ranges")
    p.add_argument("input", metavar="IN.pdf")
    p.add_argument("outdir", metavar="OUTDIR", help="folder for the parts (made if missing)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--every", type=int, metavar="N", help="one file per N pages (default 1)")
    g.add_argument("--ranges", metavar="RANGES", help="one file per range, e.g. 1-2,3-5")
    p.set_defaults(func=cmd_split)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv``; returns the exit code (0 done, 2 bad input)."""
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except BadInput as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # e.g. piped into head
        return 0


if __name__ == "__main__":
    sys.exit(main())
