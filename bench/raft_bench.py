"""RAFT against plain fine-tuning behind the same retrieval: rag+finetune and raft on the small world.

    python bench/raft_bench.py              # → bench/results/raft.json (about 16 minutes on 2 CPU cores)
    python bench/raft_bench.py --steps 120  # another step count, added to what is recorded
    python bench/raft_bench.py --smoke      # the tiny world, a few steps: checks the script runs

Not a peer comparison: it asks the question RAFT (Zhang et al., 2024) raises for tailor's
rag+finetune. A model fine-tuned on bare questions never sees a retrieved document while it learns;
RAFT trains on the questions shown with their retrieved chunks, the one holding the answer among
distractors in a share of them (``raft.oracle``), so that the model learns to read them. Does that
beat plain training behind the same retrieval, and at what cost?

On the small synthetic world (the demo's recipe: qa only, the demo's 40 test questions and prompt
searches, task suite only), ``rag``, ``rag+finetune`` and ``raft`` are scored with the same
``finetune:`` settings (the demo's steps unless ``--steps``): same records, steps, learning rate and
seed; the two adapters differ only in how questions are shown. Recorded: per strategy F1 with its
95% interval, the paired differences (raft vs rag+finetune, each vs rag) with p, and what each
adapter's training took (seconds, tokens, tokens/s, final and dev loss; dev losses are not
comparable across the two: raft's dev examples are shown with their chunks).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from common import command, figure, pair, qa_run, write_so_far

from tailor.progress import RichReporter
from tailor.recipe_file import load_recipe
from tailor.scaffold import DEMO_SCALE

STRATEGIES = ["rag", "rag+finetune", "raft"]
WHAT = (
    "qa F1 of rag, rag+finetune (plain LoRA behind rag) and raft (LoRA trained on questions shown with their "
    "retrieved chunks) on the small synthetic world, same finetune settings"
)
PAIRS = (("raft", "rag+finetune"), ("raft", "rag"), ("rag+finetune", "rag"))
TRAINING = ("steps", "epochs", "sequences", "tokens_seen", "tokens_per_s", "train_s", "final_loss")


def run(root: Path, size: str, steps: int, reporter) -> dict[str, Any]:
    """One run directory: the demo's recipe, qa only, the three strategies at ``steps`` training steps."""
    start = time.perf_counter()
    results, f1, deltas = qa_run(root, size, STRATEGIES, {"max_steps": steps}, reporter)
    training = {}
    for name in ("rag+finetune", "raft"):
        built = results["builds"]["qa"][name]["finetune"]
        training[name] = {k: built.get(k) for k in TRAINING} | {"dev": built.get("dev")}
    return {
        "finetune": {"max_steps": steps},
        "raft": load_recipe(root / "tailor.yaml").raft.model_dump(),
        "training": training,
        "f1": {s: figure(f1[s]) for s in STRATEGIES if s in f1},
        "pairs": {f"{a} vs {b}": pair(deltas, a, b) for a, b in PAIRS},
        "seconds": round(time.perf_counter() - start, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny world, a few steps: checks the script runs")
    parser.add_argument("--steps", type=int, nargs="*", help="training steps, one run each (default: the demo's)")
    parser.add_argument("--out", type=Path, default=Path("runs/raft"))
    parser.add_argument("--results", type=Path, default=Path(__file__).parent / "results" / "raft.json")
    args = parser.parse_args()
    size = "tiny" if args.smoke else "small"
    steps = args.steps or [4 if args.smoke else DEMO_SCALE[size].finetune_steps]
    reporter, started = RichReporter(), time.perf_counter()
    made_by = command(__file__, args, {"smoke": False, "steps": None})
    # Runs at other step counts already recorded are kept: each names the command that made it.
    record = json.loads(args.results.read_text())["runs"] if args.results.is_file() else {}
    for n in steps:
        reporter.log(f"raft bench: {n} steps")
        record[f"{n} steps"] = {"command": made_by} | run(args.out / f"steps-{n}", size, n, reporter)
        # The record's command is the latest run's; each run records its own.
        write_so_far(args.results, made_by, WHAT, "runs", record, started)
    sys.stdout.write(table(record) + f"\n→ {args.results}\n")


def table(record: dict[str, Any]) -> str:
    lines = [
        "| steps | rag | rag+finetune | raft | raft − rag+finetune (p) | training s: plain / raft |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in record.items():
        f1 = " | ".join(f"{r['f1'][s]['value']:.3f}" for s in STRATEGIES)
        pair = r["pairs"]["raft vs rag+finetune"] or {}
        t = r["training"]
        lines.append(
            f"| {name} | {f1} | {pair.get('delta', 0):+.3f} (p {pair.get('p')}) | "
            f"{t['rag+finetune']['train_s']:.0f} / {t['raft']['train_s']:.0f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
