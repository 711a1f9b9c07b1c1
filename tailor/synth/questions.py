"""Questions of each kind, written and checked in batches; every rejection counted in the tally.

- single: the model writes a question for a span, shown the sentence that holds it; it must be one clean question
  (tailor.synth.write.screen), not give its answer away, be answered with the span by the model given
  only the passage (round trip), point a corpus-wide search at its source (specificity), and not
  repeat a kept question.
- multi: two kept single questions about related passages the same users may read, asked together;
  the model, given both passages, must answer both parts, and the search must rank both sources.
- unanswerable: a kept question whose subject is replaced by a made-up term found nowhere in the
  corpus; its expected answer is the abstention string.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tailor.eval.metrics import contains_answer, normalize_answer
from tailor.models.base import GenerationSettings, Generator, Message
from tailor.synth.checks import Search, fabricate, is_duplicate, specific, words
from tailor.synth.plan import Candidate, Passage, stable_rng
from tailor.synth.report import Tally
from tailor.synth.settings import KINDS, Kind
from tailor.synth.write import (
    answer_prompt,
    check_reply,
    leaks_answer,
    question_prompt,
    round_trip_score,
    sentence_around,
)

QUESTION_TOKENS = 48  # a question is one line; a longer reply is not one question anyway
ANSWER_TOKENS = 24  # a span, or a short sentence around it
_WH = ("what", "which", "who", "whom", "whose", "when", "where", "why", "how", "in", "on", "at", "does", "do", "is")


@dataclass(frozen=True)
class Written:
    """A question that passed every check of its kind."""

    kind: Kind
    question: str
    answer: str
    passages: tuple[Passage, ...]  # its evidence (unanswerable: the passage of the question it was made from)
    facts: tuple[str, ...]  # source + normalised answer, per part: what keeps a fact in one split

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.doc_id for p in self.passages))

    @property
    def groups(self) -> frozenset[str]:
        return frozenset.intersection(*(p.groups for p in self.passages))


def _sentence(c: Candidate) -> str:
    return sentence_around(c.passage.body, c.span.start, c.span.start + len(c.span.text))


def fact_key(doc_id: str, answer: str) -> str:
    return f"{doc_id}\x1f{normalize_answer(answer)}"


def compose(first: str, second: str) -> str:
    """Two questions as one: "What does X return, and which clause does Y skip?"."""
    head, _, rest = second.partition(" ")
    if head.lower() in _WH:
        second = head.lower() + (" " + rest if rest else "")
    return f"{first.rstrip().rstrip('?')}, and {second}"


@dataclass
class Checker:
    """The model-based checks, with what they share: the model, the search, the tally, the questions kept."""

    generator: Generator
    batch_size: int
    search: Search
    k: int
    threshold: float
    tally: Tally
    # Word sets of the questions kept (or passed) so far, per kind: an unanswerable question is meant to look
    # like the answerable one it was made from, and a multi like its two parts.
    seen: dict[Kind, list[frozenset[str]]] = field(default_factory=lambda: {k: [] for k in KINDS})

    def _generate(self, prompts: Sequence[list[Message]], tokens: int) -> list[str]:
        if not prompts:
            return []
        settings = GenerationSettings(max_new_tokens=tokens, temperature=0.0, batch_size=self.batch_size)
        return [g.text for g in self.generator.generate(prompts, settings)]

    def _distinct(self, kind: Kind, question: str) -> bool:
        if is_duplicate(question, self.seen[kind]):
            self.tally.reject(kind, "duplicate")
            return False
        self.seen[kind].append(words(question))
        return True

    def singles(self, batch: Sequence[Candidate]) -> list[tuple[Candidate, Written]]:
        """The candidates of ``batch`` whose question passed every check, in batch order."""
        self.tally.tried["single"] += len(batch)
        alive = []
        for c in batch:
            if contains_answer(c.passage.body, c.span.text) == 1.0:
                alive.append(c)
            else:
                self.tally.reject("single", "answer_not_in_source")
        prompts = [question_prompt(_sentence(c), c.span.text) for c in alive]
        replies = self._generate(prompts, QUESTION_TOKENS)
        asked: list[tuple[Candidate, str]] = []
        for c, reply in zip(alive, replies, strict=True):
            question, why = check_reply(reply, c.span.text)
            if why is not None:
                self.tally.reject("single", why)
            else:
                asked.append((c, question))
        answers = self._generate([answer_prompt(c.passage.text, q) for c, q in asked], ANSWER_TOKENS)
        passed = []
        for (c, question), answer in zip(asked, answers, strict=True):
            if round_trip_score(answer, c.span.text) < self.threshold:
                self.tally.reject("single", "round_trip")
            elif not specific(question, [c.passage.doc_id], self.search, self.k):
                self.tally.reject("single", "ambiguous")
            elif self._distinct("single", question):
                facts = (fact_key(c.passage.doc_id, c.span.text),)
                passed.append((c, Written("single", question, c.span.text, (c.passage,), facts)))
        return passed

    def multis(self, pairs: Sequence[tuple[Written, Written]]) -> list[Written]:
        """Pairs of single questions asked as one; those the model answers from both passages and that point
        the search at both sources."""
        self.tally.tried["multi"] += len(pairs)
        asked = []
        for a, b in pairs:
            question = compose(a.question, b.question)
            if leaks_answer(question, a.answer) or leaks_answer(question, b.answer):
                self.tally.reject("multi", "answer_in_question")
            else:
                asked.append((a, b, question))
        prompts = [answer_prompt(f"{a.passages[0].text}\n\n{b.passages[0].text}", q) for a, b, q in asked]
        passed = []
        for (a, b, question), answer in zip(asked, self._generate(prompts, 2 * ANSWER_TOKENS), strict=True):
            if min(round_trip_score(answer, a.answer), round_trip_score(answer, b.answer)) < self.threshold:
                self.tally.reject("multi", "round_trip")
            elif not specific(question, {*a.sources, *b.sources}, self.search, self.k):
                self.tally.reject("multi", "ambiguous")
            elif self._distinct("multi", question):
                answer_text = f"{a.answer}; {b.answer}"
                passed.append(Written("multi", question, answer_text, a.passages + b.passages, a.facts + b.facts))
        return passed

    def unanswerables(
        self, bases: Sequence[Written], need: int, seed: int, known: Callable[[str], bool], abstention: str
    ) -> list[Written]:
        """Up to ``need`` questions about made-up subjects, one from each of ``bases`` at most."""
        out: list[Written] = []
        for base in bases:
            if len(out) >= need:
                break
            self.tally.tried["unanswerable"] += 1
            question, why = fabricate(base.question, base.answer, stable_rng(seed, base.question), known)
            if question is None:
                self.tally.reject("unanswerable", why or "no_subject")
            elif self._distinct("unanswerable", question):
                out.append(Written("unanswerable", question, abstention, base.passages, base.facts))
        return out

    def answered_closed_book(self, written: Sequence[Written]) -> int:
        """How many of ``written`` the model answers without any passage (they test memory, not the documents)."""
        answers = self._generate([answer_prompt(None, w.question) for w in written], ANSWER_TOKENS)
        return sum(round_trip_score(a, w.answer) >= self.threshold for w, a in zip(written, answers, strict=True))
