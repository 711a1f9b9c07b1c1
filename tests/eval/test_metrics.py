"""Metrics against hand-computed values and the official SQuAD definitions."""

from __future__ import annotations

import random

import numpy as np
import pytest

from tailor.eval.metrics import (
    best_over_golds,
    classification_scores,
    contains_answer,
    detectable_difference,
    exact_match,
    examples_to_separate,
    mcnemar_p,
    mean_ci,
    normalize_answer,
    paired_bootstrap_p,
    parse_label,
    percentile,
    rouge_l,
    token_f1,
)

# --- answer metrics -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  The  Quick, Brown FOX!  ", "quick brown fox"),
        ("An apple a day", "apple day"),
        ("theory of the atom", "theory of atom"),  # articles only as whole words
        ("U.S.A.", "usa"),  # punctuation is deleted, not replaced by a space
        ("Don't stop", "dont stop"),
        ("", ""),
    ],
)
def test_normalize_answer_matches_squad(raw: str, expected: str) -> None:
    assert normalize_answer(raw) == expected


@pytest.mark.parametrize(
    ("prediction", "gold", "expected"),
    [
        ("The Cat!", "cat", 1.0),
        ("an apple", "apple.", 1.0),
        ("  the   Eiffel tower ", "Eiffel Tower", 1.0),
        ("apples", "apple", 0.0),
        ("the cat sat", "cat", 0.0),
        ("", "", 1.0),
        ("the", "", 1.0),  # both normalise to nothing
    ],
)
def test_exact_match(prediction: str, gold: str, expected: float) -> None:
    assert exact_match(prediction, gold) == expected


@pytest.mark.parametrize(
    ("prediction", "gold", "expected"),
    [
        # pred tokens {cat, sat, on, mat}, gold {cat, on, mat}: P = 3/4, R = 1, F1 = 6/7
        ("the cat sat on the mat", "a cat on mat", 6 / 7),
        # multiset overlap counts "cat" once: P = 1/3, R = 1, F1 = 1/2
        ("cat cat cat", "cat", 1 / 2),
        # overlap 2 ("paris", "france"): P = 2/4, R = 2/3, F1 = 4/7
        ("Paris, in France, Europe", "Paris France capital", 4 / 7),
        ("dog", "cat", 0.0),
        ("", "", 1.0),
        ("a the an", "", 1.0),
        ("cat", "", 0.0),
        ("", "cat", 0.0),
        ("The Cat.", "cat", 1.0),
    ],
)
def test_token_f1_hand_computed(prediction: str, gold: str, expected: float) -> None:
    assert token_f1(prediction, gold) == pytest.approx(expected)


def test_token_f1_is_symmetric_and_bounded() -> None:
    rng = random.Random(0)
    vocab = ["the", "a", "cat", "dog", "mat", "on", "sat", "Paris", "1490", "149", "!", "x"]
    for _ in range(300):
        p = " ".join(rng.choices(vocab, k=rng.randint(0, 6)))
        g = " ".join(rng.choices(vocab, k=rng.randint(0, 6)))
        score = token_f1(p, g)
        assert 0.0 <= score <= 1.0
        assert score == pytest.approx(token_f1(g, p))
        assert exact_match(p, g) <= score  # an exact match always has F1 = 1


@pytest.mark.parametrize(
    ("prediction", "gold", "expected"),
    [
        ("It was 149.", "149", 1.0),
        ("in 1490 it was", "149", 0.0),  # whole tokens only
        ("I think it's the eiffel tower, in Paris", "The Eiffel Tower", 1.0),
        ("york new", "new york", 0.0),  # order matters
        ("new york city", "New York", 1.0),
        ("", "149", 0.0),
        ("", "the", 1.0),  # empty gold counts only for an empty prediction
        ("anything", "", 0.0),
    ],
)
def test_contains_answer_whole_tokens(prediction: str, gold: str, expected: float) -> None:
    assert contains_answer(prediction, gold) == expected


@pytest.mark.parametrize(
    ("prediction", "gold", "expected"),
    [
        # LCS "the cat on the mat" = 5 tokens: P = 5/6, R = 5/5, F = 10/11
        ("the cat sat on the mat", "the cat on the mat", 10 / 11),
        # LCS "alpha gamma epsilon" = 3: P = 3/5, R = 3/4, F = 2/3
        ("alpha beta gamma delta epsilon", "alpha gamma epsilon beta", 2 / 3),
        ("Same Words.", "same words", 1.0),
        ("nothing shared", "at all", 0.0),
    ],
)
def test_rouge_l_hand_computed_lcs(prediction: str, gold: str, expected: float) -> None:
    assert rouge_l(prediction, gold) == pytest.approx(expected)


def test_best_over_golds_takes_the_max() -> None:
    golds = ["a cat on mat", "the cat sat on the mat", "dog"]
    assert best_over_golds(token_f1, "the cat sat on the mat", golds) == 1.0
    assert best_over_golds(token_f1, "cat cat cat", ["dog", "cat"]) == pytest.approx(1 / 2)
    assert best_over_golds(exact_match, "Dog", golds) == 1.0
    with pytest.raises(ValueError, match="at least one gold"):
        best_over_golds(exact_match, "x", [])


# --- classification -------------------------------------------------------------------------------

LABELS = ["positive", "negative", "neutral"]


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("Positive.", LABELS, "positive"),  # exact, case and punctuation ignored
        ("  NEGATIVE!! ", LABELS, "negative"),
        ("positive", ["Positive", "Negative"], "Positive"),  # returned as spelled in labels
        ("I think the sentiment is negative overall", LABELS, "negative"),  # embedded
        ("negative, or maybe positive", LABELS, "negative"),  # earliest wins
        ("Positive, though some negative parts", LABELS, "positive"),
        ("positively glowing", LABELS, None),  # whole words only
        ("no idea", LABELS, None),
        ("", LABELS, None),
        ("sports news today", ["sports", "sports news"], "sports news"),  # tie: longer label
        ("label: sci-fi", ["drama", "sci-fi"], "sci-fi"),  # regex characters are escaped
    ],
)
def test_parse_label(text: str, labels: list[str], expected: str | None) -> None:
    assert parse_label(text, labels) == expected


def test_classification_scores_hand_computed() -> None:
    gold = ["pos", "pos", "neg", "neg", "neu", "pos"]
    pred = ["pos", "neg", "neg", None, "neu", "pos"]
    # Per class (precision, recall, F1): pos (1, 2/3, 4/5), neg (1/2, 1/2, 1/2), neu (1, 1, 1).
    # The None at index 3 is a wrong prediction for a "neg" example.
    scores = classification_scores(gold, pred, ["pos", "neg", "neu"])
    assert scores == pytest.approx(
        {
            "accuracy": 4 / 6,
            "macro_precision": (1 + 1 / 2 + 1) / 3,
            "macro_recall": (2 / 3 + 1 / 2 + 1) / 3,
            "macro_f1": (4 / 5 + 1 / 2 + 1) / 3,
        }
    )


def test_classification_scores_label_never_seen_counts_as_zero() -> None:
    # "neu" is neither gold nor predicted: precision = recall = F1 = 0 for it, pulling macro down.
    scores = classification_scores(["pos", "neg"], ["pos", "neg"], ["pos", "neg", "neu"])
    assert scores == pytest.approx(
        {"accuracy": 1.0, "macro_precision": 2 / 3, "macro_recall": 2 / 3, "macro_f1": 2 / 3}
    )


def test_classification_scores_all_unparsed() -> None:
    scores = classification_scores(["pos", "neg"], [None, None], ["pos", "neg"])
    assert scores == {"accuracy": 0.0, "macro_precision": 0.0, "macro_recall": 0.0, "macro_f1": 0.0}


@pytest.mark.parametrize(
    ("gold", "pred", "message"),
    [
        (["pos"], ["pos", "neg"], "gold has 1"),
        ([], [], "at least one example"),
        (["pos", "other"], ["pos", "pos"], "not among labels"),
    ],
)
def test_classification_scores_rejects_bad_input(gold: list[str], pred: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        classification_scores(gold, pred, ["pos", "neg"])


# --- statistics -----------------------------------------------------------------------------------


def test_mean_ci_contains_mean_and_is_deterministic() -> None:
    values = np.random.default_rng(1).normal(0.6, 0.2, size=50)
    mean, low, high = mean_ci(values, seed=3)
    assert mean == pytest.approx(values.mean())
    assert low < mean < high
    assert mean_ci(values, seed=3) == (mean, low, high)
    assert mean_ci(values, seed=4) != (mean, low, high)


def test_mean_ci_shrinks_with_n() -> None:
    rng = np.random.default_rng(2)
    widths = []
    for n in (10, 100, 1000):
        _, low, high = mean_ci(rng.integers(0, 2, size=n).astype(float))
        widths.append(high - low)
    assert widths[0] > widths[1] > widths[2] > 0


def test_mean_ci_narrower_at_lower_confidence() -> None:
    values = np.random.default_rng(5).normal(size=40)
    _, low95, high95 = mean_ci(values, alpha=0.05)
    _, low50, high50 = mean_ci(values, alpha=0.5)
    assert low95 < low50 < high50 < high95


def test_mean_ci_edge_cases() -> None:
    assert mean_ci([0.7]) == (0.7, 0.7, 0.7)
    assert mean_ci([1.0, 1.0, 1.0]) == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="empty"):
        mean_ci([])
    with pytest.raises(ValueError, match="NaN"):
        mean_ci([1.0, float("nan")])
    with pytest.raises(ValueError, match="alpha"):
        mean_ci([1.0, 2.0], alpha=1.5)


@pytest.mark.parametrize(("q", "expected"), [(0, 1.0), (25, 1.75), (50, 2.5), (90, 3.7), (100, 4.0)])
def test_percentile_linear_interpolation(q: float, expected: float) -> None:
    # positions (n - 1) * q / 100 into [1, 2, 3, 4]: 0.75 -> 1.75, 2.7 -> 3.7
    assert percentile([4, 1, 3, 2], q) == pytest.approx(expected)


def test_percentile_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="empty"):
        percentile([], 50)
    with pytest.raises(ValueError, match="q must be"):
        percentile([1.0], 101)


def test_paired_bootstrap_identical_systems() -> None:
    a = np.random.default_rng(0).random(100)
    assert paired_bootstrap_p(a, a.copy()) == 1.0


def test_paired_bootstrap_clear_difference() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(0.8, 0.1, size=100)
    b = a - 0.2 + rng.normal(0, 0.05, size=100)
    p = paired_bootstrap_p(a, b)
    assert p < 0.01
    assert p == pytest.approx(1 / 2001)  # no draw as extreme: the +1 floor
    assert paired_bootstrap_p(b, a) == p  # two-sided


def test_paired_bootstrap_noise_is_not_significant() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2, size=200).astype(float)
    b = a.copy()
    b[:2] = 1 - b[:2]  # two flipped examples out of 200
    assert paired_bootstrap_p(a, b) > 0.05
    assert paired_bootstrap_p(a, b, seed=7) == paired_bootstrap_p(a, b, seed=7)


def test_paired_bootstrap_edge_cases() -> None:
    assert paired_bootstrap_p([1.0], [0.0]) == 1.0
    with pytest.raises(ValueError, match="pair them"):
        paired_bootstrap_p([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="empty"):
        paired_bootstrap_p([], [])


@pytest.mark.parametrize(
    ("only_a", "only_b", "expected"),
    [
        (1, 5, 14 / 64),  # 2 * (C(6,0) + C(6,1)) / 2^6
        (0, 6, 2 / 64),  # 2 * C(6,0) / 2^6
        (2, 8, 112 / 1024),  # 2 * (1 + 10 + 45) / 2^10
        (2, 2, 1.0),  # 2 * 11/16 > 1, capped
        (0, 0, 1.0),  # no discordant pairs
    ],
)
def test_mcnemar_exact_hand_computed(only_a: int, only_b: int, expected: float) -> None:
    # Concordant pairs (both right, both wrong) must not change the result.
    a = [True] * only_a + [False] * only_b + [True] * 7 + [False] * 3
    b = [False] * only_a + [True] * only_b + [True] * 7 + [False] * 3
    assert mcnemar_p(a, b) == pytest.approx(expected)
    assert mcnemar_p(b, a) == pytest.approx(expected)


def test_mcnemar_matches_scipy_binomtest() -> None:
    stats = pytest.importorskip("scipy.stats")
    a = [True] * 13 + [False] * 4 + [True] * 20
    b = [False] * 13 + [True] * 4 + [True] * 20
    assert mcnemar_p(a, b) == pytest.approx(stats.binomtest(4, 17, 0.5).pvalue)


def test_mcnemar_rejects_unpaired() -> None:
    with pytest.raises(ValueError, match="pair them"):
        mcnemar_p([True], [True, False])


# --- sample size ----------------------------------------------------------------------------------


def test_examples_to_separate_matches_the_textbook_formula() -> None:
    # ((1.96 + 0.8416) * sd / delta)^2: sd 10, delta 5 -> 31.4 -> 32; a quarter of the effect, 16 times as many
    assert examples_to_separate(5, 10) == 32
    assert examples_to_separate(-1.25, 10) == 503
    assert examples_to_separate(5, 10, power=0.9) == 43  # (1.96 + 1.2816)^2 * 4 = 42.03
    assert examples_to_separate(0.0, 1.0) is None and examples_to_separate(0.2, 0.0) == 1
    with pytest.raises(ValueError, match="sd"):
        examples_to_separate(0.1, -1)


def test_at_that_many_examples_a_paired_test_finds_the_difference_about_80_percent_of_the_time() -> None:
    rng = np.random.default_rng(0)
    delta, sd = 0.05, 0.3
    n = examples_to_separate(delta, sd)
    diffs = rng.normal(delta, sd, size=(4000, n))
    z = diffs.mean(axis=1) / (diffs.std(axis=1, ddof=1) / np.sqrt(n))
    power = float(np.mean(np.abs(z) > 1.959964))
    assert n == 283 and 0.76 < power < 0.84


def test_detectable_difference_is_the_sample_size_formula_turned_around() -> None:
    assert round(detectable_difference(5), 2) == 0.89 and round(detectable_difference(40), 2) == 0.31
    assert examples_to_separate(detectable_difference(283, sd=0.3), 0.3) == 283
    assert detectable_difference(160) == pytest.approx(detectable_difference(40) / 2)
