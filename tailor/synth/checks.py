"""The checks a written question must pass besides screening (tailor.synth.write), each a small pure function.

- specificity: a search over the whole corpus must rank a chunk of each source document in its top k
  chunks; a question many passages answer equally well ("What does it return?") is ambiguous: rejected;
- near-duplicates: a question whose words mostly repeat a kept question's is dropped;
- unanswerable questions are made, not trusted: a kept question's subject is replaced by a made-up
  term, and the question is kept only if that term occurs nowhere in the corpus.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Literal

from tailor.eval.metrics import normalize_answer
from tailor.synth.spans import find_spans

DUPLICATE_JACCARD = 0.8  # word-set overlap above which two questions ask the same thing in other words
# Syllables of made-up names: pronounceable, and unlikely in any real corpus (checked anyway).
_ONSETS = (
    "b",
    "br",
    "d",
    "dr",
    "f",
    "g",
    "gl",
    "k",
    "kr",
    "l",
    "m",
    "n",
    "p",
    "pl",
    "qu",
    "r",
    "s",
    "st",
    "t",
    "v",
    "z",
)
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ea", "ou")
_CODAS = ("", "n", "r", "l", "x", "th", "sk", "nd")

# What a question is about, most telling first; a changed date or count rarely makes a question unanswerable.
_SUBJECTS = ("identifier", "name", "term", "version")

Search = Callable[[str], list[str]]  # question → the document of each chunk hit, best first


def specific(question: str, sources: Iterable[str], search: Search, k: int) -> bool:
    """True if each source document has a chunk among the top ``k`` chunks ``search`` ranks for ``question``."""
    top = search(question)[:k]
    return all(s in top for s in sources)


def words(text: str) -> frozenset[str]:
    return frozenset(normalize_answer(text).split())


def is_duplicate(question: str, kept: Iterable[frozenset[str]]) -> bool:
    """True if ``question``'s words overlap a kept question's by Jaccard ≥ DUPLICATE_JACCARD."""
    mine = words(question)
    return any(mine and len(mine & other) / len(mine | other) >= DUPLICATE_JACCARD for other in kept)


def made_up_word(rng: random.Random) -> str:
    """A pronounceable word of two or three syllables, e.g. ``Vaislorn``."""
    parts = [rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(rng.choice((2, 3)))]
    return "".join(parts).capitalize()


def fabricate(
    question: str, answer: str, rng: random.Random, known: Callable[[str], bool]
) -> tuple[str | None, Literal["no_subject", "subject_in_corpus"] | None]:
    """(``question`` about something the corpus does not contain, None), or (None, why it cannot be made).

    The first name, identifier, term or version in the question that is not part of the answer is
    replaced by a made-up one of the same shape; ``known(text)`` must be false for the new term (it
    says whether the corpus contains it), else another is tried.
    """
    answer_words = words(answer)
    spans = [s for s in find_spans(question, most=20) if s.kind in _SUBJECTS and not words(s.text) & answer_words]
    if not spans:
        return None, "no_subject"
    span = min(spans, key=lambda s: (_SUBJECTS.index(s.kind), s.start))
    for _ in range(8):
        new = _like(span.text, span.kind, rng)
        if not known(new):
            return question[: span.start] + new + question[span.start + len(span.text) :], None
    return None, "subject_in_corpus"


def _like(text: str, kind: str, rng: random.Random) -> str:
    """A made-up value shaped like ``text``: a version for a version, snake_case for an identifier..."""
    if kind == "version":
        return ".".join(str(rng.randint(11, 97)) for _ in text.split("."))
    if kind == "number":
        return re.sub(r"\d+", lambda m: str(rng.randint(10 ** (len(m.group()) - 1), 10 ** len(m.group()) - 1)), text)
    word = made_up_word(rng)
    if kind == "identifier":
        suffix = "()" if text.endswith("()") else ""
        lead = "__" if text.startswith("__") else ""
        return f"{lead}{word.lower()}_{made_up_word(rng).lower()}{lead}{suffix}"
    if kind == "term" and text[:1].islower():
        return word.lower()
    return word


def corpus_contains(texts: Sequence[str]) -> Callable[[str], bool]:
    """``known(term)``: whether ``term`` (normalised, as whole words) occurs in any of ``texts``."""
    haystack = " " + " ".join(normalize_answer(t) for t in texts) + " "
    return lambda term: f" {normalize_answer(term)} " in haystack or not normalize_answer(term)
