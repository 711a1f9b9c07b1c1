"""Simulated edits: a fact's value changed in a copy of its source, for freshness without a second version.

When ``eval.freshness`` names no new version of the documents, the freshness suite makes one. For
some of the asked questions whose reference answer is a value written in the question's source
document, every occurrence of that value in the document is replaced by a different value of the
same kind:

- date: the same format, moved by weeks to a year (2021-03-04 → 2021-09-17, March 4, 2021 → ...);
- year: another year within a decade (1987 → 1993);
- version: its last part raised (v2.4.1 → v2.4.3);
- number: another number of a similar size, written the same way (currency sign, unit, thousands
  separators and decimals kept: $300 → $690, 45 days → 81 days);
- name: another of the questions' answers of the same shape (capitals, digits, underscores, word
  count), else such a phrase from the corpus, that the document does not contain (Singapore →
  Melbourne, SyntaxError → ValueError, -O → -W). Shape is all it knows of kind: a role written like a
  person's name may become one.

Only values specific enough to edit are: found in exactly one of the question's source documents as
whole tokens, at most :data:`MAX_OCCURRENCES` times, and not a bare one-digit number. One edit per
document, so the edits never overlap. Everything is decided by the seed.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from tailor.data.corpus import Document
from tailor.data.examples import Example

MAX_OCCURRENCES = 3  # a value written more often is a common token, not one fact
_NAME_CANDIDATES = 400  # same-shape phrases collected from the corpus before one is drawn
_MAX_NAME_WORDS = 4

# (strptime format, how to write a date that way): day and month numbers as the source wrote them
_DATE_FORMATS: tuple[tuple[str, str], ...] = (
    ("%Y-%m-%d", "{d:%Y-%m-%d}"),
    ("%B %d, %Y", "{d:%B} {d.day}, {d.year}"),
    ("%b %d, %Y", "{d:%b} {d.day}, {d.year}"),
    ("%d %B %Y", "{d.day} {d:%B} {d.year}"),
    ("%d %b %Y", "{d.day} {d:%b} {d.year}"),
    ("%B %Y", "{d:%B} {d.year}"),
)
_YEAR = re.compile(r"(1[6-9]|20)\d\d")
_VERSION = re.compile(r"(?P<pre>[vV])?(?P<head>\d+(?:\.\d+)*)\.(?P<last>\d+)")
_NUMBER = re.compile(r"(?P<pre>[$€£¥]?)(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?P<dec>\.\d+)?(?P<post>\s?%|\s?[A-Za-z]{1,12})?")
_OPTION = re.compile(r"--?[A-Za-z][\w-]*")  # a command-line option: -O, --verbose
_WORD = re.compile(r"[\w][\w.'-]*[\w]|[\w]")
_PUNCT = "\"'()[]{},.;:!?"


@dataclass(frozen=True)
class Edit:
    """One changed fact: ``old`` replaced by ``new`` (``occurrences`` times) in document ``doc_id``."""

    example_id: str
    doc_id: str
    kind: str  # date | year | version | number | name
    old: str
    new: str
    occurrences: int

    def to_json(self) -> dict[str, object]:
        return {
            "example": self.example_id,
            "doc_id": self.doc_id,
            "kind": self.kind,
            "old": self.old,
            "new": self.new,
            "occurrences": self.occurrences,
        }


def plan_edits(examples: Iterable[Example], documents: Sequence[Document], limit: int, seed: int) -> list[Edit]:
    """Up to ``limit`` edits, one per document, each changing the answer of one of ``examples``."""
    by_id = {d.doc_id: d for d in documents}
    rng = random.Random(f"{seed}/freshness-edits")
    pool = [e for e in examples if e.kind != "unanswerable" and "; " not in e.answer]
    answers = sorted({e.answer.strip() for e in pool})
    rng.shuffle(pool)
    edits: list[Edit] = []
    edited: set[str] = set()
    for example in pool:
        if len(edits) == limit:
            break
        value = example.answer.strip()
        kind = value_kind(value)
        sources = [by_id[s] for s in example.sources if s in by_id and s not in edited]
        found = [(d, n) for d in sources if (n := len(occurrences(d.text, value)))]
        if kind is None or len(found) != 1 or found[0][1] > MAX_OCCURRENCES:
            continue
        doc, count = found[0]
        new = edited_value(value, kind, rng, documents, doc, answers)
        if new is None:
            continue
        edits.append(Edit(example.id, doc.doc_id, kind, value, new, count))
        edited.add(doc.doc_id)
    return edits


def apply_edits(documents: Sequence[Document], edits: Sequence[Edit]) -> tuple[Document, ...]:
    """``documents`` with each edit made (in copies: the originals are untouched), in the same order."""
    by_doc = {e.doc_id: e for e in edits}
    out = []
    for doc in documents:
        edit = by_doc.get(doc.doc_id)
        if edit is None:
            out.append(doc)
            continue
        text = _pattern(edit.old).sub(lambda _, new=edit.new: new, doc.text)
        out.append(replace(doc, text=text, content_hash=hashlib.sha256(text.encode()).hexdigest()))
    return tuple(out)


def occurrences(text: str, value: str) -> list[re.Match[str]]:
    """Where ``value`` occurs in ``text`` as whole tokens ("149" is not in "1490", "3.11" not in "3.11.2")."""
    return list(_pattern(value).finditer(text))


def _pattern(value: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w.-]){re.escape(value)}(?![\w-]|[.,]\w)")


def value_kind(value: str) -> str | None:
    """The kind of value ``value`` is (date, year, version, number, name), or None: not one to edit."""
    if _parse_date(value) is not None:
        return "date"
    if _YEAR.fullmatch(value):
        return "year"
    version = _VERSION.fullmatch(value)
    if version and (version["pre"] or "." in version["head"]):
        return "version"
    number = _NUMBER.fullmatch(value)
    if number:
        bare = not (number["pre"] or number["dec"] or number["post"])
        return None if bare and len(number["int"]) == 1 else "number"
    if _OPTION.fullmatch(value):
        return "name"
    words = value.split()
    if (
        1 <= len(words) <= _MAX_NAME_WORDS
        and len(value) >= 3
        and all(_WORD.fullmatch(w) for w in words)
        and any(c.isupper() or c == "_" for c in value)
        and not any(w.islower() and w.isalpha() for w in words[1:])  # "Python objects" is prose, not a name
    ):
        return "name"
    return None


def edited_value(
    value: str,
    kind: str,
    rng: random.Random,
    corpus: Sequence[Document],
    source: Document,
    answers: Sequence[str] = (),
) -> str | None:
    """A different value of ``kind`` that ``source`` does not contain (a name: preferably one of
    ``answers``); None when none can be made."""
    for _ in range(8):
        if kind == "name":
            new = _other_name(value, rng, corpus, source, answers)
        else:
            new = {"date": _other_date, "year": _other_year, "version": _other_version, "number": _other_number}[kind](
                value, rng
            )
        if new is None:
            return None
        if new != value and not occurrences(source.text, new):
            return new
    return None


def _parse_date(value: str) -> tuple[date, str] | None:
    for parse, write in _DATE_FORMATS:
        try:
            return datetime.strptime(value, parse).date(), write
        except ValueError:
            continue
    return None


def _other_date(value: str, rng: random.Random) -> str:
    day, write = _parse_date(value)  # type: ignore[misc]
    moved = day + timedelta(days=rng.choice((-1, 1)) * rng.randint(21, 365))
    return write.format(d=moved)


def _other_year(value: str, rng: random.Random) -> str:
    year = int(value) + rng.choice((-1, 1)) * rng.randint(1, 9)
    return str(min(year, 2099))


def _other_version(value: str, rng: random.Random) -> str:
    m = _VERSION.fullmatch(value)
    return f"{m['pre'] or ''}{m['head']}.{int(m['last']) + rng.randint(1, 3)}"  # type: ignore[index]


def _other_number(value: str, rng: random.Random) -> str:
    m = _NUMBER.fullmatch(value)
    assert m is not None  # value_kind said number
    old = float(m["int"].replace(",", "") + (m["dec"] or ""))
    factor = rng.uniform(1.3, 3.0)
    new = old * factor if rng.random() < 0.5 or old < 10 else old / factor
    decimals = len(m["dec"] or ".") - 1
    whole = f"{new:,.{decimals}f}" if "," in m["int"] else f"{new:.{decimals}f}"
    return f"{m['pre']}{whole}{m['post'] or ''}"


def _shape(text: str) -> str:
    """Capitals A, small letters a, digits 9, other characters as they are, runs collapsed."""
    classes = ("A" if c.isupper() else "a" if c.isalpha() else "9" if c.isdigit() else c for c in text)
    return re.sub(r"(.)\1+", r"\1", "".join(classes))


def _other_name(
    value: str, rng: random.Random, corpus: Sequence[Document], source: Document, answers: Sequence[str]
) -> str | None:
    """Another answer of the same shape (the dataset's answers are values of the kinds it asks about), else
    a phrase of that shape from the corpus that does not start a sentence or a line."""
    shape = _shape(value)
    usable = [a for a in answers if a != value and _shape(a) == shape and not occurrences(source.text, a)]
    if usable:
        return rng.choice(sorted(set(usable)))
    width = len(value.split())
    docs = list(corpus)
    rng.shuffle(docs)
    found: set[str] = set()
    for doc in docs:
        tokens = list(re.finditer(r"\S+", doc.text))
        for i in range(1, len(tokens) - width + 1):
            before = doc.text[tokens[i - 1].start() : tokens[i].start()]
            if "\n" in before or before.rstrip()[-1] in ".!?:#|*-":
                continue  # a capital after a full stop or at a line's start says nothing about a name
            phrase = " ".join(t.group().strip(_PUNCT) for t in tokens[i : i + width])
            if phrase != value and _shape(phrase) == shape and value_kind(phrase) == "name":
                found.add(phrase)
        if len(found) >= _NAME_CANDIDATES:
            break
    choices = sorted(p for p in found if not occurrences(source.text, p))
    return rng.choice(choices) if choices else None
