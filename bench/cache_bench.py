"""Batched generation with transformers' default key/value cache against tailor's reserved one.

    python bench/cache_bench.py            # → bench/results/cache.json (about 3 minutes on 2 CPU cores)

The peer is transformers' ``DynamicCache``, which appends every decoding step's keys and values with
``torch.cat``; tailor's ``reserved_cache`` (tailor/models/reserved_cache.py) allocates the batch's
whole length once and writes each step into place. Both sides run in one process with the same
loaded model (SmolLM2-135M-Instruct through ``TransformersGenerator``, glibc tuned as tailor always
does), in the order A B B A, on the prompts of bench/alloc_bench.py: the tiny world's qa questions
behind ~300 tokens of documents, greedy, batches of 8, up to 32 new tokens. Recorded per side: wall
time of ``generate`` and the answers, which must be identical: the cache decides where keys and
values live, never what they are.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from common import abba, command, rag_prompts, what, write_speedup_record

RESULTS = Path(__file__).parent / "results" / "cache.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=24)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    import tailor.models.reserved_cache as reserved
    from tailor.models.base import GenerationSettings
    from tailor.models.gguf import converted_dir, packaged_gguf
    from tailor.models.local import TransformersGenerator

    generator = TransformersGenerator.load(converted_dir(packaged_gguf("smollm2-135m-instruct")), dtype="float32")
    prompts = rag_prompts(generator, args.prompts)
    settings = GenerationSettings(max_new_tokens=32, batch_size=8)
    generator.generate(prompts[:8], settings)  # warm-up: first-call costs belong to neither side
    tailor_cache = reserved.reserved_cache

    def run(side: str) -> dict:
        # None is what model.generate gets when no cache is passed: its own DynamicCache
        reserved.reserved_cache = tailor_cache if side == "tailor" else (lambda capacity: None)
        start = time.perf_counter()
        answers = generator.generate(prompts, settings)
        done = {"generate_s": round(time.perf_counter() - start, 3), "answers": [a.text for a in answers]}
        print(f"{side}: {done['generate_s']:.1f} s", file=sys.stderr)
        return done

    runs = abba(("default", "tailor"), 2, run)
    reserved.reserved_cache = tailor_cache
    same = all(r["answers"] == runs["default"][0]["answers"] for rs in runs.values() for r in rs)
    mean = {side: statistics.mean(r["generate_s"] for r in rs) for side, rs in runs.items()}
    record = {
        "command": command(__file__, args, {"prompts": 24}),
        "what": what(__doc__, 2),
        "machine": {"cpu_count": os.cpu_count(), "load_average": os.getloadavg()},
        "prompts": args.prompts,
        "sides": {
            side: {"generate_s": [r["generate_s"] for r in rs], "generate_s_mean": round(mean[side], 3)}
            for side, rs in runs.items()
        },
        "speedup": round(mean["default"] / mean["tailor"], 2),
        "identical_answers": same,
        "answers": runs["tailor"][0]["answers"],
    }
    write_speedup_record(args.results, record, mean, same)


if __name__ == "__main__":
    main()
