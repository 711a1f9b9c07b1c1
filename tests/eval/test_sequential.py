"""The sequential test behind `tailor eval --until-decided`: its capital against a plain loop of Waudby-Smith &
Ramdas's formulas, and its error rate and power by simulation (thousands of runs at once, vectorised).

The Monte-Carlo allowance: with R simulated runs, an observed rate above ``binom.ppf(0.999, R, alpha) / R``
would happen less than once in 1,000 seeds if the true rate were exactly alpha; for R = 4,000 that is 0.061.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binom

from tailor.eval.sequential import (
    evaluate_looks,
    log_capital,
    look_ends,
    separated,
    threshold,
    winners,
)

ALPHA = 0.05
RUNS = 4000
LOOKS = look_ends(400, 16)  # a look every 16 examples, up to 400: 25 looks


def allowed(runs: int, alpha: float = ALPHA) -> float:
    """The highest rate consistent with a true rate of ``alpha`` over ``runs`` runs (one-sided, 0.1%)."""
    return binom.ppf(0.999, runs, alpha) / runs


def first_decision(claimed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per run: the winner at the first look that has one (−1: none by the last look), and that look's n."""
    best = winners(claimed)  # (runs, looks)
    decided = best >= 0
    first = np.where(decided.any(-1), decided.argmax(-1), len(LOOKS) - 1)
    return best[np.arange(len(best)), first], np.asarray(LOOKS)[first]


def reference_log_capital(d: list[float], c: float = 0.5) -> list[float]:
    """WSR 2023's aGRAPA bet in their [0, 1] units, one example at a time: x = (1 + d) / 2, tested mean m = 1/2,
    regularised estimates mu_t = (1/2 + sum x) / (t + 1), var_t = (1/4 + sum (x_i - mu_i)^2) / (t + 1), stake clipped
    to [0, c / m]."""
    m, mu, var, total, squares, log_k, out = 0.5, 0.5, 0.25, 0.0, 0.0, 0.0, []
    for t, di in enumerate(d, start=1):
        x = (1 + di) / 2
        stake = min(max((mu - m) / (var + (mu - m) ** 2), 0.0), c / m)
        log_k += math.log(1 + stake * (x - m))
        out.append(log_k)
        total += x
        mu = (0.5 + total) / (t + 1)
        squares += (x - mu) ** 2
        var = (0.25 + squares) / (t + 1)
    return out


def test_capital_matches_a_plain_loop_of_the_published_bet():
    rng = np.random.default_rng(7)
    d = rng.random(300) - rng.random(300) + 0.1
    d = np.clip(d, -1, 1)
    assert np.allclose(log_capital(d), reference_log_capital(d.tolist()), atol=1e-9)
    assert np.allclose(log_capital(np.stack([d, -d]))[1], reference_log_capital((-d).tolist()), atol=1e-9)


def test_equal_bernoulli_strategies_rarely_get_a_winner():
    rng = np.random.default_rng(0)
    scores = (rng.random((RUNS, 3, 400)) < 0.3).astype(float)  # 3 strategies, each right 30% of the time
    claimed = separated(scores, LOOKS, ALPHA)
    winner, _ = first_decision(claimed)
    assert (winner >= 0).mean() <= allowed(RUNS)
    # Stronger: no claim about any pair, at any look, is made more than alpha of the time (family-wise error).
    assert claimed[..., -1].any(axis=(-2, -1)).mean() <= allowed(RUNS)


def test_equal_continuous_strategies_rarely_get_a_winner():
    rng = np.random.default_rng(1)
    difficulty = rng.beta(2, 5, size=(RUNS, 1, 400))  # shared by the strategies: their scores are correlated
    scores = np.clip(difficulty + rng.normal(0, 0.15, size=(RUNS, 3, 400)), 0, 1)
    claimed = separated(scores, LOOKS, ALPHA)
    winner, _ = first_decision(claimed)
    assert (winner >= 0).mean() <= allowed(RUNS)
    assert claimed[..., -1].any(axis=(-2, -1)).mean() <= allowed(RUNS)


def test_the_simulation_catches_a_test_that_is_invalid_under_repeated_looks():
    """A paired z-test at 5% repeated at every look (what a fixed-n test becomes when peeked at) fails the
    same check, so the check above can fail."""
    rng = np.random.default_rng(0)
    scores = (rng.random((RUNS, 2, 400)) < 0.3).astype(float)
    d = scores[:, 0] - scores[:, 1]
    n = np.asarray(LOOKS)
    sums, squares = np.cumsum(d, -1)[:, n - 1], np.cumsum(d**2, -1)[:, n - 1]
    sd = np.sqrt(np.maximum(squares / n - (sums / n) ** 2, 1e-12))
    z = (sums / n) / (sd / np.sqrt(n))
    assert (np.abs(z) > 1.96).any(-1).mean() > allowed(RUNS)


@pytest.mark.parametrize("strategies", [2, 3])
def test_a_real_difference_stops_early_and_picks_the_better_strategy(strategies):
    runs = 1000
    rng = np.random.default_rng(2)
    p = np.array([0.5] + [0.3] * (strategies - 1))[:, None]  # strategy 0 is right 50% of the time, the others 30%
    scores = (rng.random((runs, strategies, 400)) < p).astype(float)
    winner, stopped_at = first_decision(separated(scores, LOOKS, ALPHA))
    assert (stopped_at < 400).mean() > 0.9  # most runs stop before the examples run out
    assert np.median(stopped_at) <= 240
    assert (winner[winner >= 0] == 0).all()  # a winner, when declared, is the better one


def test_claims_stand_once_made_and_the_winner_beats_every_other():
    rng = np.random.default_rng(3)
    scores = (rng.random((200, 3, 400)) < np.array([[0.6], [0.3], [0.2]])).astype(float)
    claimed = separated(scores, LOOKS, ALPHA)
    assert (np.diff(claimed.astype(int), axis=-1) >= 0).all()
    best = winners(claimed)
    for run, look in zip(*np.nonzero(best >= 0), strict=True):
        w = best[run, look]
        assert all(claimed[run, w, j, look] for j in range(3) if j != w)


def test_evaluate_looks_names_pairs_and_the_winner():
    a = [1.0] * 64
    b = [0.0, 1.0] * 32
    looks = evaluate_looks({"baseline": b, "rag": a}, look_ends(64, 16))
    assert [look.n for look in looks] == [16, 32, 48, 64]
    last = looks[-1]
    (pair,) = last.pairs
    assert (pair.better, pair.worse, pair.delta) == ("rag", "baseline", 0.5)
    assert pair.separated and last.winner == "rag" and pair.evidence >= threshold(2, ALPHA)
    first_claim = next(look for look in looks if look.winner)
    assert all(look.winner is None for look in looks if look.look < first_claim.look)
    assert "look 1 · n=16: rag vs baseline open (Δ +0.500" in looks[0].describe()
    assert last.describe().endswith("rag > baseline")


def test_equal_answers_are_never_separated():
    looks = evaluate_looks({"a": [1.0, 0.0] * 50, "b": [1.0, 0.0] * 50, "c": [1.0, 0.0] * 50}, look_ends(100, 16))
    assert all(look.winner is None for look in looks)
    assert all(p.evidence == 1.0 and not p.separated for look in looks for p in look.pairs)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="between 0 and 1"):
        evaluate_looks({"a": [1.5], "b": [0.0]}, [1])
    with pytest.raises(ValueError, match="at least 2 strategies"):
        evaluate_looks({"a": [1.0]}, [1])
    with pytest.raises(ValueError, match="looks must be between"):
        evaluate_looks({"a": [1.0], "b": [0.0]}, [2])
    assert look_ends(40, 16) == [16, 32, 40] and look_ends(0, 16) == []
