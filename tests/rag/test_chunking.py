"""Chunking: sizes in tokens, structure kept, overlap at boundaries, every word kept."""

from __future__ import annotations

import itertools
import re

import pytest

from tailor.rag.chunking import chunk_text


def words(text: str) -> int:
    return len(text.split())


DOC = """Intro paragraph about the Veltro X200 router.

## Specifications

- Price: $149
- Weight: 320 g

## Warranty

The warranty lasts two years. It covers parts and labour. Returns are accepted within 30 days.

### Exclusions

Water damage is not covered. Neither is misuse.
"""


def test_sections_become_heading_paths() -> None:
    chunks = chunk_text("Veltro X200", DOC, size=60, overlap=0, count=words)
    heads = [c.text.splitlines()[0] for c in chunks]
    assert heads == [
        "Veltro X200",
        "Veltro X200 › Specifications",
        "Veltro X200 › Warranty",
        "Veltro X200 › Warranty › Exclusions",
    ]
    assert "- Price: $149\n- Weight: 320 g" in chunks[1].text
    assert [c.position for c in chunks] == [0, 1, 2, 3]


@pytest.mark.parametrize("size", [12, 20, 40])
def test_no_chunk_exceeds_its_size_and_no_word_is_lost(size: int) -> None:
    long = "\n\n".join(f"Sentence {i} of paragraph {p} says something useful here." for p in range(5) for i in range(6))
    chunks = chunk_text("Title", long, size=size, overlap=0, count=words)
    assert all(words(c.text) <= size for c in chunks)
    body = " ".join(" ".join(c.text.split()[1:]) for c in chunks)  # drop the heading word "Title"
    assert re.findall(r"\w+", body) == re.findall(r"\w+", long)


def test_overlap_repeats_whole_units_within_a_section() -> None:
    text = " ".join(f"Fact number {i} is stated here." for i in range(12))
    chunks = chunk_text("T", text, size=20, overlap=8, count=words)
    assert len(chunks) > 2
    for a, b in itertools.pairwise(chunks):
        last_sentence = a.text.split("\n", 1)[1].split("\n\n")[-1]
        assert last_sentence in b.text  # the boundary sentence is whole in the next chunk too


def test_a_single_huge_word_run_is_split_by_words() -> None:
    text = " ".join(f"w{i}" for i in range(100))
    chunks = chunk_text("T", text, size=15, overlap=0, count=words)
    assert all(words(c.text) <= 15 for c in chunks)
    assert sum(words(c.text) - 1 for c in chunks) == 100


def test_real_tokenizer_counts(real_generator) -> None:
    count = real_generator.count_tokens
    chunks = chunk_text("Veltro X200", DOC * 20, size=64, overlap=8, count=count)
    assert all(count(c.text) <= 64 for c in chunks)
