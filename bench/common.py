"""What the benchmark scripts share, so that each script is its measurement and nothing else.

Every script in bench/ runs as ``python bench/<script>.py``, so this folder is first on its path and
``from common import ...`` finds this file (a test that loads a script by its path puts the folder on
``sys.path`` first); no script imports another. Heavy imports (tailor's models,
torch) stay inside the functions that need them: a script decides when its model and allocator load.

- the record: the command that makes it, what it measures, the machine it ran on, writing it;
- the ``tailor`` command as a user runs it, and the corpora the scripts write;
- runs: sides in A B B A order, each in a fresh process, and their mean;
- figures kept from an eval run: the demo's recipe on qa, a row's value with its interval, a pair's difference;
- the retrieval workload rag_bench.py and store_bench.py measure: corpus, queries, latency, recall, memory;
- the generation prompts alloc_bench.py and cache_bench.py time;
- the local OpenAI-compatible endpoints prompt_bench.py and synth_bench.py serve the model from.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tailor.data.world import WorldSize

# ---- the record ----------------------------------------------------------------------------------


def command(script: str, args: argparse.Namespace, defaults: Mapping[str, Any] | argparse.ArgumentParser) -> str:
    """The command line that makes a record: ``python bench/<script>`` and, in order, each flag of ``defaults``
    whose value in ``args`` is not its default (a parser: every flag but ``--results``). A true switch is
    written bare, a list as its items; an empty list adds nothing."""
    if isinstance(defaults, argparse.ArgumentParser):
        defaults = {k: defaults.get_default(k) for k in vars(args) if k != "results"}
    words = [f"python bench/{Path(script).name}"]
    for name, default in defaults.items():
        value, flag = getattr(args, name), "--" + name.replace("_", "-")
        if value == default or value == []:
            continue
        if value is True:
            words.append(flag)
        elif isinstance(value, list):
            words.append(f"{flag} {' '.join(map(str, value))}")
        else:
            words.append(f"{flag} {value}")
    return " ".join(words)


def argv_command(script: str) -> str:
    """``python bench/<script>`` and the arguments exactly as this run was given them."""
    return f"python bench/{Path(script).name} " + " ".join(sys.argv[1:])


def what(doc: str, first: int, last: int | None = None) -> str:
    """Paragraphs ``first`` to ``last`` of a script's docstring on one line: what its record measures."""
    return " ".join(" ".join(doc.split("\n\n")[first : (last if last is not None else first) + 1]).split())


def record_head(made_by: str, what: str) -> dict[str, Any]:
    """The head of a record of tailor at work: the command that makes it, what it measures, and the versions
    and hardware it ran on (``tailor.eval.results.environment``)."""
    from tailor.eval.results import environment

    return {"command": made_by, "what": what, "environment": environment()}


def host(**extra: Any) -> dict[str, Any]:
    """The Python version, cores and architecture a peer benchmark ran on (``extra`` appended)."""
    return {"python": platform.python_version(), "cpu_count": os.cpu_count(), "machine": platform.machine(), **extra}


def machine_line() -> str:
    """The architecture and Python version in one line, e.g. ``x86_64, Python 3.11.9``."""
    return f"{platform.machine()}, Python {sys.version.split()[0]}"


def versions(*names: str) -> dict[str, str]:
    """The installed version of each distribution in ``names``; those not installed are left out."""
    out = {}
    for name in names:
        with suppress(PackageNotFoundError):
            out[name] = version(name)
    return out


def write_so_far(path: Path, made_by: str, what: str, part: str, runs: dict[str, Any], started: float) -> None:
    """The record of the runs finished so far, written after each one so that a stopped benchmark keeps them:
    its head, ``runs`` under ``part``, and the seconds since ``started``."""
    from tailor.artifacts import write_json_atomic

    seconds = round(time.perf_counter() - started, 1)
    write_json_atomic(path, {**record_head(made_by, what), part: runs, "seconds": seconds})


def write_json(path: Path, record: dict[str, Any]) -> None:
    """``record`` as indented JSON at ``path``, atomically, for the records that never carried the
    ``tailor_version`` stamp ``tailor.artifacts.write_json_atomic`` adds (so their keys stay as they were)."""
    from tailor.artifacts import write_text_atomic

    write_text_atomic(path, json.dumps(record, indent=2, ensure_ascii=False) + "\n")


def markdown_table(head: str, rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table: the ``head`` line as given, a rule under it, one line per row."""
    columns = head.count("|") - 1
    lines = [head, "|---" * columns + "|"] + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


# ---- the tailor command and the corpora ----------------------------------------------------------


def tailor_command(*args: str, cwd: Path) -> str:
    """``tailor ARGS`` in ``cwd`` as a subprocess, offline; its stdout. Its stderr (progress, and the error
    when it fails) goes to ours as it is written, so a run of tens of minutes shows where it is."""
    done = subprocess.run(
        [sys.executable, "-m", "tailor", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ | {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
    )
    if done.returncode != 0:
        raise SystemExit(f"tailor {' '.join(args)} failed ({done.returncode}): its error is above")
    return done.stdout


def write_topics(folder: Path, count: int | None = None) -> list[str]:
    """The first ``count`` topics (all by default) of Python's reference, sorted by name, as
    ``folder/<topic>.txt``; their names."""
    from pydoc_data.topics import topics

    names = sorted(topics)[:count]
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / f"{name}.txt").write_text(topics[name], encoding="utf-8")
    return names


# ---- runs ----------------------------------------------------------------------------------------


def abba(sides: Sequence[str], rounds: int, run: Callable[[str], Any]) -> dict[str, list[Any]]:
    """``run(side)`` for each side in ``rounds`` rounds, in the order A B B A ...: drift over time (a warming
    machine, another process) falls on every side alike. Each side's results in the order they ran."""
    runs: dict[str, list[Any]] = {side: [] for side in sides}
    for r in range(rounds):
        for side in sides if r % 2 == 0 else sides[::-1]:
            runs[side].append(run(side))
    return runs


def in_own_process(run: Callable[..., Any], *args: Any) -> Any:
    """``run(*args)`` in a fresh process of its own, so that it inherits no other side's warm caches or heap."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(run, *args).result()


def mean_of(records: list[Any]) -> Any:
    """The rounds' mean at every numeric leaf (counts and recall agree across rounds; timings do not)."""
    first = records[0]
    if isinstance(first, dict):
        return {k: mean_of([r[k] for r in records]) for k in first}
    if isinstance(first, int | float) and not isinstance(first, bool):
        return round(statistics.mean(records), 4)
    return first


# ---- figures kept from an eval run ---------------------------------------------------------------


def qa_run(
    root: Path, size: str, strategies: list[str], finetune: dict[str, Any], reporter: Any
) -> tuple[dict[str, Any], dict[str, dict], dict[tuple[str, str], dict]]:
    """The demo's recipe in a fresh ``root``, qa only, task suite only, ``strategies`` with ``finetune``
    changed, evaluated: (results.json, token F1 row per strategy, F1 difference row per (strategy, vs))."""
    import yaml

    from tailor.eval.runner import evaluate
    from tailor.recipe_file import load_recipe
    from tailor.scaffold import DEMO_SCALE, init_project
    from tailor.workspace import open_workspace

    if root.exists():  # a reused adapter or prompt would make the seconds a rerun's
        shutil.rmtree(root)
    path = init_project(root, size=size, out=".", demo=DEMO_SCALE[size])
    recipe = yaml.safe_load(path.read_text())
    recipe["strategies"] = strategies
    recipe["suites"] = ["task"]
    recipe["data"]["examples"] = recipe["data"]["examples"][:1]  # qa: answers are new facts in the documents
    recipe["finetune"] = {**recipe.get("finetune", {}), **finetune}
    path.write_text(yaml.safe_dump(recipe))
    results = evaluate(open_workspace(load_recipe(path), reporter))
    rows = [r for r in results["results"] if r["dataset"] == "qa" and r["suite"] == "task"]
    f1 = {r["strategy"]: r for r in rows if r["metric"] == "token_f1" and not r.get("variant")}
    deltas = {(r["strategy"], r.get("vs")): r for r in rows if r["metric"] == "token_f1_delta" and r.get("vs")}
    return results, f1, deltas


def figure(row: dict[str, Any]) -> dict[str, Any]:
    """A result row's value and 95% interval, rounded to 4 places, with its n."""
    return {"value": round(row["value"], 4), "ci": [round(row["ci_low"], 4), round(row["ci_high"], 4)], "n": row["n"]}


def pair(deltas: dict, a: str, b: str) -> dict[str, Any] | None:
    """``a`` − ``b`` with p, whichever way round the run recorded the pair."""
    row, sign = deltas.get((a, b)), 1
    if row is None:
        row, sign = deltas.get((b, a)), -1
    if row is None:
        return None
    low, high = sorted((sign * row["ci_low"], sign * row["ci_high"]))
    return {"delta": round(sign * row["value"], 4), "ci": [round(low, 4), round(high, 4)], "p": row.get("p")}


def spearman(a: Mapping[str, float], b: Mapping[str, float]) -> float | None:
    """Spearman's rank correlation of the scores two test sets give the same strategies; None under 3 in
    common or when one side gives every strategy the same score."""
    from scipy.stats import spearmanr

    names = sorted(set(a) & set(b))
    if len(names) < 3:
        return None
    rho = spearmanr([a[n] for n in names], [b[n] for n in names]).statistic
    return None if rho != rho else round(float(rho), 3)  # nan when one side is constant


def task_scores(results: dict[str, Any], dataset: str | None = None) -> tuple[dict[str, float], dict[tuple, dict]]:
    """From a results.json: each strategy's token F1 in the task suite, and its paired comparisons (rows with
    ``vs``) keyed (strategy, vs); on ``dataset`` only where named."""
    rows = [r for r in results["results"] if r["suite"] == "task" and (dataset is None or r["dataset"] == dataset)]
    scores = {r["strategy"]: r["value"] for r in rows if r["metric"] == "token_f1" and not r.get("vs")}
    return scores, {(r["strategy"], r["vs"]): r for r in rows if r.get("vs")}


def _significant(row: dict[str, Any]) -> bool:
    return row.get("p") is not None and row["p"] < 0.05


def pair_agreement(real: dict[tuple, dict], other: dict[tuple, dict]) -> list[dict[str, Any]]:
    """Per pair of strategies compared on both test sets: its difference and p on each, whether the sign
    agrees, whether it is significant on both or neither, and whether it flips sign while significant on both."""
    out = []
    for key, r in real.items():
        o = other.get(key)
        if o is None:
            continue
        flipped = (r["value"] > 0) != (o["value"] > 0)
        out.append(
            {
                "pair": f"{key[0]} vs {key[1]}",
                "real": {"delta": round(r["value"], 3), "p": r.get("p")},
                "synth": {"delta": round(o["value"], 3), "p": o.get("p")},
                "same_sign": not flipped or r["value"] == o["value"] == 0,
                "significant_on_both_or_neither": _significant(r) == _significant(o),
                "sign_flip_among_significant": _significant(r) and _significant(o) and flipped,
            }
        )
    return out


def kept_sign(pairs: list[dict[str, Any]]) -> str:
    """Of the pairs (as :func:`pair_agreement` gives them) significant on the real questions, how many keep
    their sign on the other set: "kept/significant"."""
    significant = [p for p in pairs if _significant(p["real"])]
    return f"{sum(p['same_sign'] for p in significant)}/{len(significant)}"


def cell(row: dict[str, Any] | None) -> dict[str, Any] | None:
    """A result row's value and n as recorded, with its interval where it has one."""
    if row is None:
        return None
    out = {"value": row["value"], "n": row["n"]}
    if "ci_low" in row:
        out["ci"] = [row["ci_low"], row["ci_high"]]
    return out


# ---- the retrieval workload: rag_bench.py against LlamaIndex, store_bench.py LanceDB against pgvector ---

CHUNK_TOKENS, CHUNK_OVERLAP, TOP_K, CANDIDATES = 128, 16, 5, 20
WORLD_QUERIES, CHANGED_SHARE = 300, 0.01
RAG_RECIPE = """\
model: {{kind: packaged}}
data:
  corpus: ["world/docs/**/*.md", "pydoc/*.txt"]
  examples: [{{path: world/qa.jsonl}}]
  default_groups: [everyone]
rag: {{chunk_tokens: {chunk}, chunk_overlap: {overlap}}}
out: .
"""


@cache
def rag_world() -> WorldSize:
    """~2,000 documents: 2,000 product sheets, 6 directories of 20 people, 18 policies, 12 secret records."""
    from tailor.data.world import WorldSize

    return WorldSize(
        products=2000, people_per_department=20, policies_per_department=3, secrets_per_department=2, messages=10
    )


def write_rag_world(root: Path) -> None:
    """The world's documents (and questions) in ``root/world``: every side starts from these same files."""
    from tailor.data.world import generate_world
    from tailor.data.world_render import write_world

    write_world(generate_world(0, rag_world()), root / "world")


def write_rag_corpus(root: Path) -> None:
    """The world, Python's reference topics in ``root/pydoc`` and the recipe that reads both."""
    write_rag_world(root)
    write_topics(root / "pydoc")
    (root / "tailor.yaml").write_text(RAG_RECIPE.format(chunk=CHUNK_TOKENS, overlap=CHUNK_OVERLAP))


class PeakRSS:
    """Samples this process's resident memory every 20 ms; ``peak`` is the highest seen since ``reset``."""

    def __init__(self) -> None:
        self.peak = self.now()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def now() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.now())

    def reset(self) -> float:
        self.peak = self.now()
        return self.peak

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Phase:
    seconds: float = 0.0
    rss_start_mb: float = 0.0
    rss_peak_mb: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 3),
            "peak_rss_mb": round(self.rss_peak_mb, 1),
            "peak_rss_growth_mb": round(self.rss_peak_mb - self.rss_start_mb, 1),
            **self.extra,
        }


@contextmanager
def measured(rss: PeakRSS) -> Iterator[Phase]:
    phase = Phase(rss_start_mb=rss.reset())
    start = time.perf_counter()
    yield phase
    phase.seconds = time.perf_counter() - start
    phase.rss_peak_mb = max(rss.peak, rss.now())


@dataclass(frozen=True)
class Query:
    text: str
    groups: frozenset[str]
    gold: frozenset[str]  # file stems of the documents that answer it
    kind: str


def queries(seed: int = 0) -> list[Query]:
    """300 world questions (the document holding the answer is gold) and one known-item query per Python
    topic (a sentence from the middle of the topic; gold is that topic)."""
    from pydoc_data.topics import topics

    from tailor.data.world import generate_world
    from tailor.data.world_render import qa_examples

    rng = random.Random(seed)
    world = qa_examples(generate_world(0, rag_world()))
    out = [
        Query(q["question"], frozenset(q["groups"]), frozenset(q["sources"]), "world")
        for q in rng.sample(world, WORLD_QUERIES)
    ]
    for name, text in topics.items():
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", " ".join(text.split())) if 8 <= len(s.split()) <= 40]
        if sentences:
            out.append(Query(sentences[len(sentences) // 2], frozenset({"everyone"}), frozenset({name}), "pydoc"))
    return out


def change_documents(root: Path, share: float, seed: int = 1) -> int:
    """Append a sentence to ``share`` of the world's documents; returns how many changed."""
    files = sorted((root / "world" / "docs").rglob("*.md"))
    picked = random.Random(seed).sample(files, max(1, int(len(files) * share)))
    for path in picked:
        path.write_text(path.read_text(encoding="utf-8") + "\nReviewed again this quarter.\n", encoding="utf-8")
    return len(picked)


def latencies(search: Callable[[Query], list[str]], qs: list[Query]) -> tuple[list[float], list[list[str]]]:
    for q in qs[:5]:  # warm caches (first query loads lazily on both sides)
        search(q)
    times, found = [], []
    for q in qs:
        start = time.perf_counter()
        found.append(search(q))
        times.append(time.perf_counter() - start)
    return times, found


def summary(times: list[float], found: list[list[str]], qs: list[Query]) -> dict[str, Any]:
    hits = [bool(q.gold & set(stems[:TOP_K])) for q, stems in zip(qs, found, strict=True)]
    by_kind = {
        kind: round(statistics.mean(h for h, q in zip(hits, qs, strict=True) if q.kind == kind), 4)
        for kind in sorted({q.kind for q in qs})
    }
    ordered = sorted(times)
    return {
        "n": len(qs),
        "p50_ms": round(1000 * ordered[len(ordered) // 2], 2),
        "p95_ms": round(1000 * ordered[int(0.95 * (len(ordered) - 1))], 2),
        "mean_ms": round(1000 * statistics.mean(times), 2),
        "recall_at_5": round(statistics.mean(hits), 4),
        "recall_at_5_by_corpus": by_kind,
    }


# ---- the generation prompts alloc_bench.py and cache_bench.py time -------------------------------


def rag_prompts(generator: Any, count: int) -> list[list[dict]]:
    """The tiny world's first ``count`` qa questions, each behind ~300 tokens of its documents."""
    from tailor.data.world import generate_world
    from tailor.data.world_render import qa_examples

    world = generate_world(seed=0, size="tiny")
    docs = {d.doc_id: d.text for d in world.documents}
    tokenizer = generator.tokenizer
    texts = []
    for example in qa_examples(world)[:count]:
        context = "\n\n".join(docs[d] for d in example["sources"][:1] + sorted(docs)[:2])
        context = tokenizer.decode(tokenizer(context)["input_ids"][:280])  # ~300 tokens with the template
        texts.append(
            [
                {"role": "system", "content": "Answer from the documents.\n\n" + context},
                {"role": "user", "content": example["question"]},
            ]
        )
    return texts


def write_speedup_record(path: Path, record: dict, mean: dict[str, float], same: bool) -> None:
    """Write an A/B generation record atomically and print its one-line summary (default vs tailor)."""
    from tailor.artifacts import write_json_atomic

    write_json_atomic(path, record)
    print(
        f"default {mean['default']:.1f} s, tailor {mean['tailor']:.1f} s: {record['speedup']}x; "
        f"identical answers: {same} → {path}"
    )


# ---- the local endpoints prompt_bench.py and synth_bench.py serve the packaged model from -----------


class JSONHandler(BaseHTTPRequestHandler):
    """A request handler that answers in JSON and logs nothing."""

    def log_message(self, *args: Any) -> None:
        pass

    def reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def message_text(content: Any) -> str:
    """A message's text: a string, or the text parts of an OpenAI content list."""
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content or ""


def usage(calls: list[dict[str, Any]]) -> dict[str, Any]:
    """Model calls, tokens and seconds in the model of the endpoint's ``calls``."""
    return {
        "model_calls": len(calls),
        "prompt_tokens": sum(r["prompt_tokens"] for r in calls),
        "completion_tokens": sum(r["completion_tokens"] for r in calls),
        "model_seconds": round(sum(r["seconds"] for r in calls), 1),
    }
