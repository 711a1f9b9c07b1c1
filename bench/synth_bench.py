"""Test-set synthesis: `tailor synth` against LlamaIndex's question generator, same model, same documents.

    pip install -e '.[bench]'
    python bench/synth_bench.py            # → bench/results/synth_bench.json ("seconds": how long each part took)
    unshare -rn sh -c 'ip link set lo up && python bench/synth_bench.py'    # the same, provably offline

Corpus: the first ``--docs`` topics (by name) of Python's own reference, ``pydoc_data.topics``, one
.txt file each. Model: the packaged SmolLM2-135M-Instruct, behind one OpenAI-compatible endpoint on
127.0.0.1 that this script starts in a process of its own (``/v1/chat/completions``; one request at
a time, greedy, 256 new tokens when a request names no limit). Both sides write ``--limit``
questions through that endpoint, one after the other, each timed from the files on disk to the
questions in hand:

- tailor: ``synthesize`` on a recipe whose ``synth.model`` is the endpoint, single-passage questions
  only (``synth.kinds: {single: 1}``: the kind both sides make), everything else at its defaults.
- peer: LlamaIndex's ``RagDatasetGenerator`` procedure. The pinned release (llama-index-core 0.14.25,
  the one rag_bench.py measured) no longer ships ``llama_index.core.llama_dataset`` (removed in
  0.14.21), so it is run from the parts that release does ship, exactly as RagDatasetGenerator
  0.14.20 composes them: ``SimpleDirectoryReader`` → the default ``SentenceSplitter`` (1,024 tokens)
  → for each chunk, ``DatasetGenerator``'s question request (same prompt, "setup N questions")
  with its lines cut to ``num_questions_per_chunk``, then each question answered over that chunk
  with ``DEFAULT_TEXT_QA_PROMPT`` (the reference answer). ``num_questions_per_chunk`` =
  ceil(limit / chunks), over ceil(limit / that) chunks taken round robin across documents (so the
  peer spreads as widely as it can), results cut to ``--limit``. ``OpenAILike`` with
  ``is_chat_model=True``, temperature 0, 256 new tokens, 4 requests in flight (RagDatasetGenerator's
  default workers, and tailor's ``concurrency``). No embedding model: neither step needs one.

Both sides are then judged by the same functions (tailor.synth.write / tailor.eval.metrics), over
the same endpoint: a question must be one well-formed question (``screen``: no preamble, list or
fragment); its answer must occur in its source passage (``contains_answer``); round trip — the
model, given only that passage, answers it with token F1 ≥ 0.5 against the answer (tailor's
``answer_prompt`` and ``round_trip_score``); and it must not repeat an earlier question (tailor's
duplicate rule: same words, or word-set Jaccard ≥ 0.8). Kept = all four. Recorded per side: wall
time, model calls and tokens, questions returned, failures (exceptions; empty, preamble, list or
malformed outputs), the share passing each check, duplicates, documents covered, kept questions per
minute, and how many of the kept questions the model answers closed book (no passage) — a question
it answers only with the passage tests the documents, not its memory. tailor's passage for a
question is the one its own round trip used (read from the endpoint's log); the peer's is its chunk.

RAGAS's TestsetGenerator (``--ragas PYTHON``: an interpreter where ragas is installed) is tried on
the same documents and endpoint, with the packaged MiniLM as its embedding model: first as installed,
then, if it reaches for the network, with ``TIKTOKEN_CACHE_DIR`` at the tiktoken file LlamaIndex
ships; each attempt is stopped after ``--ragas-timeout`` seconds; ``ragas`` in the results says what
happened. It is not in the project's environment: ``pip install ragas`` (0.4.3) downgrades rich
(15.0 → 14.3.4) and picks langchain-community 0.4.2, with which ``import ragas`` itself fails
(``No module named 'langchain_community.chat_models.vertexai'``). It was tried in its own one:

    python -m venv /tmp/ragas-venv
    echo "$PWD/.venv/lib/python3.11/site-packages" > /tmp/ragas-venv/lib/python3.11/site-packages/main.pth
    /tmp/ragas-venv/bin/pip install ragas==0.4.3 langchain-community==0.4.1 rapidfuzz  # rapidfuzz: used, undeclared
    unshare -rn sh -c 'ip link set lo up && python bench/synth_bench.py --ragas /tmp/ragas-venv/bin/python'
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import platform
import threading
import time
import traceback
import warnings
from collections import Counter
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from common import JSONHandler, command, message_text, usage, versions, write_topics

RESULTS = Path(__file__).parent / "results" / "synth_bench.json"
MODEL = "smollm2-135m-instruct"
DEFAULT_MAX_TOKENS = 256  # a request that names no limit (and the peer's: 3 questions fit with room)
PEER_WORKERS = 4  # RagDatasetGenerator's default workers; tailor's OpenAI backend sends 4 at once too


# ---- the endpoint: one process, one model, one request at a time ----------------------------------


def serve(port: multiprocessing.Queue, log_path: str) -> None:
    """Serve the packaged model on 127.0.0.1 until killed; each request is appended to ``log_path``."""
    from tailor.errors import ModelError
    from tailor.models.base import GenerationSettings
    from tailor.models.gguf import converted_dir, packaged_gguf
    from tailor.models.local import TransformersGenerator

    generator = TransformersGenerator.load(converted_dir(packaged_gguf(MODEL)), MODEL, "float32")
    lock = threading.Lock()
    phase = {"name": "warmup"}
    log = open(log_path, "a", encoding="utf-8")  # noqa: SIM115 (open for the process's life)

    class Handler(JSONHandler):
        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/v1/models":
                self.reply(200, {"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "bench"}]})
            else:
                self.reply(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            if self.path == "/bench/phase":  # which side the following requests belong to
                with lock:
                    phase["name"] = body["name"]
                self.reply(200, {"phase": body["name"]})
                return
            if self.path.rstrip("/") == "/v1/chat/completions":
                prompt: Any = [{"role": m["role"], "content": message_text(m.get("content"))} for m in body["messages"]]
            elif self.path.rstrip("/") == "/v1/completions":
                prompt = body["prompt"] if isinstance(body["prompt"], str) else body["prompt"][0]
            else:
                self.reply(404, {"error": {"message": f"no route {self.path}"}})
                return
            limit = body.get("max_tokens") or body.get("max_completion_tokens") or DEFAULT_MAX_TOKENS
            settings = GenerationSettings(max_new_tokens=int(limit), temperature=0.0, batch_size=1)  # greedy
            with lock:
                start = time.perf_counter()
                try:
                    gen = generator.generate([prompt], settings)[0]
                except ModelError as e:
                    self.reply(400, {"error": {"message": str(e), "type": "invalid_request_error"}})
                    return
                seconds = time.perf_counter() - start
                record = {"phase": phase["name"], "prompt": prompt, "reply": gen.text, "seconds": round(seconds, 3)}
                record |= {"prompt_tokens": gen.prompt_tokens, "completion_tokens": gen.completion_tokens}
                log.write(json.dumps(record) + "\n")
                log.flush()
            usage = {
                "prompt_tokens": gen.prompt_tokens,
                "completion_tokens": gen.completion_tokens,
                "total_tokens": gen.prompt_tokens + gen.completion_tokens,
            }
            if isinstance(prompt, str):
                choice = {"index": 0, "text": gen.text, "finish_reason": "stop"}
                self.reply(200, {"id": "cmpl", "object": "text_completion", "model": MODEL, "choices": [choice]})
                return
            message = {"role": "assistant", "content": gen.text}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            reply = {"id": "chatcmpl", "object": "chat.completion", "created": int(time.time()), "model": MODEL}
            self.reply(200, reply | {"choices": [choice], "usage": usage})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port.put(server.server_address[1])
    server.serve_forever()


class Endpoint:
    """The model server process, its URL, and its request log split by phase."""

    def __init__(self, log_path: Path):
        self.log_path = log_path
        ctx = multiprocessing.get_context("spawn")  # no torch state inherited; the server is its own process
        queue = ctx.Queue()
        self.process = ctx.Process(target=serve, args=(queue, str(log_path)), daemon=True)
        self.process.start()
        self.url = f"http://127.0.0.1:{queue.get(timeout=600)}/v1"

    def phase(self, name: str) -> None:
        import httpx

        httpx.post(self.url.removesuffix("/v1") + "/bench/phase", json={"name": name}, timeout=600).raise_for_status()

    def requests(self, phase: str) -> list[dict]:
        lines = self.log_path.read_text(encoding="utf-8").splitlines()
        return [r for r in map(json.loads, lines) if r["phase"] == phase]

    def usage(self, phase: str) -> dict[str, Any]:
        return usage(self.requests(phase))

    def close(self) -> None:
        self.process.kill()
        self.process.join()


# ---- the two sides ---------------------------------------------------------------------------------


RECIPE = """\
model: {{kind: packaged}}
data:
  corpus: ["docs/*.txt"]
  examples: [{{path: synth.jsonl}}]
  default_groups: [everyone]
synth:
  model: {{kind: openai, base_url: "{url}", model: {model}, concurrency: 4}}
  kinds: {{single: 1.0}}
out: runs
"""


def run_tailor(root: Path, url: str, limit: int) -> tuple[list[dict], dict, float]:
    """(questions with their source document, tailor's own report, seconds) of one `tailor synth` run."""
    from tailor.recipe_file import load_recipe
    from tailor.synth.pipeline import synthesize

    (root / "tailor.yaml").write_text(RECIPE.format(url=url, model=MODEL), encoding="utf-8")
    start = time.perf_counter()
    run = synthesize(load_recipe(root / "tailor.yaml", check_files=False), limit=limit)
    seconds = time.perf_counter() - start
    items = [{"question": e.question, "answer": e.answer, "doc": e.sources[0]} for e in run.examples]
    return items, run.report, seconds


def tailor_passages(items: list[dict], requests: list[dict]) -> None:
    """Each question's passage: the one tailor's own round trip showed the model (from the endpoint's log)."""
    from tailor.synth.write import ANSWER_INSTRUCTION

    seen: dict[str, str] = {}
    for r in requests:
        prompt = r["prompt"]
        if isinstance(prompt, list) and prompt[0]["content"] == ANSWER_INSTRUCTION:
            passage, _, question = prompt[-1]["content"].removeprefix("Passage:\n").rpartition("\n\nQuestion: ")
            seen.setdefault(question, passage)
    for item in items:
        item["passage"] = seen.get(item["question"], "")


def run_peer(docs_dir: Path, url: str, limit: int) -> tuple[list[dict], dict, float]:
    """(questions with answer, chunk and document; run details; seconds) from LlamaIndex's generator procedure."""
    from llama_index.core import Document, SimpleDirectoryReader, SummaryIndex
    from llama_index.core.evaluation import DatasetGenerator
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.core.prompts.default_prompts import DEFAULT_TEXT_QA_PROMPT
    from llama_index.core.schema import MetadataMode
    from llama_index.llms.openai_like import OpenAILike

    llm = OpenAILike(
        model=MODEL,
        api_base=url,
        api_key="local",
        is_chat_model=True,
        context_window=8192,
        temperature=0.0,
        max_tokens=DEFAULT_MAX_TOKENS,
        timeout=600,
    )
    start = time.perf_counter()
    documents = SimpleDirectoryReader(str(docs_dir), filename_as_id=True).load_data()
    nodes = SentenceSplitter()(documents)  # LlamaIndex's default transformation: 1,024-token chunks
    per_chunk = max(1, math.ceil(limit / len(nodes)))
    chosen = _round_robin(nodes, math.ceil(limit / per_chunk))
    failures: Counter[str] = Counter()
    gate = asyncio.Semaphore(PEER_WORKERS)

    async def one(node: Any) -> list[dict]:
        async with gate:
            try:
                maker = DatasetGenerator(nodes=[node], llm=llm, num_questions_per_chunk=per_chunk)
                questions = (await maker.agenerate_questions_from_nodes())[:per_chunk]
                if not questions:
                    failures["empty_generation"] += 1
                    return []
                context = node.get_content(metadata_mode=MetadataMode.NONE)
                index = SummaryIndex.from_documents([Document(text=context, metadata=node.metadata)])
                engine = index.as_query_engine(llm=llm, text_qa_template=DEFAULT_TEXT_QA_PROMPT)
                answers = [str(await engine.aquery(q)) for q in questions]
            except Exception as e:  # a failure of the peer is measured, not fatal
                failures[f"exception: {e.__class__.__name__}: {str(e)[:120]}"] += 1
                return []
            doc = Path(node.metadata.get("file_path", "?")).stem
            return [
                {"question": q, "answer": a, "passage": context, "doc": doc}
                for q, a in zip(questions, answers, strict=True)
            ]

    async def every() -> list[list[dict]]:
        return await asyncio.gather(*(one(n) for n in chosen))

    shown = warnings.showwarning
    # DatasetGenerator says it is deprecated at every call, with a filter of its own ("always"): not shown
    warnings.showwarning = lambda m, c, *a, **k: None if c is DeprecationWarning else shown(m, c, *a, **k)
    try:
        items = [item for batch in asyncio.run(every()) for item in batch][:limit]
    finally:
        warnings.showwarning = shown
    seconds = time.perf_counter() - start
    details = {
        "chunks": len(nodes),
        "chunks_asked": len(chosen),
        "num_questions_per_chunk": per_chunk,
        "failures": dict(failures),
    }
    return items, details, seconds


def _round_robin(nodes: list[Any], n: int) -> list[Any]:
    """``n`` chunks: every document's first chunk, then every document's second, and so on."""
    by_doc: dict[str, list[Any]] = {}
    for node in nodes:
        by_doc.setdefault(node.metadata.get("file_path", node.ref_doc_id), []).append(node)
    lanes = [by_doc[d] for d in sorted(by_doc)]
    order = [lane[i] for i in range(max(map(len, lanes))) for lane in lanes if i < len(lane)]
    return order[:n]


# ---- one judge for both --------------------------------------------------------------------------


def round_trip_threshold() -> float:
    """``synth.round_trip``'s default: the threshold tailor keeps its own questions at."""
    from tailor.synth.settings import SynthConfig

    return SynthConfig.model_fields["round_trip"].default


def judge(items: list[dict], url: str) -> dict[str, Any]:
    """Each item checked by tailor's own functions; the model calls go to the same endpoint."""
    from tailor.eval.metrics import contains_answer, normalize_answer
    from tailor.models.base import GenerationSettings
    from tailor.models.openai_http import OpenAIGenerator
    from tailor.synth.checks import is_duplicate, words
    from tailor.synth.questions import ANSWER_TOKENS
    from tailor.synth.write import answer_prompt, leaks_answer, round_trip_score, screen

    threshold = round_trip_threshold()
    model = OpenAIGenerator(url, MODEL, concurrency=4, timeout_s=600)
    settings = GenerationSettings(max_new_tokens=ANSWER_TOKENS, temperature=0.0)
    open_book = model.generate([answer_prompt(i["passage"], i["question"]) for i in items], settings)
    closed_book = model.generate([answer_prompt(None, i["question"]) for i in items], settings)
    screened: Counter[str] = Counter()
    exact: set[str] = set()
    kept_words: list[frozenset[str]] = []
    kept: list[dict] = []
    for n, (item, opened, closed) in enumerate(zip(items, open_book, closed_book, strict=True)):
        _, why = screen(item["question"])
        screened[why or "ok"] += 1
        item["checks"] = {
            "well_formed": why is None,
            "answer_in_source": contains_answer(item["passage"], item["answer"]) == 1.0,
            "answer_in_question": leaks_answer(item["question"], item["answer"]),
            "round_trip": round_trip_score(opened.text, item["answer"]) >= threshold,
            "closed_book": round_trip_score(closed.text, item["answer"]) >= threshold,
            "exact_duplicate": normalize_answer(item["question"]) in exact,
            "near_duplicate": is_duplicate(item["question"], [words(i["question"]) for i in items[:n]]),
        }
        exact.add(normalize_answer(item["question"]))
        c = item["checks"]
        if (
            c["well_formed"]
            and c["answer_in_source"]
            and c["round_trip"]
            and not is_duplicate(item["question"], kept_words)
        ):
            kept.append(item)
            kept_words.append(words(item["question"]))
    n = len(items)

    def share(key: str) -> float | None:
        return round(sum(i["checks"][key] for i in items) / n, 3) if n else None

    return {
        "returned": n,
        "screen": dict(screened),
        "share": {k: share(k) for k in ("well_formed", "answer_in_source", "answer_in_question", "round_trip")},
        "duplicates": {
            "exact": sum(i["checks"]["exact_duplicate"] for i in items),
            "near_or_exact": sum(i["checks"]["near_duplicate"] for i in items),
        },
        "documents_returned": len({i["doc"] for i in items}),
        "kept": len(kept),
        "documents_kept": len({i["doc"] for i in kept}),
        "kept_needing_passage": sum(not i["checks"]["closed_book"] for i in kept),
        "kept_answered_closed_book": sum(i["checks"]["closed_book"] for i in kept),
    }


# ---- RAGAS ----------------------------------------------------------------------------------------

# Where a copy of tiktoken's cl100k_base already is on disk (LlamaIndex ships one): RAGAS downloads it otherwise.
LLAMA_TIKTOKEN = "llama_index/core/_static/tiktoken_cache"


def ragas_child(docs_dir: Path, url: str, limit: int) -> dict[str, Any]:
    """RAGAS's TestsetGenerator on the documents and endpoint (run in the interpreter that has ragas)."""
    start = time.perf_counter()
    try:
        from langchain_community.document_loaders import DirectoryLoader, TextLoader
        from langchain_openai import ChatOpenAI
        from ragas.embeddings import LangchainEmbeddingsWrapper
        from ragas.llms import LangchainLLMWrapper
        from ragas.testset import TestsetGenerator

        from tailor.rag.embed import MiniLMEmbedder

        class LocalEmbeddings:  # the packaged MiniLM, so that no embedding model is downloaded
            def __init__(self) -> None:
                self.model = MiniLMEmbedder()

            def embed_documents(self, texts: list[str]) -> list[list[float]]:
                return self.model.embed(texts).tolist()

            def embed_query(self, text: str) -> list[float]:
                return self.model.embed([text])[0].tolist()

        docs = DirectoryLoader(str(docs_dir), glob="*.txt", loader_cls=TextLoader).load()
        chat = ChatOpenAI(model=MODEL, base_url=url, api_key="local", temperature=0, max_tokens=DEFAULT_MAX_TOKENS)
        embeddings = LangchainEmbeddingsWrapper(LocalEmbeddings())
        generator = TestsetGenerator(llm=LangchainLLMWrapper(chat), embedding_model=embeddings)
        rows = generator.generate_with_langchain_docs(docs, testset_size=limit).to_list()
    except BaseException as e:  # whatever stops it is the finding
        frames = [f for f in traceback.extract_tb(e.__traceback__) if "site-packages" in f.filename]
        where = frames[-1] if frames else traceback.extract_tb(e.__traceback__)[-1]
        return {
            "ran": False,
            "seconds": round(time.perf_counter() - start, 1),
            "error": f"{e.__class__.__name__}: {str(e)[:500]}",
            "where": f"{where.filename.split('site-packages/')[-1]}:{where.lineno}",
        }
    return {"ran": True, "seconds": round(time.perf_counter() - start, 1), "returned": len(rows), "rows": rows[:40]}


def try_ragas(python: str, docs_dir: Path, endpoint: Endpoint, limit: int, timeout_s: int) -> dict[str, Any]:
    """RAGAS as installed for ``python``; if it reaches for the network, once more with a local tiktoken file."""
    import subprocess

    repo = Path(__file__).resolve().parent.parent
    probe = [python, "-c", "from importlib.metadata import version; print(version('ragas'))"]
    found = subprocess.run(probe, capture_output=True, text=True)
    if found.returncode != 0:
        return {"ran": False, "error": f"ragas is not installed for {python}"}
    attempts = []
    for name, extra in (("as installed", {}), ("local tiktoken file", {"TIKTOKEN_CACHE_DIR": _llama_tiktoken()})):
        endpoint.phase(f"ragas {name}")
        env = os.environ | {"PYTHONPATH": str(repo)} | extra
        args = [python, __file__, "--ragas-child", str(docs_dir), endpoint.url, str(limit)]
        try:
            done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout_s)
            lines = done.stdout.strip().splitlines()
            result = json.loads(lines[-1]) if lines else {"ran": False, "error": done.stderr[-500:]}
        except subprocess.TimeoutExpired:
            result = {"ran": False, "error": f"no test set after {timeout_s} s (stopped)", "seconds": timeout_s}
        calls = endpoint.requests(f"ragas {name}")
        replies = [r["reply"] for r in calls]
        result |= endpoint.usage(f"ragas {name}") | {"attempt": name, "env": extra}
        result["replies_parsing_as_json"] = sum(_is_json(r) for r in replies)
        result["first_replies"] = [r[:200] for r in replies[:3]]
        attempts.append(result)
        if result["ran"] or not any(w in result.get("error", "") for w in ("resolution", "Connection")):
            break
    return {"ran": any(a["ran"] for a in attempts), "version": found.stdout.strip(), "attempts": attempts}


def _llama_tiktoken() -> str:
    import llama_index.core

    return str(Path(llama_index.core.__file__).parent.parent.parent / LLAMA_TIKTOKEN)


def _is_json(text: str) -> bool:
    try:
        json.loads(text.strip().removeprefix("```json").removesuffix("```"))
    except ValueError:
        return False
    return True


# ---- the run --------------------------------------------------------------------------------------


def _side(items: list[dict], seconds: float, judged: dict, usage: dict) -> dict[str, Any]:
    return {
        "seconds": round(seconds, 1),
        **usage,
        **judged,
        "kept_per_minute": round(judged["kept"] / (seconds / 60), 2),
        "seconds_per_kept_question": round(seconds / judged["kept"], 1) if judged["kept"] else None,
        "examples": [{k: i[k] for k in ("question", "answer", "doc", "checks")} for i in items[:40]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=12, help="pydoc topics in the corpus (first N by name)")
    parser.add_argument("--limit", type=int, default=20, help="questions each side is asked for")
    parser.add_argument("--ragas", metavar="PYTHON", help="an interpreter with ragas installed: try it too")
    parser.add_argument("--ragas-timeout", type=int, default=300, help="seconds RAGAS may take per attempt")
    parser.add_argument("--ragas-child", nargs=3, metavar=("DOCS", "URL", "LIMIT"), help=argparse.SUPPRESS)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.ragas_child:
        docs, url, limit = args.ragas_child
        print(json.dumps(ragas_child(Path(docs), url, int(limit)), default=str))
        return
    import tempfile

    from tailor.artifacts import write_json_atomic

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        names = write_topics(root / "docs", args.docs)
        endpoint = Endpoint(root / "requests.jsonl")
        try:
            endpoint.phase("tailor")
            t_items, t_report, t_seconds = run_tailor(root, endpoint.url, args.limit)
            tailor_passages(t_items, endpoint.requests("tailor"))
            endpoint.phase("peer")
            p_items, p_details, p_seconds = run_peer(root / "docs", endpoint.url, args.limit)
            endpoint.phase("judge")
            t_judged, p_judged = judge(t_items, endpoint.url), judge(p_items, endpoint.url)
            sides = {
                "tailor": _side(t_items, t_seconds, t_judged, endpoint.usage("tailor")),
                "llamaindex": _side(p_items, p_seconds, p_judged, endpoint.usage("peer")),
            }
            ragas: dict[str, Any] = {"ran": False, "error": "not tried (--ragas PYTHON)"}
            if args.ragas:
                ragas = try_ragas(args.ragas, root / "docs", endpoint, args.limit, args.ragas_timeout)
        finally:
            endpoint.close()
    sides["tailor"]["own_report"] = {k: t_report[k] for k in ("kinds", "documents", "closed_book", "run")}
    sides["llamaindex"] |= p_details
    t_rate, p_rate = sides["tailor"]["kept_per_minute"], sides["llamaindex"]["kept_per_minute"]
    record = {
        "command": command(__file__, args, {"docs": 12, "limit": 20, "ragas": None}),
        "what": __doc__.split("\n\n")[1].replace("\n", " "),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "network_interfaces": sorted(os.listdir("/sys/class/net")),  # ["lo"]: run with no network
        },
        "versions": versions("llama-index-core", "llama-index-llms-openai-like", "openai", "torch", "transformers"),
        "model": MODEL,
        "corpus": {"source": "pydoc_data.topics", "documents": names},
        "limit": args.limit,
        "round_trip_threshold": round_trip_threshold(),
        "sides": sides,
        # tailor's kept questions per minute / the peer's (None when the peer kept none: no ratio exists)
        "kept_per_minute_ratio": round(t_rate / p_rate, 2) if p_rate else None,
        "ragas": ragas,
    }
    write_json_atomic(args.results, record)
    for name, s in sides.items():
        print(
            f"{name:>10}: {s['returned']} returned, {s['kept']} kept in {s['seconds']:.0f} s "
            f"({s['kept_per_minute']:.2f}/min); answer in source {s['share']['answer_in_source']}, "
            f"round trip {s['share']['round_trip']}, duplicates {s['duplicates']['near_or_exact']}, "
            f"documents {s['documents_kept']} of {len(names)}"
        )
    ratio = record["kept_per_minute_ratio"]
    print(f"kept per minute, tailor / llamaindex: {ratio if ratio is not None else 'n/a (peer kept 0)'}")
    last = ragas.get("attempts", [ragas])[-1]
    print(f"ragas: {'ran' if ragas['ran'] else 'no test set: ' + last.get('error', '')[:200]} → {args.results}")


if __name__ == "__main__":
    main()
