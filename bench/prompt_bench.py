"""Prompt optimisation: tailor's `prompt` search against DSPy's optimizers, same model, data, metric and endpoint.

    pip install -e '.[bench]'
    python bench/prompt_bench.py            # → bench/results/prompt.json
    python bench/prompt_bench.py --model qwen2.5-coder-0.5b-instruct --backend llamacpp \\
        --results bench/results/prompt_qwen_0.5b.json
    python bench/prompt_bench.py --smoke    # the same path on a few routing examples (2-3 minutes); writes nothing
    unshare -rn sh -c 'ip link set lo up && python bench/prompt_bench.py'    # the same, provably offline

Model: a packaged model (``--model``; SmolLM2-135M-Instruct by default) behind one OpenAI-compatible
endpoint on 127.0.0.1 that this script serves from a thread (``/v1/chat/completions``; one request at a
time, batch size 1; greedy unless the request sets a temperature). Every side reaches the model only through it, so the
endpoint's count of requests is each side's count of model calls, exactly; cached answers (DSPy's
in-memory cache, emptied before each optimizer) are not calls.

Data: the demo's synthetic world (seed 0, size small): its ``qa`` and ``routing`` sets, each cut to
``--train``/``--dev`` examples of its own train and dev splits (the dev set the larger, as DSPy advises:
optimizers see train and dev only) and ``--test`` of its test split, drawn with a fixed seed. Metric:
the dataset's primary metric as tailor scores it (token F1 for qa, label accuracy for routing), the
same function on every side. Answer length: ``--qa-tokens`` for qa (the world's answers are a name, a
figure or a date), 8 for routing (the shipped recipe's); DSPy gets as many more as its adapter's field
markers take.

- tailor: ``tune_prompt`` with the recipe defaults: a budget of 12 variants' worth of answers on the search
  part of dev, a third of dev (at most 8) held out to confirm the winner against the starting prompt;
  bootstrapping (the train examples the model answers right) takes one variant's worth; stages in order:
  0/2/4 demonstrations chosen at random, by similarity or bootstrapped, the instruction, its placement,
  and for qa a static block of documents; candidates raced by successive halving. The winner answers the
  test set.
- DSPy: ``dspy.Predict("question -> answer")`` starting from tailor's baseline instruction, through the
  adapter (ChatAdapter or JSONAdapter) that scored better on the first dev examples;
  ``BootstrapFewShotWithRandomSearch`` (defaults but ``--candidates`` candidate programs) and
  ``MIPROv2(auto="light")`` (its instruction proposals made by the same local model: no stronger
  one is available offline). Bootstrapping keeps a trace when its score is ≥ 0.5 (DSPy's idiom for a
  graded metric). A reply the adapter cannot parse scores 0 and is counted as a format failure.

Recorded per dataset and side: model calls and tokens for optimising and for the test, wall time,
the dev score of the chosen prompt (as its optimizer measured it), the test score with its 95%
bootstrap interval, the dev-to-test gap, format failures apart from wrong answers, what was chosen.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import socket
import sys
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # litellm fetches its price list at import otherwise

from common import JSONHandler, command, message_text, usage, versions, what

RESULTS = Path(__file__).parent / "results" / "prompt.json"
MODEL = "smollm2-135m-instruct"
THREADS = 4  # requests in flight on every side (tailor's endpoint default); the endpoint answers one at a time
PASS = 0.5  # a bootstrapped demonstration must score at least this (token F1 or accuracy)


# ---- the endpoint: every model call of every side goes through it, counted by phase ---------------


class CountingEndpoint:
    """An OpenAI-compatible chat endpoint on 127.0.0.1 serving ``generator`` one request at a time.

    ``calls``: one row per request answered, tagged with the phase set last by :meth:`phase` (which
    side and step it belongs to), its tokens, seconds in the model and temperature.
    """

    def __init__(self, generator: Any, model: str = MODEL):
        self.generator, self.model = generator, model
        self.calls: list[dict[str, Any]] = []
        self._phase = "setup"
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> str:
        """Serve from a background thread; returns the base URL (``http://127.0.0.1:PORT/v1``)."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def phase(self, name: str) -> None:
        with self._lock:  # waits for the request in the model to finish under the old phase
            self._phase = name

    def usage(self, phase: str) -> dict[str, Any]:
        """Calls, tokens and model seconds of ``phase`` and of every phase under it (``phase/...``)."""
        return usage([c for c in self.calls if c["phase"] == phase or c["phase"].startswith(phase + "/")])

    def _answer(self, body: dict[str, Any]) -> dict[str, Any]:
        from tailor.models.base import GenerationSettings

        messages = [{"role": m["role"], "content": message_text(m.get("content"))} for m in body["messages"]]
        limit = body.get("max_tokens") or body.get("max_completion_tokens") or 256
        temperature = float(body.get("temperature") or 0.0)
        settings = GenerationSettings(max_new_tokens=int(limit), temperature=temperature, batch_size=1)
        with self._lock:
            start = time.perf_counter()
            gen = self.generator.generate([messages], settings)[0]
            seconds = time.perf_counter() - start
            self.calls.append(
                {
                    "phase": self._phase,
                    "prompt_tokens": gen.prompt_tokens,
                    "completion_tokens": gen.completion_tokens,
                    "seconds": seconds,
                    "temperature": temperature,
                }
            )
        usage = {"prompt_tokens": gen.prompt_tokens, "completion_tokens": gen.completion_tokens}
        choice = {"index": 0, "message": {"role": "assistant", "content": gen.text}, "finish_reason": "stop"}
        return {
            "id": f"chatcmpl-{len(self.calls)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [choice],
            "usage": usage | {"total_tokens": gen.prompt_tokens + gen.completion_tokens},
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(JSONHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: DSPy's and tailor's clients reuse connections

            def do_GET(self) -> None:
                models = {"object": "list", "data": [{"id": endpoint.model, "object": "model"}]}
                self.reply(200, models) if self.path.rstrip("/") == "/v1/models" else self.reply(404, {})

            def do_POST(self) -> None:
                from tailor.errors import ModelError

                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self.reply(404, {"error": {"message": f"no route {self.path}"}})
                    return
                try:
                    self.reply(200, endpoint._answer(body))
                except ModelError as e:
                    self.reply(400, {"error": {"message": str(e), "type": "invalid_request_error"}})

        return Handler


class OutsideConnections:
    """Every connection or name lookup this process attempts to anywhere but 127.0.0.1 (an audit hook)."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        sys.addaudithook(self._hook)

    def _hook(self, event: str, args: tuple) -> None:
        if event == "socket.connect" and isinstance(args[1], tuple) and args[1][0] not in ("127.0.0.1", "::1"):
            self.seen.append(f"connect {args[1][0]}:{args[1][1]}")
        elif event == "socket.getaddrinfo" and args[0] not in ("127.0.0.1", "localhost", None):
            self.seen.append(f"lookup {args[0]}")


# ---- data and scoring -----------------------------------------------------------------------------

RECIPE = """\
model: {{kind: openai, base_url: "{url}", model: {model}, concurrency: {threads}, timeout_s: 3600}}
data:
  corpus: ["world/docs/**/*.md"]
  examples:
    - {{path: world/qa.jsonl, max_new_tokens: {qa_tokens}}}
    - {{path: world/routing.jsonl, max_new_tokens: 8}}
prompt: {{dev_size: {dev}}}
seed: 0
out: runs
"""


def open_world(root: Path, url: str, args: argparse.Namespace) -> Any:
    """A workspace over the demo's world whose model is the endpoint, its datasets cut to the run's sizes."""
    from tailor.data.world import generate_world, write_world
    from tailor.recipe_file import load_recipe
    from tailor.workspace import open_workspace

    write_world(generate_world(0, "small"), root / "world")
    text = RECIPE.format(url=url, model=args.model, threads=THREADS, qa_tokens=args.qa_tokens, dev=args.dev)
    (root / "tailor.yaml").write_text(text, encoding="utf-8")
    ws = open_workspace(load_recipe(root / "tailor.yaml"))
    rng = random.Random(0)
    cut = []
    for ds in ws.datasets:
        sizes = {"train": args.train, "dev": args.dev, "test": args.test}
        kept = [e for split, n in sizes.items() for e in rng.sample(ds.split(split), min(n, len(ds.split(split))))]
        cut.append(replace(ds, examples=tuple(kept)))
    return replace(ws, datasets=tuple(cut))


def scores(texts: list[str], examples: list[Any], dataset: Any) -> tuple[list[float], list[bool]]:
    """Each answer's primary-metric score, and whether it is malformed (routing: no label in it; qa: empty)."""
    from tailor.eval.metrics import parse_label
    from tailor.eval.scoring import example_scores, primary_metric

    metric = primary_metric(dataset)
    values = [example_scores(t, e, dataset)[metric] for t, e in zip(texts, examples, strict=True)]
    if dataset.kind == "classify":
        malformed = [parse_label(t, dataset.labels) is None for t in texts]
    else:
        malformed = [not t.strip() for t in texts]
    return values, malformed


def score_record(values: list[float], malformed: list[bool], unparsed: int, dev_score: float) -> dict[str, Any]:
    from tailor.eval.metrics import mean_ci

    mean, low, high = mean_ci(values)
    return {
        "test_score": round(mean, 4),
        "test_ci95": [round(low, 4), round(high, 4)],
        "n_test": len(values),
        "dev_score": round(dev_score, 4),
        "dev_to_test_gap": round(dev_score - mean, 4),
        # format failures: the adapter could not parse the reply (DSPy), or its answer held no label / nothing
        "format_failures": {"unparsed": unparsed, "malformed_answer": sum(malformed) - unparsed},
        "wrong_answers": sum(v < 1.0 for v, m in zip(values, malformed, strict=True) if not m),
    }


# ---- the sides ------------------------------------------------------------------------------------


def run_tailor(ws: Any, dataset: Any, endpoint: CountingEndpoint, tag: str) -> dict[str, Any]:
    from tailor.contract import asker
    from tailor.prompt.search import build_prompt_strategy, tune_prompt

    endpoint.phase(f"{tag}/optimize")
    start = time.perf_counter()
    tuned = tune_prompt(ws, dataset)
    optimize_s = time.perf_counter() - start
    endpoint.phase(f"{tag}/test")
    test = dataset.split("test")
    start = time.perf_counter()
    answers = build_prompt_strategy(ws, dataset, tuned.spec).answer_batch(
        [e.question for e in test], [asker(e) for e in test]
    )
    test_s = time.perf_counter() - start
    values, malformed = scores([a.text for a in answers], test, dataset)
    return {
        **score_record(values, malformed, 0, tuned.dev_score),
        "seconds": {"optimize": round(optimize_s, 1), "test": round(test_s, 1)},
        "chosen": {
            "spec": tuned.spec.describe(),
            "variants_scored": len(tuned.leaderboard),
            "search_calls": tuned.calls,  # tailor's own count: bootstrapping and the search, not the confirmation
            "confirm_examples": tuned.n_confirm,
        },
        "test_answers": [a.text for a in answers[:8]],
    }


def dspy_task(dataset: Any) -> tuple[Any, Any]:
    """(DSPy program, metric) for ``dataset``: Predict from tailor's baseline instruction; tailor's metric."""
    import dspy

    from tailor.prompt.builder import fill_instruction, instructions

    by_question = {e.question: e for e in dataset.examples}
    signature = dspy.Signature("question -> answer", fill_instruction(instructions(dataset.kind)[0], dataset))

    def metric(example: Any, prediction: Any, trace: Any = None) -> float | bool:
        value = scores([prediction.get("answer") or ""], [by_question[example.question]], dataset)[0][0]
        return value >= PASS if trace is not None else value

    return dspy.Predict(signature), metric


def dspy_examples(dataset: Any, split: str) -> list[Any]:
    import dspy

    return [dspy.Example(question=e.question, answer=e.answer).with_inputs("question") for e in dataset.split(split)]


def dspy_evaluate(program: Any, examples: list[Any], metric: Any, dataset: Any) -> dict[str, Any]:
    """Answers, scores and format failures of ``program`` on ``examples`` (DSPy's own Evaluate)."""
    import dspy

    result = dspy.Evaluate(
        devset=examples,
        metric=metric,
        num_threads=THREADS,
        display_progress=False,
        # a reply it cannot parse scores 0; it does not stop the run (an adapter may fail twice per example:
        # JSONAdapter retries without structured output, and each failure counts)
        max_errors=4 * len(examples) + 1,
        failure_score=0.0,
        provide_traceback=False,
    )(program)
    texts = [(pred.get("answer") if pred is not None else None) for _, pred, _ in result.results]
    values, malformed = scores([t or "" for t in texts], _tailor_examples(examples, dataset), dataset)
    return {"texts": texts, "values": values, "malformed": malformed, "unparsed": sum(t is None for t in texts)}


def _tailor_examples(examples: list[Any], dataset: Any) -> list[Any]:
    by_question = {e.question: e for e in dataset.examples}
    return [by_question[e.question] for e in examples]


def choose_adapter(dataset: Any, endpoint: CountingEndpoint, tag: str, n: int) -> dict[str, Any]:
    """ChatAdapter and JSONAdapter on the first ``n`` dev examples: the better scoring one (ties: fewer failures)."""
    import dspy

    program, metric = dspy_task(dataset)
    tried = {}
    for name, adapter in (("ChatAdapter", dspy.ChatAdapter()), ("JSONAdapter", dspy.JSONAdapter())):
        endpoint.phase(f"{tag}/{name}")
        dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=True)
        with dspy.context(adapter=adapter):
            out = dspy_evaluate(program, dspy_examples(dataset, "dev")[:n], metric, dataset)
        tried[name] = {
            "score": round(sum(out["values"]) / len(out["values"]), 4),
            "unparsed": out["unparsed"],
            "malformed_answer": sum(out["malformed"]) - out["unparsed"],
            "replies": out["texts"][:4],
        }
    best = max(tried, key=lambda k: (tried[k]["score"], -tried[k]["unparsed"], k == "ChatAdapter"))
    return {"chosen": best, "n_dev": n, "tried": tried, **endpoint.usage(tag)}


def run_dspy(
    optimizer: str, dataset: Any, adapter: str, endpoint: CountingEndpoint, tag: str, args: argparse.Namespace
) -> dict[str, Any]:
    import dspy

    program, metric = dspy_task(dataset)
    train, dev, test = (dspy_examples(dataset, s) for s in ("train", "dev", "test"))
    lm = dspy.settings.lm
    if optimizer == "BootstrapFewShotWithRandomSearch":
        settings = {"num_candidate_programs": args.candidates, "max_bootstrapped_demos": 4, "max_labeled_demos": 16}
        attempts = [(adapter, None)]
    else:
        settings = {"auto": "light", "prompt_model": f"the same {args.model}, max_tokens {args.proposer_tokens}"}
        # Its own instruction proposals must parse too. If they do not, a second try: ChatAdapter (which
        # falls back to JSON) and proposals decoded greedily (init_temperature 0) instead of at 1.0.
        attempts = [(adapter, 1.0), ("ChatAdapter", 0.0)]
    failed = []
    start = time.perf_counter()
    endpoint.phase(f"{tag}/optimize")
    for name, temperature in attempts:
        dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=True)  # cold for each optimizer
        opt = optimizer_for(optimizer, metric, lm, args, len(train) + len(dev) + 1, temperature)
        with dspy.context(adapter=getattr(dspy, name)()):
            try:
                compiled = opt.compile(program, trainset=train, valset=dev)
            except Exception as e:  # the optimizer's own failure is the finding
                error = f"{e.__class__.__name__}: {str(e)[:400]}"
                failed.append({"adapter": name, "init_temperature": temperature, "error": error})
                continue
            optimize_s = time.perf_counter() - start
            endpoint.phase(f"{tag}/test")
            start = time.perf_counter()
            out = dspy_evaluate(compiled, test, metric, dataset)
            test_s = time.perf_counter() - start
            break
    else:
        return {"ran": False, "failed_attempts": failed, "settings": settings}
    if optimizer == "BootstrapFewShotWithRandomSearch":
        dev_score = compiled.candidate_programs[0]["score"] / 100  # DSPy's Evaluate reports percent
    else:
        dev_score = compiled.score / 100
    predictor = compiled.predictors()[0]
    return {
        "ran": True,
        **score_record(out["values"], out["malformed"], out["unparsed"], dev_score),
        "seconds": {"optimize": round(optimize_s, 1), "test": round(test_s, 1)},
        "settings": settings | {"adapter": name, "init_temperature": temperature, "num_threads": THREADS},
        "failed_attempts": failed,
        "chosen": {"instruction": predictor.signature.instructions, "demos": len(predictor.demos)},
        "test_answers": out["texts"][:8],
    }


def optimizer_for(
    optimizer: str, metric: Any, lm: Any, args: argparse.Namespace, max_errors: int, temperature: float | None
) -> Any:
    """A fresh optimizer; ``max_errors`` so that replies it cannot parse score 0 instead of stopping it."""
    import dspy

    if optimizer == "BootstrapFewShotWithRandomSearch":
        return dspy.BootstrapFewShotWithRandomSearch(
            metric=metric, num_candidate_programs=args.candidates, num_threads=THREADS, max_errors=max_errors
        )
    return dspy.MIPROv2(
        metric=metric,
        prompt_model=lm.copy(max_tokens=args.proposer_tokens),
        task_model=lm,
        auto="light",
        num_threads=THREADS,
        max_errors=max_errors,
        seed=0,
        init_temperature=temperature,
    )


def configure_dspy(url: str, max_tokens: int, model: str) -> None:
    import dspy

    logging.getLogger("dspy").setLevel(logging.WARNING)
    lm = dspy.LM(f"openai/{model}", api_base=url, api_key="local", temperature=0.0, max_tokens=max_tokens)
    dspy.configure(lm=lm)


def marker_tokens(generator: Any) -> int:
    """Tokens DSPy's ChatAdapter puts around an answer field; DSPy gets that many more than tailor."""
    return generator.count_tokens("[[ ## answer ## ]]\n\n\n[[ ## completed ## ]]")


# ---- the run --------------------------------------------------------------------------------------

OPTIMIZERS = ("BootstrapFewShotWithRandomSearch", "MIPROv2")


def bench_dataset(ws: Any, dataset: Any, endpoint: CountingEndpoint, args: argparse.Namespace) -> dict[str, Any]:
    name = dataset.name
    sides: dict[str, Any] = {}
    start = time.perf_counter()
    sides["tailor"] = run_tailor(ws, dataset, endpoint, f"{name}/tailor")
    sides["tailor"]["seconds"]["wall"] = round(time.perf_counter() - start, 1)
    print(f"[{name}] tailor: {_brief(sides['tailor'])}", file=sys.stderr, flush=True)
    tokens = ws.settings_for(dataset).max_new_tokens + marker_tokens(ws.generator)
    configure_dspy(endpoint_url(ws), tokens, args.model)
    probe = choose_adapter(dataset, endpoint, f"{name}/adapter-probe", args.probe)
    for optimizer in OPTIMIZERS:
        start = time.perf_counter()
        sides[optimizer] = run_dspy(optimizer, dataset, probe["chosen"], endpoint, f"{name}/{optimizer}", args)
        sides[optimizer].setdefault("seconds", {})["wall"] = round(time.perf_counter() - start, 1)
        print(f"[{name}] {optimizer}: {_brief(sides[optimizer])}", file=sys.stderr, flush=True)
    for side, record in sides.items():
        record["calls"] = {
            "optimize": endpoint.usage(f"{name}/{side}/optimize"),
            "test": endpoint.usage(f"{name}/{side}/test"),
        }
    return {
        "kind": dataset.kind,
        "metric": "accuracy" if dataset.kind == "classify" else "token_f1",
        "sizes": {s: len(dataset.split(s)) for s in ("train", "dev", "test")},
        "max_tokens": {"tailor": ws.settings_for(dataset).max_new_tokens, "dspy": tokens},
        "adapter_probe": probe,
        "sides": sides,
        "summary": summary(sides),
    }


def _brief(side: dict[str, Any]) -> str:
    if not side.get("ran", True):
        return f"did not run: {side['failed_attempts']}"
    return f"test {side['test_score']:.3f}, dev {side['dev_score']:.3f}, {side['seconds']['wall']:.0f} s"


def endpoint_url(ws: Any) -> str:
    return ws.recipe.model.base_url


def summary(sides: dict[str, Any]) -> dict[str, Any]:
    """tailor against the best DSPy optimizer by test score: the issue's three targets, as numbers."""
    ran = [k for k in OPTIMIZERS if sides[k].get("ran")]
    if not ran:
        return {"best_dspy": None}
    best = max(ran, key=lambda k: sides[k]["test_score"])
    t, d = sides["tailor"], sides[best]
    t_calls, d_calls = t["calls"]["optimize"]["model_calls"], d["calls"]["optimize"]["model_calls"]
    return {
        "best_dspy": best,
        "test_score": {"tailor": t["test_score"], best: d["test_score"]},
        "optimize_calls": {"tailor": t_calls, best: d_calls},
        "dev_to_test_gap": {"tailor": t["dev_to_test_gap"], best: d["dev_to_test_gap"]},
        "tailor_score_at_least_best": t["test_score"] >= d["test_score"],
        "tailor_calls_at_most_best": t_calls <= d_calls,
        "tailor_gap_smaller": abs(t["dev_to_test_gap"]) < abs(d["dev_to_test_gap"]),
        "optimize_calls_ratio_dspy_over_tailor": round(d_calls / t_calls, 2) if t_calls else None,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="routing only, a few examples: the path, not a result")
    parser.add_argument("--train", type=int, default=8, help="train examples per dataset (DSPy: fewer than dev)")
    parser.add_argument("--dev", type=int, default=12, help="dev examples per dataset (tailor's dev_size too)")
    parser.add_argument("--test", type=int, default=30, help="test examples per dataset")
    parser.add_argument("--qa-tokens", type=int, default=16, help="tailor's answer length for qa")
    parser.add_argument("--candidates", type=int, default=4, help="BootstrapFewShotWithRandomSearch's candidates")
    parser.add_argument("--probe", type=int, default=4, help="dev examples the adapter choice is made on")
    parser.add_argument(
        "--proposer-tokens", type=int, default=160, help="MIPROv2's proposals: sentences, not short answers"
    )
    parser.add_argument("--datasets", nargs="+", default=["qa", "routing"])
    parser.add_argument("--model", default=MODEL, help="the packaged model behind the endpoint (tailor models)")
    parser.add_argument(
        "--backend",
        choices=("transformers", "llamacpp"),
        default="transformers",
        help="how the endpoint runs it: float32 through transformers, or the GGUF file through llama.cpp",
    )
    parser.add_argument("--results", type=Path, default=None, help=f"where to write (default {RESULTS}; smoke: none)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.train, args.dev, args.test, args.candidates, args.probe = 2, 2, 2, 1, 1
        args.datasets, args.proposer_tokens = ["routing"], 32
    return args


def command_line(args: argparse.Namespace) -> str:
    """The command line: ``--smoke`` alone (it sets the sizes itself), or every flag not at its default."""
    if args.smoke:
        return command(__file__, args, {"smoke": False})
    return command(__file__, args, {k: v for k, v in vars(parse_args([])).items() if k != "results"})


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    try:
        import dspy  # noqa: F401
    except ImportError:
        raise SystemExit("DSPy is not installed: pip install -e '.[bench]'") from None
    import tempfile

    import torch

    from tailor.artifacts import write_json_atomic

    # One thread: on 2 cores shared with other work, two threads waiting on each other ran 3x slower
    # per token (4 s against 13 s for 31 tokens, same prompt, load average 5).
    torch.set_num_threads(1)
    outside = OutsideConnections()
    start = time.perf_counter()
    endpoint = CountingEndpoint(_generator(args.model, args.backend), args.model)
    url = endpoint.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ws = open_world(Path(tmp), url, args)
            datasets = {d.name: d for d in ws.datasets}
            results = {name: bench_dataset(ws, datasets[name], endpoint, args) for name in args.datasets}
    finally:
        endpoint.stop()
    record = {
        "command": command_line(args),
        "what": what(__doc__, 2, 3),  # the Model: and Data: paragraphs
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "network_interfaces": _interfaces()},
        "versions": versions("dspy", "litellm", "optuna", "torch", "transformers"),
        "model": args.model,
        "backend": args.backend,
        "world": {"seed": 0, "size": "small"},
        "connections_outside_127.0.0.1": outside.seen,
        "model_calls_total": len(endpoint.calls),
        "seconds_total": round(time.perf_counter() - start, 1),
        "datasets": results,
    }
    path = args.results or (None if args.smoke else RESULTS)
    if path is not None:
        write_json_atomic(path, record)
    for name, r in results.items():
        for side, s in r["sides"].items():
            if s.get("ran", True):
                print(
                    f"{name:>8} {side:>33}: test {s['test_score']:.3f} {s['test_ci95']} dev {s['dev_score']:.3f} "
                    f"gap {s['dev_to_test_gap']:+.3f}; {s['calls']['optimize']['model_calls']} calls to optimise, "
                    f"{s['seconds']['wall']:.0f} s; format failures {s['format_failures']}"
                )
            else:
                print(f"{name:>8} {side:>33}: did not run: {s['failed_attempts']}")
    print(f"outside connections: {outside.seen or 'none'}; {len(endpoint.calls)} model calls → {path}")
    return record


def _generator(model: str, backend: str) -> Any:
    """The packaged ``model`` as the endpoint serves it: float32 through transformers, or its GGUF file as
    shipped (quantized) through llama.cpp on one thread."""
    from tailor.models.gguf import converted_dir, packaged_gguf

    if backend == "llamacpp":
        from tailor.models.llamacpp import LlamaCppGenerator

        return LlamaCppGenerator(packaged_gguf(model), threads=1, name=model)
    from tailor.models.local import TransformersGenerator

    return TransformersGenerator.load(converted_dir(packaged_gguf(model)), model, "float32")


def _interfaces() -> list[str]:
    """This process's network interfaces: ``["lo"]`` under ``unshare -rn`` (no network to reach)."""
    return sorted(name for _, name in socket.if_nameindex())


if __name__ == "__main__":
    main()
