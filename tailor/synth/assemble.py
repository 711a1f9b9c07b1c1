"""Kept questions → task examples (ids, access groups, asking user, split), and the run's report.

A question about a document carries that document's groups and is asked as a user of its first group
(``finance-user``), so the leakage suite can ask the same question as an outsider. Splits keep every
question about one fact (source + answer) together: new questions join the split an earlier question
about the same fact has; the rest are dealt out in the recipe's proportions (tailor.synth.store).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tailor.config import Recipe
from tailor.data.corpus import Document
from tailor.data.examples import Example, Split, assign_splits
from tailor.synth.questions import Written, fact_key
from tailor.synth.report import MIN_DECISION_QUESTIONS, Tally, decision_note
from tailor.synth.store import Carry, assign_fact_splits


def asker(groups: frozenset[str]) -> str:
    """The user a question is asked as: one of the first of its groups."""
    return f"{min(groups)}-user"


def example_id(written: Written, taken: set[str]) -> str:
    """``synth-<kind>-<hash of its passages and answer>``, unique among ``taken``."""
    base = "|".join([written.kind, *(p.chunk_id for p in written.passages), written.answer, written.question])
    for n in range(1000):
        digest = hashlib.sha256(f"{base}|{n}".encode()).hexdigest()[:10]
        candidate = f"synth-{written.kind}-{digest}"
        if candidate not in taken:
            return candidate
    raise RuntimeError("no free example id")  # 1000 collisions of a 40-bit hash: unreachable


def facts_of(example: Example) -> set[str]:
    """An existing example's facts: each source with each part of its answer (a multi's answer is "a; b")."""
    return {fact_key(s, part) for s in example.sources for part in example.answer.split("; ")}


def assemble(
    recipe: Recipe, carry: Carry, written: Sequence[Written], seed: int
) -> list[tuple[Example, tuple[str, ...]]]:
    """The new examples, each with the documents it was made from; splits decided with the kept rows."""
    taken = {e.id for e, _ in carry.rows}
    drafts = []
    for w in written:
        groups = w.groups
        example = Example(
            id=example_id(w, taken),
            question=w.question,
            answer=w.answer,
            sources=w.sources if w.kind != "unanswerable" else (),
            groups=tuple(sorted(groups)),
            user=asker(groups),
            kind=w.kind,
            synthetic=True,
        )
        taken.add(example.id)
        drafts.append((example, w))
    kept = [e for e, _ in carry.rows]
    # Kept rows without a split get theirs at load time from (recipe seed, id): the same here.
    fixed: dict[int, Split] = {
        i: e.split for i, e in enumerate(assign_splits(kept, recipe.data.split, recipe.seed)) if e.split
    }
    facts = [facts_of(e) or {f"id\x1f{e.id}"} for e in kept] + [set(w.facts) for _, w in drafts]
    splits = assign_fact_splits(facts, fixed, recipe.data.split, seed)[len(kept) :]
    return [(e.model_copy(update={"split": split}), w.sources) for (e, w), split in zip(drafts, splits, strict=True)]


def build_report(
    recipe: Recipe,
    output: Path,
    readable: dict[str, Document],
    carry: Carry,
    tally: Tally,
    examples: Sequence[Example],
    closed_book: dict[str, int] | None,
    seconds: float,
    seed: int,
) -> dict[str, Any]:
    """The report written beside the examples: counts at every check, per kind; documents; splits; timing."""
    kept = sum(tally.kept.values())
    synthetic = [e for e in examples if e.synthetic]
    covered = {s for e in synthetic for s in e.sources} | {d for docs in carry.owners.values() for d in docs}
    split = recipe.eval.split
    answerable = [e for e in examples if e.split == split and e.kind != "unanswerable"]
    n_decision = min(len(answerable), recipe.eval.limit or len(answerable))
    model, _ = recipe.writer_model()
    return {
        "output": str(output),
        "seed": seed,
        "model": model.model_dump(mode="json"),
        "settings": {
            "questions": recipe.synth.questions,
            "round_trip": recipe.synth.round_trip,
            "specificity_k": recipe.synth.specificity_k,
            "kinds": recipe.synth.kinds,
        },
        "kinds": tally.to_json(),
        "documents": {"readable": len(readable), "covered": len(covered & set(readable)), **carry.counts},
        "examples": {
            "total": len(examples),
            "new": kept,
            "by_split": dict(sorted(Counter(e.split or "unassigned" for e in examples).items())),
            "by_kind": dict(sorted(Counter(e.kind or "unmarked" for e in examples).items())),
            "edited_kept": list(carry.edited),
            "human": sum(1 for e in examples if not e.synthetic),
        },
        # Single questions the model answers from memory alone: they test recall, not the documents.
        "closed_book": closed_book,
        "run": {"seconds": round(seconds, 2), "seconds_per_kept_question": round(seconds / kept, 2) if kept else None},
        "decision": {
            "split": split,
            "questions": n_decision,
            "enough": n_decision >= MIN_DECISION_QUESTIONS,
            "note": decision_note(n_decision, split),
        },
    }
