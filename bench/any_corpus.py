"""Every suite on a folder of real documents and nothing else: what each measures, or why it cannot.

    python bench/any_corpus.py        # → bench/results/any_corpus.json (about 20 minutes on 2 CPU cores)

The documents are ``--topics`` topics of Python's reference manual (``pydoc_data.topics``, the first
in alphabetical order), written as text files. One process run, as a user would:

1. ``tailor init DIR --from-dir docs``;
2. ``tailor synth``: test questions written by the packaged 135M model from the documents
   (``synth.round_trip: 0``: with this model almost no pydoc question survives the round trip,
   see ``synth_bench.json``; the other checks stay on);
3. ``tailor eval`` with every suite in quick mode, strategies baseline, prompt, rag and finetune;
4. ``tailor report``.

Recorded: the synthesized set (kept, by kind), every suite's rows or its not-applicable reason,
the suites' notes (which held text forgetting used), the answer metrics per strategy (token F1,
semantic similarity, contains, hallucination and false-abstention rates, groundedness, citation
precision), the simulated-edit freshness rows, and the recommendation.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import yaml
from common import argv_command, cell, tailor_command, write_json, write_topics

RESULTS = Path(__file__).parent / "results" / "any_corpus.json"
STRATEGIES = ["baseline", "prompt", "rag", "finetune"]
ANSWER_METRICS = (
    "token_f1",
    "semantic",
    "contains",
    "hallucination_rate",
    "false_abstention_rate",
    "answer_support",
    "citation_precision",
)
FRESHNESS = ("stale_rate_before", "stale_rate_after", "changed_f1_before", "changed_f1_after", "update_s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topics", type=int, default=24)
    parser.add_argument("--questions", type=int, default=48)
    parser.add_argument("--finetune-steps", type=int, default=40)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--keep", type=Path, help="copy the project (recipe, examples, run) here")
    args = parser.parse_args()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        docs = root / "docs"
        topics = write_topics(docs, args.topics)
        proj = root / "proj"
        tailor_command("init", str(proj), "--from-dir", str(docs), cwd=root)
        recipe = yaml.safe_load((proj / "tailor.yaml").read_text())
        recipe["synth"].update(questions=args.questions, round_trip=0.0)
        recipe["strategies"] = STRATEGIES
        recipe["finetune"] = {**recipe.get("finetune", {}), "max_steps": args.finetune_steps}
        recipe["eval"].update(mode="quick")
        (proj / "tailor.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))

        began = time.perf_counter()
        synth = json.loads(tailor_command("synth", "--json", cwd=proj))
        synth_s = time.perf_counter() - began
        began = time.perf_counter()
        results = json.loads(tailor_command("eval", "--json", cwd=proj))
        eval_s = time.perf_counter() - began
        tailor_command("report", cwd=proj)
        recommendation = json.loads((proj / "runs" / "latest" / "recommendation.json").read_text())
        examples = [json.loads(line) for line in (proj / "examples.jsonl").read_text().splitlines()]
        if args.keep:
            shutil.copytree(proj, args.keep, dirs_exist_ok=True)

    rows = results["results"]
    dataset = results["recipe"]["data"]["examples"][0].get("name") or "examples"
    suites = results["recipe"]["suites"]
    payload = {
        "command": argv_command(__file__),
        "environment": results["environment"],
        "corpus": {"topics": topics, "documents": args.topics},
        "synthesized": {
            "kept": len(examples),
            "by_kind": {k: sum(e.get("kind") == k for e in examples) for k in ("single", "multi", "unanswerable")},
            "by_split": {s: sum(e.get("split") == s for e in examples) for s in ("train", "dev", "test")},
            "seconds": round(synth_s, 1),
            "report": synth.get("examples"),
        },
        "suites": {
            suite: (
                {"rows": sum(r["suite"] == suite for r in rows)}
                if any(r["suite"] == suite for r in rows)
                else {"not_applicable": results["not_applicable"].get(dataset, {}).get(suite)}
            )
            for suite in suites
        },
        "notes": results.get("notes", {}),
        "primary": results["primary"],
        "answers": _table(rows, ("task", "retrieval"), ANSWER_METRICS),
        "freshness": _table(rows, ("freshness",), (*FRESHNESS, "simulated_edits")),
        "recommendation": {
            "headline": recommendation["headline"],
            "decisions": [
                {k: d[k] for k in ("dataset", "metric", "strategy", "headline", "significant")}
                for d in recommendation["decisions"]
            ],
        },
        "eval_s": round(eval_s, 1),
        "seconds": round(time.perf_counter() - start, 1),
    }
    write_json(args.results, payload)
    print(json.dumps({k: payload[k] for k in ("synthesized", "suites", "notes", "answers", "freshness")}, indent=2))


def _table(rows: list[dict], suites: tuple[str, ...], metrics: tuple[str, ...]) -> dict[str, dict[str, dict]]:
    """strategy → metric → {value, n, ci}, for ``suites``' plain rows (no pairs, no variants)."""
    out: dict[str, dict[str, dict]] = {}
    for r in rows:
        if r["suite"] in suites and r["metric"] in metrics and not r.get("vs") and not r.get("variant"):
            out.setdefault(r["strategy"], {})[r["metric"]] = cell(r)
    return out


if __name__ == "__main__":
    main()
