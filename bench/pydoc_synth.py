"""Synthesized questions on a corpus nobody here wrote: does `tailor synth` with a 1.5B writer make the
decision that questions written by hand make?

    pip install 'llm-tailor[ladder]' && make llamacpp
    python bench/pydoc_synth.py          # → bench/results/pydoc_synth.json (resumes in runs/pydoc_synth)
    python bench/pydoc_synth.py --review-only   # after reading the kept questions into the review file

Documents: the 79 topics of ``pydoc_data.topics``, one text file each. Two recipes in one project, the
same but for their examples:

1. ``real``: the questions written by hand in ``bench/data/pydoc_questions.jsonl`` (each answer found
   verbatim in its named source topic).
2. ``synth``: ``tailor synth`` writes ``--questions`` from the same documents, with
   Qwen2.5-Coder-1.5B-Instruct as ``synth.model`` (the packaged GGUF file through llama.cpp); every
   other synth setting at its default (single, multi and unanswerable questions, round trip, splits).

Recorded about the synthesized set: kept of tried (tailor's synth report), the share of single-passage
answers found verbatim in their source, documents covered, every kept question with its answer and
source, and — where ``bench/data/pydoc_synth_review.jsonl`` holds a person's reading of them (one line
per question: ``question``, ``accept`` true or false, ``why``) — how many of them a person accepts and
why the rest were rejected. Then ``tailor eval --suites task`` on both recipes with
Qwen2.5-Coder-0.5B-Instruct answering (llama.cpp), strategies baseline, prompt and rag: each strategy's
token F1 on each test split, Spearman's rank correlation between the two sets, and for every pair of
strategies whether its paired difference keeps its sign and its significance (p < 0.05).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import yaml
from common import command, kept_sign, pair_agreement, spearman, tailor_command, task_scores, write_json, write_topics

HERE = Path(__file__).parent
RESULTS = HERE / "results" / "pydoc_synth.json"
QUESTIONS = HERE / "data" / "pydoc_questions.jsonl"
REVIEW = HERE / "data" / "pydoc_synth_review.jsonl"
ANSWERER = {"kind": "packaged", "name": "qwen2.5-coder-0.5b-instruct", "backend": "llamacpp"}
WRITER = {"kind": "packaged", "name": "qwen2.5-coder-1.5b-instruct", "backend": "llamacpp"}


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_project(proj: Path, args: argparse.Namespace) -> None:
    """Documents, the hand-written questions and both recipes; rewritten identically on a rerun, so tailor
    resumes what it finished."""
    docs = proj / "docs"
    write_topics(docs)
    examples = [
        {**{k: q[k] for k in ("id", "question", "answer", "split")}, "sources": [q["source"]]}
        for q in _lines(QUESTIONS)
    ]
    (proj / "questions.jsonl").write_text("".join(json.dumps(e) + "\n" for e in examples), encoding="utf-8")
    if not (proj / "tailor.yaml").is_file():
        tailor_command(
            "init", str(proj), "--from-dir", str(docs), "--examples", str(proj / "questions.jsonl"), cwd=proj
        )
    recipe = yaml.safe_load((proj / "tailor.yaml").read_text())
    recipe.pop("models", None)
    recipe["model"] = ANSWERER
    recipe["prompt"]["candidates"] = args.prompt_candidates
    recipe["strategies"] = args.strategies.split(",")
    recipe["suites"], recipe["eval"]["mode"], recipe["out"] = ["task"], "quick", "runs/real"
    recipe["synth"] = {"model": WRITER, "questions": args.questions, "output": "synth.jsonl"}
    (proj / "real.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    name = recipe["data"]["examples"][0].get("name", "questions")
    synth = dict(recipe, out="runs/synth", data=dict(recipe["data"], examples=[{"path": "synth.jsonl", "name": name}]))
    (proj / "synth.yaml").write_text(yaml.safe_dump(synth, sort_keys=False))


def describe(proj: Path) -> dict:
    """What was kept: by kind, answers found in their source, documents covered, and every question."""
    rows = _lines(proj / "synth.jsonl")
    texts = {p.stem: p.read_text(encoding="utf-8") for p in (proj / "docs").glob("*.txt")}
    single = [r for r in rows if r.get("kind") == "single"]
    inside = [r for r in single if any(r["answer"] in texts.get(s, "") for s in r.get("sources", []))]
    return {
        "kept": len(rows),
        "by_kind": {k: sum(r.get("kind") == k for r in rows) for k in ("single", "multi", "unanswerable")},
        "single_answer_in_source_share": round(len(inside) / len(single), 3) if single else None,
        "documents_covered": len({s for r in rows for s in r.get("sources", [])}),
        "questions": [{k: r.get(k) for k in ("question", "answer", "sources", "kind", "split")} for r in rows],
    }


def review(kept: list[dict]) -> dict | None:
    """A person's reading of the kept questions (bench/data/pydoc_synth_review.jsonl), where there is one."""
    if not REVIEW.is_file():
        return None
    read = {r["question"]: r for r in _lines(REVIEW)}
    seen = [read[q["question"]] | {"kind": q["kind"]} for q in kept if q["question"] in read]
    kinds = dict.fromkeys(q["kind"] for q in kept)
    return {
        "read": len(seen),
        "of": len(kept),
        "accepted": sum(bool(r["accept"]) for r in seen),
        "accepted_by_kind": {
            k: f"{sum(r['accept'] for r in seen if r['kind'] == k)} of {sum(r['kind'] == k for r in seen)}"
            for k in kinds
        },
        "rejected_because": dict(Counter(r.get("why", "") for r in seen if not r["accept"]).most_common()),
        "checks_replayed": replay_checks(list(read.values())),
    }


def replay_checks(reviewed: list[dict]) -> dict:
    """tailor synth's reply checks (screen, answer given away) run again over every question a person has
    read, whichever run kept it: how many of those the person rejected they catch, and how many of those
    the person accepted they would wrongly reject."""
    from tailor.synth.write import check_reply, screen

    def caught(r: dict) -> bool:  # a single question's reply is checked whole; the others are made from singles
        return (check_reply(r["question"], r["answer"]) if r["kind"] == "single" else screen(r["question"]))[
            1
        ] is not None

    rejected = [r for r in reviewed if not r["accept"]]
    accepted = [r for r in reviewed if r["accept"]]
    return {
        "rejected_by_person_caught": f"{sum(map(caught, rejected))} of {len(rejected)}",
        "accepted_by_person_caught": f"{sum(map(caught, accepted))} of {len(accepted)}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("runs/pydoc_synth"), help="project directory (kept)")
    parser.add_argument("--questions", type=int, default=40, help="questions tailor synth keeps")
    parser.add_argument("--strategies", default="baseline,prompt,rag")
    parser.add_argument("--prompt-candidates", type=int, default=4, help="prompt.candidates: each search's budget")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument(
        "--review-only",
        action="store_true",
        help="after reading the kept questions into bench/data/pydoc_synth_review.jsonl: recount the record's "
        "review from it, running nothing",
    )
    args = parser.parse_args()
    if args.review_only:
        record = json.loads(args.results.read_text(encoding="utf-8"))
        record["review"] = review(record["kept"]["questions"])
        write_json(args.results, record)
        print(json.dumps(record["review"], indent=1))
        return
    proj = args.dir.resolve()
    proj.mkdir(parents=True, exist_ok=True)
    write_project(proj, args)
    start = time.perf_counter()
    report = json.loads(tailor_command("synth", "-r", "synth.yaml", "--json", cwd=proj))
    synth_s = time.perf_counter() - start
    kept = describe(proj)
    runs, eval_s = {}, {}
    for name in ("real", "synth"):
        t = time.perf_counter()
        tailor_command("eval", "-r", f"{name}.yaml", cwd=proj)
        runs[name] = task_scores(json.loads((proj / "runs" / name / "results.json").read_text()))
        eval_s[name] = round(time.perf_counter() - t, 1)
    pairs = pair_agreement(runs["real"][1], runs["synth"][1])
    record = {
        "command": command(__file__, args, parser),
        "what": " ".join(__doc__.split("\n\n")[2].split()),
        "writer": WRITER,
        "answerer": ANSWERER,
        "synth_s": round(synth_s, 1),
        "synth_report": report,
        "kept": kept,
        "review": review(kept["questions"]),
        "scores": {"real": runs["real"][0], "synth": runs["synth"][0]},
        "spearman": spearman(runs["real"][0], runs["synth"][0]),
        "pairs": pairs,
        "significant_real_pairs_kept_sign": kept_sign(pairs),
        "sign_flips_among_significant": sum(p["sign_flip_among_significant"] for p in pairs),
        "eval_s": eval_s,
    }
    write_json(args.results, record)
    print(json.dumps({k: record[k] for k in ("scores", "spearman", "significant_real_pairs_kept_sign")}, indent=1))


if __name__ == "__main__":
    main()
