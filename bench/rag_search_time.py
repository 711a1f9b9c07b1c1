"""How long rag's prompt search takes on the demo world, at the demo's search budget.

    python bench/rag_search_time.py        # prints the search's time, calls, choice and leaderboard

The small synthetic world and the demo's recipe (tailor.scaffold.DEMO_SCALE["small"]), the packaged
SmolLM2-135M-Instruct, the index built first (not timed with the search). Prints the wall time of
``tune_rag`` (bootstrapping, the raced search and the held-out confirmation), the generations the
search took, how many variants it scored, its choice with its dev and held-out scores, and every
scored variant. Nothing is written to bench/results: run it on an idle machine before quoting it.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

from tailor.rag.pipeline import INDEX, ensure_index
from tailor.rag.search import tune_rag
from tailor.recipe_file import load_recipe
from tailor.scaffold import DEMO_SCALE, init_project
from tailor.workspace import open_workspace


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="rag-search-time-"))
    try:
        ws = open_workspace(load_recipe(init_project(root, size="small", demo=DEMO_SCALE["small"])))
        qa = ws.datasets[0]
        index = ws.shared(INDEX, lambda: ensure_index(ws)).index
        start = time.perf_counter()
        tuned = tune_rag(ws, qa, "rag", ws.generator, index)
        took = time.perf_counter() - start
        print(f"rag search: {took:.1f} s, {tuned.calls} generations, {len(tuned.leaderboard)} variants scored")
        print(f"bootstrapped pool: {len(tuned.bootstrapped)} train examples")
        print(
            f"choice: {tuned.spec.describe()}; dev {tuned.metric} {tuned.dev_score:.3f} on {tuned.n_dev}, "
            f"held out {tuned.confirm_score} on {tuned.n_confirm} (confirmed: {tuned.confirmed})"
        )
        for row in tuned.leaderboard:
            print(json.dumps(row))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
