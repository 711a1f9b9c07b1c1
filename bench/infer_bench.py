"""Inference speed of tailor's model variants (fp32, bf16, int8) against the memory-bandwidth bound.

    pip install -e .                        # llama.cpp as the peer: pip install llama-cpp-python
    python bench/infer_bench.py             # → bench/results/infer.json (about 2 minutes on 2 CPU cores)

One process, in this order:

1. This machine's memory bandwidth, measured with numpy on a 512 MiB float64 array (larger than the
   last-level cache), best of 7: a copy into a preallocated array (``np.copyto``, one thread; read +
   write bytes counted) and read-only passes (``sum``, ``max``, and ``max`` split over torch's thread
   count, as decoding is). Decoding one token reads every weight once, so the bound uses the *read*
   bandwidth: the fastest read-only pass. (On the 2-core machine this was written on, one thread
   reads about half what two do, and ``sum`` is compute-limited below either.)
2. Each variant of the packaged SmolLM2-135M-Instruct (``tailor.compress.compress``; note that its
   fp32 weights are the packaged Q4_1 GGUF file dequantized, not the original checkpoint):
   ``size_bytes`` and bytes read per decoded token. The model ties its input embedding to the output
   head, so in fp32 and bf16 the head reads the whole matrix and every state-dict byte is read per
   token. int8 quantizes the head (an ``nn.Linear``) into its own int8 copy and leaves the float
   embedding untied, which is only looked up (one row per token): its bytes per token are the state
   dict minus the embedding plus one row. KV-cache reads are not counted: 46 kB per context token in
   fp32 (30 layers x K and V x 3 heads x 64), so with ~45-token prompts and 32 new tokens at most
   3.7 MB, 0.7% of fp32's bytes per token and under 3% of int8's (whose cache stays fp32).
   ``bound_tokens_per_s`` = read bandwidth / bytes per token; ``decode_vs_bound`` = measured decode
   tokens/s / bound (1.0 would be every byte read at memory speed). The bandwidth is measured again
   after the variants, and the bound uses the higher of the two read figures: on a shared machine a
   bound measured while something else ran would flatter every variant. (A variant whose bytes per
   token fit in the last-level cache could beat the bound; none of these does on the machine this
   was written on, where a 135 MiB array reads at main-memory speed.)
3. Speed: ``tailor.compress.speed`` on the same ``--prompts`` questions of the tiny synthetic world
   (one user message each), unbatched and greedy, ``--max-new-tokens`` at most: prefill and decode
   tokens/s, latency p50/p95.
4. Quality sanity check, not a task score: the share of answers identical to fp32's (did the variant
   change the output?), from one more unbatched greedy pass; the answers are in the JSON.
5. Peer: llama.cpp (llama-cpp-python) on the packaged Q4_1 GGUF file, same prompts, same threads,
   timed the same way (max_tokens=1, then the whole answer). When ``llama_cpp`` is not installed the
   JSON says so and nothing else changes.

Ratios: decode tokens/s of bf16 / fp32, int8 / fp32 (and llama.cpp / fp32 when present), and each
variant's fraction of its bound. Timings are of a shared machine: the JSON records the load average
at the start and the end, and per variant ``cpu_share``: the process's CPU seconds during ``speed``
/ (wall seconds x threads), about 0.99 on an idle machine. Below 0.8 other processes had the cores
(torch's threads then wait on each other: decoding slows by 10-50x, not 2x) and the script warns
that the figures are not this machine's.

Figures quoted in README.md must come from the JSON this script writes, never from its stdout or a
smoke run.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
from common import command, record_head

from tailor.artifacts import write_json_atomic
from tailor.compress.variants import compress, compress_gguf, size_bytes, speed
from tailor.data.world import generate_world
from tailor.data.world_render import qa_examples
from tailor.eval.metrics import percentile
from tailor.models.base import GenerationSettings, Message
from tailor.models.gguf import converted_dir, packaged_gguf
from tailor.models.llamacpp import llama_cpp_available
from tailor.models.local import TransformersGenerator

MODEL = "smollm2-135m-instruct"
VARIANTS = ("fp32", "bf16", "int8")  # the torch variants; fp32 first: the answers the others are compared with
GGUF_VARIANTS = ("q8_0", "q4_k_m")  # exported by tailor, run by llama.cpp (with the llamacpp extra)
BANDWIDTH_MIB, REPEATS = 512, 7
CONTENDED = 0.8  # cpu_share below this: other processes took the cores (uncontended runs measure ~0.99)
LLAMA_CPP_MISSING = "not installed: make llamacpp (the llamacpp extra; builds llama.cpp from source, ~8 min on 2 cores)"


def best_seconds(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    """Fastest of ``repeats`` timed calls (the least disturbed by other work on the machine)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def read_rates(array: np.ndarray, threads: int) -> dict[str, float]:
    """GB/s of read-only passes over ``array``: sum, max, and max over ``threads`` slices in parallel."""
    parts = np.array_split(array, threads)
    with ThreadPoolExecutor(threads) as pool:
        seconds = {
            "sum": best_seconds(array.sum),
            "max": best_seconds(array.max),
            f"max_{threads}_threads": best_seconds(lambda: list(pool.map(np.max, parts))),
        }
    return {kernel: round(array.nbytes / s / 1e9, 2) for kernel, s in seconds.items()}


def measure_bandwidth(threads: int) -> dict[str, Any]:
    """Copy and read bandwidth of main memory, on arrays far larger than the caches."""
    src = np.ones(BANDWIDTH_MIB * 2**20 // 8)  # float64; np.ones touches every page before timing
    dst = np.empty_like(src)
    np.copyto(dst, src)
    copy_s = best_seconds(partial(np.copyto, dst, src))
    del dst  # only the source is read from here on
    reads = read_rates(src, threads)
    return {
        "array_mib": BANDWIDTH_MIB,
        "repeats": REPEATS,
        "threads": threads,
        "copy_gb_per_s": round(2 * src.nbytes / copy_s / 1e9, 2),  # bytes read + bytes written
        "read_gb_per_s_by_kernel": reads,
        "read_gb_per_s": max(reads.values()),
    }


def bytes_per_token(generator: TransformersGenerator, size: int) -> tuple[int, str]:
    """Weight bytes one decoded token reads, given the state dict's ``size``; and the rule used."""
    import torch

    model = generator.model
    embedding = model.get_input_embeddings().weight  # (vocab, hidden)
    head = getattr(model.get_output_embeddings(), "weight", None)  # a method on a quantized Linear
    if isinstance(head, torch.Tensor) and head.data_ptr() == embedding.data_ptr():
        return size, "state dict (input embedding tied to the output head, which reads all of it)"
    row = embedding[0].nbytes
    return size - embedding.nbytes + row, "state dict - input embedding + one row (embedding not tied to the head)"


def answers(generator: TransformersGenerator, prompts: Sequence[list[Message]], max_new_tokens: int) -> list[str]:
    settings = GenerationSettings(max_new_tokens=max_new_tokens, temperature=0.0, batch_size=1)
    return [g.text for g in generator.generate(prompts, settings)]


def agreement(texts: Sequence[str], reference: Sequence[str]) -> float:
    return round(sum(a == b for a, b in zip(texts, reference, strict=True)) / len(reference), 3)


def run_variant(
    base: TransformersGenerator,
    variant: str,
    prompts: Sequence[list[Message]],
    max_new_tokens: int,
    threads: int,
) -> dict[str, Any]:
    """Size, bytes per token, speed and answers of one variant (the bound is added once bandwidth is final)."""
    start = time.perf_counter()
    if variant in GGUF_VARIANTS:  # tailor's own GGUF export of the same weights, run by llama.cpp
        generator = compress_gguf(base, variant, packaged_gguf(MODEL), Path(tempfile.mkdtemp()) / f"{variant}.gguf")
        size = size_bytes(generator)
        per_token, rule = size, "GGUF file size (tensors; the output head is tied and read whole)"
    else:
        generator = compress(base, variant)
        size = size_bytes(generator)
        per_token, rule = bytes_per_token(generator, size)
    wall, cpu = time.perf_counter(), time.process_time()
    measured = speed(generator, prompts, max_new_tokens).to_json()
    share = (time.process_time() - cpu) / ((time.perf_counter() - wall) * threads)
    return {
        "size_bytes": size,
        "bytes_per_token": per_token,
        "bytes_per_token_rule": rule,
        **measured,
        "cpu_share": round(share, 2),
        "answers": answers(generator, prompts, max_new_tokens),
        "seconds": round(time.perf_counter() - start, 1),
    }


def add_bound(row: dict[str, Any], read_gb_per_s: float) -> None:
    bound = read_gb_per_s * 1e9 / row["bytes_per_token"]
    row["bound_tokens_per_s"] = round(bound, 2)
    row["decode_vs_bound"] = round(row["decode_tokens_per_s"] / bound, 3)


# --- peer: llama.cpp on the packaged GGUF file (only when llama-cpp-python is installed) ---------------


def run_llama_cpp(prompts: Sequence[list[Message]], max_new_tokens: int, threads: int) -> dict[str, Any] | str:
    """The same prompts through llama.cpp, timed as ``speed`` times tailor's generators."""
    try:
        import llama_cpp
    except ImportError:
        return LLAMA_CPP_MISSING
    from gguf import GGUFReader

    path = packaged_gguf(MODEL)
    # Tied: token_embd is also the output head, so every tensor byte is read per token.
    per_token = sum(int(t.n_bytes) for t in GGUFReader(str(path)).tensors)
    start = time.perf_counter()
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=2048, n_threads=threads, verbose=False)

    def complete(messages: list[Message], max_tokens: int) -> tuple[float, dict[str, Any]]:
        llm.reset()  # llama-cpp-python reuses a cached prompt prefix between calls; time each one cold
        t0 = time.perf_counter()
        out = llm.create_chat_completion(messages=messages, temperature=0.0, max_tokens=max_tokens)
        return time.perf_counter() - t0, out

    complete(prompts[0], 1)  # warm-up, as in speed()
    wall, cpu = time.perf_counter(), time.process_time()
    prefill_tokens = prefill_s = decode_tokens = decode_s = 0.0
    latencies, generated, texts = [], 0, []
    for messages in prompts:
        t_prefill, first = complete(messages, 1)
        t_full, out = complete(messages, max_new_tokens)
        n = out["usage"]["completion_tokens"]
        prefill_tokens += first["usage"]["prompt_tokens"]
        prefill_s += t_prefill
        latencies.append(t_full)
        generated += n
        texts.append((out["choices"][0]["message"]["content"] or "").strip())
        if n > 1:
            decode_tokens += n - 1
            decode_s += max(t_full - t_prefill, 1e-9)
    share = (time.process_time() - cpu) / ((time.perf_counter() - wall) * threads)
    return {
        "version": llama_cpp.__version__,
        "gguf": path.name,
        "threads": threads,
        "size_bytes": path.stat().st_size,
        "bytes_per_token": per_token,
        "bytes_per_token_rule": "GGUF tensor bytes (token_embd is also the output head)",
        "prefill_tokens_per_s": round(prefill_tokens / prefill_s, 2),
        "decode_tokens_per_s": round(decode_tokens / decode_s, 2) if decode_s else 0.0,
        "latency_p50_s": round(percentile(latencies, 50), 4),
        "latency_p95_s": round(percentile(latencies, 95), 4),
        "completion_tokens": generated,
        "cpu_share": round(share, 2),
        "answers": texts,
        "seconds": round(time.perf_counter() - start, 1),
    }


# --- report ----------------------------------------------------------------------------------------------


def table(rows: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| variant | size MB | read/token MB | bound tok/s | decode tok/s | vs bound | prefill tok/s | p50 s "
        "| cpu share | same answers as fp32 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['size_bytes'] / 1e6:.1f} | {r['bytes_per_token'] / 1e6:.1f} | {r['bound_tokens_per_s']} "
            f"| {r['decode_tokens_per_s']} | {r['decode_vs_bound']} | {r['prefill_tokens_per_s']} "
            f"| {r['latency_p50_s']} | {r['cpu_share']} | {r['same_answers_as_fp32']} |"
        )
    return "\n".join(lines)


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=12, help="questions of the tiny synthetic world")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--results", type=Path, default=Path(__file__).parent / "results" / "infer.json")
    args = parser.parse_args()
    questions = [e["question"] for e in qa_examples(generate_world(0, "tiny"))]
    if not 1 <= args.prompts <= len(questions):
        parser.error(f"--prompts must be between 1 and {len(questions)} (the tiny world's questions)")
    if args.max_new_tokens < 2:
        parser.error("--max-new-tokens must be at least 2: decode speed counts the tokens after the first")
    # Spread over the world's fact kinds (company, people, products, policies) rather than the first few.
    picked = [questions[i * len(questions) // args.prompts] for i in range(args.prompts)]
    prompts: list[list[Message]] = [[{"role": "user", "content": q}] for q in picked]

    load_average = round(os.getloadavg()[0], 2)
    threads = torch.get_num_threads()
    started = time.perf_counter()
    before = measure_bandwidth(threads)
    gc.collect()
    sys.stderr.write(f"bandwidth before: {before}\n")

    base = TransformersGenerator.load(converted_dir(packaged_gguf(MODEL)), dtype="float32")  # fp32: the reference
    rows: dict[str, dict[str, Any]] = {}
    for variant in VARIANTS + (GGUF_VARIANTS if llama_cpp_available() else ()):
        rows[variant] = run_variant(base, variant, prompts, args.max_new_tokens, threads)
        gc.collect()
        sys.stderr.write(f"{variant}: {rows[variant]}\n")
    del base
    gc.collect()
    peer = run_llama_cpp(prompts, args.max_new_tokens, threads)
    measured = {**rows, **({"llama_cpp": peer} if isinstance(peer, dict) else {})}

    after = measure_bandwidth(threads)
    read_gb_per_s = max(before["read_gb_per_s"], after["read_gb_per_s"])
    bandwidth = {
        "before": before,
        "after": after,
        "read_gb_per_s": read_gb_per_s,
        "bound_uses": "read_gb_per_s, the higher read figure of before and after: decoding reads every weight "
        "once per token, and a bound measured while something else ran would flatter the variants",
    }
    reference = rows["fp32"]["answers"]
    for row in measured.values():
        add_bound(row, read_gb_per_s)
        row["same_answers_as_fp32"] = agreement(row["answers"], reference)
    fp32_decode = rows["fp32"]["decode_tokens_per_s"]
    ratios = {
        **{
            f"{name}_vs_fp32_decode": round(r["decode_tokens_per_s"] / fp32_decode, 3)
            for name, r in measured.items()
            if name != "fp32"
        },
        "decode_vs_bound": {name: r["decode_vs_bound"] for name, r in measured.items()},
    }
    record = {
        **record_head(
            command(__file__, args, parser),
            f"decode/prefill speed of {', '.join(VARIANTS)} variants of SmolLM2-135M-Instruct (fp32 = packaged "
            f"Q4_1 GGUF dequantized) against the memory-bandwidth bound; {args.prompts} tiny-world questions, "
            f"unbatched, greedy, up to {args.max_new_tokens} new tokens; peer llama.cpp on the GGUF file",
        ),
        "load_average_1m": {"start": load_average, "end": round(os.getloadavg()[0], 2)},
        "settings": {"prompts": args.prompts, "max_new_tokens": args.max_new_tokens, "questions": picked},
        "bandwidth": bandwidth,
        "variants": rows,
        "llama_cpp": peer,
        "ratios": ratios,
        "seconds": round(time.perf_counter() - started, 1),
    }
    write_json_atomic(args.results, record)
    sys.stdout.write(
        f"read bandwidth {read_gb_per_s} GB/s (before {before['read_gb_per_s']}, after {after['read_gb_per_s']}; "
        f"copy {before['copy_gb_per_s']} GB/s read+write)\n\n"
        f"{table(measured)}\n\n"
        + ", ".join(f"{k} {v}" for k, v in ratios.items() if k != "decode_vs_bound")
        + (f"\nllama_cpp: {peer}" if isinstance(peer, str) else "")
        + "".join(
            f"\nwarning: {name} ran on {r['cpu_share']:.0%} of {threads} cores' time: other processes had them, "
            "so its speed is not this machine's; rerun on an idle machine"
            for name, r in measured.items()
            if r["cpu_share"] < CONTENDED
        )
        + f"\n→ {args.results} ({record['seconds']} s)\n"
    )


if __name__ == "__main__":
    main()
