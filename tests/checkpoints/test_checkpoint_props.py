"""Property: whatever a random sequence of changes did (files written by the write tool, shell
commands run by bash: create, modify, delete, rename, chmod, symlinks, empty folders, binary and
empty content, non-ASCII names), restoring any checkpoint gives back the exact tree, permission
bits included, and touches nothing that already matched."""

from __future__ import annotations

import asyncio
import base64
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

from checkpoint_support import Shadow, identities, picture
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cowork.tools import get_tool
from cowork.tools.base import ToolContext

NAMES = ["keep.txt", "a", "b.txt", "é.txt", "日本語.md", "sp ace", "d1/x", "d1/d2/y", "d1/d2/ü", "d3/z", "d3"]
CONTENT = st.one_of(st.just(b""), st.binary(max_size=300), st.text(max_size=200).map(str.encode),
                    st.just(b"\x00\xff\xfe binary \x00"))

op = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(NAMES), st.text(max_size=100)),
    st.tuples(st.just("sh-create"), st.sampled_from(NAMES), CONTENT),
    st.tuples(st.just("sh-rm"), st.sampled_from(NAMES)),
    st.tuples(st.just("sh-mv"), st.sampled_from(NAMES), st.sampled_from(NAMES)),
    st.tuples(st.just("sh-chmod"), st.sampled_from(NAMES), st.sampled_from(["600", "640", "755", "700", "444"])),
    st.tuples(st.just("sh-ln"), st.sampled_from(NAMES), st.sampled_from(["a", "../outside", "d1", "nowhere", "é.txt"])),
    st.tuples(st.just("sh-mkdir"), st.sampled_from(["empty", "d1/empty", "d4/e/f", "ü/v"])),
    st.tuples(st.just("sh-chmod-dir"), st.sampled_from(["d1", "d3", "empty"]), st.sampled_from(["700", "750"])),
    st.just(("checkpoint",)),
)


def run(ws: Path, step: tuple) -> None:
    kind = step[0]
    if kind == "write":
        tool = get_tool("write")
        assert tool is not None
        try:
            asyncio.run(tool.run(tool.Args.model_validate({"path": step[1], "content": step[2]}),
                                 ToolContext(workspace=ws)))
        except Exception:  # e.g. a file where a folder should be: the tool refuses, nothing changes
            pass
        return
    q = shlex.quote
    script = {
        "sh-create": lambda: f"mkdir -p -- $(dirname -- {q(step[1])}) && printf %s {q(base64.b64encode(step[2]).decode())}"
                             f" | base64 -d > {q(step[1])}",
        "sh-rm": lambda: f"rm -rf -- {q(step[1])}",
        "sh-mv": lambda: f"mv -f -- {q(step[1])} {q(step[2])}",
        "sh-chmod": lambda: f"[ -L {q(step[1])} ] || chmod {step[2]} -- {q(step[1])}",
        "sh-ln": lambda: f"ln -sfn -- {q(step[2])} {q(step[1])}",
        "sh-mkdir": lambda: f"mkdir -p -- {q(step[1])}",
        "sh-chmod-dir": lambda: f"[ -d {q(step[1])} ] && chmod {step[2]} -- {q(step[1])}",
    }[kind]()
    subprocess.run(["bash", "-c", script], cwd=ws, capture_output=True, timeout=10)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(op, min_size=1, max_size=14), order=st.randoms(use_true_random=False))
def test_restoring_any_checkpoint_gives_back_the_exact_tree(steps, order):
    with tempfile.TemporaryDirectory() as tmp:
        ws, home = Path(tmp, "ws"), Path(tmp, "home")
        ws.mkdir()
        (ws / "keep.txt").write_text("kept\n")
        shadow = Shadow(ws, home)
        taken: list[tuple[bytes, dict]] = [(shadow.checkpoint(), picture(ws))]
        for step in steps:
            if step[0] == "checkpoint":
                taken.append((shadow.checkpoint(), picture(ws)))
            else:
                run(ws, step)
        taken.append((shadow.checkpoint(), picture(ws)))
        order.shuffle(taken)
        for commit, expected in taken:
            before, ids = picture(ws), identities(ws)
            applied = shadow.restore(commit)
            assert not applied.failed
            assert picture(ws) == expected
            after = identities(ws)
            for path, entry in expected.items():  # what already matched was not touched
                if before.get(path) == entry and entry[0] != "d":
                    assert after[path] == ids[path], f"{path} was touched though it matched"
        shutil.rmtree(ws, ignore_errors=True)
