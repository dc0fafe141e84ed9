"""The web UI in a real browser: opening a session of 5,000 events, a turn streaming 200 deltas/s,
and the size of what the page loads.

Three processes, as in the other server benchmarks (``server_common.py``): the cowork server, the
scripted model, and this script, which drives Debian's Chromium (``/usr/bin/chromium`` or
``$COWORK_CHROMIUM``) with Playwright's async API and talks JSON-RPC to the server to build the
sessions.

- **Open**: a session is filled with turns of the ``turn`` scenario (``read``, ``bash``, then an
  answer of 400 characters in 4-character deltas) until it holds ≥ 5,000 events (``--quick``:
  1,000). Each run opens ``/sessions/ID`` in a fresh browser context (nothing cached) and measures,
  in the page, the time from navigation start to the first animation frame in which the view has
  applied the session's last ``seq`` (``data-last-seq``) and left the replay: assets, connect,
  ``session/get``, the replay and its rendering, all included. Target: ≤ 1 s (p50 and p95 of 7
  runs; ``--quick`` 3).
- **Stream**: one turn whose answer is 1,000 deltas sent at 200/s (4 characters each, the fake sleeping 4.6 ms between chunks;
  ``--quick``: 400) into a page showing the session. A wrapper around the page's client records
  each event frame's commit times (the events' ``ts``, taken with a regular expression, not a
  second ``JSON.parse``) and, in the next animation frame after the frame is applied (the state
  renders in its own earlier animation-frame callback), the lag from commit to that frame.
  Targets: lag p95 ≤ 100 ms, and the main thread busy ≤ 50 % of the streaming time (Chrome
  DevTools Protocol ``Performance.getMetrics``: ``TaskDuration`` over ``Timestamp``).
- **Assets**: every file the page loads, fetched from the server as the browser does (gzip
  accepted): its size on disk and on the wire.

Run: ``python bench/web_ui.py [--quick] [--runs N]``. Prints figures only.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, pct, table, versions, wait_quiet  # noqa: E402
from server_common import Rpc, start_fake, start_server, turn_answer, workspace  # noqa: E402

CHROMIUM = os.environ.get("COWORK_CHROMIUM", "/usr/bin/chromium")
WEB = Path(__file__).resolve().parent.parent / "src" / "cowork" / "server" / "web"

OPENED = """n => {
  const marks = window.__marks || (window.__marks = {});
  const now = performance.now();
  const app = document.querySelector('[data-testid="app"]');
  if (app && app.dataset.status === 'open' && !marks.connected) marks.connected = now;
  const v = document.querySelector('[data-testid="session-view"]');
  if (v && Number(v.dataset.lastSeq) > 0 && !marks.first) marks.first = now;
  if (!v || Number(v.dataset.lastSeq) !== n || v.dataset.replaying !== 'false') return false;
  return new Promise((done) => requestAnimationFrame(() => done({ ...marks, last: performance.now() })));
}"""

INSTRUMENT = """() => {
  const c = window.coworkClient;
  const receive = c.receive.bind(c);
  window.__lags = [];
  c.receive = (data) => {
    receive(data);
    const commits = [];
    for (const m of String(data).matchAll(/"ts":"([^"]+)"/g)) commits.push(Date.parse(m[1]));
    if (!commits.length) return;
    requestAnimationFrame(() => {
      const now = performance.timeOrigin + performance.now();
      for (const t of commits) window.__lags.push(now - t);
    });
  };
}"""


class Session:
    """Turns run over JSON-RPC; ``done`` is set by each turn's terminal event."""

    def __init__(self) -> None:
        self.done = asyncio.Event()

    def on_event(self, frame: str) -> None:
        if '"turn.completed"' in frame or '"turn.failed"' in frame or '"turn.interrupted"' in frame:
            self.done.set()

    async def turn(self, rpc: Rpc, sid: str, text: str) -> None:
        self.done.clear()
        await rpc.start_turn(sid, text)
        await asyncio.wait_for(self.done.wait(), 300)


async def fill(url: str, ws: Path, events: int) -> tuple[str, int, int]:
    """A session of at least ``events`` events: (id, last seq, turns)."""
    s = Session()
    rpc = await Rpc.open(url, s.on_event)
    try:
        sid = await rpc.create_session(ws)
        await rpc.call("session/subscribe", {"sessionId": sid})
        turns = 0
        while True:
            await s.turn(rpc, sid, f"turn {turns}: read the notes")
            turns += 1
            last = (await rpc.call("session/get", {"sessionId": sid}))["session"]["last_seq"]
            if last >= events:
                return sid, last, turns
    finally:
        await rpc.close()


async def open_runs(browser, url: str, sid: str, last: int, runs: int) -> list[dict[str, float]]:
    out = []
    for _ in range(runs):
        wait_quiet()
        ctx = await browser.new_context(viewport={"width": 1280, "height": 900})
        page = await ctx.new_page()
        await page.goto(f"{url}/sessions/{sid}")
        handle = await page.wait_for_function(OPENED, arg=last, polling="raf", timeout=60_000)
        out.append(await handle.json_value())
        await ctx.close()
    return out


async def stream_run(browser, url: str, ws: Path, deltas: int) -> dict[str, float]:
    s = Session()
    rpc = await Rpc.open(url, s.on_event)
    ctx = await browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        sid = await rpc.create_session(ws)
        await rpc.call("session/subscribe", {"sessionId": sid})
        page = await ctx.new_page()
        await page.goto(f"{url}/sessions/{sid}")
        await page.wait_for_selector('[data-testid="session-view"][data-replaying="false"]')
        await page.evaluate(INSTRUMENT)
        cdp = await ctx.new_cdp_session(page)
        await cdp.send("Performance.enable", {"timeDomain": "threadTicks"})
        wait_quiet()
        before = {m["name"]: m["value"] for m in (await cdp.send("Performance.getMetrics"))["metrics"]}
        t0 = time.monotonic()
        await s.turn(rpc, sid, f"stream {deltas} deltas")
        await page.wait_for_selector('[data-testid="turn"][data-status="completed"]')
        await page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
        wall = time.monotonic() - t0
        after = {m["name"]: m["value"] for m in (await cdp.send("Performance.getMetrics"))["metrics"]}
        lags = await page.evaluate("window.__lags")
        rate = await delta_rate(url, sid)
        text = await page.text_content('[data-testid="assistant-message"]')
        return {
            "lags": lags, "wall": wall, "rate": rate, "text": " ".join((text or "").split()),
            "busy": (after["TaskDuration"] - before["TaskDuration"]) / (after["Timestamp"] - before["Timestamp"]),
            "script": (after["ScriptDuration"] - before["ScriptDuration"]) / (after["Timestamp"] - before["Timestamp"]),
        }
    finally:
        await ctx.close()
        await rpc.close()


async def delta_rate(url: str, sid: str) -> float:
    """``item.delta`` events per second of the session's journal (first to last commit)."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        r = await http.get(f"/api/v1/sessions/{sid}/events", params={"follow": "false"})
    stamps = [datetime.fromisoformat(e["ts"]).timestamp() for e in
              (json.loads(line[5:]) for line in r.text.splitlines() if line.startswith("data:"))
              if e["type"] == "item.delta"]
    return (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else float("nan")


async def asset_sizes(browser, url: str) -> list[tuple[str, int, int]]:
    """(path, bytes on disk, bytes on the wire with gzip) of every /assets file the page loads."""
    ctx = await browser.new_context()
    page = await ctx.new_page()
    loaded: list[str] = []
    page.on("request", lambda r: loaded.append(r.url) if "/assets/" in r.url else None)
    await page.goto(f"{url}/")
    await page.wait_for_selector('[data-testid="app"][data-status="open"]')
    await ctx.close()
    rows = []
    async with httpx.AsyncClient(base_url=url, headers={"Accept-Encoding": "gzip"}) as http:
        for u in sorted(set(loaded)):
            path = u.split("/assets/", 1)[1]
            r = await http.get("/assets/" + path)
            r.raise_for_status()
            wire = r.num_bytes_downloaded
            assert r.headers.get("content-encoding") == "gzip" or wire == len(r.content), path
            rows.append((path, (WEB / path).stat().st_size, wire))
    return rows


def kb(n: float) -> str:
    return f"{n / 1000:.1f} kB"


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1,000 events, 3 runs, 400 deltas")
    ap.add_argument("--runs", type=int)
    a = ap.parse_args()
    events, runs, deltas = (1000, 3, 400) if a.quick else (5000, 7, 1000)
    runs = a.runs or runs
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set COWORK_CHROMIUM)")
    from playwright.async_api import async_playwright

    print(f"web UI benchmark — {machine()}\n{versions('playwright', 'uvicorn', 'websockets')}; "
          f"chromium {CHROMIUM}")
    tmp = Path(tempfile.mkdtemp(prefix="cowork-bench-web-"))
    ws = workspace(tmp)
    with start_fake("turn", delay=0, answer_chars=400, chunk=4) as fake_open, \
            start_server(tmp / "open.db", fake_open.url, home=tmp / "home") as server:
        t = time.monotonic()
        sid, last, turns = await fill(server.url, ws, events)
        print(f"\nopen: a session of {last:,} events ({turns} turns) built in {time.monotonic() - t:.1f} s")
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            opened = await open_runs(browser, server.url, sid, last, runs)
            sizes = await asset_sizes(browser, server.url)
            await browser.close()
    rows = [("open a session (from navigation start)", "events", "runs", "p50", "p95", "max", "target ≤ 1 s")]
    for name, key in (("connected (assets, initialize)", "connected"), ("first events shown", "first"),
                      ("last event rendered", "last")):
        xs = [o.get(key, float("nan")) for o in opened]
        rows.append((name, f"{last:,}", str(runs), f"{pct(xs, 50):.0f} ms", f"{pct(xs, 95):.0f} ms",
                     f"{max(xs):.0f} ms", ("yes" if pct(xs, 95) <= 1000 else "NO") if key == "last" else ""))
    print(table(rows))

    answer = " ".join(turn_answer(deltas * 4).split())  # as the page shows it: whitespace collapsed
    with start_fake("turn", delay=0.0046, answer_chars=deltas * 4, chunk=4) as fake_stream, \
            start_server(tmp / "stream.db", fake_stream.url, home=tmp / "home") as server:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            r = await stream_run(browser, server.url, ws, deltas)
            await browser.close()
    lags = r["lags"]
    print(f"\nstream: {deltas:,} deltas of 4 characters, 4.6 ms apart, after a read and a bash call: "
          f"{r['rate']:.0f} deltas/s journaled; turn {r['wall']:.1f} s; the page shows the whole answer: {'yes' if r['text'] == answer else 'NO'}")
    print(table([
        ("stream 200 deltas/s", "events", "lag p50", "lag p95", "lag max", "main thread busy", "of it script",
         "target p95 ≤ 100 ms, busy ≤ 50 %"),
        ("commit → next frame", f"{len(lags):,}", f"{pct(lags, 50):.1f} ms", f"{pct(lags, 95):.1f} ms",
         f"{max(lags):.1f} ms", f"{r['busy'] * 100:.1f} %", f"{r['script'] * 100:.1f} %",
         "yes" if pct(lags, 95) <= 100 and r["busy"] <= 0.5 else "NO"),
    ]))

    print("\nassets the page loads (gzip as served; the server compresses /assets/)")
    ours = [s for s in sizes if not s[0].startswith("vendor/")]
    vendor = [s for s in sizes if s[0].startswith("vendor/")]
    rows = [("file", "on disk", "gzipped")] + [(p, kb(d), kb(w)) for p, d, w in sizes]
    for name, group in (("ours (index.html not included)", ours), ("vendored", vendor), ("all", sizes)):
        rows.append((f"total: {name}", kb(sum(d for _, d, _ in group)), kb(sum(w for _, _, w in group))))
    page = (WEB / "index.html").read_bytes()
    rows.append(("index.html (gzip -9 here; not compressed by the server)", kb(len(page)), kb(len(gzip.compress(page)))))
    print(table(rows))


if __name__ == "__main__":
    asyncio.run(main())
