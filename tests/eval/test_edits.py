"""Simulated edits: which answers can be edited, into what, and that only the copies change."""

from __future__ import annotations

import random

import pytest

from tailor.data.corpus import Document
from tailor.data.examples import Example
from tailor.eval.edits import apply_edits, edited_value, occurrences, plan_edits, value_kind

EVERYONE = frozenset({"everyone"})


def _doc(doc_id: str, text: str) -> Document:
    return Document(doc_id, doc_id, text, EVERYONE, content_hash=f"hash-{doc_id}")


def _example(i: str, answer: str, *sources: str, **fields) -> Example:
    return Example(id=i, question=f"What is fact {i}?", answer=answer, sources=sources, split="test", **fields)


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("2021-03-04", "date"),
        ("March 4, 2021", "date"),
        ("4 March 2021", "date"),
        ("1987", "year"),
        ("v2.4.1", "version"),
        ("3.11.2", "version"),
        ("3.11", "number"),
        ("$980", "number"),
        ("12,500", "number"),
        ("40%", "number"),
        ("150 ms", "number"),
        ("Alice Chen", "name"),
        ("SyntaxError", "name"),
        ("__init__", "name"),
        ("-O", "name"),
        ("5", None),  # a bare digit is everywhere
        ("the parser", None),  # prose, not a value
        ("Python objects", None),
        ("Director of Support", None),
    ],
)
def test_value_kind(value: str, kind: str | None) -> None:
    assert value_kind(value) == kind


def test_occurrences_are_whole_tokens() -> None:
    assert len(occurrences("1490 and 149.", "149")) == 1
    assert not occurrences("Python 3.11.2 is out", "3.11")
    assert len(occurrences("It cost $980, then $980.", "$980")) == 2
    assert not occurrences("Chenault", "Chen")


SOURCE = _doc(
    "d",
    "Alice Chen met Bob Stone in Porto. SyntaxError is raised. In 1987 it cost $980 and took 150 ms. "
    "Version 3.11.2 and v2.4.1 shipped on March 4, 2021; 12,500 users, 3.5% of them with -O.",
)
OTHER = _doc("e", "The team met Maria Lopez in Lisbon.\nTypeError and KeyError are raised too; -W warns.")


@pytest.mark.parametrize(
    "value", ["1987", "March 4, 2021", "v2.4.1", "3.11.2", "$980", "150 ms", "12,500", "3.5%", "Alice Chen", "-O"]
)
def test_an_edited_value_is_of_the_same_kind_and_new_to_its_document(value: str) -> None:
    kind = value_kind(value)
    for seed in range(5):
        new = edited_value(value, kind, random.Random(seed), [SOURCE, OTHER], SOURCE)
        assert new is not None and new != value and value_kind(new) == kind
        assert not occurrences(SOURCE.text, new)
    assert "," in edited_value("12,500", "number", random.Random(0), [SOURCE], SOURCE)  # written the same way
    assert edited_value("150 ms", "number", random.Random(0), [SOURCE], SOURCE).endswith(" ms")


def test_a_name_becomes_another_answer_of_its_shape_else_a_phrase_not_starting_a_sentence() -> None:
    new = edited_value("Porto", "name", random.Random(0), [SOURCE, OTHER], SOURCE, answers=["Porto", "Tallinn"])
    assert new == "Tallinn"
    # From the corpus: "Lisbon" (mid-sentence), never "The" (starts a sentence) or "TypeError" (starts a line).
    found = {edited_value("Porto", "name", random.Random(s), [SOURCE, OTHER], SOURCE) for s in range(20)}
    assert "Lisbon" in found and not found & {"The", "TypeError"}
    assert edited_value("Porto", "name", random.Random(0), [SOURCE], SOURCE) is None  # nothing of its shape


def test_plan_edits_one_per_document_only_specific_values_and_decided_by_the_seed() -> None:
    docs = [
        _doc("a", "The stipend is $300 a year. Ask Alice Chen."),
        _doc("b", "Payment is due in 45 days."),
        _doc("c", "Offices: 10, 10, 10 and 10 desks."),  # "10" four times: a common token
        _doc("d", "Nothing to see."),
    ]
    examples = [
        _example("stipend", "$300", "a"),
        _example("contact", "Alice Chen", "a"),  # same document as stipend: at most one of the two
        _example("due", "45 days", "b"),
        _example("desks", "10", "c"),
        _example("missing", "2019", "d"),  # not written in its source
        _example("nosource", "45 days"),  # no source to edit
        _example("unknown", "$300", "a", kind="unanswerable"),
    ]
    edits = plan_edits(examples, docs, limit=10, seed=0)
    assert sorted(e.doc_id for e in edits) == ["a", "b"]
    assert {e.example_id for e in edits} <= {"stipend", "contact", "due"}
    assert plan_edits(examples, docs, limit=10, seed=0) == edits
    assert len(plan_edits(examples, docs, limit=1, seed=0)) == 1


def test_apply_edits_changes_copies_of_the_edited_documents_only() -> None:
    docs = [_doc("a", "The stipend is $300; $300 a year."), _doc("b", "Payment is due in 45 days.")]
    (edit,) = plan_edits([_example("stipend", "$300", "a")], docs, limit=1, seed=0)
    assert edit.occurrences == 2
    new = apply_edits(docs, [edit])
    assert new[1] is docs[1]
    assert new[0].text == f"The stipend is {edit.new}; {edit.new} a year."
    assert new[0].content_hash != docs[0].content_hash and docs[0].text == "The stipend is $300; $300 a year."
