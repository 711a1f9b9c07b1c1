"""`tailor synth`: a checked test set from the recipe's documents, for teams with no labelled questions.

    tailor synth                 # writes data.examples[0] (or synth.output) and a report beside it

Answers are spans of the documents; the model (the recipe's, or ``synth.model``) only writes the
question, and nothing it writes is trusted: each question is screened, round-tripped, searched for and
de-duplicated (tailor.synth.questions), and every rejection is counted in ``OUT.synth-report.json``.
Deterministic for a seed (greedy decoding, seeded order). Incremental: a document added or changed
gets new questions first, an unchanged one keeps its own, an example a person edited is kept as edited.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tailor.config import Recipe
from tailor.data.corpus import Document, load_corpus
from tailor.data.examples import Example
from tailor.errors import DataError
from tailor.eval.metrics import normalize_answer
from tailor.models.base import Generator
from tailor.models.load import load_model_at
from tailor.progress import Advance, Reporter, SilentReporter
from tailor.rag.index import ChunkIndex
from tailor.rag.pipeline import ensure_index
from tailor.synth.assemble import assemble, build_report
from tailor.synth.checks import corpus_contains, words
from tailor.synth.plan import Passage, Stream, document_candidates, visiting_order
from tailor.synth.questions import Checker, Written
from tailor.synth.report import Tally, summary_lines
from tailor.synth.settings import Kind
from tailor.synth.store import Carry, DocState, carry_over, output_path, paths, read_previous, write_output
from tailor.workspace import Workspace

# At most this many candidates are tried per question still wanted: it bounds a run on documents that
# yield little, and leaves room for a weak model (see the report's funnel for the rate it keeps).
MAX_TRIES_PER_QUESTION = 12


@dataclass(frozen=True)
class SynthRun:
    """What a run wrote: the examples file, its report (the JSON beside it), every example in the file."""

    output: Path
    report: dict[str, Any]
    examples: tuple[Example, ...]

    def summary(self) -> list[str]:
        return summary_lines(self.report)


def candidate_settings(recipe: Recipe, seed: int) -> str:
    """A digest of what decides each document's candidates; when it changes every document is asked anew."""
    model, _ = recipe.writer_model()
    key = [seed, recipe.rag.chunk_tokens, recipe.rag.chunk_overlap, model.model_dump(mode="json")]
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def load_synth_generator(recipe: Recipe, log: Callable[[str], None] = lambda _: None) -> Generator:
    """The model that writes questions (see :meth:`Recipe.writer_model`).

    Raises:
        ModelError: it cannot be loaded; located at the field that names it.
    """
    model, at = recipe.writer_model()
    return load_model_at(recipe, model, at, log)


def synthesize(
    recipe: Recipe,
    reporter: Reporter | None = None,
    *,
    limit: int | None = None,
    seed: int | None = None,
    generator: Generator | None = None,
) -> SynthRun:
    """Write the recipe's examples file from its documents; return what was written and the report.

    ``limit`` overrides ``synth.questions``, ``seed`` ``synth.seed``; ``generator`` replaces loading
    the model. The model is loaded only if some document has questions left to write.

    Raises:
        DataError: no readable documents, or the examples file already there is invalid.
        ModelError: the model cannot be loaded or queried.
    """
    reporter = reporter or SilentReporter()
    start = time.perf_counter()
    cfg = recipe.synth
    seed = seed if seed is not None else cfg.seed if cfg.seed is not None else recipe.seed
    wanted = cfg.wanted(limit or cfg.questions)
    output = output_path(recipe)
    previous = read_previous(output)  # an invalid file fails here, before the model loads
    corpus = load_corpus(recipe)
    readable = {d.doc_id: d for d in corpus if d.groups}
    if not readable:
        what = "matched none" if not corpus else "holds only documents no group may read (see data.default_groups)"
        raise DataError(recipe.problem(f"no documents to write questions from: data.corpus {what}", "data", "corpus"))
    settings = candidate_settings(recipe, seed)
    carry = carry_over(previous, readable, settings, reporter)
    have = Counter(e.kind for e, _ in carry.rows if e.synthetic and e.kind)
    # First run: the wanted number. Later runs: fill up to it, and new or changed documents get their share.
    quota = math.ceil(wanted["single"] / len(readable))
    need = wanted["single"] if not previous.documents else max(wanted["single"] - have["single"], 0)
    need = max(need, quota * len(carry.fresh)) if previous.documents else need
    tally, written, closed_book = Tally(), [], None
    if need > 0 and (carry.fresh or any(not s.done for s in carry.documents.values())):
        generator = generator or load_synth_generator(recipe, reporter.log)
        job = _Job(recipe, corpus, generator, reporter, carry, tally, seed)
        written, closed_book = job.run(need, quota, wanted, have, first_run=not previous.documents)
    for w in written:
        tally.kept[w.kind] += 1
    new = assemble(recipe, carry, written, seed)
    rows = carry.rows + [(e, None) for e, _ in new]
    owners = carry.owners | {e.id: docs for e, docs in new}
    report = build_report(
        recipe, output, readable, carry, tally, [e for e, _ in rows], closed_book, time.perf_counter() - start, seed
    )
    write_output(output, rows, carry.documents, owners, settings, report)
    reporter.log(f"synth: wrote {output} and {paths(output)[1].name}")
    return SynthRun(output, report, tuple(e for e, _ in rows))


@dataclass
class _Job:
    """One run's generation: the index, the documents' passages, the checker."""

    recipe: Recipe
    corpus: list[Document]
    generator: Generator
    reporter: Reporter
    carry: Carry
    tally: Tally
    seed: int

    def run(
        self, need: int, quota: int, wanted: dict[Kind, int], have: Counter, first_run: bool
    ) -> tuple[list[Written], dict[str, int]]:
        """Single questions (new and changed documents first), then multi and unanswerable ones made from them."""
        recipe, synth = self.recipe, self.recipe.synth
        index = self._index()
        passages: dict[str, list[Passage]] = {}
        for chunk in index.chunks:
            passages.setdefault(chunk.doc_id, []).append(Passage.of(chunk))
        readable = {d.doc_id: d for d in self.corpus if d.groups}
        everyone = frozenset().union(*(d.groups for d in readable.values()))
        n = max(recipe.rag.candidates, synth.specificity_k)
        if len(index.chunks) <= synth.specificity_k:  # every document is in every top k: said, not silently passed
            self.reporter.log(
                f"synth: the corpus has {len(index.chunks)} chunks, no more than synth.specificity_k "
                f"({synth.specificity_k}): the specificity check cannot reject a question"
            )

        def search(question: str) -> list[str]:
            return [
                h.chunk.doc_id for h in index.search(question, everyone, n, recipe.rag.retrievers, recipe.rag.rrf_k)
            ]

        checker = Checker(
            self.generator, recipe.generation.batch_size, search, synth.specificity_k, synth.round_trip, self.tally
        )
        for e, _ in self.carry.rows:
            checker.seen[e.kind or "single"].append(words(e.question))
        order = visiting_order({d: doc.groups for d, doc in readable.items()}, self.seed)
        fresh = set(self.carry.fresh)
        singles: list[Written] = []
        with self.reporter.task("synth: single questions kept", need) as advance:
            singles += self._singles(
                [d for d in order if d in fresh], readable, passages, checker, quota, need, advance
            )
            more = wanted["single"] - have["single"] - len(singles)  # still short: go on in unchanged documents
            singles += self._singles(
                [d for d in order if d not in fresh], readable, passages, checker, quota, more, advance
            )
        for d in fresh - set(self.carry.documents):  # no chunk (or never reached): recorded, asked when changed
            self.carry.documents[d] = DocState(readable[d].content_hash, 0, d not in passages)
        needs = {k: _derived_need(k, wanted, have, len(singles), first_run) for k in ("multi", "unanswerable")}
        multis = checker.multis(_pairs(singles, index, needs["multi"], self.tally)) if needs["multi"] else []
        self.tally.surplus["multi"] += max(0, len(multis) - needs["multi"])
        known = corpus_contains([d.text for d in self.corpus])
        unanswerable = checker.unanswerables(singles, needs["unanswerable"], self.seed, known, synth.abstention)
        closed = {"asked": len(singles), "answered": checker.answered_closed_book(singles)}
        return singles + multis[: needs["multi"]] + unanswerable, closed

    def _index(self) -> ChunkIndex:
        recipe = self.recipe
        if recipe.writer_model()[1] != ("model",):  # another tokenizer chunks differently: never replace the rag index
            rag = recipe.rag.model_copy(update={"index_dir": str(recipe.out_dir / "synth" / "index")})
            recipe = recipe.model_copy(update={"rag": rag})
        return ensure_index(Workspace(recipe, (), tuple(self.corpus), self.generator, self.reporter)).index

    def _singles(
        self,
        docs: list[str],
        readable: dict[str, Document],
        passages: dict[str, list[Passage]],
        checker: Checker,
        quota: int,
        goal: int,
        advance: Advance,
    ) -> list[Written]:
        """Up to ``goal`` single questions from ``docs``, round robin, at most ``quota`` per document per round."""
        docs = [d for d in docs if d in passages]
        if goal <= 0 or not docs:
            return []
        candidates = {d: document_candidates(passages[d], self.seed, readable[d].content_hash) for d in docs}
        tried = {d: self.carry.documents[d].tried for d in docs if d in self.carry.documents}
        stream = Stream(candidates, docs, tried, quota)
        kept: list[Written] = []
        budget = goal * MAX_TRIES_PER_QUESTION
        while len(kept) < goal and budget > 0:
            batch = stream.take(min(budget, max(16, min(64, 3 * (goal - len(kept))))))
            if not batch:
                if stream.raise_cap():
                    continue
                break
            budget -= len(batch)
            for candidate, written in checker.singles(batch):
                doc = candidate.passage.doc_id
                if len(kept) < goal and stream.kept[doc] < stream.cap:
                    stream.keep(doc)
                    kept.append(written)
                    advance(1)
                else:
                    self.tally.surplus["single"] += 1
        for d in docs:
            self.carry.documents[d] = DocState(readable[d].content_hash, stream.tried.get(d, 0), stream.exhausted(d))
        return kept


def _derived_need(kind: Kind, wanted: dict[Kind, int], have: Counter, new_singles: int, first_run: bool) -> int:
    """Multi and unanswerable questions to make from this run's singles: the recipe's share of them."""
    if first_run or not wanted["single"]:
        return wanted[kind]
    return max(wanted[kind] - have[kind], round(new_singles * wanted[kind] / wanted["single"]))


def _pairs(singles: Sequence[Written], index: ChunkIndex, need: int, tally: Tally) -> list[tuple[Written, Written]]:
    """Disjoint pairs of singles about the two most similar passages the same users may read, up to a bound."""
    if need <= 0 or not singles:
        return []
    vectors = index.vectors([w.passages[0].chunk_id for w in singles])  # (n, dim), unit length
    similarity = vectors @ vectors.T
    used: set[int] = set()
    pairs: list[tuple[Written, Written]] = []
    for i, a in enumerate(singles):
        if i in used or len(pairs) >= need * MAX_TRIES_PER_QUESTION:
            continue
        partners = [
            j
            for j, b in enumerate(singles)
            if j != i
            and j not in used
            and b.passages[0].chunk_id != a.passages[0].chunk_id
            and b.groups == a.groups
            and normalize_answer(b.answer) != normalize_answer(a.answer)  # "try; try" asks one thing twice
        ]
        if not partners:
            tally.tried["multi"] += 1
            tally.reject("multi", "no_partner")
            continue
        j = max(partners, key=lambda j: (float(similarity[i, j]), -j))
        used |= {i, j}
        pairs.append((a, singles[j]))
    return pairs
