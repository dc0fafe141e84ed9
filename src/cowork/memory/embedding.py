"""The local embedding model behind memory search.

The default is WordLlama's ``l2_supercat`` model (https://github.com/dleemiller/WordLlama): static
token embeddings distilled from a large language model's input embeddings, pooled by the
``wordllama`` package's own inference code. Its weights (16 MB) ship inside the ``wordllama`` wheel
on PyPI, so it works offline with nothing to download; it embeds a sentence in about 0.05 ms on one
core. Measured against the alternatives on this machine: transformer models (MiniLM, bge, gte)
ship on PyPI only as PyTorch ``safetensors`` (an 800 MB runtime) or not at all, and ONNX or GGUF
exports of them are only on Hugging Face, which a cowork machine may not reach. Any model behind
:class:`Embedder` can replace it (``MemoryService(embedder=...)``).

The package's own loader looks for the tokenizer in a folder the wheel does not have, then tries to
download it; :func:`wordllama` loads the shipped files directly and never touches the network.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
from pathlib import Path
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)


class Embedder(Protocol):
    """Turns texts into vectors.

    Attributes:
        model: the model's name and version (``wordllama:l2_supercat_256@0.4.0.post1``); stored with
            every vector, so a change of model or version re-embeds every memory.
        dim: the vectors' length.
        quick: optional, default False; True when embedding one short query costs less than a
            worker thread's hop (search then embeds the query on the event loop).
    """

    model: str
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray:
        """``(len(texts), dim)`` float32, each row L2-normalised (cosine similarity is a dot
        product). CPU-bound: call it in a worker thread, unless :attr:`quick`."""
        ...


class WordLlamaEmbedder:
    """WordLlama's ``l2_supercat`` model at ``dim`` (64, 128, 256, 512 or 1024 by truncation of the
    256-wide shipped weights: 64, 128 or 256 here)."""

    CONFIG = "l2_supercat"
    SHIPPED_DIM = 256
    quick = True
    """Embedding one query (up to 1,000 characters) takes about 0.05 ms: it is done on the event
    loop, where a worker thread's hop would cost more (an embedder without ``quick`` runs in one)."""

    def __init__(self, dim: int = 256) -> None:
        from safetensors import safe_open
        from wordllama import WordLlama
        from wordllama.inference import WordLlamaInference

        if dim not in (64, 128, 256):
            raise ValueError(f"dim must be 64, 128 or 256, not {dim}")
        root = Path(importlib.util.find_spec("wordllama").origin).parent  # type: ignore[union-attr]
        weights = root / "weights" / f"{self.CONFIG}_{self.SHIPPED_DIM}.safetensors"
        tokenizer = root / "tokenizers" / f"{self.CONFIG}_tokenizer_config.json"
        with safe_open(str(weights), framework="np") as f:
            table = f.get_tensor("embedding.weight")[:, :dim]
        self._inference = WordLlamaInference(table, WordLlama.load_tokenizer(tokenizer))
        self.dim = dim
        version = importlib.metadata.version("wordllama")
        self.model = f"wordllama:{self.CONFIG}_{dim}@{version}"

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.asarray(self._inference.embed(texts, norm=True), dtype=np.float32)


def default_embedder() -> Embedder | None:
    """The default model, or None (logged) when it cannot be loaded: search then runs on full
    text alone and says so."""
    try:
        return WordLlamaEmbedder()
    except Exception as exc:  # a missing or broken package must not stop memory
        log.warning("no embedding model for memory search (full text only): %s", exc)
        return None


__all__ = ["Embedder", "WordLlamaEmbedder", "default_embedder"]
