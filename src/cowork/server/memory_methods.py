"""The ``memory/*`` methods (docs/memory.md) over the memory extension's service.

A read-only caller never sees a private memory: ``memory/list`` and ``memory/search`` leave them
out, ``memory/get`` answers NOT_FOUND for one, ``memory/export`` never includes them. A server
without the memory extension answers every method with an error that says so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..engine import NotFound, Runtime
from ..protocol import rpc
from ..protocol.rpc import ErrorCode, RpcError
from .auth import Caller


def _absolute(path: str | None) -> Path | None:
    if path is None:
        return None
    if not Path(path).is_absolute():
        raise RpcError(ErrorCode.INVALID_PARAMS, f"workspace must be an absolute path, not {path!r}")
    return Path(path)


class MemoryMethods:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def handlers(self) -> dict[str, Callable[[Any, Caller], Awaitable[BaseModel]]]:
        return {"memory/list": self.list, "memory/search": self.search, "memory/get": self.get,
                "memory/save": self.save, "memory/update": self.update, "memory/forget": self.forget,
                "memory/export": self.export, "memory/import": self.import_}

    def _service(self) -> Any:
        extension = self.runtime.extension("memory")
        if extension is None:
            raise RpcError(ErrorCode.INVALID_PARAMS, "this server runs without memory (no memory extension)")
        return extension.service

    async def list(self, p: rpc.MemoryListParams, caller: Caller) -> rpc.MemoryListResult:
        service = self._service()
        found = await service.list(_absolute(p.workspace), kinds=p.kinds, include_private=not caller.read_only,
                                   limit=p.limit)
        return rpc.MemoryListResult(memories=found, index=rpc.MemoryIndexStatus(**service.status()))

    async def search(self, p: rpc.MemorySearchParams, caller: Caller) -> rpc.MemorySearchResult:
        found = await self._service().search(p.query, _absolute(p.workspace), limit=p.limit,
                                             include_private=not caller.read_only, mode=p.mode)
        return rpc.MemorySearchResult(hits=found.hits, mode=found.mode, note=found.note)

    async def get(self, p: rpc.MemoryIdParams, caller: Caller) -> rpc.MemoryResult:
        memory = await self._service().get(p.memory_id)
        if memory.private and caller.read_only:
            raise NotFound(f"no memory {p.memory_id!r}")
        return rpc.MemoryResult(memory=memory)

    async def save(self, p: rpc.MemorySaveParams, caller: Caller) -> rpc.MemoryResult:
        memory = await self._service().save(p.text, kind=p.kind, scope=p.scope, workspace=_absolute(p.workspace),
                                            private=p.private)
        return rpc.MemoryResult(memory=memory)

    async def update(self, p: rpc.MemoryUpdateParams, caller: Caller) -> rpc.MemoryResult:
        return rpc.MemoryResult(memory=await self._service().update(p.memory_id, text=p.text, kind=p.kind,
                                                                    private=p.private))

    async def forget(self, p: rpc.MemoryIdParams, caller: Caller) -> rpc.Empty:
        await self._service().forget(p.memory_id)
        return rpc.Empty()

    async def export(self, p: rpc.MemoryExportParams, caller: Caller) -> rpc.MemoryExportResult:
        service = self._service()
        private = p.include_private and not caller.read_only
        text = await service.export(_absolute(p.workspace), include_private=private)
        return rpc.MemoryExportResult(markdown=text, count=text.count("\n## "))

    async def import_(self, p: rpc.MemoryImportParams, caller: Caller) -> rpc.MemoryImportResult:
        return rpc.MemoryImportResult(**await self._service().import_markdown(p.markdown))
