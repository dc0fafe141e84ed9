"""Which folders may be a workspace (issue 11 item 11): the root, the kernel's file systems and
cowork's own state folder are refused with a clear error, through the checker, the runtime, the
server and ``cowork run``; a folder that contains the state folder is accepted (it is left out
everywhere)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cowork.engine import Runtime
from cowork.policy.workspaces import UnsafeWorkspace, check_workspace


@pytest.mark.parametrize("folder", ["/", "/proc", "/proc/self", "/sys", "/sys/kernel", "/dev", "/dev/shm"])
def test_the_root_and_kernel_file_systems_are_refused(folder: str, tmp_path: Path) -> None:
    with pytest.raises(UnsafeWorkspace, match="cannot be a workspace"):
        check_workspace(Path(folder), tmp_path / "home")


def test_the_state_folder_and_what_is_inside_it_are_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "checkpoints").mkdir(parents=True)
    for folder in (home, home / "checkpoints"):
        with pytest.raises(UnsafeWorkspace, match="COWORK_HOME"):
            check_workspace(folder, home)


def test_a_symlink_to_a_refused_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "root").symlink_to("/")
    (tmp_path / "home").mkdir()
    (tmp_path / "state").symlink_to(tmp_path / "home")
    with pytest.raises(UnsafeWorkspace):
        check_workspace(tmp_path / "root", tmp_path / "home")
    with pytest.raises(UnsafeWorkspace):
        check_workspace(tmp_path / "state", tmp_path / "home")


def test_a_folder_that_contains_the_state_folder_is_accepted(tmp_path: Path) -> None:
    home = tmp_path / ".cowork"
    home.mkdir()
    assert check_workspace(tmp_path, home) == tmp_path.resolve()


def test_a_missing_folder_is_a_plain_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not an existing folder") as err:
        check_workspace(tmp_path / "nope", tmp_path / "home")
    assert not isinstance(err.value, UnsafeWorkspace)


async def test_the_runtime_refuses_to_create_or_run_a_session_there(
        runtime: Runtime, workspace: Path, tmp_path: Path) -> None:
    with pytest.raises(UnsafeWorkspace):
        await runtime.create_session(Path("/"), "openai:fake")
    with pytest.raises(UnsafeWorkspace):
        await runtime.create_session(Path(os.environ["COWORK_HOME"]), "openai:fake")
    # a session stored before the check existed (or by an older cowork) does not run either
    session = await runtime.store.create_session(Path("/"), "openai:fake", "default")
    with pytest.raises(UnsafeWorkspace):
        await runtime.start_turn(session.id, "list everything")


def test_cowork_run_says_why(tmp_path: Path) -> None:
    cowork = Path(sys.executable).with_name("cowork")
    env = {**os.environ, "COWORK_HOME": str(tmp_path / "home"), "OPENAI_API_KEY": "sk-test"}
    done = subprocess.run([str(cowork), "run", "--dir", "/", "--model", "openai:gpt-4o", "hello"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode != 0
    assert "cannot be a workspace" in done.stdout + done.stderr
