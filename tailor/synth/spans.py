"""Candidate answers: spans of a passage's own text that a question can ask for.

The answer is chosen here, from the document, never by the model: a number, a date, a version, an
identifier or code name, a capitalised name, or a defined term (quoted or emphasised). The model only
writes the question, and every pair is checked afterwards (:mod:`tailor.synth.checks`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from tailor.eval.metrics import normalize_answer

SpanKind = Literal["date", "version", "number", "identifier", "name", "term"]
# Preferred first: exact values make the sharpest questions and the surest checks.
KIND_ORDER: tuple[SpanKind, ...] = ("date", "version", "number", "identifier", "name", "term")

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?"
    r"|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_PATTERNS: tuple[tuple[SpanKind, re.Pattern[str]], ...] = (
    (
        "date",
        re.compile(
            rf"\b(?:\d{{4}}-\d{{2}}-\d{{2}}|{_MONTH}\.? \d{{1,2}}(?:st|nd|rd|th)?,? \d{{4}}|\d{{1,2}} {_MONTH} \d{{4}}"
            rf"|{_MONTH} \d{{4}})\b"
        ),
    ),
    ("version", re.compile(r"(?<![\w.,$€£])v?\d+\.\d+(?:\.\d+)*(?:[a-z]+\d*)?(?![\w.]*\w)")),
    (
        "number",
        re.compile(
            r"(?<![\w.])[$€£]?\d{1,3}(?:,\d{3})+(?:\.\d+)?%?(?:\s?(?:[KMGT]B|ms|s|km|kg|days?|hours?|minutes?|years?|"
            r"months?|weeks?|users?|bytes?|bits?))?(?![\w])"
            r"|(?<![\w.])[$€£]?\d+(?:\.\d+)?(?:%|\s?(?:[KMGT]B|ms|km|kg|days?|hours?|minutes?|seconds?|years?|months?|"
            r"weeks?|users?|bytes?|bits?|percent))(?![\w])"
            r"|(?<![\w.,])[$€£]\d+(?:\.\d+)?(?!\w|\.\w)"
            r"|(?<![\w.,-])\d{2,}(?!\w|[.,-]\d)"
        ),
    ),
    (
        "identifier",
        re.compile(
            r"`([^`\n]{2,40})`"  # markdown code
            r"|(?<![\w.])((?:[A-Za-z_]\w*\.)+[A-Za-z_]\w*(?:\(\))?)(?!\w|\.\w)"  # dotted names: os.path.join
            r"|(?<![\w.])(_{1,2}[A-Za-z]\w*(?:__)?(?:\(\))?|[a-z]+_[a-z_0-9]+(?:\(\))?|[A-Za-z]\w*\(\))(?!\w|\.\w)"
            r"|\b([A-Z]{2,}[-_]?\d+[A-Z0-9]*|[A-Z][a-z]+[A-Z]\w+|[A-Z]{2,}[-_][A-Z0-9_]+)\b"  # codes, CamelCase
        ),
    ),
    (
        "name",
        re.compile(
            r"(?<![\w.])((?:[A-Z][a-z]+|[A-Z]{2,}\d*)(?: (?:(?:of|de|van) )?(?:[A-Z][a-z]+|[A-Z]+\d+[A-Za-z]*))*)\b"
        ),
    ),
    (
        "term",
        re.compile(
            r"\*\*([^*\n]{2,40})\*\*|(?<![*\w])\*([^*\n]{2,40})\*(?![*\w])"  # emphasis
            r"|[\"“]([^\"”\n]{2,40})[\"”]"  # quoted
            r"|(?:called|named|known as|termed|defined as) ([a-z][\w-]*(?: [a-z][\w-]*){0,2})"
        ),
    ),
)
# Capitalised words that start sentences or are too common to be a name worth asking for.
_COMMON_WORDS = (
    "a an the this that these those it its if in on at to for of and or but not no yes is are was were be "
    "when where while which who what why how all any each every some many most more other such only also "
    "as by from with without into then than there here however note see changed new added"
)
_NOT_NAMES = frozenset(_COMMON_WORDS.split())
MAX_SPAN_CHARS = 60
# Grammar rules ("with_stmt ::= ..." and their indented continuation lines) and heading underlines ("*****"):
# no question is worth asking there.
_SKIPPED_LINES = re.compile(r"^.*::=.*(?:\n[ \t]+\S.*)*$|^\s*[-=*#~^_]{3,}\s*$", re.MULTILINE)
_TERM = re.compile(r"[A-Za-z_][\w .'’-]*[\w)]")  # a word or phrase, not a fragment of grammar or code


@dataclass(frozen=True)
class Span:
    """An answer candidate: ``text`` exactly as it appears in the passage, from offset ``start``."""

    text: str
    kind: SpanKind
    start: int


def find_spans(text: str, most: int = 12) -> list[Span]:
    """Up to ``most`` distinct answer candidates in ``text``, best kinds first, then in reading order.

    A span is kept once (by its normalised form), must normalise to something, and must not be a
    common word; spans inside a longer span already taken are dropped, and so are grammar rules and
    heading underlines.
    """
    text = _SKIPPED_LINES.sub(lambda m: " " * len(m.group()), text)  # blanked, so offsets still hold
    taken: list[tuple[int, int]] = []
    seen: set[str] = set()
    found: list[Span] = []
    for kind, pattern in _PATTERNS:
        for match in pattern.finditer(text):
            group = next((i for i in range(1, (match.lastindex or 0) + 1) if match.group(i)), 0)
            value, start = match.group(group).strip(), match.start(group)
            if kind == "name":  # "The Veltro X200" → "Veltro X200"
                while " " in value and value.split(" ", 1)[0].lower() in _NOT_NAMES:
                    head, value = value.split(" ", 1)
                    start += len(head) + 1
            end = start + len(value)
            key = normalize_answer(value)
            if not _usable(value, key, kind, text, start) or key in seen:
                continue
            if any(s <= start and end <= e for s, e in taken):
                continue
            taken.append((start, end))
            seen.add(key)
            found.append(Span(value, kind, start))
    found.sort(key=lambda s: (KIND_ORDER.index(s.kind), s.start))
    return found[:most]


def _usable(value: str, key: str, kind: SpanKind, text: str, start: int) -> bool:
    if not key or len(value) > MAX_SPAN_CHARS or "\n" in value:
        return False
    words = key.split()
    if all(w in _NOT_NAMES for w in words):
        return False
    if kind == "name":
        # A single capitalised word that starts a sentence is usually not a name.
        before = text[:start].rstrip()
        if len(words) == 1 and (not before or before[-1] in ".!?:\n" or len(value) < 4):
            return False
    return kind != "term" or (len(words) <= 4 and _TERM.fullmatch(value) is not None)
