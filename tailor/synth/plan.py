"""Which answer spans are tried, in what order: spread over access groups and documents, the same for a seed.

Each document's candidates depend only on its own chunks, the seed and its content hash, so adding or
changing one document never reorders another's; a run that stops early records how many of each
document's candidates it tried, and the next run goes on from there. Documents are visited round
robin, alternating between access groups, so no document or group fills the set alone.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass

from tailor.eval.metrics import normalize_answer
from tailor.rag.store import Chunk
from tailor.synth.spans import Span, find_spans

SPANS_PER_CHUNK = 6  # the best few of a chunk: more are rarely better questions, and cost a generation each


@dataclass(frozen=True)
class Passage:
    """A chunk of a document: what the model reads to write and to answer a question."""

    chunk_id: str
    doc_id: str
    groups: frozenset[str]
    text: str  # heading path line + body, as the index stores it
    position: int

    @property
    def body(self) -> str:
        """The text without its heading line (spans are taken from here, never from the heading)."""
        return self.text.partition("\n")[2]

    @classmethod
    def of(cls, chunk: Chunk) -> Passage:
        return cls(chunk.chunk_id, chunk.doc_id, frozenset(chunk.groups), chunk.text, chunk.position)


@dataclass(frozen=True)
class Candidate:
    passage: Passage
    span: Span
    rank: int  # place in its document's order: the document's first ``tried`` are done


def stable_rng(*parts: object) -> random.Random:
    """A random generator seeded by ``parts`` alone (not by Python's per-process string hashing)."""
    return random.Random(int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "big"))


def document_candidates(passages: Sequence[Passage], seed: int, doc_hash: str) -> list[Candidate]:
    """One document's candidates in the order they are tried: round robin over its chunks (in an order
    fixed by seed and content), best span of each first."""
    chunks = sorted(passages, key=lambda p: p.position)
    stable_rng(seed, chunks[0].doc_id if chunks else "", doc_hash).shuffle(chunks)
    per_chunk = [(p, _spans(p)) for p in chunks]
    out: list[Candidate] = []
    for i in range(max((len(s) for _, s in per_chunk), default=0)):
        for passage, spans in per_chunk:
            if i < len(spans):
                out.append(Candidate(passage, spans[i], len(out)))
    return out


def _spans(passage: Passage) -> list[Span]:
    """The passage's best spans, less those naming what the document or section is about (its heading
    path): "What does the break statement do?" cannot help but give away "break"."""
    topic = set(normalize_answer(passage.text.partition("\n")[0]).split())
    spans = find_spans(passage.body, SPANS_PER_CHUNK + 4)
    return [s for s in spans if not set(normalize_answer(s.text).split()) <= topic][:SPANS_PER_CHUNK]


def visiting_order(groups: dict[str, frozenset[str]], seed: int) -> list[str]:
    """Document ids alternating between access-group sets (each set's documents in a seeded order)."""
    by_group: dict[tuple[str, ...], list[str]] = {}
    for doc_id in sorted(groups):
        by_group.setdefault(tuple(sorted(groups[doc_id])), []).append(doc_id)
    lanes = [sorted(docs, key=lambda d: stable_rng(seed, d).random()) for _, docs in sorted(by_group.items())]
    order = []
    for i in range(max((len(lane) for lane in lanes), default=0)):
        order += [lane[i] for lane in lanes if i < len(lane)]
    return order


class Stream:
    """Candidates handed out round robin over documents, each document from where earlier runs stopped.

    ``cap`` is how many questions one document may give; when every document under it has run dry
    while questions are still wanted, the caller raises it (:meth:`raise_cap`).
    """

    def __init__(self, candidates: dict[str, list[Candidate]], order: Sequence[str], tried: dict[str, int], cap: int):
        self.candidates = candidates
        self.order = [d for d in order if d in candidates]
        self.tried = dict(tried)
        self.kept = dict.fromkeys(self.order, 0)
        self.cap = cap
        self._step = cap

    def exhausted(self, doc_id: str) -> bool:
        return self.tried.get(doc_id, 0) >= len(self.candidates[doc_id])

    def take(self, n: int) -> list[Candidate]:
        """Up to ``n`` candidates, one per document per pass, and per document at most twice the questions
        it may still give (more would mostly be surplus); empty when none is left under the cap."""
        batch: list[Candidate] = []
        taken = dict.fromkeys(self.order, 0)
        while len(batch) < n:
            open_docs = [d for d in self._open() if taken[d] < 2 * (self.cap - self.kept[d])]
            for doc_id in open_docs[: n - len(batch)]:
                batch.append(self.candidates[doc_id][self.tried.get(doc_id, 0)])
                self.tried[doc_id] = self.tried.get(doc_id, 0) + 1
                taken[doc_id] += 1
            if not open_docs:
                break
        return batch

    def _open(self) -> list[str]:
        return [d for d in self.order if not self.exhausted(d) and self.kept[d] < self.cap]

    def keep(self, doc_id: str) -> None:
        self.kept[doc_id] = self.kept.get(doc_id, 0) + 1

    def raise_cap(self) -> bool:
        """Let every document give ``cap`` more questions; False if no document has candidates left."""
        if all(self.exhausted(d) for d in self.order):
            return False
        self.cap += self._step
        return True
