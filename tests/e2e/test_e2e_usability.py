"""What a new user trips over (issue 10): ids cut by an 80-column terminal, flags that agree but
were refused, and ``<bool>`` after every flag in ``--help``."""

from __future__ import annotations

import re

import pytest
from e2e_support import MODEL, Cowork
from fakemodel import FakeModelServer, reply, text, tool_call


def _write_turn(cw: Cowork, srv: FakeModelServer, name: str, *flags: str) -> dict:
    srv.script(reply(tool_call("write", {"path": name, "content": "agent\n"})), reply(text("Wrote it.")))
    res = cw.task(f"write {name}", *flags)
    assert res.code == 0, res.explain()
    return res.terminal()


@pytest.mark.timeout(300)
def test_checkpoint_ids_in_80_columns_can_be_copied_into_restore(cw: Cowork, srv: FakeModelServer) -> None:
    _write_turn(cw, srv, "a.txt", "--yes")
    listed = cw.run("checkpoints", "list", "--dir", str(cw.workspace), env={"COLUMNS": "80"})
    assert listed.code == 0, listed.explain()
    assert "…" not in listed.stdout, listed.stdout
    whole = [c["id"] for c in cw.run("checkpoints", "list", "--dir", str(cw.workspace), "--json").events]
    shown = re.findall(r"^\s*(ckpt_[0-9a-f]+)\s", listed.stdout, re.M)
    assert len(shown) == len(whole) and all(w.startswith(s) for s, w in zip(shown, whole)), listed.stdout
    assert all(len(s) < len(w) for s, w in zip(shown, whole))  # shortened, not cut

    (cw.workspace / "a.txt").write_text("mine\n")
    turn = shown[-1]  # the oldest: before the turn wrote a.txt
    diff = cw.run("checkpoints", "diff", turn)
    assert diff.code == 0 and "a.txt" in diff.stdout, diff.explain()
    restored = cw.run("checkpoints", "restore", turn, "--yes", "--force")
    assert restored.code == 0, restored.explain()
    assert not (cw.workspace / "a.txt").exists()


@pytest.mark.timeout(300)
def test_session_prefixes_ambiguous_and_unknown(cw: Cowork, srv: FakeModelServer) -> None:
    srv.script(reply(text("One.")), reply(text("Two.")))
    ask = ["run", "hi", "--dir", str(cw.workspace), "--model", MODEL, "--json"]
    # two sessions, one after the other: two first starts at once race to create the database
    first, second = cw.run(*ask), cw.run(*ask)
    assert first.code == 0 and second.code == 0, first.explain() + second.explain()
    ids = {r.terminal()["session_id"] for r in (first, second)}
    assert len(ids) == 2
    listed = cw.run("sessions", "list", env={"COLUMNS": "80"})
    assert listed.code == 0, listed.explain()
    shown = re.findall(r"^\s*(ses_[0-9a-f]+)\s", listed.stdout, re.M)
    assert len(shown) == 2 and "…" not in "".join(shown), listed.stdout
    whole = {s: next(i for i in ids if i.startswith(s)) for s in shown}  # each shown id starts a whole one
    assert all(len(s) < len(w) for s, w in whole.items())
    kind = next(iter(ids)).split("_")[0] + "_"
    show, ambiguous, unknown = cw.run_many(["sessions", "show", shown[0], "--json"], ["sessions", "show", kind],
                                           ["sessions", "show", kind + "ffffffffzz"])
    assert show.code == 0 and show.events[-1]["session_id"] == whole[shown[0]], show.explain()
    assert ambiguous.code == 2 and "more than one session" in ambiguous.stderr, ambiguous.explain()
    assert unknown.code == 2 and "no session" in unknown.stderr, unknown.explain()


def test_mode_flags_that_agree_are_accepted(cw: Cowork, srv: FakeModelServer) -> None:
    end = _write_turn(cw, srv, "a.txt", "--mode", "yolo", "--yes")
    assert end["type"] == "turn.completed" and (cw.workspace / "a.txt").read_text() == "agent\n"
    assert cw.sessions()[0]["mode"] == "yolo"
    refused = cw.run_many(["run", "x", "--mode", "default", "--yes"], ["run", "x", "--yes", "--read-only"],
                          ["run", "x", "--mode", "yolo", "--read-only"])
    for res in refused:
        assert res.code == 2 and "contradict" in res.stderr and "Traceback" not in res.stderr, res.explain()


def test_help_shows_no_type_after_flags(cw: Cowork) -> None:
    for res in cw.run_many(["run", "--help"], ["checkpoints", "restore", "--help"], ["sessions", "list", "--help"]):
        assert res.code == 0, res.explain()
        assert "<bool>" not in res.stdout, res.stdout
    run_help = cw.run("run", "--help").stdout
    assert re.search(r"--dir\s+-C\s+<path>", run_help) and re.search(r"--yes\s+-y\s+Run every tool", run_help)
