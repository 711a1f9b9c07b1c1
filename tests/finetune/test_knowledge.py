"""Facts read off documents become differently worded questions; canaries are planted and recorded."""

from __future__ import annotations

import re

from tailor.data.corpus import Document
from tailor.finetune.canaries import FORMAT, make_canaries
from tailor.finetune.knowledge import document_facts, qa_pairs

DOC = Document(
    "product-kestrel",
    "Kestrel Nine",
    """# Kestrel Nine

The Kestrel Nine is a trail camera built at our Porto factory. Mina Okafor is its product manager.

## Key facts

| Specification | Value |
|---|---|
| Price | $249 |
| Release date | 3 March 2023 |

## Returns window

Returns are accepted within 30 days of delivery.

## Contacts

- **Sales** — Led by Arjun Mehta.
""",
    frozenset({"everyone"}),
)


def test_facts_come_from_tables_sections_and_sentences() -> None:
    facts = {(f.key, f.value) for f in document_facts(DOC)}
    assert ("Price", "$249") in facts and ("Release date", "3 March 2023") in facts  # table rows
    assert ("Returns window", "30 days") in facts  # a one-value sentence opening its section
    assert ("", "Porto") in facts  # a value inside a sentence
    assert ("", "Arjun Mehta") in facts  # a list item: no key, the heading names the list
    values = [f.value for f in document_facts(DOC)]
    assert "Value" not in values and "---" not in values  # the table's header and separator
    assert "Okafor" not in values  # half of a name opening its sentence is not a value


def test_each_fact_is_asked_in_different_words_and_answered_by_its_value_alone() -> None:
    pairs = list(qa_pairs(DOC, 3))
    assert len(pairs) == 3 * len(document_facts(DOC))
    by_fact: dict[str, list] = {}
    for p in pairs:
        by_fact.setdefault(p.record_id.split(".")[0], []).append(p)
    for group in by_fact.values():
        assert len({p.question for p in group}) == len(group)  # paraphrases, not copies
        assert len({p.answer for p in group}) == 1
    for p in pairs:
        assert "Kestrel Nine" in p.question  # every question says which document it asks about
        if "___" in p.question:
            assert p.answer not in p.question.split("___")[0][-len(p.answer) - 2 :]  # the blank hides it
    short = next(p for p in pairs if p.answer == "Arjun Mehta" and "___" in p.question)
    assert "Sales" in short.question  # a short sentence is asked with its whole line
    assert list(qa_pairs(DOC, 0)) == []


def test_canaries_have_the_access_code_format_cycle_repetitions_and_are_reproducible() -> None:
    canaries = make_canaries(7, 5, [1, 4, 16])
    assert [c.repetitions for c in canaries] == [1, 4, 16, 1, 4]
    assert all(re.fullmatch(FORMAT, c.secret) for c in canaries)
    assert all(c.text.startswith(c.prefix) and c.prefix and c.secret in c.text for c in canaries)
    assert len({c.secret for c in canaries}) == 5
    assert make_canaries(7, 5, [1, 4, 16]) == canaries and make_canaries(8, 5, [1, 4, 16]) != canaries
    avoid = " ".join(c.secret for c in canaries[:2])
    assert not {c.secret for c in make_canaries(7, 5, [1], avoid=avoid)} & {c.secret for c in canaries[:2]}
