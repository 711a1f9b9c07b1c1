"""Do simulated edits measure freshness as a real new version does? Side by side on the synthetic world.

    python bench/freshness_sim.py     # → bench/results/freshness_sim.json (about 10 minutes on 2 CPU cores)

The world has a real second version (``evolve_world``: prices, policies, people changed), with
questions about the changed facts; that is the reference. One process run builds each strategy once
on version 1 (the demo's scale: ``finetune`` trains the demo's 40 steps) and runs the freshness suite
twice over the same built strategies:

1. **real**: ``eval.freshness`` names version 2 and its questions;
2. **simulated**: no new version named; tailor edits copies of version 1's documents, changing the
   answers of test questions (:mod:`tailor.eval.edits`).

Each mode asks up to ``--questions`` questions. Per strategy and mode: the stale rate before and after
the update, F1 on the changed facts before and after, and the update's seconds. The simulation is
valid where it reproduces the real pattern: rag (an index re-ingested in seconds) goes from stale to
fresh, a model without documents stays as it was, and a fine-tune moves only as far as its retraining.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import yaml
from common import argv_command, write_json

RESULTS = Path(__file__).parent / "results" / "freshness_sim.json"
STRATEGIES = ("baseline", "rag", "finetune", "rag+finetune")
SHOWN = ("stale_rate_before", "stale_rate_after", "changed_f1_before", "changed_f1_after", "update_s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=16, help="questions about changed facts, per mode")
    parser.add_argument("--fraction", type=float, default=0.5, help="share of facts version 2 changes")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()

    from tailor.data.world import evolve_world, generate_world, write_world
    from tailor.eval.base import SuiteInput
    from tailor.eval.suites.freshness import freshness_suite
    from tailor.progress import RichReporter
    from tailor.recipe_file import load_recipe
    from tailor.scaffold import DEMO_SCALE, init_project
    from tailor.strategies import build_strategy
    from tailor.workspace import open_workspace

    start = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="tailor-freshness-sim-"))
    recipe_path = init_project(root, size="small", demo=DEMO_SCALE["small"])
    v1 = generate_world(0, "small")
    v2, changes = evolve_world(v1, seed=0, fraction=args.fraction)
    write_world(v2, root / "world-v2", changes, previous=v1)  # more changed facts than the demo's version 2
    recipe = yaml.safe_load(recipe_path.read_text())
    recipe["strategies"] = list(STRATEGIES)
    recipe["data"]["examples"] = recipe["data"]["examples"][:1]
    recipe["eval"]["freshness_questions"] = args.questions
    recipe_path.write_text(yaml.safe_dump(recipe))

    reporter = RichReporter()
    ws = open_workspace(load_recipe(recipe_path), reporter)
    dataset = ws.datasets[0]
    built = tuple(build_strategy(name, ws, dataset).strategy for name in STRATEGIES)
    asked = tuple(dataset.split("test"))
    modes = {}
    for mode, workspace in (
        ("real", ws),
        ("simulated", ws.derive(recipe=ws.recipe.model_copy(update={"eval": _without_version(ws.recipe.eval)}))),
    ):
        began = time.perf_counter()
        rows = freshness_suite(SuiteInput(dataset, asked, (), built, ws.recipe.seed, workspace))
        modes[mode] = {
            "seconds": round(time.perf_counter() - began, 1),
            "rows": {s: {r.metric: {"value": r.value, "n": r.n} for r in rows if r.strategy == s} for s in STRATEGIES},
        }
    payload = {
        "command": argv_command(__file__),
        "world": {"size": "small", "seed": 0, "version_2_fraction": args.fraction, "finetune_steps": 40},
        "questions": args.questions,
        "modes": modes,
        "seconds": round(time.perf_counter() - start, 1),
    }
    write_json(args.results, payload)
    print(table(payload))


def _without_version(eval_config):
    """The same freshness settings (retraining steps included) with no new version named."""
    simulated = eval_config.freshness.model_copy(update={"corpus": None, "examples": None})
    return eval_config.model_copy(update={"freshness": simulated})


def table(payload: dict) -> str:
    """The two modes side by side, one line per strategy."""
    lines = [
        "| strategy | " + " | ".join(f"{m} {k}" for m in payload["modes"] for k in ("stale", "F1", "update s")) + " |"
    ]
    lines.append("|---" * (1 + 3 * len(payload["modes"])) + "|")
    for strategy in STRATEGIES:
        cells = []
        for mode in payload["modes"].values():
            got = {k: v["value"] for k, v in mode["rows"][strategy].items()}
            cells += [
                f"{got['stale_rate_before']:.2f} → {got['stale_rate_after']:.2f}",
                f"{got['changed_f1_before']:.3f} → {got['changed_f1_after']:.3f}",
                f"{got['update_s']:.1f}",
            ]
        lines.append(f"| {strategy} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
