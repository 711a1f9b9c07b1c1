"""Held general text for the forgetting suite: prose no training run has seen, checked against the corpus.

Forgetting is measured on text the fine-tuning never saw. If that text is in the user's documents (a
team fine-tuning on Python's documentation, scored on Python's reference manual), training on it makes
it *more* predictable and the suite would report "negative forgetting". So each source of held text is
checked against the corpus before it is used: a paragraph that shares a run of :data:`SHINGLE` words
with any document counts as seen and is dropped; a source with more than :data:`MAX_SEEN` of its
paragraphs seen is not used at all, and the next one is tried:

1. ``python-reference``: the prose of Python's reference manual (``pydoc_data.topics``, shipped with
   every Python): general English about a domain few recipes train on;
2. ``synthetic-company``: the documents of companies tailor invents (its demo world, at seeds of their
   own): policies, directories and product sheets, another domain again.

When every source is mostly seen, the one with the most unseen paragraphs is used, and the note says so.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

SHINGLE = 8  # words in a run that two texts share only when one was copied from the other
MAX_SEEN = 0.05  # share of a source's paragraphs the corpus may contain before another source is used
PARAGRAPH_CHARS = 300  # a paragraph this long is prose, not a grammar rule or an example
_WORLD_SEEDS = (7919, 7920, 7921, 7922)  # held companies, none the demo's (seed 0)
_COMPANY_PARAGRAPH_CHARS = 800  # its lines are short: joined until a passage of the full mode's length fits


@dataclass(frozen=True)
class Source:
    name: str
    description: str
    paragraphs: Callable[[], list[str]]


@dataclass(frozen=True)
class HeldText:
    """The paragraphs to score, where they come from, and what was checked, in words."""

    source: str
    paragraphs: tuple[str, ...]
    note: str


def python_reference() -> list[str]:
    """Paragraphs of prose of Python's reference manual, in a fixed order."""
    from pydoc_data.topics import topics

    return [
        " ".join(p.split())
        for name in sorted(topics)
        for p in topics[name].split("\n\n")
        if len(p) >= PARAGRAPH_CHARS and not p.startswith((" ", "*", "="))
    ]


def _synthetic_company() -> list[str]:
    from tailor.data.world import generate_world

    worlds = [generate_world(seed, "medium") for seed in _WORLD_SEEDS]
    # Rendered documents are markdown: their text is every line but headings and tables, without the
    # markup; customers' messages follow each company's documents.
    lines = [
        " ".join(line.replace("**", "").lstrip("-* ").split())
        for world in worlds
        for text in [*(d.text for d in world.documents), *(m.text for m in world.messages)]
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith(("#", "|"))
    ]
    paragraphs, current = [], ""
    for line in lines:  # short lines joined into paragraphs long enough for a passage
        current = f"{current} {line}".strip()
        if len(current) >= _COMPANY_PARAGRAPH_CHARS:
            paragraphs.append(current)
            current = ""
    return paragraphs


SOURCES: tuple[Source, ...] = (
    Source("python-reference", "the prose of Python's reference manual (pydoc_data.topics)", python_reference),
    Source("synthetic-company", "documents of companies tailor invents (seeds 7919-7922)", _synthetic_company),
)


def held_text(corpus: Iterable[str], sources: Sequence[Source] = SOURCES) -> HeldText:
    """The first source of ``sources`` that ``corpus`` (the documents' texts) barely contains, without the
    paragraphs it does contain."""
    seen = shingles(corpus)
    tried: list[tuple[Source, list[str], int]] = []
    unseen_of: dict[str, tuple[str, ...]] = {}
    for source in sources:
        paragraphs = source.paragraphs()
        unseen = unseen_of[source.name] = tuple(p for p in paragraphs if not shingles([p]) & seen)
        share = 1 - len(unseen) / len(paragraphs) if paragraphs else 1.0
        if share <= MAX_SEEN:
            return HeldText(source.name, unseen, _note(source, tried, len(paragraphs) - len(unseen), paragraphs))
        tried.append((source, paragraphs, len(paragraphs) - len(unseen)))
    source, paragraphs, seen_count = max(tried, key=lambda t: len(unseen_of[t[0].name]))
    return HeldText(source.name, unseen_of[source.name], _note(source, tried, seen_count, paragraphs, fallback=True))


def _note(
    source: Source, tried: list[tuple[Source, list[str], int]], seen: int, paragraphs: list[str], fallback=False
) -> str:
    why = "; ".join(
        f"not {s.name}: your documents contain {n} of its {len(p)} paragraphs ({n / max(len(p), 1):.0%})"
        for s, p, n in tried
        if s is not source
    )
    used = f"held text: {source.description}"
    dropped = f"{seen} of its {len(paragraphs)} paragraphs dropped as seen in your documents" if seen else ""
    last = "every source overlaps your documents; the one with the most unseen paragraphs is used" if fallback else ""
    return "; ".join(part for part in (used, dropped, why, last) if part)


def shingles(texts: Iterable[str]) -> set[int]:
    """Hashes of every run of :data:`SHINGLE` lower-cased words in ``texts``."""
    out: set[int] = set()
    for text in texts:
        words = re.findall(r"\w+", text.lower())
        out.update(hash(tuple(words[i : i + SHINGLE])) for i in range(len(words) - SHINGLE + 1))
    return out


def sample(paragraphs: Sequence[str], seed: int) -> list[str]:
    """``paragraphs`` in an order fixed by ``seed``."""
    out = list(paragraphs)
    random.Random(f"{seed}/general-text").shuffle(out)
    return out
