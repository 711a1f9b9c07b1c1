"""Serving under load: `tailor serve` batched against the same server unbatched, same model, same requests;
and a soak of the server with every kind of request a client sends.

    pip install -e '.[serve,dev]'
    python bench/serve_bench.py             # → bench/results/serve.json (about 4 minutes on 2 CPU cores)
    python bench/serve_bench.py --soak      # → its "soak" section (about 3 minutes)
    python bench/serve_bench.py --first-token --max-new-tokens 32 --clients 16 --requests 48
                                            # → its "first_token" section (about 3 minutes)

The server runs on 127.0.0.1 with the packaged SmolLM2-135M-Instruct behind the ``baseline`` strategy
of the tiny synthetic world (answers capped at ``--max-new-tokens``). ``--clients`` concurrent
clients (asyncio + httpx, in this process; nothing leaves 127.0.0.1) send ``--requests`` chat
completions in total, each with its own API key check, and wait for each answer before sending the
next. Both runs are preceded by a warm-up. Measured per run: throughput (answers/s), latency p50 /
p95 (s, client side), errors (any non-200; target 0) and generator calls. The ratio:
``throughput_ratio`` = batched / unbatched answers per second (above 1: batching helps).

The soak (``--soak``) runs the server in its own process, so that its resident memory (RSS) is its
own: same model and strategy, ``--clients`` concurrent clients for ``--soak-s`` seconds (at most
``--soak-requests`` requests) sending a fixed mix (``KINDS``): chat completions and completions,
plain and streamed, wrong API keys, and bodies over serve.max_body_bytes, with Content-Length and
chunked without one. Each question carries a nonce that the served strategy appends to its answer,
so every answer is checked to be its own request's. Unexpected, target 0: a status other than the
kind's, an answer without its own nonce, a stream cut short, a connection error, a traceback in the
server's log. Measured: answers/s, p50 / p95 latency per kind, time to the first streamed token
against the whole stream, the server's RSS at start, after warm-up and at the end (and its peak),
and its exit code when SIGTERM ends it.

``--first-token`` measures what token streaming buys: the time to the first streamed word with words
sent as generated, against the same server with the answer generated whole and then sent in pieces
(the peer: tailor serve before it streamed); ratio ``first_token_p50_ratio`` = streamed / whole.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from common import command, record_head

from tailor.artifacts import write_json_atomic
from tailor.contract import BuiltPrompt
from tailor.recipe_file import load_recipe
from tailor.scaffold import init_project
from tailor.serve.keys import add_key, load_keys
from tailor.serve.server import build_state, free_port, run, running
from tailor.serve.settings import ServeConfig
from tailor.workspace import Workspace, open_workspace

KINDS = {  # request kind → (share of the soak's requests, the status it must get)
    "chat": (0.35, 200),
    "completion": (0.20, 200),
    "chat_stream": (0.15, 200),
    "completion_stream": (0.10, 200),
    "wrong_key": (0.10, 401),
    "oversized": (0.05, 413),  # Content-Length over serve.max_body_bytes
    "oversized_chunked": (0.05, 413),  # chunked, no Content-Length: cut off while it arrives
}
NONCE = re.compile(r"ref-[0-9a-f]{12}")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[int(q * (len(ordered) - 1))], 3) if ordered else 0.0


async def _load(base_url: str, key: str, questions: list[str], clients: int) -> dict[str, Any]:
    import httpx

    pending = list(enumerate(questions))
    latencies: list[float] = []
    errors: dict[int, int] = {}

    async def client(http: httpx.AsyncClient) -> None:
        while pending:
            _, question = pending.pop()
            body = {"model": "tailor-baseline", "messages": [{"role": "user", "content": question}]}
            start = time.perf_counter()
            response = await http.post("/chat/completions", json=body)
            latencies.append(time.perf_counter() - start)
            if response.status_code != 200:
                errors[response.status_code] = errors.get(response.status_code, 0) + 1

    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=600, limits=limits) as http:
        start = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        wall = time.perf_counter() - start
    latencies.sort()
    return {
        "requests": len(questions),
        "wall_s": round(wall, 2),
        "answers_per_s": round(len(questions) / wall, 3),
        "latency_p50_s": round(statistics.median(latencies), 3),
        "latency_p95_s": _percentile(latencies, 0.95),
        "errors": sum(errors.values()),
        "errors_by_status": errors,
    }


def _project(max_new_tokens: int) -> tuple[Path, Workspace, str]:
    """A tiny synthetic world with one API key: (its directory, the workspace, the key)."""
    root = Path(tempfile.mkdtemp(prefix="tailor-serve-bench-"))
    init_project(root, size="tiny")
    key, _ = add_key(root / "keys.yaml", "bench", ["everyone"])
    return root, _workspace(root, max_new_tokens), key


def _workspace(root: Path, max_new_tokens: int) -> Workspace:
    recipe = load_recipe(root / "tailor.yaml")
    generation = recipe.generation.model_copy(update={"max_new_tokens": max_new_tokens})
    return open_workspace(recipe.model_copy(update={"generation": generation}))


def compare(args: argparse.Namespace, made_by: str) -> dict[str, Any]:
    """Batched against unbatched serving: the file's main record."""
    root, ws, key = _project(args.max_new_tokens)
    examples = [e for d in ws.datasets for e in d.examples]
    questions = [examples[i % len(examples)].question for i in range(args.requests)]
    runs = {}
    for name, batch in (("unbatched", 1), ("batched", args.batch_size)):
        config = ServeConfig(strategies=["baseline"], batch_size=batch, batch_wait_ms=20, max_queue=4 * args.clients)
        state = build_state(ws, load_keys(root / "keys.yaml"), config)
        with running(state) as base_url:
            asyncio.run(_load(base_url, key, questions[: max(4, args.clients // 10)], min(4, args.clients)))  # warm-up
            calls = state.batcher.batches
            runs[name] = asyncio.run(_load(base_url, key, questions, args.clients))
            runs[name]["generator_calls"] = state.batcher.batches - calls
            runs[name]["batch_size"] = batch
        state.batcher.close()
        sys.stderr.write(f"{name}: {runs[name]}\n")
    return {
        **record_head(
            made_by,
            f"{args.clients} concurrent clients, {args.requests} chat completions against tailor serve "
            f"(baseline strategy, SmolLM2-135M, answers up to {args.max_new_tokens} tokens), batched "
            f"(batch {args.batch_size}) vs unbatched, on 127.0.0.1",
        ),
        "runs": runs,
        "throughput_ratio": round(runs["batched"]["answers_per_s"] / runs["unbatched"]["answers_per_s"], 2),
        "p95_latency_ratio": round(runs["batched"]["latency_p95_s"] / runs["unbatched"]["latency_p95_s"], 2),
    }


def _echo_nonce(text: str, built: BuiltPrompt) -> str:
    """The soak strategy's finish: the model's answer, then the nonce of the question it answered."""
    found = NONCE.findall(built.messages[-1]["content"])
    return f"{text} ({found[-1]})" if found else text


def serve_for_soak(root: Path, port: int, args: argparse.Namespace) -> None:
    """The soak's server process: baseline on the packaged model, its answers followed by their nonce."""
    config = ServeConfig(
        strategies=["baseline"], batch_size=args.batch_size, batch_wait_ms=20, max_queue=4 * args.clients
    )
    state = build_state(_workspace(root, args.max_new_tokens), load_keys(root / "keys.yaml"), config)
    strategy = state.batcher.strategies["tailor-baseline"]
    state.batcher.strategies["tailor-baseline"] = replace(strategy, finish=_echo_nonce)
    run(state, "127.0.0.1", port)


def _rss_mb(pid: int) -> dict[str, float]:
    """The process's resident memory now and at its peak (Linux /proc), MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {
        "now": round(int(fields["VmRSS"].split()[0]) / 1024, 1),
        "peak": round(int(fields["VmHWM"].split()[0]) / 1024, 1),
    }


async def _one(http: Any, kind: str, question: str, key: str, limit: int) -> dict[str, Any]:
    """Send one request of ``kind``: {kind, status, latency_s, first_token_s, problem (None: as expected)}."""
    import httpx

    nonce = NONCE.search(question).group()
    stream = kind.endswith("_stream")
    path = "/completions" if kind.startswith("completion") else "/chat/completions"
    body: dict[str, Any] = {"model": "tailor-baseline", "stream": stream}
    body |= {"prompt": question} if path == "/completions" else {"messages": [{"role": "user", "content": question}]}
    headers = {"Authorization": f"Bearer {'tk-not-a-key' if kind == 'wrong_key' else key}"}
    content: Any = None
    if kind == "oversized":
        content = json.dumps({**body, "pad": "x" * limit}).encode()
    elif kind == "oversized_chunked":

        async def chunks():  # 64 KiB at a time, up to 4 times the limit: cut off long before its end
            for _ in range(4 * limit // 65536 + 1):
                yield b" " * 65536

        content = chunks()
    start = time.perf_counter()
    first = None
    text, done, status, error = "", False, 0, None
    try:
        request = http.build_request(
            "POST", path, headers=headers, json=None if content is not None else body, content=content
        )
        response = await http.send(request, stream=True)
        status = response.status_code
        if status == 200 and stream:
            async for line in response.aiter_lines():
                if line == "data: [DONE]":
                    done = True
                elif line.startswith("data: "):
                    choice = (json.loads(line[6:]).get("choices") or [{}])[0]
                    piece = choice.get("text") or (choice.get("delta") or {}).get("content") or ""
                    if piece and first is None:
                        first = time.perf_counter() - start
                    text += piece
        else:
            reply = json.loads(await response.aread())
            if status == 200:
                choice = reply["choices"][0]
                text, done = choice.get("text") or choice["message"]["content"], True
            else:
                error = reply["error"]["code"]
        await response.aclose()
    except (httpx.HTTPError, ValueError, KeyError) as e:
        return {"kind": kind, "status": status, "latency_s": time.perf_counter() - start, "problem": repr(e)[:200]}
    latency = time.perf_counter() - start
    expected = KINDS[kind][1]
    problem = None
    if status != expected:
        problem = f"status {status} ({error})"
    elif status == 200 and not done:
        problem = "stream cut short"
    elif status == 200 and set(NONCE.findall(text)) != {nonce}:
        problem = f"answer not its own: {NONCE.findall(text)} for {nonce}"
    elif status != 200 and error != {401: "invalid_api_key", 413: "body_too_large"}[status]:
        problem = f"error code {error}"
    return {"kind": kind, "status": status, "latency_s": latency, "first_token_s": first, "problem": problem}


async def _soak_load(
    base_url: str,
    key: str,
    questions: list[str],
    clients: int,
    seconds: float,
    most: int,
    limit: int,
    only: list[str] | None = None,
) -> tuple[list[dict[str, Any]], float]:
    """``clients`` clients sending the KINDS mix (or only the kinds ``only``) for ``seconds`` (at most
    ``most`` requests): (results, wall s)."""
    import httpx

    results: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    kinds = only or list(KINDS)
    shares = [KINDS[kind][0] for kind in kinds]

    async def client(http: httpx.AsyncClient, rng: random.Random) -> None:
        while time.monotonic() < deadline and len(results) < most:
            question = f"{rng.choice(questions)} (ref-{rng.getrandbits(48):012x})"
            results.append(await _one(http, rng.choices(kinds, shares)[0], question, key, limit))

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, timeout=300, limits=limits) as http:
        start = time.perf_counter()
        await asyncio.gather(*(client(http, random.Random(i)) for i in range(clients)))
        return results, time.perf_counter() - start


def soak(args: argparse.Namespace, made_by: str) -> dict[str, Any]:
    """The soak: the server in its own process, ``args.clients`` clients, every kind of request."""
    import httpx

    root, ws, key = _project(args.max_new_tokens)
    questions = [e.question for d in ws.datasets for e in d.examples]
    port = free_port()
    server_command = [sys.executable, __file__, "--serve-root", str(root), "--port", str(port)]
    server_command += ["--clients", str(args.clients), "--batch-size", str(args.batch_size)]
    server_command += ["--max-new-tokens", str(args.max_new_tokens)]
    log = root / "serve.log"
    server = subprocess.Popen(server_command, stdout=subprocess.DEVNULL, stderr=log.open("w"))
    try:
        deadline = time.monotonic() + 300
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"the server exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not come up")
            time.sleep(0.5)
        base_url = f"http://127.0.0.1:{port}/v1"
        limit = ServeConfig().max_body_bytes
        rss = {"start": _rss_mb(server.pid)["now"]}
        asyncio.run(_soak_load(base_url, key, questions, 8, 15, 10**6, limit))  # warm-up: every kind
        rss["after_warmup"] = _rss_mb(server.pid)["now"]
        results, wall = asyncio.run(
            _soak_load(base_url, key, questions, args.clients, args.soak_s, args.soak_requests, limit)
        )
        rss["end"], rss["peak"] = _rss_mb(server.pid).values()
        server.send_signal(signal.SIGTERM)
        stopping = time.perf_counter()
        exit_code = server.wait(timeout=120)
        shutdown_s = time.perf_counter() - stopping
    finally:
        server.kill()
    server_log = log.read_text()
    problems = [r for r in results if r["problem"]]
    answered = [r for r in results if r["status"] == 200]
    streamed = [r for r in answered if r["kind"].endswith("_stream") and not r["problem"]]
    by_kind = {}
    for kind, (_share, expected) in KINDS.items():
        mine = [r for r in results if r["kind"] == kind]
        by_kind[kind] = {
            "requests": len(mine),
            "expected_status": expected,
            "unexpected": sum(1 for r in mine if r["problem"]),
            "latency_p50_s": _percentile([r["latency_s"] for r in mine], 0.5),
            "latency_p95_s": _percentile([r["latency_s"] for r in mine], 0.95),
        }
    record = {
        **record_head(
            made_by,
            f"{args.clients} concurrent clients for {args.soak_s:g} s against tailor serve in its own process "
            f"(baseline strategy, SmolLM2-135M, answers up to {args.max_new_tokens} tokens, batch {args.batch_size}), "
            "sending chat completions and completions, plain and streamed, wrong API keys and bodies over "
            "serve.max_body_bytes (with Content-Length and chunked), on 127.0.0.1",
        ),
        "clients": args.clients,
        "wall_s": round(wall, 1),
        "requests": len(results),
        "unexpected": len(problems) + server_log.count("Traceback"),
        "unexpected_examples": [{k: r[k] for k in ("kind", "status", "problem")} for r in problems[:10]],
        "server_log_tracebacks": server_log.count("Traceback"),
        "answers": len(answered),
        "answers_matched_to_their_request": sum(1 for r in answered if not r["problem"]),
        "answers_per_s": round(len(answered) / wall, 2),
        "requests_per_s": round(len(results) / wall, 2),
        "answer_latency_p50_s": _percentile([r["latency_s"] for r in answered], 0.5),
        "answer_latency_p95_s": _percentile([r["latency_s"] for r in answered], 0.95),
        "by_kind": by_kind,
        "stream_first_token": {
            "how": "words sent as they are generated (server-sent events)",
            "first_token_p50_s": _percentile([r["first_token_s"] for r in streamed], 0.5),
            "first_token_p95_s": _percentile([r["first_token_s"] for r in streamed], 0.95),
            "complete_p50_s": _percentile([r["latency_s"] for r in streamed], 0.5),
        },
        "server_rss_mb": rss,
        "server_exit_code_after_sigterm": exit_code,
        "server_shutdown_s": round(shutdown_s, 2),
    }
    sys.stderr.write(json.dumps({k: v for k, v in record.items() if k != "environment"}, indent=1) + "\n")
    return record


class _Whole:
    """The model behind the first-token comparison's peer: the same generator, made not to stream, so
    that the answer is generated whole and then sent in word-sized pieces (tailor serve before it streamed)."""

    def __init__(self, generator: Any):
        self.generator, self.name = generator, generator.name

    @property
    def context_window(self) -> int:
        return self.generator.context_window

    def count_tokens(self, text: str) -> int:
        return self.generator.count_tokens(text)

    def generate(self, prompts: Any, settings: Any, progress: Any = None) -> Any:
        return self.generator.generate(prompts, settings, progress)


def first_token(args: argparse.Namespace, made_by: str) -> dict[str, Any]:
    """Time to the first streamed word, streamed as generated against generated whole, same server and
    requests: ``args.clients`` clients each sending streamed chat completions, in the order whole,
    streamed, streamed, whole, ``args.requests`` requests each time."""
    root, ws, key = _project(args.max_new_tokens)
    questions = [e.question for d in ws.datasets for e in d.examples]
    runs: dict[str, list[dict[str, Any]]] = {"whole": [], "streamed": []}
    for name in ("whole", "streamed", "streamed", "whole"):
        config = ServeConfig(
            strategies=["baseline"], batch_size=args.batch_size, batch_wait_ms=20, max_queue=4 * args.clients
        )
        state = build_state(ws, load_keys(root / "keys.yaml"), config)
        strategy = state.batcher.strategies["tailor-baseline"]
        if name == "whole":
            strategy = replace(strategy, generator=_Whole(strategy.generator))
        state.batcher.strategies["tailor-baseline"] = replace(strategy, finish=_echo_nonce)
        with running(state) as base_url:
            asyncio.run(_soak_load(base_url, key, questions, min(4, args.clients), 60, 4, 0, ["chat_stream"]))
            results, _ = asyncio.run(
                _soak_load(base_url, key, questions, args.clients, 600, args.requests, 0, ["chat_stream"])
            )
        state.batcher.close()
        runs[name] += results
        sys.stderr.write(f"{name}: {len(results)} requests\n")
    summary = {}
    for name, results in runs.items():
        good = [r for r in results if not r["problem"]]
        summary[name] = {
            "requests": len(results),
            "unexpected": len(results) - len(good),
            "first_token_p50_s": _percentile([r["first_token_s"] for r in good], 0.5),
            "first_token_p95_s": _percentile([r["first_token_s"] for r in good], 0.95),
            "complete_p50_s": _percentile([r["latency_s"] for r in good], 0.5),
            "complete_p95_s": _percentile([r["latency_s"] for r in good], 0.95),
        }
    return {
        **record_head(
            made_by,
            f"{args.clients} concurrent clients sending streamed chat completions to tailor serve in this "
            f"process (baseline strategy, SmolLM2-135M, answers up to {args.max_new_tokens} tokens, batch "
            f"{args.batch_size}): words sent as they are generated ('streamed') against the answer generated "
            "whole and then sent in word-sized pieces ('whole', as before token streaming), runs in the order "
            f"whole, streamed, streamed, whole, {args.requests} requests each, on 127.0.0.1",
        ),
        "runs": summary,
        "first_token_p50_ratio": round(
            summary["streamed"]["first_token_p50_s"] / summary["whole"]["first_token_p50_s"], 2
        ),
        "complete_p50_ratio": round(summary["streamed"]["complete_p50_s"] / summary["whole"]["complete_p50_s"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--soak", action="store_true", help="run the soak instead; writes the file's soak section")
    parser.add_argument(
        "--first-token",
        action="store_true",
        help="compare the first streamed word's wait, streamed vs generated whole; writes the first_token section",
    )
    parser.add_argument("--soak-s", type=float, default=130, help="how long the soak's clients send")
    parser.add_argument("--soak-requests", type=int, default=20_000, help="the soak's requests at most")
    parser.add_argument("--results", type=Path, default=Path(__file__).parent / "results" / "serve.json")
    parser.add_argument("--serve-root", type=Path, help=argparse.SUPPRESS)  # the soak's server process
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_root is not None:
        serve_for_soak(args.serve_root, args.port, args)
        return

    made_by = command(__file__, args, parser)
    previous = json.loads(args.results.read_text()) if args.results.is_file() else {}
    sections = ("soak", "first_token")
    if args.soak:
        record = {**previous, "soak": soak(args, made_by)}
    elif args.first_token:
        record = {**previous, "first_token": first_token(args, made_by)}
    else:
        record = {**compare(args, made_by), **{k: previous[k] for k in sections if k in previous}}
    write_json_atomic(args.results, record)
    if args.soak:
        sys.stdout.write(f"soak: {record['soak']['unexpected']} unexpected → {args.results}\n")
    elif args.first_token:
        ratio = record["first_token"]["first_token_p50_ratio"]
        sys.stdout.write(f"first streamed word p50 streamed/whole: {ratio} → {args.results}\n")
    else:
        sys.stdout.write(f"throughput ratio batched/unbatched: {record['throughput_ratio']} → {args.results}\n")


if __name__ == "__main__":
    main()
