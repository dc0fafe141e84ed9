"""The Landlock helper on its own: forced even where bubblewrap works, skipped (with the reason)
only where the kernel has no Landlock."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sandbox_support import CANARY, bash, need

from cowork.policy import sandbox
from cowork.tools.base import ToolContext

HELPER = Path(sandbox.__file__).with_name("landlock.py")


@pytest.fixture(autouse=True)
def _landlock() -> None:
    need("landlock")


def helper(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-I", str(HELPER), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=30)


def test_kernel_abi_is_reported() -> None:
    abi = sandbox.support().landlock_abi
    assert abi >= 1
    print(f"Landlock ABI {abi}")


def test_writes_only_where_allowed_and_hidden_files_unreadable(home: Path, ws: Path, outside: Path) -> None:
    link = ws / "key-link"
    link.symlink_to(home / ".ssh")
    done = helper("--write", str(ws), "--hide", str(home / ".ssh"), "--hide", str(home / ".netrc"), "--",
                  "bash", "-c", f"echo ok > {ws}/in; echo no > {outside}/out; cat {home}/.ssh/id_ed25519 "
                  f"{home}/.netrc {link}/id_ed25519; cat {home}/.aws/credentials", cwd=ws)
    assert (ws / "in").read_text() == "ok\n" and not (outside / "out").exists()
    assert done.stdout.count(CANARY) == 1  # only ~/.aws, which was not hidden
    assert done.stderr.count("Permission denied") == 4


def test_helper_refuses_bad_usage(ws: Path) -> None:
    assert helper("--write", str(ws), cwd=ws).returncode == 2
    assert helper("--bogus", "--", "true", cwd=ws).returncode == 2
    done = helper("--write", str(ws / "missing"), "--", "true", cwd=ws)
    assert done.returncode == 126 and "Landlock could not be applied" in done.stderr


async def test_private_tmp_is_removed_after_the_call(ws: Path) -> None:
    res = await bash(ToolContext(workspace=ws, sandbox="landlock"), 'echo x > "$TMPDIR/f"; echo "$TMPDIR"')
    tmpdir = res.output.splitlines()[-1]
    assert tmpdir.startswith("/tmp/cowork-sandbox-") and not os.path.exists(tmpdir)
