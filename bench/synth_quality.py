"""Does a synthesized test set make the decision real questions make? Measured on the synthetic world.

    python bench/synth_quality.py          # → bench/results/synth_quality.json (about 20 minutes on 2 CPU cores)

The synthetic world's truth is known: every fact, its value and its document. One process run:

1. ``tailor init`` writes the small world (seed 0) and its recipe; the qa dataset (``world/qa.jsonl``,
   questions written from templates, with exact answers) is the reference.
2. ``tailor synth`` writes ``--questions`` questions from the same documents with the recipe's
   model (the packaged SmolLM2-135M-Instruct), into a second recipe that differs only in its examples.
3. Truth of the synthesized set: the share of kept single-passage pairs whose answer is the value
   of one of the world's facts stated in the example's source document (anything else is a span the
   world never "meant" as a fact: a heading word, a part of a value), and the share whose answer at
   least occurs in its source (the pipeline's own check: must be 1.0).
4. ``tailor eval --suites task`` on both recipes, same strategies (``--strategies``; default
   baseline, prompt, rag), same seed: each strategy's primary score (token F1) on each test split;
   Spearman's rank correlation of the strategies' scores between the two sets; and for each pair of
   strategies, whether its paired difference is significant (p < 0.05) on each set and whether the
   sign agrees. The point of a test set is to make the same decision real questions would.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from pathlib import Path

import yaml
from common import command, kept_sign, pair_agreement, spearman, tailor_command, task_scores

RESULTS = Path(__file__).parent / "results" / "synth_quality.json"


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower().rstrip("."))


def _truth(synth_path: Path) -> dict:
    """How many kept single-passage answers are a fact the world states in that document."""
    from tailor.data.world import generate_world

    world = generate_world(0, "small")
    facts: dict[str, set[str]] = {}
    for fact in world.facts:
        facts.setdefault(fact.doc_id, set()).add(_normal(fact.value))
    texts = {d.doc_id: d.text for d in world.documents}
    rows = [json.loads(line) for line in synth_path.read_text().splitlines() if line.strip()]
    single = [r for r in rows if r.get("kind") == "single"]
    true = [r for r in single if any(_normal(r["answer"]) in facts.get(s, ()) for s in r["sources"])]
    inside = [r for r in single if any(r["answer"] in texts.get(s, "") for s in r["sources"])]
    return {
        "kept": len(rows),
        "by_kind": {k: sum(r.get("kind") == k for r in rows) for k in ("single", "multi", "unanswerable")},
        "single": len(single),
        "single_true_fact_share": round(len(true) / len(single), 3) if single else None,
        "single_answer_in_source_share": round(len(inside) / len(single), 3) if single else None,
        "examples_not_a_fact": [{"question": r["question"], "answer": r["answer"]} for r in single if r not in true][
            :10
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=60)
    parser.add_argument("--strategies", default="baseline,prompt,rag")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    strategies = args.strategies.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        tailor_command("init", str(root / "real"), cwd=root)
        recipe = yaml.safe_load((root / "real" / "tailor.yaml").read_text())
        recipe["strategies"] = strategies
        recipe["data"]["examples"] = [e for e in recipe["data"]["examples"] if "qa" in json.dumps(e)][:1]
        recipe["out"] = "runs/real"
        (root / "real" / "tailor.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
        synth = dict(recipe, data=dict(recipe["data"], examples=[{"path": "synth.jsonl", "name": "qa"}]))
        synth["synth"], synth["out"] = {"questions": args.questions}, "runs/synth"
        (root / "real" / "synth.yaml").write_text(yaml.safe_dump(synth, sort_keys=False))

        start = time.perf_counter()
        report = json.loads(tailor_command("synth", "-r", "synth.yaml", "--json", cwd=root / "real"))
        synth_s = time.perf_counter() - start
        truth = _truth(root / "real" / "synth.jsonl")
        runs = {}
        for name, recipe_file in (("real", "tailor.yaml"), ("synth", "synth.yaml")):
            t = time.perf_counter()
            tailor_command("eval", "-r", recipe_file, "--suites", "task", cwd=root / "real")
            results = json.loads((root / "real" / f"runs/{name}" / "results.json").read_text())
            runs[name] = (*task_scores(results, "qa"), round(time.perf_counter() - t, 1))
    real_scores, real_pairs, real_s = runs["real"]
    syn_scores, syn_pairs, syn_s = runs["synth"]
    pairs = pair_agreement(real_pairs, syn_pairs)
    record = {
        "command": command(__file__, args, {"questions": 60, "strategies": "baseline,prompt,rag"}),
        "what": __doc__.split("\n\n")[1].replace("\n", " "),
        "synth_s": round(synth_s, 1),
        "synth_report": report,
        "truth": truth,
        "scores": {"real": real_scores, "synth": syn_scores},
        "spearman": spearman(real_scores, syn_scores),
        "pairs": pairs,
        "significant_real_pairs_kept_sign": kept_sign(pairs),
        "eval_s": {"real": real_s, "synth": syn_s},
    }
    from tailor.artifacts import write_json_atomic

    write_json_atomic(args.results, record)
    print(json.dumps({k: record[k] for k in ("scores", "spearman", "significant_real_pairs_kept_sign")}, indent=1))
    print(
        f"truth: {truth['single_true_fact_share']} of {truth['single']} single answers are world facts → {args.results}"
    )


if __name__ == "__main__":
    main()
