"""The demo tables in README.md and docs/demo.md are what bench/demo_docs.py writes from demo.json."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _demo_docs():
    spec = importlib.util.spec_from_file_location("demo_docs", ROOT / "bench" / "demo_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_blocks_match_the_recorded_demo():
    docs = _demo_docs()
    record = json.loads(docs.RESULTS.read_text())
    for path, block in docs.blocks(record).items():
        text = path.read_text()
        assert docs.replace_block(text, block, path) == text, f"{path.name} is stale: run python bench/demo_docs.py"


def test_summary_has_one_row_per_strategy_and_marks_the_missing():
    docs = _demo_docs()
    record = json.loads(docs.RESULTS.read_text())
    table = docs.summary_table(record)
    strategies = {r["strategy"] for r in record["results"] if not r.get("vs")}
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| strategy")]
    assert {row.split(" | ")[0][2:] for row in rows} == strategies
    rag = next(row for row in rows if row.startswith("| rag |"))
    assert "| – |" in rag  # rag does not answer the routing dataset


def test_the_model_ladder_block_matches_its_record():
    spec = importlib.util.spec_from_file_location("ladder_docs", ROOT / "bench" / "ladder_docs.py")
    docs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(docs)
    record = json.loads(docs.RESULTS.read_text())
    text = docs.DOC.read_text()
    assert docs.replace_block(text, docs.block(record), docs.DOC) == text, "run python bench/ladder_docs.py"
