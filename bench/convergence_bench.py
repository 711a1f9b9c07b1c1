"""Fine-tuning given a fair chance: the demo's 40-step LoRA against LoRA trained until dev loss stops improving.

    python bench/convergence_bench.py             # → bench/results/convergence.json (about 40 minutes on 2 CPU cores)
    python bench/convergence_bench.py --smoke     # the tiny world, a few steps: checks the script runs

Not a peer comparison: it asks whether tailor's ranking of the options for *new knowledge* changes
once fine-tuning has converged, and whether it then agrees with the literature — RAG above
fine-tuning above the base model (Ovadia et al., "Fine-Tuning or Retrieval?", EMNLP 2024, who
also find that more paraphrases per fact help fine-tuning), and fine-tuning and RAG cumulative
(Balaguer et al., arXiv 2401.08406). Whatever it finds is recorded, not tuned towards.

On the small synthetic world (the demo's recipe: qa only, the demo's 40 test questions, its prompt
searches, task suite only), ``baseline``, ``rag``, ``finetune`` and ``rag+finetune`` are scored in
each setting of ``finetune`` (everything else equal; each setting in its own run directory):

- ``demo``: the demo's 40 steps (about half an epoch), 2 question/answer paraphrases per fact;
- ``converged``: a ceiling of ``--max-steps`` steps, dev loss every 20, stopping after 2 without a
  new best, the best step kept; 2 paraphrases per fact;
- ``converged-6qa``: the same with 6 paraphrases per fact (``finetune.knowledge_qa``).

Per setting: training steps, epochs, best step, dev curve, whether it stopped by itself, seconds;
per strategy F1 with its 95% interval; the paired differences that answer the question (finetune
vs baseline, rag vs finetune, rag+finetune vs rag) with p.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from common import command, figure, pair, qa_run, write_so_far

from tailor.progress import RichReporter
from tailor.scaffold import DEMO_SCALE

STRATEGIES = ["baseline", "rag", "finetune", "rag+finetune"]
WHAT = (
    "qa F1 of baseline, rag, finetune and rag+finetune on the small synthetic world with the demo's 40-step LoRA "
    "and with LoRA trained until dev loss stopped improving (2 and 6 paraphrases per fact)"
)
PAIRS = (("finetune", "baseline"), ("rag", "finetune"), ("rag+finetune", "rag"), ("rag+finetune", "finetune"))


def settings(max_steps: int, smoke: bool) -> dict[str, dict[str, Any]]:
    demo_steps = DEMO_SCALE["tiny" if smoke else "small"].finetune_steps
    converge = {"max_steps": max_steps, "dev_every": 20 if not smoke else 2, "patience": 2}
    return {
        "demo": {"max_steps": demo_steps, "knowledge_qa": 2},
        "converged": {**converge, "knowledge_qa": 2},
        "converged-6qa": {**converge, "knowledge_qa": 6},
    }


def run_setting(root: Path, size: str, finetune: dict[str, Any], reporter) -> dict[str, Any]:
    """One run directory: the demo's recipe with ``finetune`` changed; returns what the record keeps."""
    start = time.perf_counter()
    results, f1, deltas = qa_run(root, size, STRATEGIES, finetune, reporter)
    training = results["builds"]["qa"]["finetune"]
    return {
        "finetune": finetune,
        "training": {
            k: training.get(k) for k in ("steps", "epochs", "steps_per_epoch", "sequences", "train_s", "final_loss")
        }
        | {"dev": training.get("dev")},
        "f1": {s: figure(f1[s]) for s in STRATEGIES if s in f1},
        "pairs": {f"{a} vs {b}": pair(deltas, a, b) for a, b in PAIRS},
        "seconds": round(time.perf_counter() - start, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny world, a few steps: checks the script runs")
    parser.add_argument("--max-steps", type=int, default=300, help="the converged settings' ceiling (300)")
    parser.add_argument("--out", type=Path, default=Path("runs/convergence"))
    parser.add_argument("--results", type=Path, default=Path(__file__).parent / "results" / "convergence.json")
    parser.add_argument("--only", nargs="*", help="settings to run (default: all)")
    args = parser.parse_args()
    size, max_steps = ("tiny", 6) if args.smoke else ("small", args.max_steps)
    reporter, started, record = RichReporter(), time.perf_counter(), {}
    made_by = command(__file__, args, {"smoke": False} | ({} if args.smoke else {"max_steps": 300}))
    for name, finetune in settings(max_steps, args.smoke).items():
        if args.only and name not in args.only:
            continue
        reporter.log(f"convergence: setting {name}: {finetune}")
        record[name] = run_setting(args.out / name, size, finetune, reporter)
        sys.stderr.write(f"{name}: {record[name]['training']['steps']} steps, F1 {record[name]['f1']}\n")
        write_so_far(args.results, made_by, WHAT, "settings", record, started)
    sys.stdout.write(table(record) + f"\n→ {args.results}\n")


def table(record: dict[str, Any]) -> str:
    lines = [
        "| setting | steps (epochs) | best step | stopped by itself | " + " | ".join(STRATEGIES) + " |",
        "|---|---|---|---|" + "---|" * len(STRATEGIES),
    ]
    for name, r in record.items():
        t, dev = r["training"], r["training"].get("dev") or {}
        f1 = " | ".join(f"{r['f1'][s]['value']:.3f}" if s in r["f1"] else "–" for s in STRATEGIES)
        lines.append(
            f"| {name} | {t['steps']} ({t['epochs']}) | {dev.get('best_step', '–')} | "
            f"{'yes' if dev.get('stopped_early') else 'no'} | {f1} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
