"""Held general text for forgetting: never text the user's documents contain."""

from __future__ import annotations

import pytest

from tailor.eval.held_text import SHINGLE, Source, held_text, python_reference, shingles


@pytest.fixture(scope="module")
def reference() -> list[str]:
    return python_reference()


def test_documents_about_something_else_keep_pythons_reference_whole(reference) -> None:
    held = held_text(["Our refund policy: customers may return a product within 30 days of delivery."])
    assert held.source == "python-reference" and list(held.paragraphs) == reference
    assert held.note == "held text: the prose of Python's reference manual (pydoc_data.topics)"


def test_a_few_copied_paragraphs_are_dropped_and_counted(reference) -> None:
    copied = reference[:3]
    held = held_text([f"Notes from the team.\n\n{p}" for p in copied])
    assert held.source == "python-reference"
    assert not set(copied) & set(held.paragraphs) and len(held.paragraphs) == len(reference) - 3
    assert f"3 of its {len(reference)} paragraphs dropped as seen in your documents" in held.note


def test_documents_that_contain_the_reference_get_other_held_text_and_the_note_says_why(reference) -> None:
    from pydoc_data.topics import topics

    held = held_text(topics.values())  # a team fine-tuning on Python's own documentation
    assert held.source == "synthetic-company" and len(held.paragraphs) >= 48  # the full mode's passages
    assert "documents of companies tailor invents" in held.note
    assert f"not python-reference: your documents contain {len(reference)} of its {len(reference)}" in held.note
    assert not shingles(held.paragraphs) & shingles(topics.values())


def test_when_every_source_overlaps_the_least_seen_is_used_without_its_seen_paragraphs() -> None:
    a = Source("a", "source a", lambda: ["one two three four five six seven eight nine", "alpha " * 20])
    b = Source("b", "source b", lambda: ["one two three four five six seven eight nine", "beta " * 20, "gamma " * 20])
    held = held_text(["one two three four five six seven eight nine", "alpha " * 20], (a, b))
    assert held.source == "b" and held.paragraphs == ("beta " * 20, "gamma " * 20)
    assert (
        "every source overlaps your documents" in held.note and "not a: your documents contain 2 of its 2" in held.note
    )


def test_shingles_are_runs_of_words_ignoring_case_and_punctuation() -> None:
    words = [f"w{i}" for i in range(SHINGLE)]
    assert shingles([" ".join(words)]) == shingles([", ".join(w.upper() for w in words) + "."])
    assert not shingles([" ".join(words[:-1])])  # one word short of a run
