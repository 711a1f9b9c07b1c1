"""The vector store interface, against every store for real (LanceDB, and pgvector on a throwaway PostgreSQL
server): atomic upserts, deletes, filtered search, versions."""

from __future__ import annotations

import functools
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tailor import plugins
from tailor.errors import ArtifactError
from tailor.rag.store import Chunk, VectorStore

DIM = 8


def _chunks(doc_id: str, n: int, groups: set[str], version: str = "v1") -> list[Chunk]:
    return [
        Chunk(
            f"{doc_id}#{version}#{i}",
            doc_id,
            doc_id.title(),
            "",
            frozenset(groups),
            f"{doc_id} {version} part {i}",
            i,
            n,
            version,
        )
        for i in range(n)
    ]


def _vectors(n: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture
def opener(each_store) -> Callable[..., VectorStore]:
    """The store's ``open`` with its server bound: (index_dir, name, dim=None) → store."""
    name, server = each_store
    return functools.partial(plugins.store(name).open, server=server)


@pytest.fixture
def store(tmp_path: Path, opener) -> VectorStore:
    return opener(tmp_path, "chunks_test", DIM)


def _ids(store: VectorStore, doc_id: str) -> set[str]:
    return {i for i in store.listing().chunk_ids if i.startswith(f"{doc_id}#")}


def test_the_store_declares_itself_and_opens_a_vector_store(store) -> None:
    assert isinstance(store, VectorStore)
    assert store.count() == 0 and store.listing().chunk_ids == ()


def test_upsert_replaces_a_documents_chunks_in_one_commit(store) -> None:
    a1, b = _chunks("a", 3, {"everyone"}), _chunks("b", 2, {"everyone"})
    store.upsert(["a", "b"], a1 + b, _vectors(5, 0))
    before = store.snapshot()
    version = store.version

    a2 = _chunks("a", 2, {"everyone"}, "v2")
    store.upsert(["a"], a2, _vectors(2, 1))
    assert store.version == version + 1  # one commit: new chunks in and old ones out together
    assert _ids(store, "a") == {c.chunk_id for c in a2} and _ids(store, "b") == {c.chunk_id for c in b}
    assert store.stored_docs()["a"].doc_hash == "v2" and store.count() == 4
    # The version before the commit still holds the whole old document, and only it.
    assert _ids(before, "a") == {c.chunk_id for c in a1} and before.count() == 5

    store.upsert(["b"], [], np.zeros((0, DIM), np.float32))  # a document that now has no chunks
    assert _ids(store, "b") == set() and "b" not in store.stored_docs()


def test_upsert_refuses_chunks_of_another_document(store) -> None:
    with pytest.raises(ValueError, match="not being upserted"):
        store.upsert(["a"], _chunks("b", 1, {"everyone"}), _vectors(1, 0))
    assert store.count() == 0


def test_delete_removes_whole_documents_and_nothing_else(store) -> None:
    store.upsert(
        ["a", "b", "c"], _chunks("a", 2, {"x"}) + _chunks("b", 3, {"x"}) + _chunks("c", 1, {"x"}), _vectors(6, 0)
    )
    store.delete(["a", "c", "missing"])
    assert set(store.stored_docs()) == {"b"} and store.count() == 3
    stored = store.stored_docs()["b"]
    assert (stored.chunks, stored.n_chunks) == (3, 3)


def test_filtered_dense_search_never_returns_a_chunk_outside_the_groups(store) -> None:
    everyone, finance = _chunks("open", 40, {"everyone"}), _chunks("fin", 3, {"finance"})
    vectors = _vectors(43, 0)
    store.upsert(["open", "fin"], everyone + finance, vectors)
    groups_of = {c.chunk_id: c.groups for c in everyone + finance}
    for seed in range(20):
        query = _vectors(1, 100 + seed)[0]
        for groups in ({"everyone"}, {"finance"}, {"hr"}, {"everyone", "finance"}):
            hits = store.dense(query, frozenset(groups), 10)
            assert all(not groups_of[i].isdisjoint(groups) for i, _ in hits)
    assert store.dense(vectors[0], frozenset(), 10) == []


def test_a_group_that_reads_few_chunks_still_gets_up_to_n_of_its_own(store) -> None:
    everyone, finance = _chunks("open", 40, {"everyone"}), _chunks("fin", 3, {"finance"})
    vectors = _vectors(43, 0)
    store.upsert(["open", "fin"], everyone + finance, vectors)
    # A query right on an everyone chunk: a post-filter of the global top 3 would leave finance nothing.
    hits = store.dense(vectors[0], frozenset({"finance"}), 3)
    assert {i for i, _ in hits} == {c.chunk_id for c in finance}
    assert len(store.dense(vectors[0], frozenset({"finance"}), 10)) == 3


def test_dense_scores_are_exact_cosine_similarities_best_first(store) -> None:
    chunks, vectors = _chunks("a", 30, {"everyone"}), _vectors(30, 0)
    store.upsert(["a"], chunks, vectors)
    query = _vectors(1, 7)[0]
    hits = store.dense(query, frozenset({"everyone"}), 30)
    expected = np.argsort(-(vectors @ query), kind="stable")
    assert [i for i, _ in hits] == [chunks[j].chunk_id for j in expected]
    assert [s for _, s in hits] == pytest.approx(sorted(vectors @ query, reverse=True), abs=1e-5)


def test_chunks_and_vectors_are_fetched_by_id_in_the_order_asked(store) -> None:
    chunks, vectors = _chunks("a", 5, {"everyone", "hr"}), _vectors(5, 0)
    store.upsert(["a"], chunks, vectors)
    ids = [chunks[3].chunk_id, chunks[0].chunk_id, chunks[3].chunk_id]
    assert store.chunks(ids) == [chunks[3], chunks[0], chunks[3]]
    np.testing.assert_array_equal(store.vectors(ids), vectors[[3, 0, 3]])
    with pytest.raises(KeyError, match="a#v9#0"):
        store.chunks(["a#v9#0"])
    assert store.chunks(ids[:2], frozenset({"hr"})) == [chunks[3], chunks[0]]
    with pytest.raises(KeyError, match="for these groups"):  # there, but not for them: as good as absent
        store.chunks(ids[:1], frozenset({"finance"}))


def test_listing_is_in_chunk_id_order_with_groups_and_texts_on_request(store) -> None:
    chunks = _chunks("b", 2, {"x"}) + _chunks("a", 12, {"y", "z"})
    store.upsert(["a", "b"], chunks, _vectors(14, 0))
    listing = store.listing(texts=True)
    assert listing.chunk_ids == tuple(sorted(c.chunk_id for c in chunks))
    by_id = {c.chunk_id: c for c in chunks}
    assert listing.groups == tuple(by_id[i].groups for i in listing.chunk_ids)
    assert listing.texts == tuple(by_id[i].text for i in listing.chunk_ids)
    assert store.listing().texts is None


def test_count_and_version_and_a_read_only_snapshot(store) -> None:
    v0 = store.version
    store.upsert(["a"], _chunks("a", 3, {"x"}), _vectors(3, 0))
    store.upsert(["b"], _chunks("b", 2, {"x"}), _vectors(2, 1))
    assert store.version == v0 + 2 and store.count() == 5
    snap = store.snapshot()
    store.delete(["a"])
    assert store.count() == 2 and store.version == v0 + 3
    assert snap.version == v0 + 2 and snap.count() == 5 and len(snap.chunks(_ids(snap, "a"))) == 3
    with pytest.raises(ValueError):
        snap.delete(["b"])


def test_opening_a_missing_store_without_a_dim_and_dropping(tmp_path: Path, store, opener) -> None:
    open_store = opener
    with pytest.raises(ArtifactError, match="no table other"):
        open_store(tmp_path, "other")
    store.upsert(["a"], _chunks("a", 1, {"x"}), _vectors(1, 0))
    assert open_store(tmp_path, "chunks_test").count() == 1
    store.drop()
    with pytest.raises(ArtifactError, match="no table chunks_test"):
        open_store(tmp_path, "chunks_test")


def test_one_ingest_at_a_time_per_index(tmp_path: Path) -> None:
    from tailor.rag.index import _exclusive

    order: list[str] = []

    def second() -> None:
        with _exclusive(tmp_path):
            order.append("second")

    with _exclusive(tmp_path):
        waiting = threading.Thread(target=second)
        waiting.start()
        waiting.join(0.5)  # it waits for the first to finish
        order.append("first done")
    waiting.join(10)
    assert order == ["first done", "second"]


def test_the_index_imports_without_fcntl() -> None:
    """Windows has no fcntl: the rag modules must import without it (filelock picks the platform's lock)."""
    modules = "tailor.rag.index, tailor.rag.stores.lancedb, tailor.rag.stores.pgvector"
    code = f"import sys; sys.modules['fcntl'] = None; import {modules}"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
