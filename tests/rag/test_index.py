"""The index: incremental ingest, crash safety under kill -9, settings changes, hybrid search."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from tailor.errors import ArtifactError
from tailor.rag.embed import MiniLMEmbedder, WordLlamaEmbedder
from tailor.rag.index import ChunkIndex, IndexSettings, ingest

CHILD = Path(__file__).with_name("ingest_child.py")
sys.path.insert(0, str(CHILD.parent))
from ingest_child import documents  # noqa: E402  (the child's document generator, shared on purpose)


def _words(text: str) -> int:
    return len(text.split())


@pytest.fixture(scope="module")
def wordllama() -> WordLlamaEmbedder:
    return WordLlamaEmbedder()


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    return MiniLMEmbedder()


def _settings(embedder, chunk_tokens: int = 48) -> IndexSettings:
    return IndexSettings(embedder.name, embedder.dim, chunk_tokens, 8, "words")


def _contents(index_dir: Path, embedder, server=None) -> dict[str, set[str]]:
    """doc_id → the set of document hashes its chunks come from (one, if the index is consistent)."""
    index = ChunkIndex(index_dir, embedder, server)
    out: dict[str, set[str]] = {}
    counts: dict[str, int] = {}
    for c in index.chunks:
        out.setdefault(c.doc_id, set()).add(c.doc_hash)
        counts[c.doc_id] = counts.get(c.doc_id, 0) + 1
        assert counts[c.doc_id] <= c.n_chunks
    for c in index.chunks:
        assert counts[c.doc_id] == c.n_chunks, f"{c.doc_id} is partly indexed"
    return out


def test_incremental_ingest_embeds_only_what_changed(tmp_path: Path, wordllama) -> None:
    docs = documents(1)
    first = ingest(docs, tmp_path, _settings(wordllama), wordllama, _words)
    assert (first.added, first.updated, first.removed, first.unchanged) == (len(docs), 0, 0, 0)
    again = ingest(docs, tmp_path, _settings(wordllama), wordllama, _words)
    assert (again.added, again.chunks_embedded, again.unchanged) == (0, 0, len(docs))

    changed = [replace(docs[0], text=docs[0].text + " New fact.", content_hash="x1"), *docs[1:-1]]
    third = ingest(changed, tmp_path, _settings(wordllama), wordllama, _words)
    assert (third.added, third.updated, third.removed, third.unchanged) == (0, 1, 1, len(docs) - 2)
    assert 0 < third.chunks_embedded < first.chunks_embedded
    contents = _contents(tmp_path, wordllama)
    assert docs[-1].doc_id not in contents
    assert contents[docs[0].doc_id] == {"x1"}


@pytest.mark.slow
def test_kill_minus_9_mid_ingest_leaves_a_usable_index_and_the_next_run_completes_it(
    tmp_path: Path, minilm, each_store
) -> None:
    store, server = each_store
    child_args = [str(CHILD), str(tmp_path), "VARIANT", "48", store, *([server.uri] if server else [])]

    def child(variant: int) -> list[str]:
        return [sys.executable, *(str(variant) if a == "VARIANT" else a for a in child_args)]

    v1 = subprocess.run(child(1), capture_output=True, text=True)
    assert v1.returncode == 0, v1.stderr  # the medium world's documents, ingested whole
    before = _contents(tmp_path, minilm, server)
    v2_hashes = {d.doc_id: d.content_hash for d in documents(2)}
    v1_hashes = {d.doc_id: d.content_hash for d in documents(1)}

    # Killed twice: inside the first batch, then several batches into the run that picks up after it.
    for kill_after in (1, 6):
        running = subprocess.Popen(child(2), stdout=subprocess.PIPE, text=True)
        for _ in range(kill_after):
            assert running.stdout.readline().startswith("advanced"), "the child finished before it could be killed"
        running.kill()  # SIGKILL: no cleanup, no finally blocks (a database rolls its transaction back)
        running.wait()

        after_kill = _contents(tmp_path, minilm, server)  # opens, and every document is whole
        assert set(after_kill) == set(before)
        assert all(h in ({v1_hashes[d]}, {v2_hashes[d]}) for d, h in after_kill.items())
        index = ChunkIndex(tmp_path, minilm, server)
        assert index.search("price of the product", frozenset({"everyone"}), 5)
    already_v2 = sum(1 for c in index.chunks if c.doc_hash == v2_hashes[c.doc_id])
    assert 0 < already_v2 < len(index)  # the killed runs committed some of the work, not all of it

    done = subprocess.run(child(2), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert _contents(tmp_path, minilm, server) == {d: {h} for d, h in v2_hashes.items()}
    re_embedded = int(done.stdout.strip().splitlines()[-1].split()[-1])
    # Exactly the work the killed runs had not committed is done again: nothing skipped, nothing repeated.
    assert re_embedded == len(ChunkIndex(tmp_path, minilm, server)) - already_v2


def test_new_settings_build_beside_the_active_table(tmp_path: Path, wordllama) -> None:
    docs = documents(1)[:20]
    ingest(docs, tmp_path, _settings(wordllama, 48), wordllama, _words)
    old = ChunkIndex(tmp_path, wordllama)
    report = ingest(docs, tmp_path, _settings(wordllama, 96), wordllama, _words)
    assert report.rebuilt and report.added == 20
    new = ChunkIndex(tmp_path, wordllama)
    assert new.settings.chunk_tokens == 96 and len(new) < len(old)


def test_opening_without_an_index_or_with_another_embedder_is_a_clear_error(tmp_path: Path, wordllama, minilm) -> None:
    with pytest.raises(ArtifactError, match="no index here; run `tailor ingest`"):
        ChunkIndex(tmp_path, wordllama)
    ingest(documents(1)[:3], tmp_path, _settings(wordllama), wordllama, _words)
    with pytest.raises(ArtifactError, match="built with embedder"):
        ChunkIndex(tmp_path, minilm)


def test_hybrid_search_finds_a_product_sheet_by_name_and_by_meaning(tmp_path: Path, minilm) -> None:
    docs = documents(1)
    ingest(docs, tmp_path, _settings(minilm, 96), minilm, _words)
    index = ChunkIndex(tmp_path, minilm)
    product = next(d for d in docs if d.doc_id.startswith("product-"))
    everyone = frozenset({"everyone"})
    hits = index.search(f"How much does the {product.title} cost?", everyone, 10)
    assert hits[0].chunk.doc_id == product.doc_id
    assert set(hits[0].ranks) == {"dense", "lexical"}
    lexical_only = index.search(product.title, everyone, 10, retrievers=["lexical"])
    assert lexical_only[0].chunk.doc_id == product.doc_id
    assert index.search("anything", frozenset(), 10) == []


def test_a_query_asked_again_is_not_embedded_again(tmp_path: Path, wordllama, monkeypatch) -> None:
    ingest(documents(1)[:12], tmp_path, _settings(wordllama), wordllama, _words)
    index = ChunkIndex(tmp_path, wordllama)
    embedded: list[str] = []
    real = wordllama.embed
    monkeypatch.setattr(wordllama, "embed", lambda texts, *a: embedded.extend(texts) or real(texts, *a))
    everyone, finance = frozenset({"everyone"}), frozenset({"everyone", "finance"})
    first = index.search("price of the product", everyone, 5)
    assert index.search("price of the product", everyone, 5) == first
    index.search("price of the product", finance, 5)  # another asker: the same query vector
    index.search("who signs the contracts", everyone, 5)
    assert embedded == ["price of the product", "who signs the contracts"]


def test_an_open_index_answers_from_the_version_it_opened(tmp_path: Path, wordllama) -> None:
    docs = documents(1)[:12]
    ingest(docs, tmp_path, _settings(wordllama), wordllama, _words)
    index = ChunkIndex(tmp_path, wordllama)
    everyone = frozenset({"everyone"})
    ids, hits = [c.chunk_id for c in index.chunks], index.search(docs[0].title, everyone, 5)

    ingest(docs[1:], tmp_path, _settings(wordllama), wordllama, _words)  # docs[0] removed meanwhile
    assert [c.chunk_id for c in index.chunks] == ids and len(index) == len(ids)
    assert index.search(docs[0].title, everyone, 5) == hits
    newer = ChunkIndex(tmp_path, wordllama)
    assert newer.version > index.version and docs[0].doc_id not in {c.doc_id for c in newer.chunks}


def test_the_manifest_names_its_store_and_an_older_one_without_it_still_opens(tmp_path: Path, wordllama) -> None:
    import json

    docs = documents(1)[:5]
    ingest(docs, tmp_path, _settings(wordllama), wordllama, _words)
    manifest = json.loads((tmp_path / "index.json").read_text())
    assert manifest["store"] == "lancedb"
    del manifest["store"]  # as tailor wrote it before stores were plug-ins
    (tmp_path / "index.json").write_text(json.dumps(manifest))
    index = ChunkIndex(tmp_path, wordllama)
    assert index.search(docs[0].title, frozenset({"everyone"}), 3)
    assert ingest(docs, tmp_path, _settings(wordllama), wordllama, _words).unchanged == len(docs)


def test_mmr_reads_the_hits_vectors_from_the_store(tmp_path: Path, wordllama) -> None:
    import numpy as np

    from tailor.rag.pipeline import mmr

    ingest(documents(1)[:30], tmp_path, _settings(wordllama), wordllama, _words)
    index = ChunkIndex(tmp_path, wordllama)
    hits = index.search("price and warranty of the product", frozenset({"everyone"}), 10)
    assert mmr(hits, index, 4, 1.0) == hits[:4]  # pure relevance: the fused order
    diverse = mmr(hits, index, 2, 0.0)  # pure diversity: the second pick is the least like the first
    vectors = np.stack([index.vector(h.chunk.chunk_id) for h in hits])
    first = hits.index(diverse[0])
    assert diverse[0] == hits[0] and hits.index(diverse[1]) == int(np.argmin(vectors @ vectors[first]))
    np.testing.assert_array_equal(index.vectors([h.chunk.chunk_id for h in hits]), vectors)
