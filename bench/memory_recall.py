"""Memory search quality and speed: recall@5 of full text, vectors and the hybrid, and search
latency at 10,000 memories.

**Quality.** ``tests/data/memory_recall.json`` holds 310 memories and 60 queries written for this
benchmark, each query naming the one memory it is after in other words ("what port is the db on"
for "The test database is PostgreSQL 15 listening on port 5433"); the other 250 memories are
distractors that share its vocabulary (services, ports, people, tools). Every memory is saved
through :class:`~cowork.memory.MemoryService` into a fresh SQLite store, then each query is searched
three ways (``mode`` ``full_text``, ``vector``, ``hybrid``). recall@5: the share of queries whose
memory is among the first five results; MRR: the mean of 1/rank of that memory (0 when it is not in
the first ten).

**Speed.** 10,000 memories (the labelled ones and generated distractors) in a fresh SQLite store;
the 60 queries are searched 5 times each (hybrid, the first round untimed), and the p50/p95 of the
wall time of one ``MemoryService.search`` are printed (target: p95 ≤ 20 ms).

Usage, from the repository root: ``python bench/memory_recall.py`` (about a minute).
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, pct, table, versions  # noqa: E402

from cowork.memory import MemoryService, WordLlamaEmbedder  # noqa: E402
from cowork.store import Store  # noqa: E402

DATA = Path(__file__).parent.parent / "tests" / "data" / "memory_recall.json"
WORKSPACE = "/bench/ws"


async def _service(folder: Path, name: str, embedder: WordLlamaEmbedder) -> tuple[MemoryService, Store]:
    store = await Store.open(f"sqlite+aiosqlite:///{folder / name}")
    service = MemoryService(embedder)
    service.attach(store)
    return service, store


async def quality(folder: Path, embedder: WordLlamaEmbedder) -> list[tuple[str, ...]]:
    data = json.loads(DATA.read_text())
    service, store = await _service(folder, "quality.db", embedder)
    try:
        ids = {}
        for m in data["memories"]:
            ids[m["id"]] = (await service.save(m["text"], kind=m["kind"], workspace=WORKSPACE)).id
        rows = []
        for mode in ("full_text", "vector", "hybrid"):
            hits5, rr = 0, 0.0
            for q in data["queries"]:
                found = [h.memory.id for h in (await service.search(q["query"], WORKSPACE, limit=10, mode=mode)).hits]
                want = {ids[r] for r in q["relevant"]}
                rank = next((i for i, f in enumerate(found, start=1) if f in want), None)
                hits5 += rank is not None and rank <= 5
                rr += 1 / rank if rank else 0.0
            n = len(data["queries"])
            rows.append((mode, f"{hits5 / n:.1%}", f"{rr / n:.3f}"))
        return rows
    finally:
        await store.close()


async def speed(folder: Path, embedder: WordLlamaEmbedder, n: int = 10_000) -> tuple[float, float, float]:
    data = json.loads(DATA.read_text())
    rng = random.Random(3)
    words = sorted({w for m in data["memories"] for w in m["text"].split()})
    texts = [m["text"] for m in data["memories"]]
    while len(texts) < n:
        texts.append(" ".join(rng.sample(words, rng.randint(6, 14))) + f" #{len(texts)}")
    service, store = await _service(folder, "speed.db", embedder)
    try:
        started = time.perf_counter()
        for t in texts:
            await service.save(t, workspace=WORKSPACE)
        load = time.perf_counter() - started
        times = []
        for round_ in range(5):
            for q in data["queries"]:
                t0 = time.perf_counter()
                await service.search(q["query"], WORKSPACE, limit=10)
                if round_:
                    times.append((time.perf_counter() - t0) * 1000)
        return load, pct(times, 50), pct(times, 95)
    finally:
        await store.close()


async def main() -> None:
    embedder = WordLlamaEmbedder()
    with tempfile.TemporaryDirectory() as tmp:
        rows = await quality(Path(tmp), embedder)
        load, p50, p95 = await speed(Path(tmp), embedder)
    print(f"memory search quality: {DATA.name} ({embedder.model})")
    print(table([("ranking", "recall@5", "MRR@10"), *rows]))
    hybrid, fts = float(rows[2][1].rstrip("%")), float(rows[0][1].rstrip("%"))
    print(f"hybrid beats full text alone: {'yes' if hybrid > fts else 'NO'} ({hybrid:.1f}% vs {fts:.1f}%)")
    print()
    print("memory search latency, 10,000 memories on SQLite (hybrid, limit 10)")
    print(table([("figure", "value", "target", "met"),
                 ("search p50", f"{p50:.2f} ms", "", ""),
                 ("search p95", f"{p95:.2f} ms", "≤ 20 ms", "yes" if p95 <= 20 else "NO"),
                 ("saving 10,000 (one by one)", f"{load:.1f} s", "", "")]))
    print()
    print(machine())
    print(versions("wordllama", "sqlalchemy", "aiosqlite", "numpy"))


if __name__ == "__main__":
    asyncio.run(main())
