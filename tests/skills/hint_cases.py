"""The labelled prompts of the skill hint (:mod:`cowork.skills.context`): each prompt and the
builtin skill it asks for (None: no skill fits). Shared by tests/skills/test_skills_hint.py (the
matcher alone) and bench/skills_hint.py (real turns with the local model, with and without the hint)."""

from __future__ import annotations

CASES: list[tuple[str, str | None]] = [
    ("Extract the text from report.pdf and summarise it in three bullet points", "pdf"),
    ("Merge intro.pdf and body.pdf into one file called book.pdf", "pdf"),
    ("Split scan.pdf into one file per page", "pdf"),
    ("How many pages does manual.pdf have, and who is its author?", "pdf"),
    ("Convert sales.csv to an Excel workbook", "spreadsheet"),
    ("Read the second sheet of budget.xlsx and total the amounts", "spreadsheet"),
    ("Turn the xlsx export into a CSV file", "spreadsheet"),
    ("Make a spreadsheet with the columns name, email and age", "spreadsheet"),
    ("Read the Word document contract.docx and list its headings", "docx"),
    ("Write a meeting summary as a .docx file", "docx"),
    ("Convert notes.md into a Word document", "docx"),
    ("What does report.docx say about costs?", "docx"),
    ("Fix the failing test in tests/test_api.py", None),
    ("Count the words in README.md", None),
    ("Add a --verbose flag to the command-line interface", None),
    ("Rename the function parse_args to parse_options everywhere", None),
    ("What does this repository do?", None),
]

FIXTURE_DESCRIPTIONS: dict[str, str] = {
    "pdf": "Work with PDF files: extract text and metadata (title, author, page count), merge several PDFs into "
           "one, split a PDF into pages or page ranges. Use when the user mentions a .pdf file or asks to merge "
           "or split PDFs.",
    "spreadsheet": "Read, write and convert spreadsheets: Excel workbooks (.xlsx) and CSV files. List sheets, read "
                   "a sheet as a table or JSON, write rows to a new workbook, convert CSV to XLSX and back. Use "
                   "when the user mentions Excel, xlsx, csv or sheets.",
    "docx": "Read and write Word documents (.docx): paragraphs with heading levels, tables as text, document info; "
            "write a .docx from Markdown (headings, paragraphs, bullet lists, simple tables). Use when the user "
            "mentions Word, .docx or a document to produce.",
}
"""Stand-ins for the builtin skills' descriptions (the matcher's test runs on both)."""
