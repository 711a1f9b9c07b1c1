"""Per-example answer metrics, classification scores, and the statistics used to report them.

All functions are pure. Answer metrics follow the official SQuAD scripts, so numbers compare with
published ones. scikit-learn and rouge-score are imported only inside the functions that use them.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from functools import lru_cache
from statistics import NormalDist
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from rouge_score.rouge_scorer import RougeScorer

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_UNPARSED = "\x00unparsed"  # an unparseable prediction; the NUL byte keeps it out of any label set


# --- answer metrics -------------------------------------------------------------------------------


def _squash(text: str) -> str:
    """Lower-case, drop punctuation, collapse whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(text.split())


def normalize_answer(s: str) -> str:
    """SQuAD v1.1's normalisation: lower-case, drop punctuation, drop articles, collapse whitespace."""
    return " ".join(_ARTICLES.sub(" ", _squash(s)).split())


def exact_match(prediction: str, gold: str) -> float:
    """1.0 if the normalised prediction equals the normalised gold answer, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD F1 over the multisets of normalised tokens.

    When either side normalises to nothing, the score is 1.0 if both do and 0.0 otherwise: the rule
    of the official SQuAD v2.0 script (the v1.1 script, which never met empty golds, gives 0.0).
    """
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    num_same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(pred_tokens)
    recall = num_same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def contains_answer(prediction: str, gold: str) -> float:
    """1.0 if the normalised gold occurs in the normalised prediction as a run of whole tokens.

    Gold "149" is not contained in "1490". An empty (normalised) gold counts only for an empty prediction.
    """
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    if not gold_tokens:
        return float(not pred_tokens)
    width = len(gold_tokens)
    return float(any(pred_tokens[i : i + width] == gold_tokens for i in range(len(pred_tokens) - width + 1)))


@lru_cache(maxsize=1)
def _rouge_scorer() -> RougeScorer:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def rouge_l(prediction: str, gold: str) -> float:
    """ROUGE-L F-measure (longest common subsequence of tokens), as computed by rouge-score."""
    return float(_rouge_scorer().score(gold, prediction)["rougeL"].fmeasure)


def best_over_golds(metric: Callable[[str, str], float], prediction: str, golds: Sequence[str]) -> float:
    """The best score of `prediction` against any of several acceptable gold answers.

    Raises:
        ValueError: if `golds` is empty.
    """
    if not golds:
        raise ValueError("best_over_golds needs at least one gold answer; got none.")
    return max(metric(prediction, gold) for gold in golds)


# --- classification -------------------------------------------------------------------------------


def parse_label(prediction: str, labels: Sequence[str]) -> str | None:
    """Map a free-text model output to one of `labels`, or None if none can be found.

    First an exact match, ignoring case and punctuation ("Positive." -> "positive"); otherwise the
    label that occurs earliest in the text as a whole word (the longer label wins a tie at the same
    position, so "sports news" beats "sports"). The label is returned as spelled in `labels`.
    """
    squashed = _squash(prediction)
    for label in labels:
        if _squash(label) == squashed:
            return label
    found = []  # (start, -length, index): the smallest is the earliest, then the longest label
    for index, label in enumerate(labels):
        match = re.search(rf"(?<!\w){re.escape(label)}(?!\w)", prediction, flags=re.IGNORECASE)
        if label.strip() and match is not None:
            found.append((match.start(), -len(label), index))
    return labels[min(found)[2]] if found else None


def classification_scores(
    gold: Sequence[str], predicted: Sequence[str | None], labels: Sequence[str]
) -> dict[str, float]:
    """Accuracy and macro-averaged precision, recall and F1 over `labels`.

    An unparseable prediction (None) counts as wrong. Macro averages are over every label in `labels`,
    with 0 for a label never predicted (scikit-learn's `zero_division=0`).

    Raises:
        ValueError: if the lengths differ, there are no examples, or a gold label is not in `labels`.
    """
    if len(gold) != len(predicted):
        raise ValueError(f"gold has {len(gold)} labels but predicted has {len(predicted)}; pass one each.")
    if not gold:
        raise ValueError("classification_scores needs at least one example; got none.")
    unknown = sorted(set(gold) - set(labels))
    if unknown:
        raise ValueError(f"gold labels {unknown} are not among labels {list(labels)}; add them to labels.")
    from sklearn.metrics import precision_recall_fscore_support

    pred = [_UNPARSED if p is None else p for p in predicted]
    precision, recall, f1, _ = precision_recall_fscore_support(
        list(gold), pred, average="macro", labels=list(labels), zero_division=0
    )
    accuracy = sum(g == p for g, p in zip(gold, pred, strict=True)) / len(gold)
    return {
        "accuracy": float(accuracy),
        "macro_precision": float(precision),
        "macro_recall": float(recall),
        "macro_f1": float(f1),
    }


# --- statistics for reporting ---------------------------------------------------------------------


def _as_finite_array(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(values, dtype=float).reshape(-1)
    if x.size == 0:
        raise ValueError(f"{name} is empty; it needs at least one value.")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinity; drop or score those examples first.")
    return x


def _bootstrap_means(x: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Means of `n_boot` resamples of `x` with replacement, shape (n_boot,)."""
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1; got {n_boot}.")
    rng = np.random.default_rng(seed)
    return x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)


def mean_ci(
    values: Sequence[float] | np.ndarray, *, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05
) -> tuple[float, float, float]:
    """Mean and its (1 - alpha) percentile-bootstrap confidence interval: (mean, low, high).

    Deterministic for a given seed. One value gives low == high == mean.

    Raises:
        ValueError: if `values` is empty or not finite, `n_boot` < 1, or `alpha` is not in (0, 1).
    """
    x = _as_finite_array(values, "values")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1; got {alpha}.")
    mean = float(x.mean())
    if x.size == 1:
        return mean, mean, mean
    low, high = np.quantile(_bootstrap_means(x, n_boot, seed), [alpha / 2, 1 - alpha / 2])
    return mean, float(low), float(high)


def percentile(values: Sequence[float] | np.ndarray, q: float) -> float:
    """The q-th percentile (q in [0, 100]) with linear interpolation, as numpy computes it.

    Raises:
        ValueError: if `values` is empty or not finite, or q is outside [0, 100].
    """
    if not 0 <= q <= 100:
        raise ValueError(f"q must be between 0 and 100; got {q}.")
    return float(np.percentile(_as_finite_array(values, "values"), q, method="linear"))


def paired_bootstrap_p(
    a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, *, n_boot: int = 2000, seed: int = 0
) -> float:
    """Two-sided p-value that mean(a - b) differs from 0, for per-example scores of two systems.

    Method: paired bootstrap of the differences d = a - b, shifted to the null hypothesis. Resample d
    with replacement `n_boot` times; each resample's mean minus the observed mean d̄ is a draw from
    the null distribution of the mean difference. p is the share of draws at least as far from 0 as
    |d̄|, with the +1 correction of Davison & Hinkley (1997), so p >= 1 / (n_boot + 1) and never 0.
    Identical systems give p = 1. A single pair carries no evidence and gives 1.0. Like any
    bootstrap, it is optimistic for very small samples (under ~20 examples).

    Raises:
        ValueError: if the lengths differ, the inputs are empty or not finite, or `n_boot` < 1.
    """
    x = _as_finite_array(a, "a")
    y = _as_finite_array(b, "b")
    if x.size != y.size:
        raise ValueError(f"a has {x.size} scores but b has {y.size}; pair them one per example.")
    if x.size == 1:
        return 1.0
    d = x - y
    null_means = _bootstrap_means(d, n_boot, seed) - d.mean()
    # The tolerance keeps ties (e.g. d all zero) from being lost to floating-point rounding.
    extreme = int(np.count_nonzero(np.abs(null_means) >= abs(d.mean()) - 1e-12))
    return (extreme + 1) / (n_boot + 1)


def examples_to_separate(delta: float, sd: float, *, alpha: float = 0.05, power: float = 0.8) -> int | None:
    """Examples a paired test needs to find a true mean difference ``delta`` between two systems whose
    per-example differences have standard deviation ``sd``, at two-sided level ``alpha`` with ``power``.

    n = ((z(1 - alpha/2) + z(power)) * sd / delta)², rounded up: the normal approximation of the paired
    t-test's sample size (Cohen 1988). For sd = 10 and delta = 5, 32 examples. None when ``delta`` is
    0 (no number of examples separates equal means); 1 when ``sd`` is 0 (every example differs alike).

    Raises:
        ValueError: ``sd`` is negative, or ``alpha`` or ``power`` is not in (0, 1).
    """
    if sd < 0:
        raise ValueError(f"sd must be 0 or more; got {sd}.")
    if not (0 < alpha < 1 and 0 < power < 1):
        raise ValueError(f"alpha and power must be between 0 and 1; got {alpha} and {power}.")
    if delta == 0:
        return None
    z = NormalDist()
    n = ((z.inv_cdf(1 - alpha / 2) + z.inv_cdf(power)) * sd / delta) ** 2
    return max(1, math.ceil(n - 1e-9))


def detectable_difference(n: int, *, sd: float = math.sqrt(0.5), alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest true mean difference between two systems that a paired test on ``n`` examples finds
    at two-sided level ``alpha`` with ``power``: (z(1 - alpha/2) + z(power)) * sd / sqrt(n), the inverse
    of :func:`examples_to_separate`.

    The default ``sd`` bounds scores between 0 and 1 of two systems with unrelated errors: a 0/1
    score's variance is at most 1/4, so a difference's is at most 1/2. 5 examples: 0.89; 40: 0.31.

    Raises:
        ValueError: ``n`` is under 1.
    """
    if n < 1:
        raise ValueError(f"n must be 1 or more; got {n}.")
    z = NormalDist()
    return (z.inv_cdf(1 - alpha / 2) + z.inv_cdf(power)) * sd / math.sqrt(n)


def mcnemar_p(a_correct: Sequence[bool], b_correct: Sequence[bool]) -> float:
    """Exact (binomial) McNemar test: two-sided p-value that two systems' accuracies differ.

    Only discordant pairs count: n01 examples only `a` got right, n10 only `b` got right. Under the null
    each is Binomial(n01 + n10, 1/2); p = min(1, 2 * P(X <= min(n01, n10))). No discordant pairs gives 1.0.

    Raises:
        ValueError: if the lengths differ.
    """
    if len(a_correct) != len(b_correct):
        raise ValueError(f"a_correct has {len(a_correct)} entries, b_correct {len(b_correct)}; pair them.")
    only_a = sum(bool(x) and not bool(y) for x, y in zip(a_correct, b_correct, strict=True))
    only_b = sum(bool(y) and not bool(x) for x, y in zip(a_correct, b_correct, strict=True))
    n = only_a + only_b  # with n == 0 the formula gives min(1, 2) = 1
    tail = sum(math.comb(n, k) for k in range(min(only_a, only_b) + 1))
    return min(1.0, 2 * tail / 2**n)
