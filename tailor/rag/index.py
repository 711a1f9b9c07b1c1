"""The chunk index: LanceDB (vectors + metadata, on disk) with a BM25 index derived from it.

Crash safety: LanceDB commits are atomic, and every commit here is whole documents — a changed
document's new chunks are inserted and its old chunks deleted in one ``merge_insert``. A killed
ingest leaves the last committed version, which is consistent and searchable; the next ingest
sees which documents are current (by content hash, stored in the rows) and does the rest.
The BM25 index is derived from a table version and cached per version, so it can never disagree
with the vectors. ``index.json`` names the active table; a table built with other settings
(embedder, chunk size) is built beside the active one and switched to only when complete.

Access control is a pre-filter inside both queries: the dense search runs with
``array_has_any(groups, [...])`` as a LanceDB prefilter, and the lexical scores of chunks the user
may not read are removed before ranking. A chunk outside the user's groups is never a candidate.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from tailor.artifacts import read_json_artifact, write_json_atomic
from tailor.data.corpus import Document, validate_group
from tailor.errors import ArtifactError
from tailor.progress import Reporter, SilentReporter
from tailor.rag.chunking import CountTokens, chunk_text
from tailor.rag.embed import Embedder

MANIFEST = "index.json"
MANIFEST_KEYS = ("table", "settings", "ingests")
BATCH_CHUNKS = 512  # chunks embedded and committed together by default
_TOKEN = r"(?u)\b\w\w+\b"  # bm25s's default word pattern, used for documents and queries alike
_META_COLUMNS = ("chunk_id", "doc_id", "title", "source", "groups", "text", "position", "n_chunks", "doc_hash")


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
class Chunk:
    chunk_id: str
    doc_id: str
    title: str
    source: str
    groups: frozenset[str]
    text: str
    position: int
    n_chunks: int
    doc_hash: str


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


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _group_filter(groups: Sequence[str]) -> str:
    """The LanceDB prefilter for chunks readable by ``groups`` (names validated: they enter an expression)."""
    return f"array_has_any(groups, [{', '.join(_sql_str(validate_group(g)) for g in sorted(groups))}])"


def _schema(dim: int):
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("chunk_id", pa.string()),
            pa.field("doc_id", pa.string()),
            pa.field("title", pa.string()),
            pa.field("source", pa.string()),
            pa.field("groups", pa.list_(pa.string())),
            pa.field("text", pa.string()),
            pa.field("position", pa.int32()),
            pa.field("n_chunks", pa.int32()),
            pa.field("doc_hash", pa.string()),
            pa.field("vector", pa.list_(pa.float32(), dim)),
        ]
    )


@contextmanager
def _exclusive(index_dir: Path) -> Iterator[None]:
    """One ingest at a time per index (a second waits); readers never need the lock."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _connect(index_dir: Path):
    try:
        import lancedb
    except ImportError:
        raise ArtifactError("the rag strategy needs lancedb: pip install 'llm-tailor[rag]'") from None
    return lancedb.connect(str(index_dir / "lance"))


def _open_or_create(db, name: str, dim: int):
    if name in db.table_names():
        return db.open_table(name)
    return db.create_table(name, schema=_schema(dim))


def _stored_docs(table) -> dict[str, tuple[str, int, int]]:
    """doc_id → (content hash, chunks stored, chunks expected) for what the table holds now."""
    data = table.to_arrow().select(["doc_id", "doc_hash", "n_chunks"]).to_pylist()
    docs: dict[str, tuple[str, int, int]] = {}
    for row in data:
        h, n, expected = docs.get(row["doc_id"], (row["doc_hash"], 0, row["n_chunks"]))
        docs[row["doc_id"]] = (h, n + 1, expected)
    return docs


def ingest(
    documents: Sequence[Document],
    index_dir: Path,
    settings: IndexSettings,
    embedder: Embedder,
    count_tokens: CountTokens,
    reporter: Reporter | None = None,
    batch_chunks: int = BATCH_CHUNKS,
) -> IngestReport:
    """Bring the index at ``index_dir`` up to date with ``documents``: embed only new or changed ones.

    Work is committed every ``batch_chunks`` chunks (whole documents), so a kill loses one batch at most.

    Raises:
        ArtifactError: the index directory cannot be used (lancedb missing, unreadable manifest).
    """
    reporter = reporter or SilentReporter()
    start = time.perf_counter()
    index_dir = Path(index_dir)
    with _exclusive(index_dir):
        manifest = _read_manifest(index_dir)
        db = _connect(index_dir)
        name = settings.table_name()
        rebuilt = manifest is not None and manifest["table"] != name
        if rebuilt:
            reporter.log(f"index settings changed; building {name} beside {manifest['table']} (kept until done)")
        table = _open_or_create(db, name, settings.dim)
        stored = _stored_docs(table)
        current = {d.doc_id: d for d in documents}
        # A document counts as current only if its hash matches and all its chunks are there.
        fresh = {
            i
            for i, (h, n, expected) in stored.items()
            if i in current and current[i].content_hash == h and n == expected
        }
        todo = sorted((d for d in documents if d.doc_id not in fresh), key=lambda d: d.doc_id)
        removed = sorted(set(stored) - set(current))
        chunks_embedded = _embed_and_commit(table, todo, settings, embedder, count_tokens, reporter, batch_chunks)
        for start_i in range(0, len(removed), 500):
            table.delete(f"doc_id IN ({', '.join(_sql_str(i) for i in removed[start_i : start_i + 500])})")
        seconds = time.perf_counter() - start
        report = IngestReport(
            added=sum(1 for d in todo if d.doc_id not in stored),
            updated=sum(1 for d in todo if d.doc_id in stored),
            removed=len(removed),
            unchanged=len(fresh),
            chunks_embedded=chunks_embedded,
            chunks_total=table.count_rows(),
            seconds=round(seconds, 3),
            rebuilt=rebuilt,
        )
        ingests = (manifest or {}).get("ingests", []) if not rebuilt else []
        record = {"at": datetime.now(UTC).isoformat(timespec="seconds"), **asdict(report)}
        write_json_atomic(
            index_dir / MANIFEST, {"table": name, "settings": asdict(settings), "ingests": [*ingests, record]}
        )
        if rebuilt:
            db.drop_table(manifest["table"])
    return report


def _embed_and_commit(
    table,
    todo: Sequence[Document],
    settings: IndexSettings,
    embedder: Embedder,
    count: CountTokens,
    reporter: Reporter,
    batch_chunks: int,
) -> int:
    if not todo:
        return 0
    rows_by_doc = [(doc, _chunk_rows(doc, settings, count)) for doc in todo]
    total = sum(len(rows) for _, rows in rows_by_doc)
    done = 0
    with reporter.task(f"embed {total} chunks of {len(todo)} documents", total) as advance:
        batch: list[tuple[Document, list[dict]]] = []
        for item in rows_by_doc:
            batch.append(item)
            if sum(len(r) for _, r in batch) >= batch_chunks:
                done += _commit(table, batch, embedder, advance)
                batch = []
        if batch:
            done += _commit(table, batch, embedder, advance)
    return done


def _chunk_rows(doc: Document, settings: IndexSettings, count: CountTokens) -> list[dict[str, Any]]:
    pieces = chunk_text(doc.title, doc.text, settings.chunk_tokens, settings.chunk_overlap, count)
    return [
        {
            "chunk_id": f"{doc.doc_id}#{doc.content_hash[:12]}#{p.position}",
            "doc_id": doc.doc_id,
            "title": doc.title,
            "source": str(doc.path or ""),
            "groups": sorted(doc.groups),
            "text": p.text,
            "position": p.position,
            "n_chunks": len(pieces),
            "doc_hash": doc.content_hash,
        }
        for p in pieces
    ]


def _commit(table, batch: list[tuple[Document, list[dict]]], embedder: Embedder, advance: Callable[[int], None]) -> int:
    """Insert the batch's chunks and delete its documents' old chunks, in one atomic commit."""
    import pyarrow as pa

    rows = [r for _, doc_rows in batch for r in doc_rows]
    vectors = embedder.embed([r["text"] for r in rows], advance) if rows else np.zeros((0, embedder.dim))
    for row, vec in zip(rows, vectors, strict=True):
        row["vector"] = vec.tolist()
    source = pa.Table.from_pylist(rows, schema=table.schema)
    doc_ids = ", ".join(_sql_str(doc.doc_id) for doc, _ in batch)
    (
        table.merge_insert("chunk_id")
        .when_matched_update_all()
        .when_not_matched_insert_all()
        .when_not_matched_by_source_delete(f"doc_id IN ({doc_ids})")
        .execute(source)
    )
    return len(rows)


def copy_index(src: Path, dst: Path) -> Path:
    """A copy of the index at ``src`` in ``dst`` (replacing what is there), to update without touching ``src``.

    LanceDB tables hold relative paths, so the copy is a complete index; an ingest into ``src`` waits
    until the copy is done.

    Raises:
        ArtifactError: no index at ``src``.
    """
    src, dst = Path(src), Path(dst)
    if _read_manifest(src) is None:
        raise ArtifactError(f"{src}: no index here; run `tailor ingest` first")
    staging = dst.with_name(dst.name + ".staging")  # a copy cut short never stands as dst
    shutil.rmtree(staging, ignore_errors=True)
    with _exclusive(src):
        shutil.copytree(src, staging, ignore=shutil.ignore_patterns(".lock"))
    shutil.rmtree(dst, ignore_errors=True)
    os.replace(staging, dst)
    return dst


def _read_manifest(index_dir: Path) -> dict[str, Any] | None:
    path = index_dir / MANIFEST
    return read_json_artifact(path, MANIFEST_KEYS, "index manifest") if path.exists() else None


class ChunkIndex:
    """A read-only view of one committed version of the index, for hybrid search."""

    def __init__(self, index_dir: Path, embedder: Embedder):
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
        self.table = _connect(index_dir).open_table(manifest["table"])
        self.version = self.table.version
        data = self.table.to_arrow()
        order = np.argsort(np.asarray(data.column("chunk_id").to_pylist(), dtype=object), kind="stable")
        columns = {c: data.column(c).to_pylist() for c in _META_COLUMNS}
        self.chunks = [
            Chunk(**{c: columns[c][i] for c in _META_COLUMNS if c != "groups"}, groups=frozenset(columns["groups"][i]))
            for i in order
        ]
        self._by_id = {c.chunk_id: i for i, c in enumerate(self.chunks)}
        # (n_chunks, dim) in self.chunks order; only reranking reads it
        flat = data.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
        self._vectors = flat.reshape(-1, self.settings.dim)[order] if len(order) else np.zeros((0, self.settings.dim))
        self._lexical = _Lexical.load_or_build(index_dir / "bm25" / f"{manifest['table']}-v{self.version}", self.chunks)
        self._masks: dict[frozenset[str], np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.chunks)

    def chunk(self, chunk_id: str) -> Chunk:
        return self.chunks[self._by_id[chunk_id]]

    def vector(self, chunk_id: str) -> np.ndarray:
        return self._vectors[self._by_id[chunk_id]]

    def _mask(self, groups: frozenset[str]) -> np.ndarray:
        if groups not in self._masks:
            self._masks[groups] = np.fromiter((not c.groups.isdisjoint(groups) for c in self.chunks), bool, len(self))
        return self._masks[groups]

    def dense(self, query: str, groups: frozenset[str], n: int) -> list[str]:
        """Chunk ids by embedding similarity, among chunks ``groups`` may read (LanceDB prefilter)."""
        vec = self.embedder.embed([query])[0]
        rows = (
            self.table.search(vec, vector_column_name="vector")
            .distance_type("cosine")
            .where(_group_filter(groups), prefilter=True)
            .select(["chunk_id", "_distance"])
            .limit(n)
            .to_list()
        )
        return [r["chunk_id"] for r in rows]

    def lexical(self, query: str, groups: frozenset[str], n: int) -> list[str]:
        """Chunk ids by BM25, scored only among chunks ``groups`` may read."""
        scores = self._lexical.scores(query)
        scores[~self._mask(groups)] = 0.0  # pre-filter: unreadable chunks never compete for a rank
        candidates = np.flatnonzero(scores > 0)
        top = candidates[np.argsort(-scores[candidates], kind="stable")[:n]]
        return [self.chunks[i].chunk_id for i in top]

    def search(
        self,
        query: str,
        groups: frozenset[str],
        n: int,
        retrievers: Sequence[str] = ("dense", "lexical"),
        rrf_k: int = 60,
    ) -> list[Hit]:
        """Hybrid search: each retriever ranks up to ``n`` readable chunks; reciprocal rank fusion merges them."""
        if not groups or not self.chunks:
            return []
        ranked = {name: getattr(self, name)(query, groups, n) for name in retrievers}
        fused: dict[str, float] = {}
        ranks: dict[str, dict[str, int]] = {}
        for name, ids in ranked.items():
            for rank, chunk_id in enumerate(ids, start=1):
                fused[chunk_id] = fused.get(chunk_id, 0.0) + 1.0 / (rrf_k + rank)
                ranks.setdefault(chunk_id, {})[name] = rank
        order = sorted(fused, key=lambda i: (-fused[i], i))
        hits = [Hit(self.chunk(i), fused[i], ranks[i]) for i in order]
        # Defence in depth: the filters above already excluded these; a violation is a bug, never an answer.
        if any(h.chunk.groups.isdisjoint(groups) for h in hits):
            raise AssertionError("access filter violated: a chunk outside the user's groups was retrieved")
        return hits


class _Lexical:
    """BM25 over chunk texts (title and heading path included), cached on disk per table version."""

    def __init__(self, retriever):
        from bm25s.stopwords import STOPWORDS_EN

        self.retriever = retriever
        self.stopwords = frozenset(STOPWORDS_EN)

    @classmethod
    def load_or_build(cls, cache: Path, chunks: Sequence[Chunk]) -> _Lexical:
        import bm25s
        from bm25s.tokenization import Tokenizer

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # bm25s sets its own logger to DEBUG
        ids = [c.chunk_id for c in chunks]
        if (cache / "chunk_ids.json").is_file() and json.loads((cache / "chunk_ids.json").read_text()) == ids:
            return cls(bm25s.BM25.load(str(cache), show_progress=False))
        retriever = bm25s.BM25()
        if chunks:
            tokens = Tokenizer(splitter=_TOKEN, stopwords="en").tokenize(
                [c.text for c in chunks], return_as="tuple", show_progress=False
            )
            retriever.index(tokens, show_progress=False)
            tmp = cache.with_name(cache.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            retriever.save(str(tmp), show_progress=False)
            (tmp / "chunk_ids.json").write_text(json.dumps(ids))
            for old in cache.parent.glob("*"):
                if old != tmp:
                    shutil.rmtree(old, ignore_errors=True)
            tmp.rename(cache)
        return cls(retriever)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every chunk for ``query`` (the index's own tokenisation: lower-case, no stopwords)."""
        vocab = self.retriever.vocab_dict or {}
        tokens = [t for t in re.findall(_TOKEN, query.lower()) if t not in self.stopwords and t in vocab]
        n = self.retriever.scores["num_docs"] if self.retriever.scores else 0
        return np.array(self.retriever.get_scores(tokens), dtype=np.float32) if tokens else np.zeros(n, np.float32)
