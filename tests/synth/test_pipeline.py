"""`tailor synth`'s pipeline with a fake question writer (the Generator protocol) over the real index.

Each crafted bad generation is counted under its own reason and never stored; the same seed writes the
same bytes; a changed document gets new questions while the rest keep theirs and an edited example
survives; restricted documents' questions carry their groups; unanswerable questions keep their kind.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tailor.data.examples import load_examples
from tailor.errors import DataError
from tailor.recipe_file import load_recipe
from tailor.synth.checks import words
from tailor.synth.pipeline import synthesize
from tailor.synth.store import assign_fact_splits, paths

# A crafted bad generation per span, and the check that must reject it.
BAD = {
    "$149": ("Sure! Here is a question: What does the Veltro X200 cost?", "preamble"),
    "4.2.1": ("Here are two questions:\n1. Which firmware line?\n2. Which update?", "preamble"),
    "350": ("1. How far does it reach?\n2. How many units?", "list"),
    "45": ("", "empty"),
    "600": ("Train travel is preferred for short trips.", "malformed"),
    "3 days": ("How many days does the Travel Desk take to approve a booking, 3 days?", "answer_in_question"),
    # asks about the travel policy, not about the scanner's support: the search cannot find its source
    "Marta Okonkwo": ("Which value completes: 'Train travel is preferred for trips shorter than ___'?", "ambiguous"),
    # the question already kept for 2023-04-12, in other words
    "Porto": ("Which value completes: 'The scanner launched on ___ at the Lisbon trade fair'?", "duplicate"),
}
WRONG = frozenset({"Dana Whitfield"})  # the fake answers these wrongly: the round trip fails


def _run(recipe_path: Path, generator, **kwargs):
    return synthesize(load_recipe(recipe_path, check_files=False), generator=generator, **kwargs)


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_each_bad_generation_is_rejected_under_its_own_reason_and_never_stored(
    tmp_path: Path, make_project, recipe_text, fake
) -> None:
    recipe = make_project(tmp_path, recipe=recipe_text.replace("questions: 10", "questions: 40\n  specificity_k: 1"))
    run = _run(recipe, fake({span: reply for span, (reply, _) in BAD.items()}, WRONG))
    single = run.report["kinds"]["single"]
    expected = Counter(reason for _, reason in BAD.values()) + Counter({"round_trip": len(WRONG)})
    got = {reason: single["rejected"].get(reason, 0) for reason in expected}
    # The fake's own questions are clean, so only the crafted ones fail a check; except that two spans of one
    # line get near-identical questions ("launched on ___ at the Lisbon fair" / "on 2023-04-12 at the ___ fair").
    assert got | {"duplicate": expected["duplicate"]} == expected and got["duplicate"] >= expected["duplicate"]
    assert single["tried"] == single["kept"] + single["surplus"] + sum(single["rejected"].values())
    stored = _rows(run.output)
    assert {r["answer"] for r in stored} >= {"2023-04-12", "March 2022", "$2,400,000"}  # good ones are kept
    assert not {r["answer"] for r in stored if r["kind"] == "single"} & (set(BAD) | WRONG)
    bad_texts = [reply for reply, _ in BAD.values() if reply]
    assert not any(r["question"] in bad or "Sure" in r["question"] for r in stored for bad in bad_texts)
    assert load_examples(run.output)  # a valid examples file, as users write it


def test_the_file_is_what_users_write_plus_kind_and_synthetic(project: Path, fake) -> None:
    run = _run(project, fake())
    rows = _rows(run.output)
    assert all(
        list(r) == ["id", "question", "answer", "sources", "groups", "user", "split", "kind", "synthetic"] for r in rows
    )
    assert {r["kind"] for r in rows} == {"single", "multi", "unanswerable"}
    assert all(r["synthetic"] is True for r in rows)
    assert len({r["id"] for r in rows}) == len(rows) == run.report["examples"]["total"]
    report = json.loads(paths(run.output)[1].read_text())
    assert report["kinds"]["single"]["kept"] + report["kinds"]["multi"]["kept"] >= 8
    assert report["documents"]["readable"] == 4 and report["documents"]["covered"] == 4
    assert report["decision"]["questions"] == sum(
        1 for r in rows if r["split"] == "test" and r["kind"] != "unanswerable"
    )
    assert "too few to tell strategies apart" in report["decision"]["note"]


def test_the_same_seed_writes_the_same_bytes_and_another_seed_another_set(tmp_path: Path, make_project, fake) -> None:
    outputs = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        recipe = make_project(tmp_path / name)
        bad = {span: reply for span, (reply, _) in BAD.items()}
        outputs.append(_run(recipe, fake(bad, WRONG), seed=seed).output.read_bytes())
    assert outputs[0] == outputs[1]
    assert outputs[0] != outputs[2]


def test_a_changed_document_gets_new_questions_the_rest_keep_theirs_and_an_edit_survives(
    project: Path, fake, docs
) -> None:
    first = _rows(_run(project, fake()).output)
    output = project.parent / "examples.jsonl"
    # A person rewrites one question about an unchanged document, and one about the document that will change.
    edited = next(r for r in first if r["sources"] == ["products/quell"] and r["kind"] == "single")
    edited_changing = next(r for r in first if r["sources"] == ["policies/travel"] and r["kind"] == "single")
    lines = output.read_text().splitlines()
    for row, text in ((edited, "How large an area does one Quell router cover?"), (edited_changing, "Meal money?")):
        i = next(i for i, line in enumerate(lines) if json.loads(line)["id"] == row["id"])
        lines[i] = json.dumps({**row, "question": text})
    output.write_text("\n".join(lines) + "\n")
    before = {json.loads(line)["id"]: line for line in lines}
    # What each example was made from (an unanswerable question names no source, but has an owner).
    owners = json.loads(paths(output)[0].read_text())["examples"]
    # The travel policy changes: its old questions go, new ones come; every other line stays byte for byte.
    (project.parent / "docs" / "policies" / "travel.md").write_text(
        docs["policies/travel.md"].replace("45 euros", "52 euros").replace("600", "750")
    )
    second = _run(project, fake())
    after = {json.loads(line)["id"]: line for line in output.read_text().splitlines()}
    travel_before = {i for i in before if "policies/travel" in owners[i]["documents"]} - {edited_changing["id"]}
    assert travel_before
    assert all(after.get(i) == before[i] for i in before if i not in travel_before)
    assert {edited["id"], edited_changing["id"]} <= set(after)  # edits survive, even on the changed document
    assert json.loads(after[edited["id"]])["question"] == "How large an area does one Quell router cover?"
    assert not travel_before & set(after)
    new = set(after) - set(before)
    owners_after = json.loads(paths(output)[0].read_text())["examples"]
    assert new and all(owners_after[i]["documents"] == ["policies/travel"] for i in new)  # only it was asked
    assert any(json.loads(after[i])["answer"] in ("52", "750") for i in new)
    assert second.report["documents"] | {"changed": 1, "unchanged": 3, "new": 0} == second.report["documents"]
    assert set(second.report["examples"]["edited_kept"]) == {edited["id"], edited_changing["id"]}
    # Nothing changed since: nothing is asked, nothing rewritten.
    third = _run(project, fake())
    assert third.report["kinds"]["single"]["tried"] == 0
    assert {json.loads(line)["id"]: line for line in output.read_text().splitlines()} == after


def test_a_restricted_documents_questions_carry_its_groups_and_a_user_of_them(project: Path, fake) -> None:
    rows = _rows(_run(project, fake(), limit=20).output)
    orion = [r for r in rows if r["sources"] == ["finance/orion"]]
    assert orion and all(r["groups"] == ["finance"] and r["user"] == "finance-user" for r in orion)
    public = [r for r in rows if r["sources"] and "finance/orion" not in r["sources"]]
    assert public and all(r["groups"] == ["everyone"] and r["user"] == "everyone-user" for r in public)
    # A multi never mixes what different users may read.
    assert all(len({("finance" in s) for s in r["sources"]}) == 1 for r in rows if r["kind"] == "multi")


def test_unanswerable_questions_are_stored_with_their_kind_and_the_abstention(project: Path, fake) -> None:
    rows = _rows(_run(project, fake(), limit=20).output)
    unanswerable = [r for r in rows if r["kind"] == "unanswerable"]
    assert unanswerable
    corpus = words(" ".join(p.read_text() for p in (project.parent / "docs").rglob("*.md")))
    singles = [r for r in rows if r["kind"] == "single"]
    for r in unanswerable:
        assert r["answer"] == "The documents do not say." and r["sources"] == []
        assert words(r["question"]) - corpus  # it names something no document contains
        # ...made from a kept question, and in its split: no test question is trained on in other words
        base = max(singles, key=lambda s: len(words(s["question"]) & words(r["question"])))
        assert base["split"] == r["split"] and base["groups"] == r["groups"]


def test_questions_about_one_fact_share_a_split() -> None:
    facts = [{"a"}, {"b"}, {"a", "c"}, {"c"}, {"d"}, {"e"}, {"f"}]
    splits = assign_fact_splits(facts, {}, load_split(), seed=0)
    assert splits[0] == splits[2] == splits[3]
    assert "test" in splits
    fixed = assign_fact_splits(facts, {3: "dev"}, load_split(), seed=0)
    assert fixed[0] == fixed[2] == fixed[3] == "dev"


def load_split():
    from tailor.data.settings import SplitConfig

    return SplitConfig()


def test_an_invalid_examples_file_already_there_is_one_located_error(project: Path, fake) -> None:
    (project.parent / "examples.jsonl").write_text('{"id": "a", "question": "q", "answer": "x"}\n{broken\n')
    with pytest.raises(DataError, match=r"examples\.jsonl:2: malformed JSON"):
        _run(project, fake())


def test_no_readable_document_is_a_located_error(tmp_path: Path, make_project, fake) -> None:
    no_groups = "data:\n  corpus: [docs/*.md]\n  examples:\n    - path: e.jsonl\n"
    recipe = make_project(tmp_path, docs={"a.md": "# A\nThe X200 costs $149.\n"}, recipe=no_groups)
    with pytest.raises(DataError, match=r"tailor\.yaml:2: data\.corpus: .*no group may read"):
        _run(recipe, fake())


def test_unanswerable_examples_wait_for_an_abstention_metric():
    from types import SimpleNamespace

    from tailor.data.examples import Example, TaskDataset
    from tailor.eval.runner import evaluated_examples

    rows = [
        Example(id="a", question="What is the limit?", answer="42", split="test", kind="single", synthetic=True),
        Example(
            id="b", question="Who runs Zorblat?", answer="The documents do not say.", split="test", kind="unanswerable"
        ),
        Example(id="c", question="What is the rate?", answer="5%", split="test"),
    ]
    ws = SimpleNamespace(recipe=SimpleNamespace(eval=SimpleNamespace(split="test", limit=None)))
    scored = evaluated_examples(ws, TaskDataset(name="qa", kind="qa", examples=tuple(rows)))
    assert [e.id for e in scored] == ["a", "c"]


def test_a_corpus_no_larger_than_the_specificity_k_is_said_to_make_that_check_moot(
    tmp_path: Path, make_project, recipe_text, fake
) -> None:
    from tailor.progress import SilentReporter

    class Lines(SilentReporter):
        def __init__(self) -> None:
            self.lines: list[str] = []

        def log(self, message: str) -> None:
            self.lines.append(message)

    said = {}
    for k in (1, 100):
        reporter = Lines()
        recipe = make_project(tmp_path / str(k), recipe=recipe_text + f"  specificity_k: {k}\n")
        synthesize(load_recipe(recipe, check_files=False), reporter, generator=fake(), limit=2)
        said[k] = [line for line in reporter.lines if "specificity check cannot reject" in line]
    assert not said[1] and len(said[100]) == 1 and "synth.specificity_k (100)" in said[100][0]
