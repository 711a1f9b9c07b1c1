"""Structure-aware chunking: sections by heading, then paragraphs, then sentences, then words.

Sizes are counted in the generator's own tokens, so ``chunk_tokens`` means what the prompt budget
means. A chunk never crosses a section boundary; each starts with its section's heading path
("Title › Section") so that a chunk read alone still says what it is about.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_HEADING = re.compile(r"^(#{1,6})\s+(.*\S)\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")

CountTokens = Callable[[str], int]


@dataclass(frozen=True)
class ChunkText:
    text: str  # heading path line + body
    position: int  # order within the document


def _sections(title: str, text: str) -> list[tuple[str, list[str]]]:
    """(heading path, paragraphs) per section; the document title is the root of every path."""
    sections: list[tuple[str, list[str]]] = []
    path: list[tuple[int, str]] = []
    paragraphs: list[str] = []
    current: list[str] = []

    def flush_paragraph() -> None:
        if current:
            paragraphs.append("\n".join(current).strip())
            current.clear()

    def flush_section() -> None:
        flush_paragraph()
        names = [title] + [h for _, h in path if h != title]
        if any(p for p in paragraphs):
            sections.append((" › ".join(names), [p for p in paragraphs if p]))
        paragraphs.clear()

    for line in text.splitlines():
        m = _HEADING.match(line)
        if m:
            flush_section()
            level = len(m.group(1))
            path[:] = [(lv, h) for lv, h in path if lv < level] + [(level, m.group(2))]
        elif line.strip():
            current.append(line.rstrip())
        else:
            flush_paragraph()
    flush_section()
    return sections


def _pieces(paragraph: str, size: int, count: CountTokens) -> list[str]:
    """A paragraph as units of at most ``size`` tokens: whole, else lines or sentences, else word windows."""
    if count(paragraph) <= size:
        return [paragraph]
    lines = paragraph.splitlines()
    parts = lines if len(lines) > 1 else _SENTENCE_END.split(paragraph)
    if len(parts) > 1:
        return [piece for part in parts for piece in _pieces(part, size, count)]
    words, out, current = paragraph.split(), [], []
    for word in words:
        if current and count(" ".join([*current, word])) > size:
            out.append(" ".join(current))
            current = []
        current.append(word)
    if current:
        out.append(" ".join(current))
    return out


def chunk_text(title: str, text: str, size: int, overlap: int, count: CountTokens) -> list[ChunkText]:
    """Split a document into chunks of at most ``size`` tokens (heading line included).

    Consecutive chunks of one section share up to ``overlap`` tokens of whole units (sentences,
    lines or paragraphs), so a fact on a boundary is whole in at least one chunk.
    """
    chunks: list[ChunkText] = []
    for heading, paragraphs in _sections(title, text):
        room = max(8, size - count(heading) - 1)
        # A unit's cost includes the paragraph break that joins it to the next one.
        units = [(u, count(u) + 1) for p in paragraphs for u in _pieces(p, room - 1, count)]
        current: list[tuple[str, int]] = []
        for unit in units:
            if current and sum(n for _, n in current) + unit[1] > room:
                chunks.append(ChunkText(_join(heading, current), len(chunks)))
                current = _tail(current, overlap) if unit[1] + overlap <= room else []
            current.append(unit)
        if current:
            chunks.append(ChunkText(_join(heading, current), len(chunks)))
    return chunks


def _tail(units: list[tuple[str, int]], overlap: int) -> list[tuple[str, int]]:
    kept: list[tuple[str, int]] = []
    for unit in reversed(units):
        if sum(n for _, n in kept) + unit[1] > overlap:
            break
        kept.insert(0, unit)
    return kept


def _join(heading: str, units: list[tuple[str, int]]) -> str:
    return heading + "\n" + "\n\n".join(u for u, _ in units)
