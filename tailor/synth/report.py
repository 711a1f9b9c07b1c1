"""What a synth run did, counted at every check: the report JSON beside the examples, and its summary.

Each candidate ends at exactly one place: rejected for the first check it fails, kept, or ``surplus``
(it passed every check after enough questions were already kept). So per kind,
``tried == kept + surplus + sum(rejected)``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tailor.synth.settings import KINDS, Kind

# Every reason a candidate can be rejected, in the order the checks run.
REASONS = (
    "answer_not_in_source",  # the span is not in its passage (a multi's two spans: either)
    "empty",  # the model wrote nothing (or only a label)
    "preamble",  # "Sure! Here is a question:" — talk, not a question
    "list",  # several questions, or a bulleted / numbered reply
    "malformed",  # not one question of 3-40 words ending with "?"
    "points_at_passage",  # "the given text", "in the passage": not the subject's name
    "answer_in_question",  # the question gives its answer away
    "round_trip",  # the model, given only the passage, does not answer it with the span
    "ambiguous",  # a search of the whole corpus does not rank a source document in the top k
    "no_subject",  # unanswerable: the question names nothing that could be replaced by a made-up term
    "subject_in_corpus",  # unanswerable: every made-up term tried occurs in the corpus
    "no_partner",  # multi: no other kept question about a related passage the same users may read
    "duplicate",  # the same question as a kept one, in other words (or in the same)
)
# Below this many answerable questions in the evaluated split, a 95% interval on a strategy's score is
# wider than ±0.18 (1.96·√(0.25/30)), more than the gaps between strategies that usually matter.
MIN_DECISION_QUESTIONS = 30


@dataclass
class Tally:
    """Counts per kind: candidates tried, kept, surplus, and rejected by reason."""

    tried: Counter[Kind] = field(default_factory=Counter)
    kept: Counter[Kind] = field(default_factory=Counter)
    surplus: Counter[Kind] = field(default_factory=Counter)
    rejected: dict[Kind, Counter[str]] = field(default_factory=lambda: {k: Counter() for k in KINDS})

    def reject(self, kind: Kind, reason: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown rejection reason {reason!r}")
        self.rejected[kind][reason] += 1

    def funnel(self, kind: Kind) -> list[dict[str, Any]]:
        """The checks in order, with how many candidates reached each and how many it rejected."""
        left, out = self.tried[kind], []
        for reason in REASONS:
            n = self.rejected[kind][reason]
            if n:
                out.append({"check": reason, "in": left, "rejected": n})
                left -= n
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            kind: {
                "tried": self.tried[kind],
                "kept": self.kept[kind],
                "surplus": self.surplus[kind],
                "rejected": {r: self.rejected[kind][r] for r in REASONS if self.rejected[kind][r]},
                "funnel": self.funnel(kind),
            }
            for kind in KINDS
        }


def decision_note(n: int, split: str) -> str:
    """One line on how many questions the decision rests on, with a warning when too few."""
    line = f"the decision will rest on {n} answerable question{'s' if n != 1 else ''} in the {split} split"
    if n < MIN_DECISION_QUESTIONS:
        line += (
            f": too few to tell strategies apart (aim for {MIN_DECISION_QUESTIONS} or more: raise synth.questions, "
            "add documents, or set synth.model to a stronger model)"
        )
    return line


def summary_lines(report: dict[str, Any]) -> list[str]:
    """The few lines `tailor synth` prints."""
    kinds, run = report["kinds"], report["run"]
    tried = sum(k["tried"] for k in kinds.values())
    kept = sum(k["kept"] for k in kinds.values())
    per_kind = ", ".join(f"{name} {k['kept']}" for name, k in kinds.items())
    per_q = f", {run['seconds_per_kept_question']:.1f} s per kept question" if kept else ""
    lines = [f"synth: kept {kept} of {tried} candidates tried ({per_kind}) in {run['seconds']:.0f} s{per_q}"]
    rejected = Counter()
    for k in kinds.values():
        rejected.update(k["rejected"])
    if rejected:
        lines.append("  rejected: " + ", ".join(f"{r.replace('_', ' ')} {rejected[r]}" for r in REASONS if rejected[r]))
    docs, ex = report["documents"], report["examples"]
    lines.append(
        f"  documents: {docs['covered']} of {docs['readable']} have questions "
        f"({docs['new']} new, {docs['changed']} changed, {docs['unchanged']} unchanged, {docs['removed']} removed)"
    )
    if ex["edited_kept"]:
        lines.append(
            f"  kept {len(ex['edited_kept'])} example(s) a person edited, as edited: {', '.join(ex['edited_kept'])}"
        )
    if ex["human"]:
        lines.append(f"  kept {ex['human']} example(s) synth did not write, untouched")
    splits = ", ".join(f"{s} {n}" for s, n in ex["by_split"].items())
    lines.append(f"  wrote {ex['total']} examples ({splits}) to {report['output']}")
    lines.append("  " + report["decision"]["note"])
    return lines
