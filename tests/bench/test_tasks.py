"""The local-model task suite (``bench/tasks``) and its runner (``bench/run_tasks.py``).

For every task: the checker fails on the untouched fixture and passes once the reference solution
ran. Checkers accept other sensible answers and refuse broken ones (organise-by-type groupings,
config edits that change more). One end-to-end run of the runner against the scripted model
server: one task solved through a real ``write`` tool call, one not, counted 1/2.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

from bench.tasks import KINDS, TASKS, by_id, select  # noqa: E402  (bench is on pyproject's pythonpath)
from bench.tasks._base import move  # noqa: E402
from bench.tasks.text import parse_markdown_table  # noqa: E402
from fakemodel import FakeModelServer, reply, text, tool_call  # noqa: E402

IDS = [t.id for t in TASKS]


def test_suite_size_and_kinds() -> None:
    assert len(TASKS) >= 24
    assert len(set(IDS)) == len(IDS)
    for kind in ("organise-type", "organise-date", "create", "config", "rename", "count", "fix-bug", "summarise",
                 "csv-markdown", "delete", "append", "folders", "todos"):
        assert kind in KINDS
    for t in TASKS:
        assert t.prompt.strip() and len(t.prompt) < 160, t.id


@pytest.mark.parametrize("task_id", IDS)
def test_checker_fails_on_fixture_and_passes_on_reference(task_id: str, tmp_path: Path) -> None:
    task = by_id(task_id)
    task.setup(tmp_path)
    solved, reason = task.run_check(tmp_path)
    assert not solved, f"{task_id}: the untouched fixture passes"
    assert reason and not reason.startswith("checker error"), reason
    task.solve(tmp_path)
    assert task.run_check(tmp_path) == (True, "")


def test_select_filters_and_rejects_unknown_names() -> None:
    assert [t.id for t in select(["config-json-port"])] == ["config-json-port"]
    assert {t.kind for t in select(kinds=["rename"])} == {"rename"}
    assert len(select(limit=3)) == 3
    with pytest.raises(ValueError, match="unknown task"):
        select(["no-such-task"])
    with pytest.raises(ValueError, match="unknown kind"):
        select(kinds=["no-such-kind"])


# --- organise by type accepts any sensible grouping and nothing else --------------------------------


def _organised(tmp_path: Path, layout: dict[str, str]) -> tuple[bool, str]:
    task = by_id("organise-demo")
    tmp_path.mkdir(parents=True, exist_ok=True)
    task.setup(tmp_path)
    for name, folder in layout.items():
        move(tmp_path, name, f"{folder}/{name}")
    return task.run_check(tmp_path)


DEMO = ["expenses.csv", "hello.py", "meeting-notes.txt", "photo.png", "settings.json", "trip.md"]


def test_organise_accepts_other_groupings(tmp_path: Path) -> None:
    # One folder per extension, nested folders, coarse groups: all sensible.
    assert _organised(tmp_path / "a", {n: n.rsplit(".", 1)[1] for n in DEMO}) == (True, "")
    coarse = {".txt": "files/text", ".md": "files/text", ".png": "files/pictures", ".csv": "files/data",
              ".json": "files/data", ".py": "files/data"}  # code beside data: two kinds, still a grouping
    assert _organised(tmp_path / "b", {n: coarse["." + n.rsplit(".", 1)[1]] for n in DEMO}) == (True, "")


def test_organise_refuses_files_thrown_together(tmp_path: Path) -> None:
    """Two folders are not a sort by type when one of them holds everything else."""
    ok, why = _organised(tmp_path / "a", {n: "data" if n.endswith(".csv") else "src" for n in DEMO})
    assert not ok and "src mixes" in why
    ok, why = _organised(tmp_path / "b", {n: ("docs" if n.endswith((".txt", ".md", ".png")) else "data")
                                          for n in DEMO})
    assert not ok and "docs mixes documents, images" in why


def test_organise_refuses_one_folder_split_types_copies_and_changes(tmp_path: Path) -> None:
    ok, why = _organised(tmp_path / "one", {n: "stuff" for n in DEMO})
    assert not ok and "one folder" in why

    (tmp_path / "s2").mkdir()
    task = by_id("organise-downloads")
    task.setup(tmp_path / "s2")
    task.solve(tmp_path / "s2")
    move(tmp_path / "s2", "images/beach.jpg", "photos/beach.jpg")
    ok, why = task.run_check(tmp_path / "s2")
    assert not ok and "split" in why and ".jpg" in why

    (tmp_path / "c").mkdir()
    task = by_id("organise-demo")
    task.setup(tmp_path / "c")
    task.solve(tmp_path / "c")
    (tmp_path / "c" / "hello.py").write_bytes((tmp_path / "c" / "code" / "hello.py").read_bytes())
    ok, why = task.run_check(tmp_path / "c")
    assert not ok and "hello.py" in why

    (tmp_path / "c" / "hello.py").unlink()
    (tmp_path / "c" / "data" / "settings.json").write_text('{"name": "changed"}')
    ok, why = task.run_check(tmp_path / "c")
    assert not ok and "settings.json was altered" in why


# --- other checkers: fair to other good answers, strict about damage --------------------------------


def test_config_checker_refuses_collateral_edits_and_accepts_reformatting(tmp_path: Path) -> None:
    task = by_id("config-json-port")
    task.setup(tmp_path)
    (tmp_path / "config.json").write_text('{"debug": true, "workers": 4, "server": {"port": 9090, "host": "localhost"}}')
    assert task.run_check(tmp_path) == (True, "")
    (tmp_path / "config.json").write_text('{"server": {"host": "localhost", "port": 9090}}')
    assert task.run_check(tmp_path) == (False, "other settings changed too")
    (tmp_path / "config.json").write_text('{"server": {"host": "localhost", "port": "9090"}, "debug": true, "workers": 4}')
    assert not task.run_check(tmp_path)[0]


def test_count_answer_in_a_sentence_is_read_and_wrong_numbers_fail(tmp_path: Path) -> None:
    task = by_id("count-lines")
    task.setup(tmp_path)
    (tmp_path / "answer.txt").write_text("server.log has 137 lines\n")
    assert task.run_check(tmp_path) == (True, "")
    (tmp_path / "answer.txt").write_text("136\n")
    ok, why = task.run_check(tmp_path)
    assert not ok and "137" in why


def test_fix_checker_refuses_a_hardcoded_answer(tmp_path: Path) -> None:
    task = by_id("fix-average")
    task.setup(tmp_path)
    src = (tmp_path / "avg.py").read_text().replace('print(f"Average: {average(nums)}")', 'print("Average: 5.0")')
    (tmp_path / "avg.py").write_text(src)
    ok, why = task.run_check(tmp_path)
    assert not ok and "other input" in why


def test_markdown_table_parser() -> None:
    assert parse_markdown_table("intro\n\n| a | b |\n|:--|--:|\n| 1 | 2 |\n\nafter") == [["a", "b"], ["1", "2"]]
    assert parse_markdown_table("a | b\n--- | ---\n1 | 2\n") == [["a", "b"], ["1", "2"]]
    assert parse_markdown_table("| a | b |\n| 1 | 2 |\n") is None  # no separator row
    assert parse_markdown_table("no table") is None


def test_summary_checker_wants_short_and_on_topic(tmp_path: Path) -> None:
    task = by_id("summarise-report")
    task.setup(tmp_path)
    (tmp_path / "summary.txt").write_text((tmp_path / "report.txt").read_text())
    assert "not much shorter" in task.run_check(tmp_path)[1]
    (tmp_path / "summary.txt").write_text("The team met on Monday and talked about several things at length.\n")
    assert "mentions only" in task.run_check(tmp_path)[1]


def test_checker_that_raises_is_a_failure_not_a_crash(tmp_path: Path) -> None:
    task = by_id("config-toml-debug")
    task.setup(tmp_path)
    (tmp_path / "settings.toml").write_text("[app]\ndebug = false\n")  # no name, theme, storage
    assert task.run_check(tmp_path) == (False, "other settings changed too")
    (tmp_path / "settings.toml").write_bytes(b"\xff\xfe not toml [[[")
    ok, why = task.run_check(tmp_path)
    assert not ok and "TOML" in why


# --- the runner, end to end against the scripted model ------------------------------------------------


def _scripted(body: dict):
    """Solves create-hello with a real write call; answers every other task with words only."""
    msgs = body["messages"]
    if msgs[-1].get("role") == "tool":
        return reply(text("Done."), usage=(100, 5))
    user = " ".join(str(m.get("content")) for m in msgs if m.get("role") == "user")
    if "hello.txt" in user:
        return reply(tool_call("write", {"path": "hello.txt", "content": "Hello, world!\n"}), usage=(80, 20))
    return reply(text("I changed the port to 9090."), usage=(60, 8))  # claims, but does nothing


def test_runner_counts_by_the_checker(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    with FakeModelServer() as srv:
        srv.handler = _scripted
        env = {k: v for k, v in os.environ.items() if not k.startswith(("COWORK_", "OPENAI_"))}
        proc = subprocess.run(
            [sys.executable, str(ROOT / "bench" / "run_tasks.py"), "--model", "openai:fake", "--base-url",
             srv.base_url, "--task", "create-hello", "--task", "config-json-port", "--path", "native",
             "--path", "schema", "--timeout", "60", "--json-out", str(out), "--verbose"],
            capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
        )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(out.read_text())
    assert len(data["runs"]) == 1  # the path is ignored (run once) for a model that is not local:
    run = data["runs"][0]
    assert (run["model"], run["path"], run["solved"], run["total"]) == ("openai:fake", None, 1, 2)
    res = {r["task"]: r for r in run["results"]}
    hello, port = res["create-hello"], res["config-json-port"]
    assert hello["solved"] and hello["tool_calls"] == ["write"] and hello["steps"] == 2
    assert (hello["input_tokens"], hello["output_tokens"]) == (180, 25)
    assert hello["exit_code"] == 0 and hello["stop_reason"] == "end_turn" and hello["terminal"] == "turn.completed"
    # Cowork finished happily, but the checker decides: nothing was changed.
    assert not port["solved"] and port["exit_code"] == 0 and port["stop_reason"] == "end_turn"
    assert port["reason"] == "server.port is 8080, expected 9090" and port["tool_calls"] == []
    assert hello["wall_s"] > 0
    assert port["steps"] >= 1  # (cowork may ask a model that claims a change it did not make once more)
    assert run["medians"]["steps"] == statistics.median([hello["steps"], port["steps"]])
    # The printed figures.
    assert "1/2" in proc.stdout and "50" in proc.stdout
    assert "config-json-port: server.port is 8080, expected 9090" in proc.stdout
    assert "create-hello: solved" in proc.stdout  # --verbose
