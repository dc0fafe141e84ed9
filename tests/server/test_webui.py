"""The web UI's routes on a real server (``server/webui.py``): the page on its routes with the
security headers, its files under ``/assets/`` (gzipped, never outside the web folder), what a
page of another origin is refused, and ``cowork web`` as a real process."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import httpx
import pytest

from server_support import COWORK, serve_env

from cowork.server.webui import CONTENT_SECURITY_POLICY, WEB_DIR

PAGES = ["/", "/new", "/schedules/new", "/settings", "/sessions/ses_anything"]


@pytest.mark.parametrize("path", PAGES)
async def test_pages_are_the_single_page_with_a_strict_csp(server, path):
    async with httpx.AsyncClient(base_url=server.url) as http:
        r = await http.get(path)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/assets/js/app.js">' in r.text
    csp = r.headers["content-security-policy"]
    assert csp == CONTENT_SECURITY_POLICY
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval'
    assert directives["default-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"


def test_the_page_preloads_every_module_it_imports():
    """One round of requests instead of a waterfall of imports: every module of js/ and vendor/
    (but the entry point, loaded by its <script>) has a modulepreload link."""
    index = (WEB_DIR / "index.html").read_text()
    preloaded = set(re.findall(r'<link rel="modulepreload" href="/assets/([^"]+)">', index))
    modules = {f"js/{p.name}" for p in (WEB_DIR / "js").glob("*.js")} - {"js/app.js"}
    modules |= {f"vendor/{p.name}" for p in (WEB_DIR / "vendor").glob("*.js")}
    assert preloaded == modules


def test_the_page_has_no_inline_script_or_style():
    """The CSP would block them; the page must not need them."""
    index = (WEB_DIR / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", index), "inline <script> in index.html"
    assert "<style" not in index and " style=" not in index and "onload=" not in index
    for js in (WEB_DIR / "js").glob("*.js"):
        text = js.read_text()
        assert "eval(" not in text and "new Function" not in text, js.name


async def test_assets_are_served_gzipped_with_the_headers(server):
    async with httpx.AsyncClient(base_url=server.url) as http:
        r = await http.get("/assets/vendor/highlight.js", headers={"Accept-Encoding": "gzip"})
        css = await http.get("/assets/css/app.css")
        missing = await http.get("/assets/js/nope.js")
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
    assert r.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "no-cache"
    assert len(r.content) == (WEB_DIR / "vendor" / "highlight.js").stat().st_size  # httpx decoded it
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert missing.status_code == 404


@pytest.mark.parametrize("path", ["/assets/../webui.py", "/assets/%2e%2e/webui.py", "/assets/..%2fwebui.py",
                                  "/assets/%2e%2e/%2e%2e/app.py", "/assets//etc/passwd"])
async def test_assets_never_leave_the_web_folder(server, path):
    async with httpx.AsyncClient(base_url=server.url) as http:
        r = await http.get(path)
    assert r.status_code == 404, (path, r.status_code, r.text[:200])
    assert "def install" not in r.text and "root:" not in r.text


async def test_a_symlink_in_the_web_folder_is_not_followed(server, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("the secret")
    link = WEB_DIR / "js" / "zz-test-link.js"
    link.symlink_to(secret)
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            r = await http.get("/assets/js/zz-test-link.js")
    finally:
        link.unlink()
    assert r.status_code == 404 and "the secret" not in r.text


async def test_the_page_from_another_origin_or_host_is_refused(server):
    host = server.url.removeprefix("http://")
    async with httpx.AsyncClient(base_url=server.url) as http:
        foreign_origin = await http.get("/", headers={"Origin": "http://evil.example"})
        rebinding = await http.get("/assets/js/app.js", headers={"Host": "evil.example:" + host.split(":")[1]})
        own = await http.get("/", headers={"Origin": server.url})
    assert foreign_origin.status_code == 403 and rebinding.status_code == 403
    assert own.status_code == 200


def test_every_web_file_is_package_data():
    """The wheel must carry every file the page loads (pyproject's package-data globs)."""
    import tomllib

    globs = tomllib.loads(Path("pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["cowork"]
    pkg = WEB_DIR.parent.parent
    covered = {p for g in globs for p in pkg.glob(g)}
    files = [p for p in WEB_DIR.rglob("*") if p.is_file()]
    assert files and all(p in covered for p in files), [str(p) for p in files if p not in covered]


def test_vendored_files_match_their_recorded_checksums():
    import hashlib

    vendor = WEB_DIR / "vendor"
    entries = json.loads((vendor / "VENDOR.json").read_text())
    for entry in entries:
        data = (vendor / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["file"]
        assert all(p["version"] and p["license"] for p in entry["packages"]), entry
    shipped = {p.name for p in vendor.iterdir() if p.is_file() and p.name != "VENDOR.json"}
    assert shipped == {e["file"] for e in entries}, "a vendored file without its VENDOR.json entry"
    # one licence text per package (scripts/vendor-web.sh copies each package's LICENSE)
    licences = {p.stem for p in (vendor / "licenses").glob("*.txt") if p.read_text().strip()}
    names = {p["name"] for e in entries for p in e["packages"]}
    assert len(licences) == len(names), (licences, names)


# -- cowork web --------------------------------------------------------------------------------


def _web(home: Path, base_url: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([COWORK, "web", "--no-open", *args], env=serve_env(home, base_url), text=True,
                          capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)


async def test_cowork_web_with_server_creates_a_session_and_prints_its_page(serve, fake, tmp_path, workspace):
    srv = await serve()
    done = _web(tmp_path / "home", fake.base_url, "--server", srv.url, "--dir", str(workspace), "--mode", "yolo")
    assert done.returncode == 0, done.stderr
    url = re.search(r"cowork web: (\S+)", done.stdout).group(1)
    assert url.startswith(srv.url + "/sessions/ses_")
    session_id = url.rsplit("/", 1)[1]
    async with httpx.AsyncClient(base_url=srv.url) as http:
        got = (await http.get(f"/api/v1/sessions/{session_id}")).json()["session"]
        page = await http.get(url.removeprefix(srv.url))
    assert got["workspace"] == str(workspace.resolve()) and got["mode"] == "yolo"
    assert page.status_code == 200 and "app.js" in page.text


async def test_cowork_web_uses_the_server_already_on_its_port(serve, fake, tmp_path):
    srv = await serve()
    port = srv.url.rsplit(":", 1)[1]
    done = _web(tmp_path / "home", fake.base_url, "--port", port)
    assert done.returncode == 0, done.stderr
    assert f"using the cowork server already listening on {srv.url}" in done.stdout
    assert f"cowork web: {srv.url}/" in done.stdout


def test_cowork_web_refuses_bad_input(fake, tmp_path):
    home = tmp_path / "home"
    missing = _web(home, fake.base_url, "--dir", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "no such folder" in missing.stderr
    mode = _web(home, fake.base_url, "--mode", "reckless")
    assert mode.returncode == 2 and "unknown mode" in mode.stderr
    nobody = _web(home, fake.base_url, "--server", "http://127.0.0.1:9")
    assert nobody.returncode == 2 and "no cowork server answers" in nobody.stderr


def test_cowork_web_starts_a_server_and_serves_the_page(fake, tmp_path, workspace):
    """Without a server, ``cowork web`` starts one, creates the session, prints its page and
    serves it until it is stopped."""
    proc = subprocess.Popen([COWORK, "web", "--no-open", "--port", "0", "--dir", str(workspace)],
                            env=serve_env(tmp_path / "home", fake.base_url), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        url = None
        assert proc.stdout is not None
        for line in proc.stdout:
            if m := re.search(r"cowork web: (\S+)", line):
                url = m.group(1)
                break
        assert url and "/sessions/ses_" in url, proc.stderr.read() if proc.stderr else ""
        r = httpx.get(url)
        assert r.status_code == 200 and "content-security-policy" in r.headers
    finally:
        proc.terminate()
        assert proc.wait(timeout=20) == 0
