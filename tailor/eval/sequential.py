"""A sequential test that picks the best strategy and stays valid however often it is looked at.

``tailor eval --until-decided`` answers the test examples in batches and, after each batch (a *look*),
asks whether one strategy is separated from every other on the primary metric. Re-running a fixed-n
test (McNemar, a bootstrap) at every look would be wrong: each look is another chance of a false
positive, and with 25 looks a 5% test declares a winner among equal strategies far more than 5% of
the time. This module uses a test whose error bound holds at every look at once.

Method: testing by betting (Shafer 2021; Waudby-Smith & Ramdas, "Estimating means of bounded random
variables by betting", JRSS-B 2023). For strategies ``a`` and ``b`` the paired difference of an
example's scores, d = a − b, lies in [−1, 1]. A gambler starts with capital 1 and, before each
example, stakes a share λ ∈ [0, c] on "a is better": the capital becomes K_t = ∏ (1 + λ_i d_i). If a
is not better (E[d] ≤ 0), K_t is a non-negative supermartingale, so by Ville's inequality the chance
it *ever* reaches 1/a is at most a. λ is chosen from the examples before it only (so the bet is
fair): WSR's aGRAPA, λ_t = μ̂/(σ̂² + μ̂²), the Kelly bet for the running mean μ̂ and variance σ̂² of
d (regularised as in WSR section 5: μ̂_t = Σd/(t+1), σ̂²_t = (1 + Σ(d_i − μ̂_i)²)/(t+1)), clipped to
[0, c] with c = 1/2. In WSR's [0, 1] units (x = (1 + d)/2, tested value m = 1/2) this is exactly
their aGRAPA bet truncated at c/m.

With k strategies there are k(k−1) ordered pairs; each "a beats b" is claimed when its capital
reaches k(k−1)/alpha at a look (Bonferroni). Then, whatever the truth and however many looks, the
chance that any claim is wrong is at most alpha, and the top strategy is declared only when it beats
every other. Examples are taken in a seeded random order, so each one is a fresh draw and the
guarantee is about the population the test split was drawn from, like the fixed-n tests'.

All functions are pure and vectorised over leading axes, so the error rate can be checked by
simulating thousands of runs at once (tests/eval/test_sequential.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

METHOD = "betting e-process (Waudby-Smith & Ramdas 2023, aGRAPA), Bonferroni over ordered pairs"
MAX_STAKE = 0.5  # c: the largest share of capital bet on one example (WSR's truncation, c = 1/2)


def log_capital(d: np.ndarray, max_stake: float = MAX_STAKE) -> np.ndarray:
    """log K_t after each example for betting that E[d] > 0, d in [−1, 1] along the last axis.

    Shape in = shape out, (..., n). The stake before example t uses examples 1..t−1 only. Under
    E[d] ≤ 0 the capital exp(log K) is a supermartingale starting at 1.

    Raises:
        ValueError: a difference lies outside [−1, 1] or the stake is not in (0, 1).
    """
    return _log_capitals(d, max_stake)[0]


def _log_capitals(d: np.ndarray, max_stake: float = MAX_STAKE) -> tuple[np.ndarray, np.ndarray]:
    """log K_t for betting on E[d] > 0 and on E[d] < 0 (the same bet on −d, whose running mean is −μ̂ and
    variance σ̂²: computed once for both)."""
    d = np.asarray(d, dtype=float)
    if not np.all(np.abs(d) <= 1 + 1e-12):  # NaN fails this too
        raise ValueError("paired differences must lie in [-1, 1]: scores must be between 0 and 1.")
    if not 0 < max_stake < 1:
        raise ValueError(f"max_stake must be between 0 and 1; got {max_stake}.")
    t = np.arange(1, d.shape[-1] + 1)
    mean = np.cumsum(d, axis=-1) / (t + 1)  # μ̂_t, after example t
    var = (1 + np.cumsum((d - mean) ** 2, axis=-1)) / (t + 1)  # σ̂²_t
    mu, sigma2 = _before(mean, 0.0), _before(var, 1.0)
    kelly = mu / (sigma2 + mu**2)
    return tuple(np.cumsum(np.log1p(np.clip(sign * kelly, 0.0, max_stake) * sign * d), axis=-1) for sign in (1.0, -1.0))


def _before(x: np.ndarray, first: float) -> np.ndarray:
    """The estimate available before each example: ``x`` shifted one step right along the last axis."""
    return np.concatenate([np.full((*x.shape[:-1], 1), first), x[..., :-1]], axis=-1)


def threshold(strategies: int, alpha: float = 0.05) -> float:
    """The capital at which "a beats b" is claimed: k(k−1)/alpha for k strategies (Bonferroni over ordered pairs).

    Raises:
        ValueError: fewer than 2 strategies, or alpha not in (0, 1).
    """
    if strategies < 2:
        raise ValueError(f"a sequential comparison needs at least 2 strategies; got {strategies}.")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1; got {alpha}.")
    return strategies * (strategies - 1) / alpha


def look_ends(n: int, batch: int) -> list[int]:
    """The numbers of examples seen at each look: every ``batch`` examples, and the last partial batch."""
    if batch < 1:
        raise ValueError(f"batch must be 1 or more; got {batch}.")
    return [*range(batch, n, batch), n] if n else []


def separated(scores: np.ndarray, looks: Sequence[int], alpha: float = 0.05) -> np.ndarray:
    """Which ordered pairs are separated at each look: bool of shape (..., k, k, L) for scores of shape
    (..., k, n) and L looks, [..., i, j, l] True when "i beats j" has been claimed by look l (claims stand).

    ``looks``: numbers of examples seen at each look, increasing, each at most n.
    """
    return _evidence(scores, looks) >= np.log(threshold(np.shape(scores)[-2], alpha))


def _evidence(scores: np.ndarray, looks: Sequence[int]) -> np.ndarray:
    """log of the most capital each "i beats j" bet has reached by each look: (..., k, k, L); −inf on the diagonal."""
    scores = np.asarray(scores, dtype=float)
    k = scores.shape[-2]
    i, j = np.triu_indices(k, 1)
    d = scores[..., i, :] - scores[..., j, :]  # (..., pairs, n): score_i − score_j
    ends = np.asarray(looks, dtype=int) - 1
    up, down = (np.maximum.accumulate(c[..., ends], axis=-1) for c in _log_capitals(d))
    out = np.full((*scores.shape[:-2], k, k, len(ends)), -np.inf)
    out[..., i, j, :], out[..., j, i, :] = up, down
    return out


def winners(claimed: np.ndarray) -> np.ndarray:
    """The strategy that beats every other at each look, from :func:`separated`'s (..., k, k, L): an int
    array (..., L), −1 where none does (and where, through a wrong claim, two would: said as undecided)."""
    k = claimed.shape[-2]
    beats_all = claimed.sum(axis=-2) == k - 1  # (..., k, L): row i claims over every j ≠ i
    count = beats_all.sum(axis=-2)
    return np.where(count == 1, beats_all.argmax(axis=-2), -1)


@dataclass(frozen=True)
class PairState:
    """One pair at a look: ``better`` is the strategy claimed better (or, while open, the one ahead)."""

    better: str
    worse: str
    delta: float  # mean score of better − worse so far
    evidence: float  # the most capital betting on "better beats worse" has reached at a look
    separated: bool


@dataclass(frozen=True)
class Look:
    look: int  # 1, 2, ...
    n: int  # examples seen
    pairs: tuple[PairState, ...]
    winner: str | None  # the strategy separated from every other, if any

    def to_json(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        """The look as one progress line: which pairs are settled and how close the open ones are."""
        said = [
            f"{p.better} > {p.worse}"
            if p.separated
            else f"{p.better} vs {p.worse} open (Δ {p.delta:+.3f}, evidence {p.evidence:.3g})"
            for p in self.pairs
        ]
        return f"look {self.look} · n={self.n}: " + "; ".join(said)


def evaluate_looks(scores: Mapping[str, Sequence[float]], looks: Sequence[int], alpha: float = 0.05) -> list[Look]:
    """Every look of a sequential comparison of named strategies' per-example scores (same examples,
    same order, each in [0, 1]): the state of each pair and the winner, if any, after each look.

    Raises:
        ValueError: fewer than 2 strategies, unequal lengths, a look past the scores, or a score outside [0, 1].
    """
    names = list(scores)
    matrix = np.asarray([list(scores[s]) for s in names], dtype=float)  # (k, n)
    if matrix.ndim != 2 or len(names) < 2:
        raise ValueError("evaluate_looks needs at least 2 strategies with one score per example each.")
    if looks and (looks[-1] > matrix.shape[1] or min(looks) < 1):
        raise ValueError(f"looks must be between 1 and the {matrix.shape[1]} examples scored; got {list(looks)}.")
    evidence = np.exp(_evidence(matrix, looks))  # (k, k, L)
    claimed = evidence >= threshold(len(names), alpha)
    best = winners(claimed)
    out = []
    for index, n in enumerate(looks):
        mean = matrix[:, :n].mean(axis=1)
        pairs = []
        for i in range(len(names)):
            for j in range(i + 1, len(names)):
                a, b = (j, i) if claimed[j, i, index] or (not claimed[i, j, index] and mean[j] > mean[i]) else (i, j)
                pairs.append(
                    PairState(
                        names[a],
                        names[b],
                        round(float(mean[a] - mean[b]), 6),
                        round(float(evidence[a, b, index]), 6),
                        bool(claimed[a, b, index]),
                    )
                )
        winner = None if best[index] < 0 else names[int(best[index])]
        out.append(Look(index + 1, int(n), tuple(pairs), winner))
    return out


def record(
    looks: Sequence[Look],
    *,
    strategies: int,
    batch: int,
    available: int,
    n: int,
    stopped: str,
    seconds: float = 0.0,
    usd: float = 0.0,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """What results.json records of a sequential run on one dataset (``sequential[dataset]``): the test, the
    looks, the examples answered (``n`` of ``available``), why it stopped (decided, examples, time or budget)
    and what answering took (seconds, $)."""
    return {
        "method": METHOD,
        "alpha": alpha,
        "threshold": threshold(strategies, alpha) if strategies >= 2 else None,
        "batch": batch,
        "available": available,
        "n": n,
        "stopped": stopped,
        "winner": looks[-1].winner if looks else None,
        "answer_s": round(seconds, 3),
        "answer_usd": round(usd, 6),
        "looks": [look.to_json() for look in looks],
    }


def sentence(record: Mapping[str, Any]) -> str:
    """What a run of `tailor eval --until-decided` did on a dataset (results.json's ``sequential[dataset]``), in
    one sentence: the log's last line and a step of the recommendation."""
    looks, n, available = len(record["looks"]), record["n"], record["available"]
    after = (
        f"at n={n} of {available} examples after {looks} look{'s' if looks != 1 else ''} (one every {record['batch']})"
    )
    if record["stopped"] == "decided":
        return (
            f"answering stopped {after}: {record['winner']} was separated from every other strategy by a test "
            f"valid at every look (family-wise error at most {record['alpha']:g})"
        )
    why = {
        "examples": "the examples ran out",
        "time": f"the time limit was reached ({record['answer_s']:.0f} s answering)",
        "budget": f"the budget was reached (${record['answer_usd']:.4f} answering)",
    }[record["stopped"]]
    return f"answering stopped {after}: {why} before any strategy was separated from every other"
