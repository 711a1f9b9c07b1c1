"""Batched generation with glibc's default allocator settings against tailor's (tailor/allocator.py).

    python bench/alloc_bench.py            # → bench/results/alloc.json (about 3 minutes on 2 CPU cores)

The peer is the same code with the C library's defaults: each side runs in its own fresh process
(the setting is process-wide), in the order A B B A, and answers the same prompts with the packaged
SmolLM2-135M-Instruct through ``TransformersGenerator`` — greedy, batches of 8, up to 32 new
tokens; the prompts are the tiny synthetic world's qa questions, each behind three of its documents
(about 300 tokens, as a rag prompt is). Recorded per side: wall time of ``generate`` (the model
already loaded and warmed up on one batch), minor page faults, and the answers; the answers must be
identical, since the allocator decides where memory comes from and never a value.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import abba, command, rag_prompts, write_speedup_record

RESULTS = Path(__file__).parent / "results" / "alloc.json"


def child(mode: str, prompts: int) -> dict:
    """One side, in this process: load, warm up, time ``generate`` over the prompts."""
    if mode == "tailor":
        from tailor.allocator import keep_freed_memory

        assert keep_freed_memory()
    else:  # the default: stop the model loader from tuning it
        import tailor.allocator

        tailor.allocator._done = True
    from tailor.models.base import GenerationSettings
    from tailor.models.gguf import converted_dir, packaged_gguf
    from tailor.models.local import TransformersGenerator

    generator = TransformersGenerator.load(converted_dir(packaged_gguf("smollm2-135m-instruct")), dtype="float32")
    texts = rag_prompts(generator, prompts)
    settings = GenerationSettings(max_new_tokens=32, batch_size=8)
    generator.generate(texts[:8], settings)  # warm-up: first-call costs belong to neither side
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    start = time.perf_counter()
    answers = generator.generate(texts, settings)
    wall = time.perf_counter() - start
    return {
        "generate_s": round(wall, 3),
        "minor_page_faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults,
        "prompt_tokens_mean": round(statistics.mean(a.prompt_tokens for a in answers), 1),
        "completion_tokens": sum(a.completion_tokens for a in answers),
        "answers": [a.text for a in answers],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=24)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--child", choices=["default", "tailor"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.stdout.write(json.dumps(child(args.child, args.prompts)))
        return

    def side(mode: str) -> dict:
        done = subprocess.run(
            [sys.executable, __file__, "--child", mode, "--prompts", str(args.prompts)],
            capture_output=True,
            text=True,
            check=True,
            env=os.environ | {"TOKENIZERS_PARALLELISM": "false"},
        )
        run = json.loads(done.stdout)
        print(f"{mode}: {run['generate_s']:.1f} s", file=sys.stderr)
        return run

    runs = abba(("default", "tailor"), 2, side)
    answers = {m: r[0]["answers"] for m, r in runs.items()}
    same = all(r["answers"] == answers["default"] for rs in runs.values() for r in rs)
    mean = {m: statistics.mean(r["generate_s"] for r in rs) for m, rs in runs.items()}
    record = {
        "command": command(__file__, args, {"prompts": 24}),
        "what": __doc__.split("\n\n")[2].replace("\n", " "),
        "machine": {"cpu_count": os.cpu_count(), "load_average": os.getloadavg()},
        "prompts": args.prompts,
        "sides": {
            m: {
                "generate_s": [r["generate_s"] for r in rs],
                "generate_s_mean": round(mean[m], 3),
                "minor_page_faults": [r["minor_page_faults"] for r in rs],
                "prompt_tokens_mean": rs[0]["prompt_tokens_mean"],
                "completion_tokens": rs[0]["completion_tokens"],
            }
            for m, rs in runs.items()
        },
        "speedup": round(mean["default"] / mean["tailor"], 2),
        "identical_answers": same,
        "answers": answers["tailor"],
    }
    write_speedup_record(args.results, record, mean, same)


if __name__ == "__main__":
    main()
