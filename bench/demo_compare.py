"""Compare two demo records figure by figure: did a change move any measured value?

    git show HEAD~3:bench/results/demo.json > /tmp/before.json
    python bench/demo_record.py --results /tmp/after.json
    python bench/demo_compare.py /tmp/before.json /tmp/after.json

Timings (the cost suite, update and rebuild seconds, compression speed and memory) vary from run to
run by nature and are listed apart; every other figure must match exactly (or within ``--tol``).
Exits 1 when a figure moved or one record has a row the other lacks.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

TIMED_SUITES = {"cost"}
TIMED_METRICS = {
    "update_s",
    "full_rebuild_s",
    "prefill_tokens_per_s",
    "decode_tokens_per_s",
    "answer_p50_s",
    "answer_p95_s",
    "variant_peak_rss_mb",
}
FIELDS = ("value", "n", "ci_low", "ci_high", "p")


def _rows(path: Path) -> dict[tuple, dict]:
    record = json.loads(path.read_text())
    return {
        (r["dataset"], r["suite"], r["strategy"], r.get("variant"), r.get("vs"), r["metric"]): r
        for r in record["results"]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--tol", type=float, default=0.0, help="largest absolute difference that counts as equal")
    args = parser.parse_args()
    before, after = _rows(args.before), _rows(args.after)
    moved, timed = [], 0
    for key in sorted(set(before) | set(after), key=str):
        if key not in before or key not in after:
            moved.append(f"{'only after' if key in after else 'only before'}: {key}")
            continue
        if key[1] in TIMED_SUITES or key[-1] in TIMED_METRICS:
            timed += 1
            continue
        a, b = before[key], after[key]
        for field in FIELDS:
            x, y = a.get(field), b.get(field)
            if (x is None) != (y is None) or (x is not None and abs(x - y) > args.tol):
                moved.append(f"{key} {field}: {x} → {y}")
    compared = len(set(before) & set(after)) - timed
    sys.stdout.write(f"{compared} figures compared, {timed} timings skipped, {len(moved)} differences\n")
    sys.stdout.writelines(line + "\n" for line in moved)
    sys.exit(1 if moved else 0)


if __name__ == "__main__":
    main()
