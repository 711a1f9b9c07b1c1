"""bench/pydoc_synth.py: a person's reading of the kept questions, counted, and tailor's reply checks replayed
over it; bench/feature_tables.py's tables of the ladder's other suites."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
if str(ROOT / "bench") not in sys.path:
    sys.path.append(str(ROOT / "bench"))  # as when a script runs: bench/ on the path

import feature_tables  # noqa: E402
import pydoc_synth  # noqa: E402

READ = [
    {
        "question": "What exception is raised when a name is not bound?",
        "answer": "NameError",
        "kind": "single",
        "accept": True,
    },
    {
        "question": "What is the language of the given text?",
        "answer": "English",
        "kind": "single",
        "accept": False,
        "why": "points at the passage",
    },
    {
        "question": "What is the term for the action of raising an exception?",
        "answer": "raised",
        "kind": "single",
        "accept": False,
        "why": "gives its answer away",
    },
    {
        "question": "What clause is skipped if the loop has one?",
        "answer": "else",
        "kind": "single",
        "accept": False,
        "why": "does not name its subject",
    },
    {
        "question": "What is the last method called krozisk?",
        "answer": "The documents do not say.",
        "kind": "unanswerable",
        "accept": False,
        "why": "nonsense",
    },
]


def test_the_reply_checks_are_replayed_over_every_question_a_person_read() -> None:
    replay = pydoc_synth.replay_checks(READ)
    # the passage-pointing and the word-form questions are caught; the vague one and the accepted one are not
    assert replay == {"rejected_by_person_caught": "2 of 4", "accepted_by_person_caught": "0 of 1"}


def test_a_review_counts_only_the_kept_questions_it_has_read(tmp_path: Path, monkeypatch) -> None:
    review = tmp_path / "review.jsonl"
    review.write_text("".join(json.dumps(r) + "\n" for r in READ), encoding="utf-8")
    monkeypatch.setattr(pydoc_synth, "REVIEW", review)
    kept = [{"question": r["question"], "kind": r["kind"]} for r in READ[:3]] + [
        {"question": "Not read yet?", "kind": "single"}
    ]
    counted = pydoc_synth.review(kept)
    assert (counted["read"], counted["of"], counted["accepted"]) == (3, 4, 1)
    assert counted["accepted_by_kind"] == {"single": "1 of 3"}
    assert counted["rejected_because"] == {"points at the passage": 1, "gives its answer away": 1}
    monkeypatch.setattr(pydoc_synth, "REVIEW", tmp_path / "absent.jsonl")
    assert pydoc_synth.review(kept) is None


def test_each_suite_gets_a_table_of_its_figures_with_their_sizes() -> None:
    record = {
        "command": "python bench/model_ladder.py",
        "recipe": {"models": {"a": {}, "b": {}}},
        "n_test": 36,
        "suites": {
            "freshness": {
                "rag@a": {
                    "changed_f1_before": {"value": 0.0, "n": 8},
                    "changed_f1_after": {"value": 0.75, "n": 8},
                    "update_s": {"value": 2.0, "n": 1},
                },
                "baseline@a": {"changed_f1_before": {"value": 0.0, "n": 8}},
            },
            "newsuite": {"rag@a": {"some_rate": {"value": 0.5, "n": 4}}},
        },
    }
    text = feature_tables.ladder_suites(record, "ladder_x")
    assert text.startswith("`python bench/model_ladder.py` → `bench/results/ladder_x.json`; models a, b")
    assert "| candidate | changed_f1_before | changed_f1_after | update_s |" in text
    assert "| rag@a | 0.000 (n=8) | 0.750 (n=8) | 2.000 |" in text  # one measurement: no n shown
    assert "| baseline@a | 0.000 (n=8) | – | – |" in text  # a figure a candidate lacks
    assert "**newsuite**" in text and "| rag@a | 0.500 (n=4) |" in text  # a suite not listed: all its figures
    assert not feature_tables.ladder_suites(record, "ladder_x", with_source=False).startswith("`")
