"""Examples files and corpus loading: splits, kinds, access groups (fail closed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tailor.config import Recipe
from tailor.data.corpus import load_corpus
from tailor.data.examples import Example, assign_splits, load_datasets
from tailor.errors import DataError


def _recipe(tmp_path: Path, **data) -> Recipe:
    return Recipe.model_validate({"data": {"examples": [{"path": "qa.jsonl"}], **data}}).with_base_dir(tmp_path)


def _write_examples(tmp_path: Path, rows: list[dict]) -> None:
    (tmp_path / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_hash_splits_are_stable_when_examples_are_added() -> None:
    split = Recipe.model_validate({"data": {"examples": [{"path": "x"}]}}).data.split
    few = assign_splits([Example(id=f"e{i}", question="q", answer="a") for i in range(50)], split, seed=3)
    more = assign_splits([Example(id=f"e{i}", question="q", answer="a") for i in range(500)], split, seed=3)
    assert [e.split for e in few] == [e.split for e in more[:50]]
    shares = {s: sum(e.split == s for e in more) / 500 for s in ("train", "dev", "test")}
    assert shares["train"] == pytest.approx(0.5, abs=0.07) and shares["test"] == pytest.approx(0.3, abs=0.07)


def test_dataset_kind_labels_and_default_groups(tmp_path: Path) -> None:
    _write_examples(
        tmp_path,
        [
            {"id": str(i), "question": "m", "answer": lab, "label": lab}
            for i, lab in enumerate(["a", "b", "a", "c"] * 5)
        ],
    )
    (ds,) = load_datasets(_recipe(tmp_path, default_groups=["everyone"]))
    assert ds.kind == "classify" and ds.labels == ("a", "b", "c")
    assert all(e.groups == ("everyone",) for e in ds.examples)


def test_classification_needs_two_labels(tmp_path: Path) -> None:
    _write_examples(tmp_path, [{"id": str(i), "question": "m", "answer": "a", "label": "a"} for i in range(9)])
    with pytest.raises(DataError, match="at least 2 labels"):
        load_datasets(_recipe(tmp_path))


def _doc(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_groups_from_front_matter_then_rules_then_default(tmp_path: Path) -> None:
    _doc(tmp_path / "docs/fin/budget.md", "---\ndoc_id: budget\ngroups: [finance]\n---\n# Budget\nSecret.\n")
    _doc(tmp_path / "docs/fin/plan.md", "# Plan\nBy rule.\n")
    _doc(tmp_path / "docs/open/faq.txt", "FAQ text.\n")
    recipe = _recipe(tmp_path, corpus=["docs/**/*"], access=[{"glob": "docs/fin/*", "groups": ["finance", "board"]}])
    docs = {d.doc_id: d for d in load_corpus(recipe)}
    assert docs["budget"].groups == {"finance"} and docs["budget"].title == "Budget"
    assert docs["fin/plan"].groups == {"finance", "board"}
    assert docs["open/faq"].groups == frozenset()  # no rule, no default: visible to nobody
    assert not docs["open/faq"].visible_to({"everyone", "finance"})
    opened = {d.doc_id: d for d in load_corpus(_recipe(tmp_path, corpus=["docs/**/*"], default_groups=["everyone"]))}
    assert opened["open/faq"].visible_to({"everyone"})
    assert opened["fin/plan"].groups == {"everyone"}  # without the rule, the default applies


def test_duplicate_doc_ids_skip_the_later_file(tmp_path: Path) -> None:
    _doc(tmp_path / "a.md", "---\ndoc_id: same\n---\nOne.\n")
    _doc(tmp_path / "b.md", "---\ndoc_id: same\n---\nTwo.\n")
    with pytest.warns(UserWarning, match=r"b\.md: doc_id: 'same' also used by .*a\.md, which is kept"):
        docs = load_corpus(_recipe(tmp_path, corpus=["*.md"]))
    assert [(d.doc_id, d.text) for d in docs] == [("same", "One.")]
