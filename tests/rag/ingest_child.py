"""Run an ingest in a child process so a test can kill it (-9) part way. Not collected as a test.

    python tests/rag/ingest_child.py INDEX_DIR VARIANT CHUNK_TOKENS [STORE [SERVER_URI]]

VARIANT 1 is the medium world's documents; VARIANT 2 the same with every document edited, so all of
them must be embedded again. STORE (default lancedb) is the vector store, SERVER_URI the URI of its
database server if it has one. Prints one line per batch embedded, so the parent knows where it is.
"""

from __future__ import annotations

import hashlib
import sys
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path


def documents(variant: int):
    from tailor.data.corpus import Document
    from tailor.data.world import generate_world

    docs = [Document(d.doc_id, d.title, d.text, frozenset(d.groups)) for d in generate_world(0, "medium").documents]
    if variant == 2:
        docs = [replace(d, text=d.text + "\n\nRevised in version 2.") for d in docs]
    return [replace(d, content_hash=hashlib.sha256(d.text.encode()).hexdigest()) for d in docs]


class LineReporter:
    def log(self, message: str) -> None:
        pass

    @contextmanager
    def task(self, description, total):
        def advance(n: int) -> None:
            print(f"advanced {n}", flush=True)

        yield advance


def main() -> None:
    from tailor.rag.embed import MiniLMEmbedder
    from tailor.rag.index import IndexSettings, ingest
    from tailor.rag.store import Server

    index_dir, variant, chunk_tokens = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    store = sys.argv[4] if len(sys.argv) > 4 else "lancedb"
    server = Server(sys.argv[5]) if len(sys.argv) > 5 else None
    embedder = MiniLMEmbedder()
    settings = IndexSettings(embedder.name, embedder.dim, chunk_tokens, 8, "words")
    report = ingest(
        documents(variant),
        index_dir,
        settings,
        embedder,
        lambda t: len(t.split()),
        LineReporter(),
        batch_chunks=16,
        store=store,
        server=server,
    )
    print(f"done {report.chunks_embedded}", flush=True)


if __name__ == "__main__":
    main()
