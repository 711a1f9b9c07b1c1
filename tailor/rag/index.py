"""The chunk index: chunks and vectors in a vector store, with a BM25 index derived from it.

The store (tailor.rag.store; LanceDB by default, chosen through tailor.plugins) keeps the rows and
answers dense and by-id queries; this module chunks and embeds documents, decides what to ingest, and
ranks. Opening an index reads its chunk ids and groups and the BM25 index (tailor.rag.lexical; none for
a store that ranks by BM25 in its own query); texts and vectors stay in the store and are fetched per
query.

Crash safety: store commits are atomic, and every commit here is whole documents — a changed
document's new chunks are inserted and its old chunks deleted in one upsert. A killed ingest leaves
the last committed version, which is consistent and searchable; the next ingest sees which documents
are current (by content hash, stored in the rows) and does the rest. An index is opened as a snapshot
of one version, and the BM25 index is derived from that version and cached per version, so it can
never disagree with the vectors. ``index.json`` names the active store and table; a table built with
other settings (embedder, chunk size) is built beside the active one and switched to only when
complete. One ingest at a time per index directory (a file lock; readers never need it).

Access control is a pre-filter inside both queries: the dense search runs with the user's groups as a
filter inside the store's query (before its top n is taken), and the lexical scores of chunks the user
may not read are removed before ranking (or, in a store that ranks, never computed). A chunk outside
the user's groups is never a candidate.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

from tailor import plugins
from tailor.artifacts import read_json_artifact, write_json_atomic
from tailor.data.corpus import Document
from tailor.errors import ArtifactError
from tailor.progress import Reporter, SilentReporter
from tailor.rag.chunking import CountTokens, chunk_text
from tailor.rag.embed import Embedder
from tailor.rag.lexical import Bm25, terms
from tailor.rag.store import Chunk, LexicalStore, OpenStore, Server, StoreSpec, VectorStore

MANIFEST = "index.json"
MANIFEST_KEYS = ("store", "table", "settings", "ingests")
DEFAULT_STORE = "lancedb"  # the store of a new index (and of one whose manifest predates the field)
BATCH_CHUNKS = 512  # chunks embedded and committed together by default
# Query vectors kept per open index (~1.5 MB at 384 dimensions): a question asked again (a served FAQ, an
# eval suite re-asking its questions as other users) is not embedded again.
QUERY_CACHE = 1024


@dataclass(frozen=True)
class IndexSettings:
    """What the stored vectors depend on. Other settings mean another table."""

    embedder: str
    dim: int
    chunk_tokens: int
    chunk_overlap: int
    tokenizer: str

    def table_name(self) -> str:
        digest = hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]
        return f"chunks_{digest}"


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float  # fused reciprocal-rank score
    ranks: dict[str, int] = field(default_factory=dict)  # retriever → 1-based rank


@dataclass(frozen=True)
class IngestReport:
    added: int
    updated: int
    removed: int
    unchanged: int
    chunks_embedded: int
    chunks_total: int
    seconds: float
    rebuilt: bool = False

    def summary(self) -> str:
        what = "rebuilt" if self.rebuilt else "updated"
        return (
            f"index {what}: {self.added} added, {self.updated} changed, {self.removed} removed, "
            f"{self.unchanged} unchanged documents; {self.chunks_embedded} chunks embedded, "
            f"{self.chunks_total} in the index ({self.seconds:.1f} s)"
        )


@contextmanager
def _exclusive(index_dir: Path) -> Iterator[None]:
    """One ingest at a time per index (a second waits); readers never need the lock.

    filelock, not fcntl: the same lock on Windows, where fcntl does not exist.
    """
    index_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(index_dir / ".lock"):
        yield


def _spec(store: str) -> StoreSpec:
    """The store plug-in named ``store``.

    Raises:
        ArtifactError: no such store is installed.
    """
    try:
        return plugins.store(store)
    except KeyError as e:
        raise ArtifactError(f"vector store: {e.args[0]}") from None


def _opener(store: str) -> OpenStore:
    """The ``open`` of the store plug-in named ``store`` (raises as :func:`_spec`)."""
    return _spec(store).open


def _store_of(manifest: dict[str, Any]) -> str:
    return manifest.get("store", DEFAULT_STORE)  # manifests written before stores were plug-ins


def ingest(
    documents: Sequence[Document],
    index_dir: Path,
    settings: IndexSettings,
    embedder: Embedder,
    count_tokens: CountTokens,
    reporter: Reporter | None = None,
    batch_chunks: int = BATCH_CHUNKS,
    store: str = DEFAULT_STORE,
    server: Server | None = None,
) -> IngestReport:
    """Bring the index at ``index_dir`` up to date with ``documents``: embed only new or changed ones.

    Work is committed every ``batch_chunks`` chunks (whole documents), so a kill loses one batch at most.
    ``store``: the vector store plug-in to keep it in; an index kept in another is rebuilt beside it.
    ``server``: where that store's database is, for a store that has one.

    Raises:
        ArtifactError: the index directory cannot be used (store missing, unreadable manifest).
    """
    reporter = reporter or SilentReporter()
    start = time.perf_counter()
    index_dir = Path(index_dir)
    with _exclusive(index_dir):
        manifest = _read_manifest(index_dir)
        name = settings.table_name()
        rebuilt = manifest is not None and (_store_of(manifest), manifest["table"]) != (store, name)
        if rebuilt:
            reporter.log(f"index settings changed; building {name} beside {manifest['table']} (kept until done)")
        target = _opener(store)(index_dir, name, settings.dim, server)
        todo, removed, unchanged, stored = _changes(target, documents)
        chunks_embedded = _embed_and_commit(target, todo, settings, embedder, count_tokens, reporter, batch_chunks)
        target.delete(removed)
        report = IngestReport(
            added=sum(1 for d in todo if d.doc_id not in stored),
            updated=sum(1 for d in todo if d.doc_id in stored),
            removed=len(removed),
            unchanged=unchanged,
            chunks_embedded=chunks_embedded,
            chunks_total=target.count(),
            seconds=round(time.perf_counter() - start, 3),
            rebuilt=rebuilt,
        )
        ingests = (manifest or {}).get("ingests", []) if not rebuilt else []
        record = {"at": datetime.now(UTC).isoformat(timespec="seconds"), **asdict(report)}
        write_json_atomic(
            index_dir / MANIFEST,
            {"store": store, "table": name, "settings": asdict(settings), "ingests": [*ingests, record]},
        )
        if rebuilt:
            with suppress(ArtifactError):  # already gone: nothing to drop
                _opener(_store_of(manifest))(index_dir, manifest["table"], server=server).drop()
    return report


def _changes(target, documents: Sequence[Document]) -> tuple[list[Document], list[str], int, dict]:
    """What an ingest must do to the store: the documents to embed (new or changed, by id), the stored
    ids no longer among ``documents``, how many are current, and what the store held."""
    stored = target.stored_docs()
    current = {d.doc_id: d for d in documents}
    # A document counts as current only if its hash matches and all its chunks are there.
    fresh = {
        i
        for i, doc in stored.items()
        if i in current and current[i].content_hash == doc.doc_hash and doc.chunks == doc.n_chunks
    }
    todo = sorted((d for d in documents if d.doc_id not in fresh), key=lambda d: d.doc_id)
    return todo, sorted(set(stored) - set(current)), len(fresh), stored


def _embed_and_commit(
    store: VectorStore,
    todo: Sequence[Document],
    settings: IndexSettings,
    embedder: Embedder,
    count: CountTokens,
    reporter: Reporter,
    batch_chunks: int,
) -> int:
    if not todo:
        return 0
    chunks_by_doc = [(doc, _chunks_of(doc, settings, count)) for doc in todo]
    total = sum(len(chunks) for _, chunks in chunks_by_doc)
    done = 0
    with reporter.task(f"embed {total} chunks of {len(todo)} documents", total) as advance:
        batch: list[tuple[Document, list[Chunk]]] = []
        for item in chunks_by_doc:
            batch.append(item)
            if sum(len(c) for _, c in batch) >= batch_chunks:
                done += _commit(store, batch, embedder, advance)
                batch = []
        if batch:
            done += _commit(store, batch, embedder, advance)
    return done


def _chunks_of(doc: Document, settings: IndexSettings, count: CountTokens) -> list[Chunk]:
    pieces = chunk_text(doc.title, doc.text, settings.chunk_tokens, settings.chunk_overlap, count)
    return [
        Chunk(
            chunk_id=f"{doc.doc_id}#{doc.content_hash[:12]}#{p.position}",
            doc_id=doc.doc_id,
            title=doc.title,
            source=str(doc.path or ""),
            groups=frozenset(doc.groups),
            text=p.text,
            position=p.position,
            n_chunks=len(pieces),
            doc_hash=doc.content_hash,
        )
        for p in pieces
    ]


def _commit(
    store: VectorStore, batch: list[tuple[Document, list[Chunk]]], embedder: Embedder, advance: Callable[[int], None]
) -> int:
    """Embed the batch's chunks and replace its documents' chunks with them, in one atomic commit."""
    chunks = [c for _, doc_chunks in batch for c in doc_chunks]
    vectors = embedder.embed([c.text for c in chunks], advance) if chunks else np.zeros((0, embedder.dim))
    store.upsert([doc.doc_id for doc, _ in batch], chunks, vectors)
    return len(chunks)


def copy_index(src: Path, dst: Path, server: Server | None = None) -> Path:
    """A copy of the index at ``src`` in ``dst`` (replacing what is there), to update without touching ``src``.

    A store whose files live under the index directory (LanceDB tables hold relative paths) is copied with
    them; one in a database server (``server``) is copied there by its ``StoreSpec.copy``. An ingest
    into ``src`` waits until the copy is done.

    Raises:
        ArtifactError: no index at ``src``.
    """
    src, dst = Path(src), Path(dst)
    manifest = _read_manifest(src)
    if manifest is None:
        raise ArtifactError(f"{src}: no index here; run `tailor ingest` first")
    staging = dst.with_name(dst.name + ".staging")  # a copy cut short never stands as dst
    shutil.rmtree(staging, ignore_errors=True)
    with _exclusive(src):
        shutil.copytree(src, staging, ignore=shutil.ignore_patterns(".lock"))
        copy = _spec(_store_of(manifest)).copy
        if copy is not None:
            copy(src, staging, manifest["table"], server)
    shutil.rmtree(dst, ignore_errors=True)
    os.replace(staging, dst)
    return dst


@dataclass(frozen=True)
class Dropped:
    """What :func:`drop_index` deleted."""

    index_dir: Path
    tables: tuple[str, ...]  # in the store's server, each named with the server
    removed: bool  # the index directory (False: there was no index to drop)

    def summary(self) -> str:
        if not self.removed:
            return f"nothing to drop: no index at {self.index_dir}"
        tables = f"dropped {', '.join(self.tables)}; " if self.tables else "no tables in a server; "
        return f"{tables}removed {self.index_dir}"


def drop_index(index_dir: Path, store: str = DEFAULT_STORE, server: Server | None = None) -> Dropped:
    """Delete the index at ``index_dir``: its tables in its store's server, if it keeps any there (only this
    index's: other indexes on the server stay), then the directory. No index there: nothing is done.

    ``store``: the recipe's, asked as well as the manifest's (an ingest cut short before writing one). Copies of
    the directory made by hand (a serve machine's) point at the same tables; ``copy_index``'s have their own.

    Raises:
        ArtifactError: the index keeps tables in a server and none is given or it cannot be reached, or its
            manifest is unreadable.
    """
    index_dir = Path(index_dir)
    if not index_dir.is_dir():
        return Dropped(index_dir, (), removed=False)
    with _exclusive(index_dir):
        manifest = _read_manifest(index_dir)
        stores = [*([_store_of(manifest)] if manifest else []), store]
        drops = [drop for name in dict.fromkeys(stores) if (drop := _spec(name).drop) is not None]
        tables = tuple(table for drop in drops for table in drop(index_dir, server))
        removed = manifest is not None or bool(tables)
        if removed:
            for entry in index_dir.iterdir():  # all but the lock, held until the with ends
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                elif entry.name != ".lock":
                    entry.unlink()
    if removed:
        with suppress(OSError):  # Windows refuses while another process has the lock open: the directory stays
            (index_dir / ".lock").unlink()
            index_dir.rmdir()
    return Dropped(index_dir, tables, removed)


def _read_manifest(index_dir: Path) -> dict[str, Any] | None:
    path = index_dir / MANIFEST
    return read_json_artifact(path, MANIFEST_KEYS, "index manifest") if path.exists() else None


class ChunkIndex:
    """A read-only view of one committed version of the index, for hybrid search.

    Every query goes to a snapshot of the store; in memory are only the chunk ids and groups (which the
    BM25 scores are ranked through) and the BM25 index itself, unless the store ranks by BM25.
    """

    def __init__(self, index_dir: Path, embedder: Embedder, server: Server | None = None):
        """The index at ``index_dir``, its store's database at ``server`` if it has one."""
        index_dir = Path(index_dir)
        manifest = _read_manifest(index_dir)
        if manifest is None:
            raise ArtifactError(f"{index_dir}: no index here; run `tailor ingest` first")
        self.settings = IndexSettings(**manifest["settings"])
        # What building the current contents cost: every ingest into this table, added up.
        self.build_s = round(sum(i["seconds"] for i in manifest["ingests"]), 3)
        if self.settings.embedder != embedder.name:
            raise ArtifactError(
                f"{index_dir}: built with embedder {self.settings.embedder}, not {embedder.name}; run `tailor ingest`"
            )
        self.embedder = embedder
        self.store = _opener(_store_of(manifest))(index_dir, manifest["table"], server=server).snapshot()
        self.version = self.store.version
        listing = self.store.listing()
        self._ids = listing.chunk_ids  # BM25's document order: chunk ids sorted
        self._groups = listing.groups
        # A store that ranks by BM25 itself keeps the texts there; otherwise tailor keeps a BM25 index.
        self._bm25: Bm25 | None = None
        if not isinstance(self.store, LexicalStore):
            cache = index_dir / "bm25" / f"{manifest['table']}-v{self.version}"
            self._bm25 = Bm25.load_or_build(cache, self._ids, lambda: self.store.listing(texts=True).texts or ())
        self._masks: dict[frozenset[str], np.ndarray] = {}
        self._query_vector = functools.lru_cache(maxsize=QUERY_CACHE)(self._embed_query)

    def _embed_query(self, query: str) -> np.ndarray:
        vector = self.embedder.embed([query])[0]
        vector.setflags(write=False)  # shared by every search that asks the same query
        return vector

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def chunks(self) -> list[Chunk]:
        """Every chunk, in chunk-id order, read from the store now (for inspection: search never needs it)."""
        return self.store.chunks(self._ids)

    def chunk(self, chunk_id: str) -> Chunk:
        return self.store.chunks([chunk_id])[0]

    def vector(self, chunk_id: str) -> np.ndarray:
        return self.store.vectors([chunk_id])[0]

    def vectors(self, chunk_ids: Sequence[str]) -> np.ndarray:
        """(len(chunk_ids), dim), unit length, in that order."""
        return self.store.vectors(chunk_ids)

    def _mask(self, groups: frozenset[str]) -> np.ndarray:
        if groups not in self._masks:
            self._masks[groups] = np.fromiter((not g.isdisjoint(groups) for g in self._groups), bool, len(self))
        return self._masks[groups]

    def dense(self, query: str, groups: frozenset[str], n: int) -> list[str]:
        """Chunk ids by embedding similarity, among chunks ``groups`` may read (filtered inside the store)."""
        if not groups:
            return []
        return [chunk_id for chunk_id, _ in self.store.dense(self._query_vector(query), groups, n)]

    def lexical(self, query: str, groups: frozenset[str], n: int) -> list[str]:
        """Chunk ids by BM25, scored only among chunks ``groups`` may read (in the store's query, if it ranks)."""
        if not groups:
            return []
        if self._bm25 is None:
            return [chunk_id for chunk_id, _ in self.store.lexical(terms(query), groups, n)]
        scores = self._bm25.scores(query)
        scores[~self._mask(groups)] = 0.0  # pre-filter: unreadable chunks never compete for a rank
        candidates = np.flatnonzero(scores > 0)
        top = candidates[np.argsort(-scores[candidates], kind="stable")[:n]]
        return [self._ids[i] for i in top]

    def search(
        self,
        query: str,
        groups: frozenset[str],
        n: int,
        retrievers: Sequence[str] = ("dense", "lexical"),
        rrf_k: int = 60,
    ) -> list[Hit]:
        """Hybrid search: each retriever ranks up to ``n`` readable chunks; reciprocal rank fusion merges them."""
        if not groups or not len(self):
            return []
        ranked = {name: getattr(self, name)(query, groups, n) for name in retrievers}
        fused: dict[str, float] = {}
        ranks: dict[str, dict[str, int]] = {}
        for name, ids in ranked.items():
            for rank, chunk_id in enumerate(ids, start=1):
                fused[chunk_id] = fused.get(chunk_id, 0.0) + 1.0 / (rrf_k + rank)
                ranks.setdefault(chunk_id, {})[name] = rank
        order = sorted(fused, key=lambda i: (-fused[i], i))
        # Defence in depth: the filters above already excluded these, and the store shows the texts only of
        # chunks the groups may read; a violation of either is a bug, never an answer.
        try:
            found = self.store.chunks(order, groups)
        except KeyError:
            raise AssertionError("access filter violated: the store hides a chunk the filters let through") from None
        hits = [Hit(c, fused[c.chunk_id], ranks[c.chunk_id]) for c in found]
        if any(h.chunk.groups.isdisjoint(groups) for h in hits):
            raise AssertionError("access filter violated: a chunk outside the user's groups was retrieved")
        return hits
