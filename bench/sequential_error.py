"""The sequential test of `tailor eval --until-decided`, by simulation: how often it names a winner among equal
strategies (must be ≤ 5%), and how early it stops when one strategy is better.

    python bench/sequential_error.py       # → bench/results/sequential_error.json (under a minute on 2 CPU cores)

Each run draws per-example scores for k strategies and looks every 16 examples up to 400 (25 looks), as
``tailor eval --until-decided`` with ``batch: 16, max_examples: 400`` would. Settings: 3 equal strategies
right 30% of the time (0/1 scores); 3 equal strategies with continuous scores in [0, 1] that share a
per-example difficulty (correlated, as strategies on the same questions are); one strategy right 50% of the
time against one or two at 30%; 40% against two at 30%. Beside it, the peer that tempts: a paired z-test
at the same per-pair level (5% Bonferroni over ordered pairs), re-run at every look, as a fixed-n test is
when peeked at; and the same z-test run once, at 400.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from common import machine_line, write_json
from scipy.stats import norm

from tailor.eval.sequential import METHOD, look_ends, separated, winners

RUNS, N, BATCH, ALPHA = 4000, 400, 16, 0.05
LOOKS = look_ends(N, BATCH)
OUT = Path(__file__).with_name("results") / "sequential_error.json"


def _z_claims(scores: np.ndarray, k: int) -> np.ndarray:
    """The paired z-test's claims "i beats j" at each look, not carried over: (runs, k, k, looks)."""
    n = np.asarray(LOOKS)
    d = scores[:, :, None, :] - scores[:, None, :, :]
    mean = np.cumsum(d, -1)[..., n - 1] / n
    sd = np.sqrt(np.maximum(np.cumsum(d**2, -1)[..., n - 1] / n - mean**2, 1e-12))
    return mean / (sd / np.sqrt(n)) > norm.ppf(1 - ALPHA / (k * (k - 1)))


def _summary(best: np.ndarray, runs: int) -> dict:
    """Winner rate, right-winner rate and examples at the stop, from per-look winners (runs, looks)."""
    decided = best >= 0
    first = np.where(decided.any(-1), decided.argmax(-1), len(LOOKS) - 1)
    stop = np.asarray(LOOKS)[first]
    chosen = best[np.arange(runs), first]
    return {
        "winner_rate": round(float(decided.any(-1).mean()), 4),
        "right_winner_share": round(float((chosen[chosen >= 0] == 0).mean()), 4) if (chosen >= 0).any() else None,
        "stopped_before_max": round(float((stop < N).mean()), 4),
        "median_n_at_stop": float(np.median(stop)),
    }


def main() -> None:
    rng = np.random.default_rng(0)
    settings = {
        "3 equal, Bernoulli(0.3)": (rng.random((RUNS, 3, N)) < 0.3).astype(float),
        "3 equal, continuous": np.clip(
            rng.beta(2, 5, size=(RUNS, 1, N)) + rng.normal(0, 0.15, size=(RUNS, 3, N)), 0, 1
        ),
        "0.5 vs 0.3": (rng.random((RUNS, 2, N)) < np.array([[0.5], [0.3]])).astype(float),
        "0.5 vs 0.3, 0.3": (rng.random((RUNS, 3, N)) < np.array([[0.5], [0.3], [0.3]])).astype(float),
        "0.4 vs 0.3, 0.3": (rng.random((RUNS, 3, N)) < np.array([[0.4], [0.3], [0.3]])).astype(float),
    }
    rows = []
    for name, scores in settings.items():
        k = scores.shape[1]
        start = time.perf_counter()
        claimed = separated(scores, LOOKS, ALPHA)
        seconds = time.perf_counter() - start
        z = _z_claims(scores, k)
        z_best = winners(z)
        rows.append(
            {
                "setting": name,
                "strategies": k,
                "sequential": {
                    **_summary(winners(claimed), RUNS),
                    "any_pair_claimed_rate": round(float(claimed[..., -1].any(axis=(-2, -1)).mean()), 4),
                    "seconds": round(seconds, 2),
                },
                "z_test_every_look": {
                    **_summary(z_best, RUNS),
                    "any_pair_claimed_rate": round(float(z.any(axis=(-3, -2, -1)).mean()), 4),
                },
                "z_test_once_at_400": {"winner_rate": round(float((z_best[:, -1] >= 0).mean()), 4)},
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    write_json(
        OUT,
        {
            "command": "python bench/sequential_error.py",
            "machine": machine_line(),
            "method": METHOD,
            "runs": RUNS,
            "looks": f"every {BATCH} examples up to {N}",
            "alpha": ALPHA,
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
