"""Record the demo's figures, the ones README.md quotes, with the command and machine that produced them.

    python bench/demo_record.py            # → bench/results/demo.json (8 to 15 minutes on 2 CPU cores)

Not a peer comparison: the demo is tailor measuring strategies against each other. Peer benchmarks
(RAG against LlamaIndex, training against HF Trainer) live beside this file as they land.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from common import command

from tailor.artifacts import write_json_atomic
from tailor.progress import RichReporter
from tailor.report.table import markdown
from tailor.scaffold import run_demo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/demo-record"))
    parser.add_argument("--size", default="small", choices=["tiny", "small", "medium"])
    parser.add_argument("--results", type=Path, default=Path(__file__).parent / "results" / "demo.json")
    args = parser.parse_args()
    if args.out.exists():  # a reused prompt, index or adapter would make the wall time a rerun's
        shutil.rmtree(args.out)
    start = time.perf_counter()
    demo = run_demo(args.out, size=args.size, reporter=RichReporter())
    results = demo.results
    wall = time.perf_counter() - start
    record = {
        "command": command(__file__, args, {"size": "small"}),
        "what": "tailor demo on the synthetic world, from scratch: baseline, prompt, rag, finetune (40-step LoRA) and "
        "rag+finetune; every suite in quick mode (task, retrieval, forgetting, bias, robustness, leakage, freshness, "
        "interpret, cost), then report.html and the recommendation",
        "demo_wall_s": round(wall, 1),
        "environment": results["environment"],
        "results": results["results"],
        "builds": results["builds"],
        "timings": results["timings"],  # seconds per dataset: each strategy's answers and each suite
        "recommendation": demo.report.recommendation.to_json(),
    }
    write_json_atomic(args.results, record)
    sys.stdout.write(markdown(results) + f"\nrecommendation: {demo.report.recommendation.headline}\n")
    sys.stdout.write(f"demo wall time: {wall:.0f} s → {args.results}; report: {demo.report.html}\n")


if __name__ == "__main__":
    main()
