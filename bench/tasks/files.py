"""Tasks that move, rename, delete or create files and folders: organise by type, organise by date,
rename by a pattern, delete by a pattern, make a folder structure."""

from __future__ import annotations

import calendar
import os
import shutil
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from ._base import OK, Check, Task, fixture_snapshot, move, put, snapshot, unchanged

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "demo" / "workspace"


# --- organise by type --------------------------------------------------------------------------


def _ext(name: str) -> str:
    suffix = PurePosixPath(name).suffix.lower()
    return suffix or "(no extension)"


_CATEGORY = {
    **dict.fromkeys((".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg"), "images"),
    **dict.fromkeys((".mp3", ".wav", ".flac", ".ogg"), "audio"),
    **dict.fromkeys((".mp4", ".mov", ".mkv"), "video"),
    **dict.fromkeys((".zip", ".tar", ".gz", ".7z"), "archives"),
    **dict.fromkeys((".txt", ".md", ".pdf", ".docx", ".doc", ".odt", ".rtf"), "documents"),
    **dict.fromkeys((".csv", ".json", ".xlsx", ".xml", ".yaml", ".yml", ".toml", ".ini"), "data"),
    **dict.fromkeys((".py", ".js", ".ts", ".sh", ".c", ".rs", ".go", ".java", ".html", ".css"), "code"),
}
"""Coarse kinds of file, to tell a grouping by type from files thrown together."""
_MEDIA = {"images", "audio", "video", "archives"}


def check_grouped_by_type(root: Path, original: dict[str, str]) -> Check:
    """Every original top-level file moved (same name, same bytes, exactly once) into a subfolder;
    files of one extension in one folder; not everything in a single folder; no folder holding
    more than two coarse kinds (:data:`_CATEGORY`), nor media (images, audio, video, archives)
    together with other kinds."""
    now = snapshot(root)
    folder_of: dict[str, str] = {}
    for rel, digest in original.items():
        name = PurePosixPath(rel).name
        same_name = [r for r in now if PurePosixPath(r).name == name]
        found = [r for r in same_name if now[r] == digest]
        if not found:
            return False, (f"{name} was altered ({', '.join(same_name)})" if same_name else f"{name} is missing")
        if len(found) > 1:
            return False, f"{name} is there {len(found)} times ({', '.join(found)}): copied, not moved"
        where = PurePosixPath(found[0]).parent
        if str(where) == ".":
            return False, f"{name} was not moved into a subfolder"
        folder_of[name] = str(where)
    by_ext: dict[str, set[str]] = {}
    for name, folder in folder_of.items():
        by_ext.setdefault(_ext(name), set()).add(folder)
    for ext, folders in sorted(by_ext.items()):
        if len(folders) > 1:
            return False, f"the {ext} files are split between {', '.join(sorted(folders))}"
    if len(by_ext) > 1 and len(set(folder_of.values())) < 2:
        return False, f"every file went into one folder ({next(iter(folder_of.values()))})"
    kinds_in: dict[str, set[str]] = {}
    for name, folder in folder_of.items():
        kinds_in.setdefault(folder, set()).add(_CATEGORY.get(_ext(name), "other"))
    for folder, kinds in sorted(kinds_in.items()):
        if len(kinds) > 2 or (kinds & _MEDIA and len(kinds) > 1):
            return False, f"{folder} mixes {', '.join(sorted(kinds))}: not sorted by type"
    return OK


_KIND = {".csv": "data", ".json": "data", ".py": "code", ".txt": "documents", ".md": "documents",
         ".pdf": "documents", ".docx": "documents", ".png": "images", ".jpg": "images", ".jpeg": "images",
         ".mp3": "music", ".zip": "archives"}


def solve_grouped_by_type(root: Path) -> None:
    for p in sorted(root.iterdir()):
        if p.is_file():
            move(root, p.name, f"{_KIND.get(p.suffix.lower(), 'other')}/{p.name}")


def organise_task(id: str, prompt: str, setup: Callable[[Path], None]) -> Task:
    def check(root: Path) -> Check:
        return check_grouped_by_type(root, fixture_snapshot(setup))

    return Task(id, "organise-type", prompt, setup, check, solve_grouped_by_type)


def setup_demo(root: Path) -> None:
    if not DEMO.is_dir():
        raise FileNotFoundError(f"the demo workspace {DEMO} is missing")
    for p in sorted(DEMO.iterdir()):
        if p.is_file():
            shutil.copy2(p, root / p.name)


PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000")
JPG = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9")
PDF = b"%PDF-1.4\n% tiny\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
MP3 = b"ID3\x03\x00\x00\x00\x00\x00\x00" + bytes(32)
ZIP = b"PK\x05\x06" + bytes(18)

DOWNLOADS = {
    "invoice-march.pdf": PDF + b"march",
    "invoice-april.pdf": PDF + b"april",
    "beach.jpg": JPG + b"beach",
    "sunset.jpg": JPG + b"sunset",
    "dog.png": PNG + b"dog",
    "song.mp3": MP3 + b"song",
    "podcast-ep1.mp3": MP3 + b"ep1",
    "backup.zip": ZIP,
    "cv.docx": b"PK\x03\x04 fake docx",
    "readme.txt": "Downloaded files, sort me out.\n",
    "todo.txt": "- renew passport\n- pay rent\n",
}

ORGANISE = [
    organise_task("organise-demo", "Sort the files here into subfolders by type and tell me what you moved.",
                  setup_demo),
    organise_task("organise-downloads", "My downloads folder is a mess. Put these files into folders by file type.",
                  lambda root: put(root, DOWNLOADS)),
]


# --- organise by date --------------------------------------------------------------------------


def _date_task(id: str, prompt: str, files: dict[str, str], mtimes: dict[str, tuple[int, int, int]] | None = None,
               accept: Callable[[str, PurePosixPath], bool] | None = None) -> Task:
    """``files``: name -> expected folder (e.g. ``2024-01``). ``mtimes``: name -> (y, m, d), set at noon
    UTC. ``accept(folder, parent)``: whether the file's parent folder is right (default: named ``folder``)."""
    accept = accept or (lambda folder, parent: parent.name == folder)

    def setup(root: Path) -> None:
        for name in files:
            (root / name).write_text(f"{name}\n", encoding="utf-8")
            if mtimes and name in mtimes:
                t = calendar.timegm((*mtimes[name], 12, 0, 0))
                os.utime(root / name, (t, t))

    def check(root: Path) -> Check:
        original = fixture_snapshot(setup)
        now = snapshot(root)
        for name, folder in files.items():
            found = [r for r in now if PurePosixPath(r).name == name and now[r] == original[name]]
            if len(found) != 1:
                return False, (f"{name} is missing or altered" if not found
                               else f"{name} is there {len(found)} times: copied, not moved")
            parent = PurePosixPath(found[0]).parent
            if not accept(folder, parent):
                return False, f"{name} is in {parent}/, expected a folder {folder}/"
        return OK

    def solve(root: Path) -> None:
        for name, folder in files.items():
            move(root, name, f"{folder}/{name}")

    return Task(id, "organise-date", prompt, setup, check, solve)


def _month_ok(folder: str, parent: PurePosixPath) -> bool:
    year, month = folder.split("-")
    return parent.name == folder or (parent.name == month and parent.parent.name == year)


DATES = [
    _date_task(
        "date-by-month", "Move each file into a folder for its month, like 2024-01, using the date in its name.",
        {"report_2024-01-15.txt": "2024-01", "invoice_2024-01-28.txt": "2024-01", "photo_2024-02-03.txt": "2024-02",
         "notes_2024-03-10.txt": "2024-03", "report_2024-03-22.txt": "2024-03"},
        accept=_month_ok),
    _date_task(
        "date-photos-by-year", "Sort the photos into one folder per year (2019, 2020, ...) using the date in their names.",
        {"IMG_20190704_101500.jpg": "2019", "IMG_20190812_183000.jpg": "2019", "IMG_20201225_090000.jpg": "2020",
         "IMG_20210101_000100.jpg": "2021", "IMG_20210315_140000.jpg": "2021"}),
    _date_task(
        "date-by-mtime-year", "Sort these files into folders named after the year each was last modified, like 2022.",
        {"budget.xlsx": "2021", "letter.txt": "2022", "plan.md": "2022", "scan.pdf": "2023"},
        mtimes={"budget.xlsx": (2021, 6, 15), "letter.txt": (2022, 7, 1), "plan.md": (2022, 3, 9),
                "scan.pdf": (2023, 5, 20)}),
]


# --- rename by a pattern -----------------------------------------------------------------------


def _rename_task(id: str, prompt: str, renames: dict[str, str], keep: dict[str, str] | None = None) -> Task:
    """``renames``: old name -> new name (content = old name); ``keep``: files that must stay as they are."""
    keep = keep or {}
    files = {**{old: f"content of {old}\n" for old in renames}, **keep}

    def setup(root: Path) -> None:
        put(root, files)

    def check(root: Path) -> Check:
        original = fixture_snapshot(setup)
        now = snapshot(root)
        for old, new in renames.items():
            if new not in now:
                return False, f"{new} does not exist" + (f" ({old} is still there)" if old in now else "")
            if now[new] != original[old]:
                return False, f"{new} does not have the content of {old}"
            if old != new and old in now:
                return False, f"{old} is still there"
        return unchanged(root, original, list(keep))

    def solve(root: Path) -> None:
        for old, new in renames.items():
            move(root, old, new)

    return Task(id, "rename", prompt, setup, check, solve)


RENAMES = [
    _rename_task("rename-spaces-to-dashes", "Replace the spaces in these file names with dashes.",
                 {"holiday photo 1.jpg": "holiday-photo-1.jpg", "Quarterly Report.pdf": "Quarterly-Report.pdf",
                  "notes from call.txt": "notes-from-call.txt"},
                 keep={"already-fine.txt": "no spaces here\n"}),
    _rename_task("rename-add-prefix", "Add the prefix old_ to the name of every .log file here.",
                 {"app.log": "old_app.log", "db.log": "old_db.log", "web.log": "old_web.log"},
                 keep={"keep.txt": "not a log\n"}),
    _rename_task("rename-lowercase", "Make all the file names in this folder lowercase.",
                 {"README.TXT": "readme.txt", "Photo.JPG": "photo.jpg", "MyData.csv": "mydata.csv"},
                 keep={"ok.txt": "already lowercase\n"}),
    _rename_task("rename-extension", "Rename every .jpeg file so it ends in .jpg instead.",
                 {"cat.jpeg": "cat.jpg", "dog.jpeg": "dog.jpg"},
                 keep={"bird.jpg": "already .jpg\n", "notes.txt": "about the pictures\n"}),
]


# --- delete by a pattern -----------------------------------------------------------------------


def _delete_task(id: str, prompt: str, gone: list[str], kept: dict[str, str], doomed: dict[str, str]) -> Task:
    files = {**kept, **doomed}

    def setup(root: Path) -> None:
        put(root, files)

    def check(root: Path) -> Check:
        left = [rel for rel in gone if (root / rel).exists()]
        if left:
            return False, f"not deleted: {', '.join(left)}"
        return unchanged(root, fixture_snapshot(setup), list(kept))

    def solve(root: Path) -> None:
        for rel in gone:
            (root / rel).unlink()

    return Task(id, "delete", prompt, setup, check, solve)


_DOOMED_TMP = {"build.tmp": "x\n", "sub/cache.tmp": "y\n", "sub/deeper/old.tmp": "z\n"}
_DOOMED_EMPTY = {"empty.txt": "", "blank.md": "", "logs/nothing.log": ""}

DELETES = [
    _delete_task("delete-tmp-files", "Delete every file ending in .tmp, in subfolders too.", list(_DOOMED_TMP),
                 kept={"report.txt": "keep me\n", "notes.tmp.txt": "ends in .txt, keep\n", "sub/data.csv": "a,b\n1,2\n"},
                 doomed=_DOOMED_TMP),
    _delete_task("delete-empty-files", "Delete the empty files in this folder and its subfolders.", list(_DOOMED_EMPTY),
                 kept={"letter.txt": "Dear Sam,\n", "logs/today.log": "started\n", "one-space.txt": " "},
                 doomed=_DOOMED_EMPTY),
]


# --- make a folder structure -------------------------------------------------------------------


def _folders_task(id: str, prompt: str, dirs: list[str], files: dict[str, str] | None = None) -> Task:
    files = files or {"README.md": "# New project\n"}

    def setup(root: Path) -> None:
        put(root, files)

    def check(root: Path) -> Check:
        missing = [d for d in dirs if not (root / d).is_dir()]
        if missing:
            return False, f"missing folders: {', '.join(missing)}"
        return unchanged(root, fixture_snapshot(setup), list(files))

    def solve(root: Path) -> None:
        for d in dirs:
            (root / d).mkdir(parents=True, exist_ok=True)

    return Task(id, "folders", prompt, setup, check, solve)


FOLDERS = [
    _folders_task("folders-src-tests-docs", "Create folders src, tests and docs here, and a folder utils inside src.",
                  ["src", "tests", "docs", "src/utils"]),
    _folders_task("folders-quarters", "Make a folder reports/2024 with one subfolder per quarter: q1, q2, q3 and q4.",
                  ["reports/2024/q1", "reports/2024/q2", "reports/2024/q3", "reports/2024/q4"]),
]

TASKS = [*ORGANISE, *DATES, *RENAMES, *DELETES, *FOLDERS]
