"""Tasks that write or change file contents: create a file, edit a config value, append a line,
count or find things and write the answer, fix a one-line bug, summarise, CSV to Markdown, TODOs."""

from __future__ import annotations

import configparser
import csv
import io
import json
import re
import tomllib
from collections.abc import Callable
from pathlib import Path

from ._base import OK, Check, Task, first_int, fixture_snapshot, put, read, run_python, unchanged, writer

# --- create a file -----------------------------------------------------------------------------


def _check_hello(root: Path) -> Check:
    text = read(root, "hello.txt")
    if text is None:
        return False, "hello.txt does not exist"
    return (True, "") if text.strip() == "Hello, world!" else (False, f"hello.txt contains {text[:80]!r}")


def _bullets(text: str) -> list[str]:
    return [re.sub(r"^\s*(?:[-*+]|\d+[.)])\s+(?:\[[ x]\]\s+)?", "", line).strip().lower()
            for line in text.splitlines() if re.match(r"^\s*(?:[-*+]|\d+[.)])\s+", line)]


def _check_shopping(root: Path) -> Check:
    text = read(root, "shopping.md")
    if text is None:
        return False, "shopping.md does not exist"
    items = _bullets(text)
    want = ["eggs", "milk", "bread"]
    if sorted(items) != sorted(want):
        return False, f"the list items are {items}, expected {want}"
    return OK


def _check_add_script(root: Path) -> Check:
    if not (root / "add.py").is_file():
        return False, "add.py does not exist"
    res = run_python(root, "add.py")
    if res.returncode != 0:
        return False, f"add.py exits {res.returncode}: {res.stderr.strip()[-200:]}"
    return (True, "") if res.stdout.strip() == "42" else (False, f"add.py printed {res.stdout.strip()[:80]!r}, not 42")


_CONTACTS = {("Ana", "ana@example.com"), ("Ben", "ben@example.com")}


def _check_contacts(root: Path) -> Check:
    text = read(root, "contacts.json")
    if text is None:
        return False, "contacts.json does not exist"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return False, f"contacts.json is not valid JSON: {exc}"
    if isinstance(data, dict):  # {"contacts": [...]} or {"people": [...]} is fine too
        lists = [v for v in data.values() if isinstance(v, list)]
        data = lists[0] if len(lists) == 1 else data
    if not isinstance(data, list) or not all(isinstance(p, dict) for p in data):
        return False, "contacts.json does not hold a list of people"
    got = {(str(p.get("name", "")).strip(), str(p.get("email", "")).strip().lower()) for p in data}
    return (True, "") if got == _CONTACTS and len(data) == 2 else (False, f"the people are {sorted(got)}")


CREATE = [
    Task("create-hello", "create", "Create a file called hello.txt containing exactly: Hello, world!",
         lambda root: None, _check_hello, lambda root: (root / "hello.txt").write_text("Hello, world!\n")),
    Task("create-shopping-list", "create", "Make a file shopping.md with a bullet list of eggs, milk and bread.",
         lambda root: None, _check_shopping, lambda root: (root / "shopping.md").write_text("- eggs\n- milk\n- bread\n")),
    Task("create-python-script", "create", "Write a Python script add.py that prints the sum of 17 and 25.",
         lambda root: None, _check_add_script, lambda root: (root / "add.py").write_text("print(17 + 25)\n")),
    Task("create-json-contacts", "create",
         "Create contacts.json with a list of two people, each with a name and an email: "
         "Ana (ana@example.com) and Ben (ben@example.com).",
         lambda root: None, _check_contacts,
         lambda root: (root / "contacts.json").write_text(json.dumps(
             [{"name": n, "email": e} for n, e in sorted(_CONTACTS)], indent=2))),
]


# --- edit a value in a config file -------------------------------------------------------------

_JSON_CONFIG = {"server": {"host": "localhost", "port": 8080}, "debug": True, "workers": 4}
_TOML_CONFIG = '''# app settings
[app]
name = "notes"
debug = true
theme = "dark"

[storage]
path = "data/notes.db"
backups = 3
'''
_INI_CONFIG = '''[database]
host = db.local
port = 5432
timeout = 30

[logging]
level = info
'''
_PACKAGE = {"name": "tiny-site", "version": "1.0.0", "scripts": {"build": "node build.js"}}


def _json_of(root: Path, rel: str) -> tuple[object, str]:
    text = read(root, rel)
    if text is None:
        return None, f"{rel} does not exist"
    try:
        return json.loads(text), ""
    except json.JSONDecodeError as exc:
        return None, f"{rel} is no longer valid JSON: {exc}"


def _check_json_port(root: Path) -> Check:
    data, err = _json_of(root, "config.json")
    if err:
        return False, err
    want = json.loads(json.dumps(_JSON_CONFIG))
    want["server"]["port"] = 9090
    if data == want:
        return OK
    port = data.get("server", {}).get("port") if isinstance(data, dict) and isinstance(data.get("server"), dict) else None
    return False, (f"server.port is {port!r}, expected 9090" if port != 9090 else "other settings changed too")


def _check_json_license(root: Path) -> Check:
    data, err = _json_of(root, "package.json")
    if err:
        return False, err
    if not isinstance(data, dict) or data.get("license") != "MIT":
        return False, f"license is {data.get('license') if isinstance(data, dict) else None!r}, expected 'MIT'"
    rest = {k: v for k, v in data.items() if k != "license"}
    return (True, "") if rest == _PACKAGE else (False, "other entries of package.json changed too")


def _check_toml_debug(root: Path) -> Check:
    text = read(root, "settings.toml")
    if text is None:
        return False, "settings.toml does not exist"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return False, f"settings.toml is no longer valid TOML: {exc}"
    want = tomllib.loads(_TOML_CONFIG)
    want["app"]["debug"] = False
    if data == want:
        return OK
    debug = data.get("app", {}).get("debug")
    return False, (f"app.debug is {debug!r}, expected false" if debug is not False else "other settings changed too")


def _check_ini_timeout(root: Path) -> Check:
    text = read(root, "app.ini")
    if text is None:
        return False, "app.ini does not exist"
    got, want = configparser.ConfigParser(), configparser.ConfigParser()
    try:
        got.read_string(text)
    except configparser.Error as exc:
        return False, f"app.ini is no longer valid INI: {exc}"
    want.read_string(_INI_CONFIG)
    want["database"]["timeout"] = "60"
    as_dict = lambda cp: {s: dict(cp[s]) for s in cp.sections()}  # noqa: E731
    if as_dict(got) == as_dict(want):
        return OK
    timeout = got.get("database", "timeout", fallback=None)
    return False, (f"database.timeout is {timeout!r}, expected 60" if timeout != "60" else "other settings changed too")


def _solve_json_port(root: Path) -> None:
    data = json.loads((root / "config.json").read_text())
    data["server"]["port"] = 9090
    (root / "config.json").write_text(json.dumps(data, indent=2))


def _solve_json_license(root: Path) -> None:
    data = json.loads((root / "package.json").read_text())
    data["license"] = "MIT"
    (root / "package.json").write_text(json.dumps(data, indent=2))


CONFIG = [
    Task("config-json-port", "config", "Change the port in config.json to 9090.",
         writer({"config.json": json.dumps(_JSON_CONFIG, indent=2) + "\n"}), _check_json_port, _solve_json_port),
    Task("config-toml-debug", "config", "Turn debug off in settings.toml.",
         writer({"settings.toml": _TOML_CONFIG}), _check_toml_debug,
         lambda root: (root / "settings.toml").write_text(_TOML_CONFIG.replace("debug = true", "debug = false"))),
    Task("config-ini-timeout", "config", "Set the database timeout in app.ini to 60.",
         writer({"app.ini": _INI_CONFIG}), _check_ini_timeout,
         lambda root: (root / "app.ini").write_text(_INI_CONFIG.replace("timeout = 30", "timeout = 60"))),
    Task("config-json-add-license", "config", 'Add a "license" entry with the value "MIT" to package.json.',
         writer({"package.json": json.dumps(_PACKAGE, indent=2) + "\n"}), _check_json_license, _solve_json_license),
]


# --- append a line -----------------------------------------------------------------------------

_TODO = "call the plumber\nwater the plants\nreturn library books\n"
_GITIGNORE = "__pycache__/\n*.pyc\n.env\n"


def _check_appended(rel: str, before: str, accept: set[str]) -> Callable[[Path], Check]:
    def check(root: Path) -> Check:
        text = read(root, rel)
        if text is None:
            return False, f"{rel} does not exist"
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        old = [ln.strip() for ln in before.splitlines() if ln.strip()]
        if lines[:len(old)] != old:
            return False, f"the existing lines of {rel} changed: {lines[:len(old)]}"
        if len(lines) != len(old) + 1 or lines[-1] not in accept:
            return False, f"the lines after the old ones are {lines[len(old):]}, expected one of {sorted(accept)}"
        return OK

    return check


APPEND = [
    Task("append-todo", "append", "Add 'buy stamps' as a new last line of todo.txt.", writer({"todo.txt": _TODO}),
         _check_appended("todo.txt", _TODO, {"buy stamps", "'buy stamps'"}),
         lambda root: (root / "todo.txt").write_text(_TODO + "buy stamps\n")),
    Task("append-gitignore", "append", "Add node_modules/ to the .gitignore file.", writer({".gitignore": _GITIGNORE}),
         _check_appended(".gitignore", _GITIGNORE, {"node_modules/", "node_modules", "/node_modules/", "/node_modules"}),
         lambda root: (root / ".gitignore").write_text(_GITIGNORE + "node_modules/\n")),
]


# --- count or find things, answer in a file ----------------------------------------------------

_LEVELS = ["INFO", "INFO", "WARN", "INFO", "ERROR", "INFO", "DEBUG", "ERROR", "INFO"]
_APP_LOG = "".join(f"2024-05-01 10:{i // 60:02d}:{i % 60:02d} {_LEVELS[i % len(_LEVELS)]} request {i} handled\n"
                   for i in range(83))
_APP_LOG_ERRORS = sum(1 for ln in _APP_LOG.splitlines() if "ERROR" in ln)
_SERVER_LOG = "".join(f"GET /page/{i} 200\n" for i in range(137))

_PY_TREE = {
    "main.py": "print('main')\n", "setup.cfg": "[metadata]\n", "README.md": "# app\n",
    "app/__init__.py": "", "app/models.py": "class User: ...\n", "app/views.py": "def index(): ...\n",
    "app/templates/index.html": "<h1>hi</h1>\n", "tests/test_models.py": "def test_user(): ...\n",
    "tests/conftest.py": "", "scripts/deploy.sh": "echo deploy\n", "notes.py.txt": "not python\n",
}
_PY_COUNT = sum(1 for rel in _PY_TREE if rel.endswith(".py"))

_DATA_SIZES = {"january.csv": 1200, "february.csv": 4800, "march.csv": 2300, "notes.txt": 3100}
_LETTERS = {
    "letter-to-bank.txt": "Please find attached the invoice for March.\n",
    "holiday.txt": "We went to the sea and ate far too much ice cream.\n",
    "supplier.txt": "Your invoice number 1123 is overdue.\n",
    "shopping.txt": "apples, pears, coffee\n",
    "meeting.txt": "Agenda: hiring, the new office, lunch.\n",
}
_INVOICE_FILES = {name for name, text in _LETTERS.items() if "invoice" in text}


def _answer_is(rel: str, want: int) -> Callable[[Path], Check]:
    def check(root: Path) -> Check:
        text = read(root, rel)
        if text is None:
            return False, f"{rel} does not exist"
        got = first_int(text)
        return (True, "") if got == want else (False, f"{rel} says {text.strip()[:60]!r}, the answer is {want}")

    return check


def _check_largest(root: Path) -> Check:
    text = read(root, "largest.txt")
    if text is None:
        return False, "largest.txt does not exist"
    want = max(_DATA_SIZES, key=_DATA_SIZES.__getitem__)
    named = {n for n in _DATA_SIZES if n in text}
    return (True, "") if named == {want} else (False, f"largest.txt says {text.strip()[:60]!r}, the answer is {want}")


def _check_invoice_matches(root: Path) -> Check:
    text = read(root, "matches.txt")
    if text is None:
        return False, "matches.txt does not exist"
    got = {n for n in _LETTERS if n in text}
    return (True, "") if got == _INVOICE_FILES else (False, f"matches.txt names {sorted(got)}, "
                                                           f"expected {sorted(_INVOICE_FILES)}")


def _setup_data(root: Path) -> None:
    put(root, {f"data/{n}": ("x" * (size - 1) + "\n") for n, size in _DATA_SIZES.items()})
    put(root, {"big-but-outside.txt": "y" * 9000})


COUNT = [
    Task("count-lines", "count", "How many lines does server.log have? Write just the number into answer.txt.",
         writer({"server.log": _SERVER_LOG}), _answer_is("answer.txt", 137),
         lambda root: (root / "answer.txt").write_text("137\n")),
    Task("count-errors", "count", "Count the lines in app.log that contain ERROR and write the number to errors.txt.",
         writer({"app.log": _APP_LOG}), _answer_is("errors.txt", _APP_LOG_ERRORS),
         lambda root: (root / "errors.txt").write_text(f"{_APP_LOG_ERRORS}\n")),
    Task("count-py-files", "count",
         "How many .py files are there in this folder and its subfolders? Put the number in count.txt.",
         writer(_PY_TREE), _answer_is("count.txt", _PY_COUNT),
         lambda root: (root / "count.txt").write_text(f"{_PY_COUNT}\n")),
    Task("find-largest-file", "count", "Which file in the data folder is the largest? Write its name into largest.txt.",
         _setup_data, _check_largest, lambda root: (root / "largest.txt").write_text("february.csv\n")),
    Task("find-invoice-mentions", "count",
         "Which of the .txt files here mention 'invoice'? List their names in matches.txt, one per line.",
         writer(_LETTERS), _check_invoice_matches,
         lambda root: (root / "matches.txt").write_text("\n".join(sorted(_INVOICE_FILES)) + "\n")),
]


# --- fix a one-line bug ------------------------------------------------------------------------

_AVG = '''def average(nums):
    return sum(nums) / (len(nums) + 1)


nums = [2, 4, 6, 8]
print(f"Average: {average(nums)}")
'''
_GREET = '''name = "Ana"
greeting = f"Hello, {name}!"
print(greting)
'''
_COUNT = '''for i in range(1, 10):
    print(i)
'''


def _check_script(rel: str, want_stdout: str, probe: str | None = None, must_keep: str | None = None) -> Callable[[Path], Check]:
    def check(root: Path) -> Check:
        src = read(root, rel)
        if src is None:
            return False, f"{rel} does not exist"
        if must_keep and must_keep not in src:
            return False, f"{rel} no longer contains {must_keep!r}"
        res = run_python(root, rel)
        if res.returncode != 0:
            return False, f"{rel} exits {res.returncode}: {res.stderr.strip()[-200:]}"
        if res.stdout.strip() != want_stdout:
            return False, f"{rel} prints {res.stdout.strip()[:80]!r}, expected {want_stdout!r}"
        if probe:
            res = run_python(root, "-c", probe)
            if res.returncode != 0:
                return False, f"{rel} gives wrong results for other input: {res.stderr.strip()[-200:]}"
        return OK

    return check


FIX = [
    Task("fix-average", "fix-bug", "avg.py prints the wrong average. Fix the bug and run it.",
         writer({"avg.py": _AVG}),
         _check_script("avg.py", "Average: 5.0", must_keep="nums = [2, 4, 6, 8]",
                       probe="import contextlib, io\nwith contextlib.redirect_stdout(io.StringIO()):\n    import avg\n"
                             "assert avg.average([1, 2, 3]) == 2, avg.average([1, 2, 3])"),
         lambda root: (root / "avg.py").write_text(_AVG.replace("(len(nums) + 1)", "len(nums)"))),
    Task("fix-greet-typo", "fix-bug", "greet.py crashes when I run it. Fix it and check that it works.",
         writer({"greet.py": _GREET}), _check_script("greet.py", "Hello, Ana!", must_keep='name = "Ana"'),
         lambda root: (root / "greet.py").write_text(_GREET.replace("print(greting)", "print(greeting)"))),
    Task("fix-count-range", "fix-bug", "count.py should print the numbers 1 to 10 but it stops at 9. Fix it.",
         writer({"count.py": _COUNT}), _check_script("count.py", "\n".join(str(i) for i in range(1, 11))),
         lambda root: (root / "count.py").write_text(_COUNT.replace("range(1, 10)", "range(1, 11)"))),
]


# --- summarise a text file ---------------------------------------------------------------------

_REPORT = """Project Falcon: status report, week 18

The Falcon team met on Monday to review progress on the new booking app. Most of the meeting was
spent on the launch date. The team agreed that the public launch moves from May to June, because
the payment supplier has not yet finished its security review. Until the review is done the team
cannot turn on card payments, and launching without payments would confuse customers.

On the budget, finance reported that the project has spent 62 percent of its budget so far, which
is in line with the plan. The extra month before launch will cost about 8,000 euros, mostly for the
two contractors who stay on. The steering group approved this extra spending on Tuesday.

Design work is finished. The last round of user tests, with twelve people, found two problems: the
date picker was hard to use on small phones, and the confirmation e-mail arrived late. Both have
been fixed and tested again. The support team has written the help pages and will train the
call-centre staff in the last week of May.

Risks: the biggest risk is still the payment supplier. If its review slips past the first week of
June, the launch will slip too. A smaller risk is that the marketing campaign, which was booked for
May, has to be moved; the marketing team is talking to the agency about it.

Next steps: Priya will call the supplier every week and report to the steering group; Tom will move
the marketing campaign; the developers will use the extra time to improve the app's speed.
"""
_KEY_TERMS = ("falcon", "launch", "june", "supplier", "budget")


def _check_summary(root: Path) -> Check:
    text = read(root, "summary.txt")
    if text is None:
        return False, "summary.txt does not exist"
    if len(text.split()) < 10:
        return False, f"summary.txt is too short to be a summary: {text.strip()[:80]!r}"
    if len(text) > len(_REPORT) // 2:
        return False, f"summary.txt has {len(text)} characters, not much shorter than the report's {len(_REPORT)}"
    low = text.lower()
    found = [t for t in _KEY_TERMS if t in low]
    if len(found) < 3:
        return False, f"summary.txt mentions only {found} of the key points {list(_KEY_TERMS)}"
    return unchanged(root, fixture_snapshot(writer({"report.txt": _REPORT})), ["report.txt"])


SUMMARISE = [
    Task("summarise-report", "summarise", "Summarise report.txt in a few sentences and save it as summary.txt.",
         writer({"report.txt": _REPORT}), _check_summary,
         lambda root: (root / "summary.txt").write_text(
             "Project Falcon's launch moves from May to June because the payment supplier's security review "
             "is not finished. The project is on budget; the extra month costs about 8,000 euros.\n")),
]


# --- CSV to a Markdown table -------------------------------------------------------------------

_PEOPLE = "name,city,age\nAna,Lisbon,34\nBen,Leeds,29\nChloé,Lyon,41\nDev,Pune,25\n"
_PRICES = "product,price,in_stock\nkettle,24.99,yes\ntoaster,31.50,no\nblender,45.00,yes\n"


def parse_markdown_table(text: str) -> list[list[str]] | None:
    """The first pipe table in ``text`` as rows of cells (header first, separator row dropped), or
    None when there is none (a table needs a header, a ``---`` separator row and the same width)."""
    lines = text.splitlines()
    for i in range(len(lines) - 1):
        if "|" not in lines[i] or "|" not in lines[i + 1]:
            continue
        cells = lambda ln: [c.strip() for c in ln.strip().strip("|").split("|")]  # noqa: E731
        sep = cells(lines[i + 1])
        if not all(re.fullmatch(r":?-+:?", c) for c in sep):
            continue
        rows = [cells(lines[i])]
        for ln in lines[i + 2:]:
            if "|" not in ln:
                break
            rows.append(cells(ln))
        if len({len(r) for r in rows} | {len(sep)}) == 1:
            return rows
    return None


def _check_table(csv_text: str, rel: str) -> Callable[[Path], Check]:
    want = [row for row in csv.reader(io.StringIO(csv_text))]

    def check(root: Path) -> Check:
        text = read(root, rel)
        if text is None:
            return False, f"{rel} does not exist"
        rows = parse_markdown_table(text)
        if rows is None:
            return False, f"{rel} has no Markdown table"
        norm = [[c.strip("*` ") for c in r] for r in rows]
        if norm != want:
            return False, f"the table in {rel} is {norm}, expected {want}"
        return OK

    return check


def _to_markdown(csv_text: str) -> str:
    rows = list(csv.reader(io.StringIO(csv_text)))
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "|".join("---" for _ in rows[0]) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(out) + "\n"


CSV = [
    Task("csv-to-markdown-people", "csv-markdown", "Turn people.csv into a Markdown table and save it as people.md.",
         writer({"people.csv": _PEOPLE}), _check_table(_PEOPLE, "people.md"),
         lambda root: (root / "people.md").write_text(_to_markdown(_PEOPLE))),
    Task("csv-to-markdown-prices", "csv-markdown",
         "Make a Markdown table from prices.csv in a new file prices.md, with the same columns and rows.",
         writer({"prices.csv": _PRICES}), _check_table(_PRICES, "prices.md"),
         lambda root: (root / "prices.md").write_text("Prices\n\n" + _to_markdown(_PRICES))),
]


# --- extract TODOs -----------------------------------------------------------------------------

_SOURCES = {
    "app.py": "import db\n\n\ndef main():\n    # TODO: read the port from the config\n    db.connect()\n"
              "    # NOTE: connect retries three times\n",
    "db.py": "def connect():\n    pass  # TODO: handle a refused connection\n\n\n"
             "def close():\n    # TODO: flush pending writes before closing\n    pass\n",
    "utils/text.py": "def slug(s):\n    # TODO: strip accents\n    return s.lower().replace(' ', '-')\n",
    "README.md": "# demo\n\nTODO in docs: none (not a .py file)\n",
}
_TODOS = ["read the port from the config", "handle a refused connection", "flush pending writes before closing",
          "strip accents"]


def _check_todos(root: Path) -> Check:
    text = read(root, "todos.txt")
    if text is None:
        return False, "todos.txt does not exist"
    low = text.lower()
    missing = [t for t in _TODOS if t not in low]
    if missing:
        return False, f"todos.txt lacks {missing}"
    if "connect retries" in low or "not a .py file" in low:
        return False, "todos.txt lists lines that are not TODO comments of .py files"
    entries = [ln for ln in text.splitlines() if ln.strip()]
    if len(entries) < len(_TODOS):
        return False, f"todos.txt has {len(entries)} lines for {len(_TODOS)} TODOs (not one per line)"
    return unchanged(root, fixture_snapshot(writer(_SOURCES)), list(_SOURCES))


TODOS = [
    Task("extract-todos", "todos", "Collect every TODO comment from the .py files here into todos.txt, one per line.",
         writer(_SOURCES), _check_todos,
         lambda root: (root / "todos.txt").write_text("".join(f"TODO: {t}\n" for t in _TODOS))),
]

TASKS = [*CREATE, *CONFIG, *APPEND, *COUNT, *FIX, *SUMMARISE, *CSV, *TODOS]
