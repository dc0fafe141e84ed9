"""bubblewrap: the command line (a pure function), the refusal when no sandbox can run, the
ordering of hidden folders around the workspace, and death with cowork."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from sandbox_support import CANARY, bash, gone_within, marked, need

from cowork import sandbox
from cowork.sandbox import Limits, SandboxSupport, Spec, bwrap_argv, probe, scrubbed_env
from cowork.tools.base import ToolContext, ToolError


def test_argv_has_every_isolation_flag_in_order(tmp_path: Path) -> None:
    ws = Path("/home/u/project")
    spec = Spec(workspace=ws, hidden=(Path("/home/u/.ssh"),), env={"PATH": "/usr/bin", "COWORK": "1"},
                limits=Limits(cpu_s=5, memory_bytes=1024, processes=7), prlimit="/usr/bin/prlimit")
    argv = bwrap_argv("/usr/bin/bwrap", spec, ["bash", "-c", "ls"], status_fd=9)
    assert argv[:2] == ["/usr/bin/bwrap", "--unshare-all"] and "--share-net" not in argv
    for flag in ("--die-with-parent", "--new-session"):
        assert flag in argv
    joined = " ".join(argv)
    assert "--cap-drop ALL --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp" in joined
    # the credential folder is hidden after the workspace bind (a later mount covers an earlier one)
    assert joined.index(f"--bind {ws} {ws}") < joined.index("--ro-bind /dev/null /home/u/.ssh")  # not a dir here
    assert f"--chdir {ws} --clearenv --setenv PATH /usr/bin --setenv COWORK 1 --json-status-fd 9 --" in joined
    assert argv[argv.index("--") + 1:] == ["/usr/bin/prlimit", "--core=0", "--cpu=5", "--data=1024", "--nproc=7",
                                           "--", "bash", "-c", "ls"]
    assert "--share-net" in bwrap_argv("bwrap", Spec(workspace=ws, network=True), ["true"])


def test_an_installation_under_tmp_stays_visible_and_what_it_holds_stays_hidden(monkeypatch) -> None:
    """A clone or venv under /tmp: the private /tmp would hide cowork's own interpreter (the shipped
    skills' scripts run with it), so it is bound back read-only; a hidden folder inside it stays hidden."""
    import cowork.sandbox.bwrap as bwrap_module

    monkeypatch.setattr(bwrap_module.sys, "prefix", "/tmp/clone/.venv")
    ws, home = Path("/home/u/project"), Path("/tmp/clone/.venv/cowork-home")
    joined = " ".join(bwrap_argv("bwrap", Spec(workspace=ws, hidden=(home,)), ["true"]))
    assert "--tmpfs /tmp --ro-bind /tmp/clone/.venv /tmp/clone/.venv" in joined
    assert joined.index("--ro-bind /tmp/clone/.venv") < joined.index(f"--ro-bind /dev/null {home}")
    inside = " ".join(bwrap_argv("bwrap", Spec(workspace=Path("/tmp/clone")), ["true"]))
    assert "--ro-bind /tmp/clone/.venv" not in inside  # inside the workspace: bound read-write already


def test_hidden_folder_around_the_workspace_is_mounted_before_it(tmp_path: Path) -> None:
    outer = tmp_path / "secret"
    ws = outer / "ws"
    inner = ws / ".ssh"
    inner.mkdir(parents=True)
    argv = " ".join(bwrap_argv("bwrap", Spec(workspace=ws, hidden=(inner, outer)), ["true"]))
    assert argv.index(f"--tmpfs {outer}") < argv.index(f"--bind {ws} {ws}") < argv.index(f"--tmpfs {inner}")


def test_environment_is_an_allow_list_without_keys() -> None:
    env = scrubbed_env({"PATH": "/bin", "LANG": "C.UTF-8", "LC_ALL": "C", "HOME": "/h", "EDITOR": "vi",
                        "OPENAI_API_KEY": "sk-1", "LC_TOKEN": "x", "TERM": "sk-proj-abc", "USER": "u"}, "/tmp")
    assert env == {"PATH": "/bin", "LANG": "C.UTF-8", "LC_ALL": "C", "HOME": "/h", "USER": "u",
                   "TMPDIR": "/tmp", "COWORK": "1", "PAGER": "cat", "GIT_PAGER": "cat"}


async def test_workspace_is_home_and_its_credentials_stay_hidden(home: Path) -> None:
    need("bwrap")
    ctx = ToolContext(workspace=home, sandbox="bwrap")
    res = await bash(ctx, "touch made; cat .ssh/id_ed25519 .netrc .cowork/keys; ls -a .ssh; echo done")
    assert (home / "made").exists() and CANARY not in res.output
    assert res.output.rstrip().endswith("done")
    assert (home / ".ssh/id_ed25519").read_text() == f"{CANARY}\n"  # hidden, not harmed


async def test_workspace_inside_a_hidden_folder_is_still_usable(home: Path) -> None:
    need("bwrap")
    ws = home / ".cowork" / "project"
    ws.mkdir()
    res = await bash(ToolContext(workspace=ws, sandbox="bwrap"), "echo x > f; cat ../keys; cat f")
    assert (ws / "f").read_text() == "x\n" and CANARY not in res.output


@pytest.mark.parametrize("choice", ["auto", "bwrap", "landlock"])
async def test_no_sandbox_means_a_refusal_that_says_how_to_fix_it(choice: str, ws: Path, monkeypatch) -> None:
    problem = "bubblewrap is not installed (Debian/Ubuntu: `apt-get install bubblewrap`)"
    monkeypatch.setattr(probe, "support", lambda: SandboxSupport(None, False, 0, "none", problem))
    with pytest.raises(ToolError) as err:
        await bash(ToolContext(workspace=ws, sandbox=choice), f"touch {ws}/made")
    assert "apt-get install bubblewrap" in str(err.value) and "--sandbox off" in str(err.value)
    assert not (ws / "made").exists()
    res = await bash(ToolContext(workspace=ws, sandbox="off"), "touch made")  # a person's explicit choice
    assert res.metadata == {"exit_code": 0} and (ws / "made").exists()


async def test_unknown_sandbox_choice_is_a_clear_error(ws: Path) -> None:
    with pytest.raises(ToolError, match="sandbox must be one of auto, bwrap, landlock, off"):
        await bash(ToolContext(workspace=ws, sandbox="docker"), "true")


def test_support_reports_what_it_found() -> None:
    s = sandbox.support()
    assert s.backend in ("bwrap", "landlock", "none")
    assert (s.problem is None) == s.userns
    if s.backend == "bwrap":
        assert s.bwrap and os.path.exists(s.bwrap)


def test_the_sandbox_dies_with_cowork(ws: Path) -> None:
    """SIGKILL the process running the tool: bubblewrap's --die-with-parent takes the whole
    namespace down, background jobs included."""
    need("bwrap")
    marker = f"{uuid.uuid4().int % 10**6 + 1000}.4"
    script = textwrap.dedent(f"""
        import asyncio
        from pathlib import Path
        from cowork.tools.shell import BashTool, BashArgs
        from cowork.tools.base import ToolContext
        ctx = ToolContext(workspace=Path({str(ws)!r}), sandbox="bwrap")
        asyncio.run(BashTool().run(BashArgs(command="(sleep {marker} &); sleep {marker} & sleep {marker}"), ctx))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 60  # starting Python and cowork on a busy machine
        while len(marked(marker)) < 3 and time.monotonic() < deadline:
            assert proc.poll() is None
            time.sleep(0.02)
        assert len(marked(marker)) >= 3
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert gone_within(marker, 1.0), f"left alive: {marked(marker)}"
