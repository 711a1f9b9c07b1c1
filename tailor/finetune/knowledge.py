"""Question/answer pairs generated from the documents, each fact asked several ways (paraphrase augmentation).

Continued pre-training on raw chunks teaches a model how the documents read, but it rarely learns
to *answer* from them: studies of knowledge injection (Allen-Zhu & Li, "Physics of Language Models
3.1"; Ovadia et al., "Fine-Tuning or Retrieval?") find that a fact is absorbed when it is seen in
varied wordings. No model is needed here: facts are read off the documents' structure — table rows
("| Warranty | 5 years |"), a section's sentence under its heading ("## Standard NDA term" → "runs
for 2 years"), and any sentence with a value in it (a number, date, amount or name) — and each is
asked in ``per_fact`` different framings, the answer being the value alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from tailor.data.corpus import Document

_HEADING = re.compile(r"^(#{1,6})\s+(.*\S)\s*$")
_TABLE_ROW = re.compile(r"^\|\s*([^|]*\S)\s*\|\s*([^|]*\S)\s*\|\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9*_])")
_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_UNITS = r"%|percent|days?|weeks?|months?|years?|hours?|minutes?|g|kg|km|units?|employees|people"
_VALUE = re.compile(
    rf"\$\d[\d,]*(?:\.\d+)?[MKB]?"  # amounts: $319, $2.4M
    rf"|\b\d{{1,2}} (?:{_MONTHS}) \d{{4}}\b"  # dates: 12 October 2024
    rf"|\b\d(?:[\d,]*\d)?(?:\.\d+)?(?:-\d+)?(?: ?(?:{_UNITS})\b)?"  # numbers with a unit: 14 days, 300 g, 8836-8037
    r"|(?<=[a-z,] )[A-Z][a-z]+(?: [A-Z][a-z]+)*"  # names inside a sentence: Oskar Sandberg, Tallinn
)
_MAX_VALUES = 3  # per sentence: a list of ten numbers is a table in disguise, not ten facts
_KEYED = (
    "{topic} — {key}?",
    "Look up the {key} for {topic}.",
    "From the {topic} document: {key}?",
    "{key} ({topic})?",
)
_CLOZE = (
    "Fill in the blank, from {topic}: {masked}",
    'In {topic}, what replaces ___ in "{masked}"?',
    "{topic} says: {masked} What is ___?",
    "Complete this line from {topic}: {prefix}",
)
_MAX_KEY_WORDS = 8
_MIN_CONTEXT_WORDS = 6
_HEADER_KEYS = {"", "specification", "field", "name", "key", "item", "attribute"}


@dataclass(frozen=True)
class Fact:
    topic: str  # the document title (and section)
    value: str  # the answer
    key: str = ""  # what the value is (a table row's label, the section heading)
    sentence: str = ""  # the sentence it was found in, for fill-in-the-blank framings
    at: int = 0  # where the value starts in the sentence


@dataclass(frozen=True)
class QAPair:
    record_id: str
    question: str
    answer: str


def document_facts(doc: Document) -> list[Fact]:
    """The facts a document states in a form that can be asked about, in document order."""
    facts: list[Fact] = []
    heading, opening = "", False  # opening: the next sentence is the first of its section
    for raw in doc.text.splitlines():
        line = raw.strip()
        if m := _HEADING.match(line):
            heading, opening = (m.group(2) if len(m.group(1)) > 1 else ""), True
            continue
        if m := _TABLE_ROW.match(line):
            key, value = (c.strip("* ") for c in m.groups())
            if set(value) <= set("-: ") or key.lower() in _HEADER_KEYS:
                continue  # the separator or the header row
            facts.append(Fact(doc.title, value, key))
            continue
        item = bool(re.match(r"[-*+]\s", line))  # a list item: the heading names the list, not its values
        line = re.sub(r"^[-*+]\s+|[*_`]", "", line).strip()
        if not line:
            continue
        for sentence in (s for s in _SENTENCE_END.split(line) if s.strip()):
            values = [m for m in _VALUE.finditer(sentence) if not _inside_name(sentence, m)][-_MAX_VALUES:]
            # A short sentence ("Led by Walid Saab.") is asked with its whole line, which says who or what.
            context = sentence if len(sentence.split()) >= _MIN_CONTEXT_WORDS else line
            shift = context.find(sentence)
            # The heading names the value when its section opens with a one-value sentence.
            key = (
                heading if opening and not item and len(values) == 1 and len(heading.split()) <= _MAX_KEY_WORDS else ""
            )
            opening = False
            facts += [Fact(doc.title, m.group(0), key, context, shift + m.start()) for m in values]
    return facts


def _inside_name(sentence: str, m: re.Match) -> bool:
    """A capitalised match that continues a capitalised word ("Oskar |Sandberg|") is half a name."""
    before = sentence[: m.start()].split()
    return m.group(0)[0].isupper() and bool(before) and before[-1][0].isupper() and before[-1][-1].isalpha()


def qa_pairs(doc: Document, per_fact: int) -> Iterator[QAPair]:
    """``per_fact`` differently worded questions for every fact in ``doc`` (framings rotate by fact)."""
    for n, fact in enumerate(document_facts(doc)):
        for k in range(per_fact):
            yield QAPair(f"qa:{doc.doc_id}#{n}.{k}", _question(fact, n + k), fact.value)


def _question(fact: Fact, turn: int) -> str:
    keyed = [t.format(topic=fact.topic, key=fact.key) for t in _KEYED] if fact.key else []
    cloze = []
    if fact.sentence:
        at = fact.at
        masked = fact.sentence[:at] + "___" + fact.sentence[at + len(fact.value) :]
        prefix = fact.sentence[:at].rstrip()
        cloze = [
            t.format(topic=fact.topic, masked=masked, prefix=prefix)
            for t in _CLOZE
            if prefix or "{prefix}" not in t  # a value that opens its sentence has nothing to complete
        ]
    # Interleave so that two framings of one fact are one keyed and one fill-in-the-blank where both exist.
    framings = [q for pair in zip(keyed, cloze, strict=False) for q in pair] + keyed[len(cloze) :] + cloze[len(keyed) :]
    return framings[turn % len(framings)]
