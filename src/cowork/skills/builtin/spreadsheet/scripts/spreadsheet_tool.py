"""Read, write and convert spreadsheets: Excel .xlsx (openpyxl) and CSV/TSV (csv module).

Usage (run with the Python of cowork's environment, which has openpyxl)::

    spreadsheet_tool.py read IN.xlsx|IN.csv [--sheet S] [--max-rows N] [--formulas] [--json]
    spreadsheet_tool.py sheets IN.xlsx [--json]
    spreadsheet_tool.py write OUT.xlsx --from-json FILE|- [--header] [--no-formulas]
    spreadsheet_tool.py convert IN OUT [--sheet S] [--formulas] [--text] [--delimiter D] [--bom]

``write`` takes JSON: ``{"Sheet name": [[cell, ...], ...], ...}`` (sheets of rows), or a bare list of
rows (one sheet, "Sheet1"); a row is a list of cells or an object (its keys become a header row).
Cells are strings, numbers, booleans or null; a string starting with ``=`` is a formula unless
``--no-formulas``.

Formulas: an .xlsx file keeps both a formula and the value last computed by a spreadsheet app.
``read`` and ``convert`` give the values, unless ``--formulas`` asks for the formula text; a
formula that was never computed (a file written by a script) has no value, and a warning says so.
CSV → XLSX keeps every cell a value: text that looks like a formula stays text unless
``--formulas``, and numbers become numbers only when they convert back to the same text
(``007`` and long IDs stay text; ``--text`` keeps everything text).

Exit codes: 0 done; 2 bad input (missing or corrupt file, unknown sheet, bad JSON, bad option),
one line on stderr (``spreadsheet_tool: error: ...``), never a traceback.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import math
import os
import re
import sys
import warnings
from itertools import zip_longest
from pathlib import Path
from typing import Any

PROG = "spreadsheet_tool"
EXIT_BAD_INPUT = 2
DEFAULT_MAX_ROWS = 200
XLSX = (".xlsx", ".xlsm")
CSV_EXT = (".csv", ".tsv", ".txt")

try:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException
except ImportError:  # pragma: no cover - only outside cowork's environment
    print(f"{PROG}: error: openpyxl is not installed in this Python ({sys.executable}); run the script with "
          "the Python of cowork's environment", file=sys.stderr)
    sys.exit(EXIT_BAD_INPUT)

warnings.filterwarnings("ignore", module="openpyxl")  # "Data Validation extension is not supported" etc.


class BadInput(Exception):
    """A problem with the command line or an input file: one line on stderr, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise BadInput(f"{message} (see {self.prog} --help)")


def warn(message: str) -> None:
    print(f"{PROG}: warning: {message}", file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# cells


def to_text(value: Any) -> str:
    """A cell as CSV/table text: '' for empty, TRUE/FALSE, ISO dates (a midnight datetime as a date)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() and value.tzinfo is None else value.isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if type(value).__name__ in ("ArrayFormula", "DataTableFormula"):  # --formulas on array formulas
        return str(getattr(value, "text", None) or value)
    return str(value)


def to_json(value: Any) -> Any:
    """A cell as a JSON value: numbers, booleans and null as they are, dates as ISO strings."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return to_text(value)


_INT = re.compile(r"0|-?[1-9][0-9]{0,14}")  # at most 15 digits: Excel keeps 15 significant digits


def infer(text: str) -> Any:
    """A CSV cell as a number when it converts back to the same text (``"42"``, ``"-1.5"``),
    else the text itself (``"007"``, ``"1.50"``, ``"1e3"``, 16+ digit IDs, ``""`` → None)."""
    if text == "":
        return None
    if _INT.fullmatch(text):
        return int(text)
    if text[:1] in "-0123456789." and "e" not in text.lower() and "_" not in text:
        try:
            number = float(text)
        except ValueError:
            return text
        if math.isfinite(number) and not (number == 0 and text.startswith("-")) and str(number) == text and len(text.replace("-", "").replace(".", "")) <= 15:
            return number
    return text


def trim(rows: list[list[Any]]) -> list[list[Any]]:
    """Rows without trailing empty cells, and without trailing empty rows."""
    out = []
    for row in rows:
        row = list(row)
        while row and row[-1] in (None, ""):
            row.pop()
        out.append(row)
    while out and not out[-1]:
        out.pop()
    return out


# ---------------------------------------------------------------------------------------------
# files


def require_file(path: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise BadInput(f"{path}: no such file")
    if p.is_dir():
        raise BadInput(f"{path}: is a folder, not a file")
    return p


def kind(path: str) -> str:
    """``"xlsx"`` or ``"csv"`` from the file name.

    Raises:
        BadInput: an old .xls/.ods file or an unknown extension.
    """
    ext = Path(path).suffix.lower()
    if ext in XLSX:
        return "xlsx"
    if ext in CSV_EXT:
        return "csv"
    if ext in (".xls", ".ods", ".numbers"):
        raise BadInput(f"{path}: {ext} files are not supported (only .xlsx/.xlsm and .csv/.tsv); convert it first, "
                       "e.g. soffice --headless --convert-to xlsx FILE")
    raise BadInput(f"{path}: unknown file type {ext or '(no extension)'}; use .xlsx, .xlsm, .csv or .tsv")


def open_workbook(path: str, *, data_only: bool, read_only: bool = True) -> Any:
    p = require_file(path)
    try:
        return openpyxl.load_workbook(p, read_only=read_only, data_only=data_only)
    except InvalidFileException as exc:
        raise BadInput(f"{path}: {exc}") from None
    except OSError as exc:
        raise BadInput(f"{path}: cannot read ({exc.strerror or exc})") from None
    except Exception as exc:  # noqa: BLE001 - a corrupt zip/XML can fail anywhere inside openpyxl
        raise BadInput(f"{path}: not a readable .xlsx file ({type(exc).__name__}: {exc})") from None


def pick_sheet(wb: Any, name: str | None, path: str) -> Any:
    if name is None:
        return wb.worksheets[0]
    if name in wb.sheetnames:
        return wb[name]
    if name.isdigit() and 1 <= int(name) <= len(wb.sheetnames):
        return wb.worksheets[int(name) - 1]
    raise BadInput(f"{path}: no sheet {name!r}; sheets are: {', '.join(wb.sheetnames)}")


def xlsx_rows(path: str, sheet: str | None, formulas: bool) -> tuple[str, list[list[Any]]]:
    """The sheet's name and rows (values, or formula text with ``formulas``). Warns on stderr about
    formulas that have no computed value (the file was never recalculated by a spreadsheet app)."""
    wb = open_workbook(path, data_only=not formulas)
    ws = pick_sheet(wb, sheet, path)
    try:
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
    except Exception as exc:  # noqa: BLE001
        raise BadInput(f"{path}: cannot read sheet {ws.title!r} ({type(exc).__name__}: {exc})") from None
    finally:
        wb.close()
    if not formulas:
        wf = open_workbook(path, data_only=False)
        missing = 0
        try:
            for vrow, frow in zip_longest(rows, pick_sheet(wf, ws.title, path).iter_rows(values_only=True), fillvalue=()):
                missing += sum(1 for v, f in zip_longest(vrow, frow) if v is None and isinstance(f, str) and f.startswith("="))
        finally:
            wf.close()
        if missing:
            warn(f"sheet {ws.title!r}: {missing} formula cell(s) have no computed value (the file was never "
                 "recalculated by a spreadsheet app), so they are empty here; --formulas shows the formulas")
    return ws.title, trim(rows)


def sniff_delimiter(sample: str, path: str) -> str:
    if Path(path).suffix.lower() == ".tsv":
        return "\t"
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def csv_rows(path: str, delimiter: str | None, encoding: str) -> tuple[str, list[list[Any]], str]:
    """The table's name (the file's stem), its rows (strings) and the delimiter used."""
    p = require_file(path)
    try:
        text = p.read_text(encoding=encoding)
    except UnicodeDecodeError as exc:
        raise BadInput(f"{path}: not valid {encoding} text at byte {exc.start}; pass --encoding, e.g. --encoding cp1252") from None
    except LookupError:
        raise BadInput(f"unknown encoding {encoding!r}") from None
    except OSError as exc:
        raise BadInput(f"{path}: cannot read ({exc.strerror or exc})") from None
    if "\x00" in text[:65536]:
        raise BadInput(f"{path}: looks binary, not CSV text (an .xlsx file renamed to .csv?)")
    delim = delimiter or sniff_delimiter(text[:65536], path)
    try:
        rows = [list(r) for r in csv.reader(io.StringIO(text, newline=""), delimiter=delim)]
    except csv.Error as exc:
        raise BadInput(f"{path}: malformed CSV ({exc})") from None
    return p.stem, trim(rows), delim


def load_table(path: str, sheet: str | None, formulas: bool, delimiter: str | None, encoding: str) -> tuple[str, list[list[Any]]]:
    if kind(path) == "xlsx":
        return xlsx_rows(path, sheet, formulas)
    if sheet not in (None, "1"):
        raise BadInput(f"{path}: a CSV file has one table; drop --sheet")
    name, rows, _ = csv_rows(path, delimiter, encoding)
    return name, rows


def save_atomically(out: Path, write: Any) -> None:
    """Call ``write(tmp_path)`` then move the file onto ``out`` (folder made if missing)."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}{out.suffix}")
        try:
            write(tmp)
            os.replace(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as exc:
        hint = " (in cowork's sandbox only the workspace is writable)" if exc.errno in (13, 30) else ""
        raise BadInput(f"cannot write {out}: {exc.strerror or exc}{hint}") from None


def build_workbook(sheets: list[tuple[str, list[list[Any]]]], *, formulas: bool, header: bool) -> Any:
    """An openpyxl workbook of ``sheets`` (name, rows). Strings starting with ``=`` are formulas
    only with ``formulas``; ``header`` bolds and freezes the first row. Column widths follow the
    longest cell (at most 60 characters)."""
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets:
        try:
            ws = wb.create_sheet(title=name)
        except ValueError as exc:
            raise BadInput(f"bad sheet name {name!r}: {exc}") from None
        if ws.title != name:
            raise BadInput(f"duplicate or invalid sheet name {name!r}")
        widths: dict[int, int] = {}
        for r, row in enumerate(rows, start=1):
            for c, value in enumerate(row, start=1):
                if value is None:
                    continue
                if not isinstance(value, (str, int, float, bool)):
                    raise BadInput(f"sheet {name!r} row {r} column {c}: cells must be strings, numbers, booleans or "
                                   f"null, not {type(value).__name__}")
                try:
                    cell = ws.cell(row=r, column=c, value=value)
                except Exception as exc:  # noqa: BLE001 - e.g. control characters openpyxl refuses
                    raise BadInput(f"sheet {name!r} row {r} column {c}: {exc}") from None
                if isinstance(value, str) and value.startswith("=") and not formulas:
                    cell.data_type = "s"
                if header and r == 1:
                    cell.font = Font(bold=True)
                widths[c] = max(widths.get(c, 0), len(to_text(value)))
        for c, width in widths.items():
            ws.column_dimensions[get_column_letter(c)].width = min(60, max(8, width + 2))
        if header and rows:
            ws.freeze_panes = "A2"
    if not wb.worksheets:
        wb.create_sheet("Sheet1")
    return wb


def write_csv(out: Path, rows: list[list[Any]], delimiter: str, bom: bool) -> None:
    width = max((len(r) for r in rows), default=0)

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8-sig" if bom else "utf-8") as fh:
            w = csv.writer(fh, delimiter=delimiter, lineterminator="\n")
            for row in rows:  # padded to the table's width: every line has the same number of fields
                w.writerow([to_text(v) for v in row] + [""] * (width - len(row)))

    save_atomically(out, write)


# ---------------------------------------------------------------------------------------------
# output


def render_table(rows: list[list[Any]]) -> str:
    """Rows as a Markdown-style pipe table (first row as the header)."""
    if not rows:
        return "(empty)"
    width = max(len(r) for r in rows) or 1

    def cell(v: Any) -> str:
        return to_text(v).replace("\\", "\\\\").replace("|", "\\|").replace("\r\n", " ").replace("\n", " ")

    lines = []
    for i, row in enumerate(rows):
        padded = [cell(v) for v in row] + [""] * (width - len(row))
        lines.append("| " + " | ".join(padded) + " |")
        if i == 0:
            lines.append("|" + "---|" * width)
    return "\n".join(lines)


def emit(args: argparse.Namespace, data: Any, text: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    else:
        print(text)


# ---------------------------------------------------------------------------------------------
# subcommands


def cmd_read(args: argparse.Namespace) -> int:
    if args.max_rows < 0:
        raise BadInput(f"--max-rows must be 0 (all) or more (got {args.max_rows})")
    name, rows = load_table(args.input, args.sheet, args.formulas, args.delimiter, args.encoding)
    shown = rows if args.max_rows == 0 else rows[: args.max_rows]
    columns = max((len(r) for r in rows), default=0)
    data = {"file": args.input, "sheet": name, "total_rows": len(rows), "columns": columns,
            "truncated": len(shown) < len(rows),
            "rows": [[to_json(v) for v in r] + [None] * (columns - len(r)) for r in shown]}  # rectangular
    head = f"sheet: {name} · {len(rows)} rows × {columns} columns"
    if data["truncated"]:
        head += f" · showing the first {len(shown)} (--max-rows 0 for all)"
    emit(args, data, f"{head}\n{render_table(shown)}")
    return 0


def cmd_sheets(args: argparse.Namespace) -> int:
    if kind(args.input) != "xlsx":
        raise BadInput(f"{args.input}: a CSV file has one table and no sheets; use read")
    wb = open_workbook(args.input, data_only=True)
    try:
        sheets = [{"index": i, "name": ws.title, "state": ws.sheet_state, "rows": ws.max_row, "columns": ws.max_column}
                  for i, ws in enumerate(wb.worksheets, start=1)]
    finally:
        wb.close()
    lines = [f"{s['index']}. {s['name']} · {s['rows']} rows × {s['columns']} columns"
             + ("" if s["state"] == "visible" else f" · {s['state']}") for s in sheets]
    emit(args, {"file": args.input, "sheets": sheets}, "\n".join(lines))
    return 0


def _sheets_from_json(data: Any) -> list[tuple[str, list[list[Any]]]]:
    """Accepts ``{"Name": rows, ...}`` or a bare list of rows; a row is a list or an object."""
    if isinstance(data, list):
        data = {"Sheet1": data}
    if not isinstance(data, dict) or not data:
        raise BadInput('JSON must be an object of sheets {"Sheet1": [[...], ...]} or a list of rows')
    sheets = []
    for name, rows in data.items():
        if not isinstance(rows, list):
            raise BadInput(f"sheet {name!r}: rows must be a list, not {type(rows).__name__}")
        if rows and all(isinstance(r, dict) for r in rows):
            keys: list[str] = []
            for r in rows:
                keys += [k for k in r if k not in keys]
            rows = [keys] + [[r.get(k) for k in keys] for r in rows]
        for i, r in enumerate(rows, start=1):
            if not isinstance(r, list):
                raise BadInput(f"sheet {name!r} row {i}: a row must be a list of cells (or every row an object)")
        sheets.append((str(name), rows))
    return sheets


def cmd_write(args: argparse.Namespace) -> int:
    out = Path(args.output)
    if kind(args.output) != "xlsx":
        raise BadInput(f"{args.output}: write makes .xlsx files; for CSV write the text directly or use convert")
    try:
        raw = sys.stdin.read() if args.from_json == "-" else require_file(args.from_json).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{args.from_json}: cannot read ({exc})") from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BadInput(f"{args.from_json}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    sheets = _sheets_from_json(data)
    wb = build_workbook(sheets, formulas=not args.no_formulas, header=args.header)
    save_atomically(out, wb.save)
    summary = ", ".join(f"{n} ({len(r)} rows)" for n, r in sheets)
    emit(args, {"output": args.output, "sheets": [{"name": n, "rows": len(r)} for n, r in sheets]},
         f"wrote {args.output}: {summary}")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    src, dst = kind(args.input), kind(args.output)
    require_file(args.input)
    if Path(args.output).resolve() == Path(args.input).resolve():
        raise BadInput("input and output are the same file")
    if src == "xlsx" and dst == "xlsx":
        raise BadInput("both files are .xlsx; nothing to convert (use read/write to copy sheets)")
    out = Path(args.output)
    if src == "xlsx":
        name, rows = xlsx_rows(args.input, args.sheet, args.formulas)
    else:
        name, rows, _ = csv_rows(args.input, args.delimiter, args.encoding)
        if dst == "xlsx":
            rows = [[(v or None) if args.text else infer(v) for v in r] for r in rows]
    if dst == "xlsx":
        sheet_name = args.sheet or "Sheet1"
        wb = build_workbook([(sheet_name, rows)], formulas=args.formulas, header=args.header)
        save_atomically(out, wb.save)
    else:
        out_delim = args.out_delimiter or ("\t" if out.suffix.lower() == ".tsv" else ",")
        write_csv(out, rows, out_delim, args.bom)
    emit(args, {"input": args.input, "output": args.output, "sheet": name, "rows": len(rows)},
         f"wrote {args.output} ({len(rows)} rows from {'sheet ' + repr(name) if src == 'xlsx' else args.input})")
    return 0


# ---------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Read, write and convert .xlsx and CSV files (openpyxl).")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON instead of text")
    csvopt = argparse.ArgumentParser(add_help=False)
    csvopt.add_argument("--delimiter", help="CSV input delimiter (default: detected; tab for .tsv)")
    csvopt.add_argument("--encoding", default="utf-8-sig", help="CSV input encoding (default utf-8, BOM allowed)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("read", parents=[common, csvopt], help="print a sheet or CSV as a table or JSON")
    p.add_argument("input", metavar="IN")
    p.add_argument("--sheet", help="sheet name or 1-based index (default: the first)")
    p.add_argument("--max-rows", type=int, default=DEFAULT_MAX_ROWS, help=f"rows to show (default {DEFAULT_MAX_ROWS}; 0: all)")
    p.add_argument("--formulas", action="store_true", help="show formula text instead of computed values")
    p.set_defaults(func=cmd_read)

    p = sub.add_parser("sheets", parents=[common], help="list the sheets of an .xlsx file")
    p.add_argument("input", metavar="IN.xlsx")
    p.set_defaults(func=cmd_sheets)

    p = sub.add_parser("write", parents=[common], help="write an .xlsx file from JSON")
    p.add_argument("output", metavar="OUT.xlsx")
    p.add_argument("--from-json", required=True, metavar="FILE", help="JSON file, or - for stdin")
    p.add_argument("--header", action="store_true", help="bold and freeze the first row of each sheet")
    p.add_argument("--no-formulas", action="store_true", help="write strings starting with = as text")
    p.set_defaults(func=cmd_write)

    p = sub.add_parser("convert", parents=[common, csvopt], help="CSV ↔ XLSX")
    p.add_argument("input", metavar="IN")
    p.add_argument("output", metavar="OUT")
    p.add_argument("--sheet", help="sheet to read (xlsx input) or name of the sheet written (xlsx output)")
    p.add_argument("--formulas", action="store_true",
                   help="xlsx→csv: formula text instead of values; csv→xlsx: cells starting with = become formulas")
    p.add_argument("--text", action="store_true", help="csv→xlsx: keep every cell as text (no numbers)")
    p.add_argument("--header", action="store_true", help="csv→xlsx: bold and freeze the first row")
    p.add_argument("--out-delimiter", help="CSV output delimiter (default , or tab for .tsv)")
    p.add_argument("--bom", action="store_true", help="CSV output starts with a UTF-8 BOM (for Excel)")
    p.set_defaults(func=cmd_convert)
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
