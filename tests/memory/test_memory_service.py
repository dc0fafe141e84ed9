"""The memory service over a real SQLite store and the real embedding model (WordLlama, shipped
in its PyPI wheel): saving, the credential refusal, hybrid search, scopes, the private flag,
Markdown export and import, and re-embedding when the model changes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from cowork.memory import MemoryRefused, MemoryService, WordLlamaEmbedder
from cowork.memory import markdown
from cowork.store import Store
from cowork.store.repo import NotFound

_EMBEDDER = WordLlamaEmbedder()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    yield s
    await s.close()


@pytest.fixture
async def service(store: Store) -> MemoryService:
    svc = MemoryService(_EMBEDDER)
    svc.attach(store)
    return svc


async def test_save_search_and_forget(service: MemoryService, tmp_path: Path) -> None:
    ws = tmp_path / "app"
    tabs = await service.save("The user prefers tabs over spaces for indentation", kind="preference", scope="user")
    db = await service.save("The test database is PostgreSQL 15 listening on port 5433", workspace=ws)
    await service.save("Deploys go out on Fridays through GitHub Actions", workspace=ws)
    again = await service.save("  The user prefers tabs over   spaces for indentation ", kind="preference", scope="user")
    assert again.id == tabs.id  # the same text in the same place is refreshed, not repeated
    assert len(await service.list()) == 3

    found = await service.search("which port does the database use", ws)
    assert found.mode == "hybrid" and found.note == ""
    assert found.hits[0].memory.id == db.id and set(found.hits[0].matched) == {"full_text", "vector"}
    words = await service.search("indentation", ws, mode="full_text")
    assert [h.memory.id for h in words.hits] == [tabs.id] and words.mode == "full_text"

    await service.forget(db.id)
    with pytest.raises(NotFound):
        await service.get(db.id)
    assert db.id not in [h.memory.id for h in (await service.search("database port", ws)).hits]


async def test_query_syntax_never_reaches_fts5(service: MemoryService, tmp_path: Path) -> None:
    await service.save("Use NEAR(a b) carefully in FTS5 queries", workspace=tmp_path)
    for query in ['"unbalanced', "NEAR(", "a OR", "*", "col:value", "'; DROP TABLE memories; --", "^start"]:
        await service.search(query, tmp_path)  # no syntax error escapes
    assert (await service.search('NEAR("', tmp_path, mode="full_text")).hits


async def test_scopes_keep_one_workspace_out_of_another(service: MemoryService, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    mine = await service.save("The build uses make release", workspace=a)
    user = await service.save("The user writes British English", kind="preference", scope="user")
    seen_in_b = [m.id for m in await service.list(b)]
    assert seen_in_b == [user.id]
    assert mine.id not in [h.memory.id for h in (await service.search("build make release", b)).hits]
    assert mine.id in [h.memory.id for h in (await service.search("build make release", a)).hits]
    with pytest.raises(ValueError, match="needs its workspace"):
        await service.save("orphan", scope="workspace")


@pytest.mark.parametrize("secret", [
    "my aws key is AKIAIOSFODNN7EXAMPLE",
    "use ghp_abcdefghijklmnopqrstuvwxyz0123456789 for the API",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA",
    "the staging URL is https://admin:s3cretpass@staging.example.com",
    "api_key: 'Zx8r2Lq9Vt4Nw7Bm1Kc6Hs3Jd5Fg0Ya'",
])
async def test_credentials_are_refused_and_nothing_is_stored(service: MemoryService, secret: str, tmp_path: Path) -> None:
    with pytest.raises(MemoryRefused, match="looks like a credential"):
        await service.save(secret, workspace=tmp_path)
    assert await service.list() == []


async def test_a_known_provider_key_is_redacted_before_the_check(service: MemoryService, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "plain-words-but-a-key-value-123")
    saved = await service.save("remember plain-words-but-a-key-value-123 for anthropic", workspace=tmp_path)
    assert "plain-words" not in saved.text and "[redacted]" in saved.text


async def test_private_memories_are_left_out_when_asked(service: MemoryService, tmp_path: Path) -> None:
    secret = await service.save("The user's therapist appointment is on Tuesdays", private=True, scope="user")
    await service.save("The user likes short answers", kind="preference", scope="user")
    assert secret.id not in [m.id for m in await service.list(include_private=False)]
    assert secret.id not in [h.memory.id for h in (await service.search("therapist Tuesdays", tmp_path,
                                                                         include_private=False)).hits]
    assert secret.id in [h.memory.id for h in (await service.search("therapist Tuesdays", tmp_path)).hits]
    exported = await service.export()
    assert "therapist" not in exported and "short answers" in exported
    assert "therapist" in await service.export(include_private=True)


async def test_markdown_round_trip_and_hand_edits(service: MemoryService, store: Store, tmp_path: Path) -> None:
    ws = tmp_path / "app"
    first = await service.save("The CI runs on two cores", workspace=ws)
    await service.save("# headings in a memory stay text\nsecond line", kind="lesson", scope="user", private=True)
    text = await service.export(include_private=True)
    assert text.startswith(markdown.HEADER) and f"## fact · workspace {ws}" in text and "\\# headings" in text

    other = MemoryService(_EMBEDDER)
    fresh = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'other.db'}")
    try:
        other.attach(fresh)
        assert await other.import_markdown(text) == {"added": 2, "updated": 0, "unchanged": 0}
        copied = {m.id: m for m in await other.list()}
        originals = {m.id: m for m in await service.list()}
        assert copied == originals  # ids, texts, kinds, scopes, private flags and times survive
        assert await other.import_markdown(text) == {"added": 0, "updated": 0, "unchanged": 2}
    finally:
        await fresh.close()

    edited = text.replace("The CI runs on two cores", "The CI runs on four cores") + \
        "\n## rule · user\nNever push to main directly.\n"
    assert await service.import_markdown(edited) == {"added": 1, "updated": 1, "unchanged": 1}
    assert (await service.get(first.id)).text == "The CI runs on four cores"
    assert (await service.search("how many cores", ws)).hits[0].memory.id == first.id  # re-embedded
    with pytest.raises(ValueError, match="line 3: unknown kind 'opinion'"):
        await service.import_markdown("# cowork memories\n\n## opinion · user\nx\n")
    with pytest.raises(MemoryRefused):
        await service.import_markdown("## fact · user\ntoken ghp_abcdefghijklmnopqrstuvwxyz0123456789\n")
    assert len(await service.list()) == 3  # the refused import stored nothing


class _Gated:
    """The real model at 64 dimensions (another model name), embedding only when let through."""

    def __init__(self) -> None:
        self.inner = WordLlamaEmbedder(dim=64)
        self.model, self.dim = self.inner.model, self.inner.dim
        self.gate = asyncio.Event()
        self.loop = asyncio.get_running_loop()

    def embed(self, texts: list[str]) -> np.ndarray:
        asyncio.run_coroutine_threadsafe(self.gate.wait(), self.loop).result(timeout=30)
        return self.inner.embed(texts)


async def test_a_new_embedding_model_reembeds_in_the_background(store: Store, tmp_path: Path) -> None:
    old = MemoryService(_EMBEDDER)
    old.attach(store)
    for i in range(300):
        await old.save(f"Memory number {i} about topic {i % 17}", workspace=tmp_path)
    gated = _Gated()
    new = MemoryService(gated)
    new.attach(store)
    new.pending = 300  # as the indexer's first count finds it
    await new.start()
    try:
        during = await new.search("topic 3", tmp_path)
        assert during.mode == "full_text" and "re-embedding memories for wordllama:l2_supercat_64" in during.note
        assert during.hits  # full text still answers: never an empty result for want of vectors
        assert new.status()["state"] == "indexing"
        gated.gate.set()
        for _ in range(200):
            if new.status()["state"] == "ready":
                break
            await asyncio.sleep(0.05)
        assert new.status() == {"model": gated.model, "state": "ready", "pending": 0}
        after = await new.search("topic 3", tmp_path)
        assert after.mode == "hybrid" and after.note == ""
    finally:
        await new.close()


async def test_without_an_embedding_model_search_says_it_runs_on_full_text(store: Store, tmp_path: Path) -> None:
    svc = MemoryService(None)
    svc.attach(store)
    await svc.save("The release checklist lives in docs/release.md", workspace=tmp_path)
    found = await svc.search("release checklist", tmp_path)
    assert found.mode == "full_text" and "no embedding model is installed" in found.note and found.hits
    with pytest.raises(ValueError, match="no vector search"):
        await svc.search("release", tmp_path, mode="vector")
