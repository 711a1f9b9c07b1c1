"""The vector store interface: what the rag index asks of a database, and what it may rely on.

A store keeps one index's chunks (text, metadata, access groups, vector: one row each) under a name
(the index settings' table name) and answers queries over them. Everything else stays above it, in
tailor.rag.index and tailor.rag.pipeline, the same for every store: chunking, embedding, incremental
ingest, rank fusion, MMR, the context budget and the final access check. BM25 is above it too (an index
in tailor's memory), unless the store is a :class:`LexicalStore` and ranks by BM25 in its own query.

Each implementation is one module of tailor.rag.stores ending with ``STORE = StoreSpec(name, open,
summary)`` (see tailor.plugins); ``open`` is an :class:`OpenStore`. A store whose data live in a database
server rather than under the index directory is opened with a :class:`Server`. Every implementation
guarantees:

- **Atomic commits of whole documents.** ``upsert`` puts a document's new chunks in and takes its old
  chunks out in one commit; ``delete`` removes whole documents. A reader sees the version before a
  commit or the one after it, never a document half replaced; a killed writer leaves the last commit.
- **Access filtering inside the query.** ``dense`` applies the groups as a pre-filter: a chunk none of
  the groups may read is never a candidate, so it cannot be returned, and a group that may read only
  a few chunks still gets up to ``n`` of its own rather than what is left of a global top ``n``.
  ``chunks`` given groups shows only what they may read. (A store may enforce this a second time in
  its database: pgvector's row-level security.)
- **Versions.** Every commit makes a new, higher version. A :meth:`VectorStore.snapshot` reads one
  version only and sees no later commit, so the BM25 index derived from it never disagrees with it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class Chunk:
    """One stored row, less its vector: a piece of a document and who may read it."""

    chunk_id: str  # f"{doc_id}#{content hash[:12]}#{position}": unique in a store
    doc_id: str
    title: str
    source: str
    groups: frozenset[str]
    text: str
    position: int
    n_chunks: int  # chunks the document was cut into (the document is whole when all are stored)
    doc_hash: str  # the document's content hash: which version of it the chunk comes from


@dataclass(frozen=True)
class StoredDoc:
    """What a store holds of one document, for incremental ingest."""

    doc_hash: str
    chunks: int  # rows stored
    n_chunks: int  # rows the document was cut into: the document is whole when the two agree


@dataclass(frozen=True)
class Listing:
    """Every chunk of one version in chunk-id order (Python string order): what BM25 is derived from."""

    chunk_ids: tuple[str, ...]
    groups: tuple[frozenset[str], ...]
    texts: tuple[str, ...] | None  # None unless asked for


@dataclass(frozen=True)
class Server:
    """Where a store with a database server keeps an index (an embedded store such as LanceDB needs none).

    ``uri``: the connection that owns the tables and ingests; ``reader_uri``: the one per-user queries
    run on (None: the store derives it). Both may hold passwords, so neither is shown in a repr.
    """

    uri: str = field(repr=False)
    reader_uri: str | None = field(default=None, repr=False)


@runtime_checkable
class VectorStore(Protocol):
    """One index's chunks and vectors in a database. See the module docstring for the guarantees."""

    @property
    def version(self) -> int:
        """The version read: the latest commit, or for a snapshot the one it was taken at."""
        ...

    def count(self) -> int:
        """Chunks stored in this version."""
        ...

    def stored_docs(self) -> dict[str, StoredDoc]:
        """doc_id → what is stored of it, for every document with at least one chunk."""
        ...

    def upsert(self, doc_ids: Sequence[str], chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        """Make ``chunks`` the whole content of the documents ``doc_ids``, in one atomic commit.

        ``vectors``: (len(chunks), dim) float32, L2-normalised, row i for ``chunks[i]``. Every chunk
        belongs to one of ``doc_ids``; a document in ``doc_ids`` without chunks ends with none.

        Raises:
            ValueError: a chunk of a document not in ``doc_ids``, or vectors of the wrong shape.
        """
        ...

    def delete(self, doc_ids: Sequence[str]) -> None:
        """Remove every chunk of the documents ``doc_ids``; each commit removes whole documents."""
        ...

    def dense(self, vector: np.ndarray, groups: frozenset[str], n: int) -> list[tuple[str, float]]:
        """Up to ``n`` (chunk_id, cosine similarity), most similar first, among the chunks that one of
        ``groups`` may read, filtered inside the query before ranking; no groups, no chunks.

        Exact or as good as: LanceDB scans every row; pgvector walks an HNSW index until ``n`` readable
        chunks are found, whose recall against a full scan its module docstring measures.
        """
        ...

    def listing(self, texts: bool = False) -> Listing:
        """Every chunk's id and groups (and text if ``texts``), in chunk-id order."""
        ...

    def chunks(self, ids: Sequence[str], groups: frozenset[str] | None = None) -> list[Chunk]:
        """The chunks ``ids``, in that order; given ``groups``, only chunks one of them may read are seen.

        Raises:
            KeyError: an id this version does not hold (or, given ``groups``, that none of them may read).
        """
        ...

    def vectors(self, ids: Sequence[str]) -> np.ndarray:
        """(len(ids), dim) float32, the stored vectors of ``ids`` in that order.

        Raises:
            KeyError: an id this version does not hold.
        """
        ...

    def snapshot(self) -> VectorStore:
        """A read-only view of the current version: later commits are not seen, writes raise."""
        ...

    def drop(self) -> None:
        """Delete this store's data for good (an index rebuilt under other settings drops the old one)."""
        ...


@runtime_checkable
class LexicalStore(VectorStore, Protocol):
    """A store that also ranks by BM25 inside its own query, so tailor keeps no lexical index in memory."""

    def lexical(self, terms: Sequence[str], groups: frozenset[str], n: int) -> list[tuple[str, float]]:
        """Up to ``n`` (chunk_id, BM25 score), best first (ties in chunk-id order), among the chunks one of
        ``groups`` may read that hold at least one of ``terms`` (tailor.rag.lexical.terms of the query).

        Scored as tailor.rag.lexical says (Lucene's BM25, k1 1.5, b 0.75), with the corpus statistics (chunk
        count, average length, document frequencies) of the chunks ``groups`` may read: a chunk they may not
        read never shifts a score, so ranks cannot hint at what such chunks say.
        """
        ...


class OpenStore(Protocol):
    """How a store is opened: ``StoreSpec.open``."""

    def __call__(self, index_dir: Path, name: str, dim: int | None = None, server: Server | None = None) -> VectorStore:
        """The store ``name`` of the index at ``index_dir``; created empty for vectors of ``dim`` if
        missing and ``dim`` is given. ``server``: where its database is, for a store that has one.

        Raises:
            ArtifactError: the store is missing and ``dim`` is None, its backend is not installed, or its
                server is needed and not given or cannot be reached.
        """
        ...


class CopyStore(Protocol):
    """How a store whose data are not files under the index directory is copied: ``StoreSpec.copy``."""

    def __call__(self, src_dir: Path, dst_dir: Path, name: str, server: Server | None = None) -> None:
        """Make the store ``name`` of the index at ``dst_dir`` a copy of the current version of the one at
        ``src_dir``. ``dst_dir`` already holds a copy of ``src_dir``'s files."""
        ...


class DropStore(Protocol):
    """How every table an index keeps in a database server is dropped: ``StoreSpec.drop``."""

    def __call__(self, index_dir: Path, server: Server | None = None) -> list[str]:
        """Drop every table of the index at ``index_dir`` in ``server``, and only those: other indexes' tables
        on the same server stay. What was dropped, each named so a person can find it; none: nothing there.

        Raises:
            ArtifactError: the index has tables in a server and none is given, or it cannot be reached.
        """
        ...


@dataclass(frozen=True)
class StoreSpec:
    """A vector store for the rag index (see tailor.rag.store for the interface it opens)."""

    name: str
    open: Callable[..., Any]  # a tailor.rag.store.OpenStore
    summary: str
    # A tailor.rag.store.CopyStore; None: the store's data are files under the index directory, copied with it.
    copy: Callable[..., None] | None = None
    # A tailor.rag.store.DropStore; None: the store's data are files under the index directory, removed with it.
    drop: Callable[..., list[str]] | None = None
