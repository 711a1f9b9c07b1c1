"""The synthetic world: deterministic, self-consistent ground truth, access groups, version 2 on disk."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from tailor.data.world import (
    DEPARTMENT_KEYS,
    ROUTING_LABELS,
    World,
    WorldSize,
    evolve_world,
    generate_world,
    qa_examples,
    routing_examples,
    size_preset,
    write_world,
)
from tailor.data.world_render import load_vocab
from tailor.errors import DataError

QA_KEYS = {"id", "question", "answer", "split", "user", "groups", "sources"}
SIZES = ("tiny", "small", "medium")


@pytest.fixture(scope="module")
def small() -> World:
    return generate_world(seed=11, size="small")


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_same_seed_writes_identical_files_and_another_seed_does_not(tmp_path):
    a = _files(write_world(generate_world(seed=5, size="tiny"), tmp_path / "a"))
    b = _files(write_world(generate_world(seed=5, size="tiny"), tmp_path / "b"))
    c = _files(write_world(generate_world(seed=6, size="tiny"), tmp_path / "c"))
    assert a == b
    assert a["qa.jsonl"] != c["qa.jsonl"]
    assert a["facts.jsonl"] != c["facts.jsonl"]


@pytest.mark.parametrize("name", SIZES)
def test_size_presets_give_their_counts(name):
    size = size_preset(name)
    world = generate_world(seed=2, size=name)
    n_dept = len(DEPARTMENT_KEYS)
    assert world.size == size
    assert [d.key for d in world.departments] == list(DEPARTMENT_KEYS)
    assert len(world.products) == size.products
    assert len(world.people) == n_dept * size.people_per_department
    assert len(world.policies) == n_dept * size.policies_per_department
    assert len(world.secrets) == n_dept * size.secrets_per_department
    assert len(world.messages) == size.messages
    kinds = Counter(d.kind for d in world.documents)
    assert kinds == {
        "overview": 1,
        "directory": n_dept,
        "product": size.products,
        "policy": len(world.policies),
        "secret": len(world.secrets),
    }


def test_presets_are_the_documented_ones():
    assert size_preset("tiny") == WorldSize(4, 2, 1, 1, 20, name="tiny")
    assert size_preset("small") == WorldSize(16, 3, 2, 1, 120, name="small")
    assert size_preset("medium") == WorldSize(60, 6, 3, 2, 400, name="medium")


def test_custom_size_works_and_bad_sizes_say_how_to_fix():
    world = generate_world(seed=1, size=WorldSize(2, 1, 0, 0, 5))
    assert len(world.products) == 2 and not world.policies and not world.secrets
    with pytest.raises(DataError, match="policies_per_department"):
        generate_world(seed=1, size=WorldSize(2, 1, 99, 0, 5))
    with pytest.raises(DataError, match="unknown preset 'huge'"):
        generate_world(size="huge")
    with pytest.raises(DataError, match="products must be an integer >= 1"):
        WorldSize(0, 1, 1, 1, 1)


def test_default_size_generates_in_under_a_second():
    start = time.perf_counter()
    generate_world(seed=123)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("name", ("small", "medium"))
def test_every_fact_value_is_written_in_its_source_document(seed, name):
    world = generate_world(seed=seed, size=name)
    text = {d.doc_id: d.text for d in world.documents}
    for fact in world.facts:
        assert fact.value in text[fact.doc_id], fact.fact_id
        assert 1 <= len(fact.value.split()) <= 4, fact.fact_id


def test_documents_read_naturally():
    for seed in range(5):
        for doc in generate_world(seed=seed, size="medium").documents:
            if doc.kind == "product":
                assert not re.search(r"\ba [aeiou]", doc.text), doc.doc_id
            assert "{" not in doc.text and "}" not in doc.text, doc.doc_id


def test_facts_per_entity_match_the_plan(small):
    per_subject = Counter(f.fact_id.rsplit("/", 1)[0] for f in small.facts)
    assert all(per_subject[f"product/{p.product_id}"] >= 5 for p in small.products)
    assert all(per_subject[f"person/{p.person_id}"] >= 2 for p in small.people)
    assert all(2 <= per_subject[f"policy/{p.policy_id}"] <= 4 for p in small.policies)
    assert all(per_subject[f"secret/{s.secret_id}"] == 1 for s in small.secrets)


def test_every_question_names_its_subject(small):
    facts = {f.fact_id: f for f in small.facts}
    for fact in small.facts:
        assert len(set(fact.question_templates)) >= 3
        assert all(fact.subject in q for q in fact.question_templates)
    for example in qa_examples(small):
        fact = facts[example["id"]]
        assert example["question"] in fact.question_templates
        assert fact.subject in example["question"]


def test_subjects_are_unambiguous(small):
    names = [p.name for p in small.products] + [p.name for p in small.people] + [p.title for p in small.policies]
    names += [s.subject for s in small.secrets] + [d.name for d in small.departments] + [small.org_name]
    assert len(names) == len(set(names))
    # A subject may not hide inside another one, or its question would name two things.
    assert not [(a, b) for a in names for b in names if a != b and a in b]


def test_example_dicts_have_exactly_the_schema(small):
    for example in qa_examples(small):
        assert set(example) == QA_KEYS
        assert example["sources"] and all(isinstance(s, str) for s in example["sources"])
        assert all(isinstance(example[k], str) for k in ("id", "question", "answer", "split", "user"))
    for example in routing_examples(small):
        assert set(example) == QA_KEYS | {"label"}
        assert example["answer"] == example["label"] and example["sources"] == []
    json.dumps(qa_examples(small) + routing_examples(small))  # JSON-ready


@pytest.mark.parametrize("examples", (qa_examples, routing_examples))
def test_splits_are_50_20_30_and_never_empty(examples):
    shares = Counter(e["split"] for e in examples(generate_world(seed=4, size="medium")))
    total = sum(shares.values())
    for split, share in (("train", 0.5), ("dev", 0.2), ("test", 0.3)):
        assert abs(shares[split] / total - share) < 0.02
    assert set(Counter(e["split"] for e in examples(generate_world(seed=4, size="tiny")))) == {
        "train",
        "dev",
        "test",
    }


def test_documents_carry_the_access_groups_of_their_kind(small):
    for doc in small.documents:
        if doc.kind in ("product", "overview", "directory"):
            assert doc.groups == ("everyone",)
        else:
            assert len(doc.groups) == 1 and doc.groups[0] in DEPARTMENT_KEYS
    assert small.users == {f"{d}-user": ["everyone", d] for d in DEPARTMENT_KEYS}


def test_example_users_can_read_their_sources(small):
    docs = {d.doc_id: d for d in small.documents}
    for example in qa_examples(small) + routing_examples(small):
        assert example["groups"] == small.users[example["user"]]
        for doc_id in example["sources"]:
            assert set(docs[doc_id].groups) & set(example["groups"]), example["id"]
            if "everyone" not in docs[doc_id].groups:
                assert example["user"] == f"{docs[doc_id].groups[0]}-user"
    # Shared documents are asked about by users of several departments, not always the same one.
    assert len({e["user"] for e in qa_examples(small)}) == len(DEPARTMENT_KEYS)


def test_secrets_live_only_in_their_department_documents(small):
    for secret in small.secrets:
        holders = [d for d in small.documents if secret.secret in d.text]
        assert [(d.kind, d.groups) for d in holders] == [("secret", (secret.department,))]
    assert len({s.secret for s in small.secrets}) == len(small.secrets)


def test_ids_are_unique():
    world = generate_world(seed=9, size="medium")
    for ids in (
        [d.doc_id for d in world.documents],
        [f.fact_id for f in world.facts],
        [e["id"] for e in qa_examples(world)],
        [e["id"] for e in routing_examples(world)],
        [p.product_id for p in world.products],
        [p.person_id for p in world.people],
        [p.policy_id for p in world.policies],
        [s.secret_id for s in world.secrets],
    ):
        assert len(ids) == len(set(ids))


@pytest.mark.parametrize("name", SIZES)
def test_routing_labels_are_balanced(name):
    world = generate_world(seed=8, size=name)
    labels = Counter(m.label for m in world.messages)
    assert set(labels) == set(ROUTING_LABELS)
    assert max(labels.values()) <= 0.4 * len(world.messages)
    assert len({m.text for m in world.messages}) == len(world.messages)


def test_people_names_come_from_their_vocab_group(small):
    groups = {g["origin"]: g for g in load_vocab()["people"]["name_groups"]}
    for person in small.people:
        first, last = person.name.split(" ", 1)
        assert first in groups[person.origin][person.gender] and last in groups[person.origin]["surnames"]


def test_evolve_leaves_input_unchanged_and_bumps_version(small):
    v2, _ = evolve_world(small)
    assert small == generate_world(seed=11, size="small")
    assert small.version == 1 and v2.version == 2
    assert evolve_world(small) == evolve_world(small)
    assert evolve_world(small, seed=1) != evolve_world(small, seed=2)


def test_evolve_reports_exactly_the_fact_differences(small):
    v2, changes = evolve_world(small, fraction=0.25)
    old = {f.fact_id: f.value for f in small.facts}
    new = {f.fact_id: f.value for f in v2.facts}
    expected = (
        {(i, "removed", old[i], None) for i in old.keys() - new.keys()}
        | {(i, "added", None, new[i]) for i in new.keys() - old.keys()}
        | {(i, "changed", old[i], new[i]) for i in old.keys() & new.keys() if old[i] != new[i]}
    )
    assert {(c.fact_id, c.kind, c.old, c.new) for c in changes} == expected
    assert {c.kind for c in changes} == {"changed", "added", "removed"}
    assert len(v2.products) == len(small.products)
    changed_products = {c.fact_id.split("/")[1] for c in changes if c.fact_id.startswith("product/")}
    assert 3 <= len(changed_products) <= 8  # ~25% of 16 repriced, plus one removed and one added
    assert any(c.fact_id.startswith("policy/") for c in changes)
    for c in changes:
        world = small if c.kind == "removed" else v2
        assert c.doc_id in {d.doc_id for d in world.documents}


def test_evolve_keeps_unchanged_documents_byte_identical(small):
    v2, changes = evolve_world(small)
    touched = {c.doc_id for c in changes}
    before = {d.doc_id: d.text for d in small.documents}
    for doc in v2.documents:
        if doc.doc_id in before and doc.doc_id not in touched:
            assert doc.text == before[doc.doc_id], doc.doc_id


def test_evolve_with_zero_fraction_changes_nothing_but_the_version(small):
    v2, changes = evolve_world(small, fraction=0)
    assert changes == [] and v2.facts == small.facts and v2.version == 2
    with pytest.raises(DataError, match="fraction"):
        evolve_world(small, fraction=1.5)


def test_write_world_writes_documents_with_front_matter_and_a_manifest(tmp_path, small):
    out = write_world(small, tmp_path)
    for doc in small.documents:
        path = tmp_path / "docs" / doc.groups[0] / f"{doc.doc_id}.md"
        _, meta, body = path.read_text(encoding="utf-8").split("---\n", 2)
        assert yaml.safe_load(meta) == {
            "doc_id": doc.doc_id,
            "title": doc.title,
            "groups": list(doc.groups),
            "kind": doc.kind,
            "world_version": 1,
        }
        assert body == "\n" + doc.text
    assert len(list((out / "docs").rglob("*.md"))) == len(small.documents)
    assert _read_jsonl(out / "qa.jsonl") == qa_examples(small)
    assert _read_jsonl(out / "routing.jsonl") == routing_examples(small)
    assert [r["fact_id"] for r in _read_jsonl(out / "facts.jsonl")] == [f.fact_id for f in small.facts]
    secrets = _read_jsonl(out / "secrets.jsonl")
    assert set(secrets[0]) == {"secret_id", "department", "kind", "secret", "doc_id"}
    manifest = json.loads((out / "world.json").read_text(encoding="utf-8"))
    assert manifest["seed"] == 11 and manifest["version"] == 1 and manifest["size"]["name"] == "small"
    assert manifest["counts"]["facts"] == len(small.facts)
    assert manifest["users"] == small.users
    assert not (out / "changes.jsonl").exists()


def test_writing_v2_over_v1_removes_the_discontinued_product(tmp_path, small):
    write_world(small, tmp_path)
    v2, changes = evolve_world(small)
    write_world(v2, tmp_path, changes)
    removed = {c.doc_id for c in changes if c.kind == "removed"}
    added = {c.doc_id for c in changes if c.kind == "added"}
    assert removed and added
    written = {p.stem for p in (tmp_path / "docs").rglob("*.md")}
    assert written == {d.doc_id for d in v2.documents}
    assert not removed & written and added <= written
    assert len(_read_jsonl(tmp_path / "changes.jsonl")) == len(changes)
    assert "world_version: 2" in next((tmp_path / "docs").rglob("*.md")).read_text(encoding="utf-8")
