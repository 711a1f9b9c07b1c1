"""Freshness: after the documents change, what it takes until each strategy answers with the new facts.

The change is real or simulated:

- ``eval.freshness`` names the documents' new version and questions about the facts that changed,
  answered as of the new version (``metadata.old_answer``: the value that is now stale);
- without one, tailor simulates the change (:mod:`tailor.eval.edits`): it edits copies of the
  documents, replacing the answer of some asked questions in their source (a number, date, year,
  version or name) with a different value of the same kind; the new value is the answer, the old one
  is stale. The edits and edited copies are written to ``OUT/freshness/simulated/``, and every row
  gets a ``simulated_edits`` row beside it (how many facts were edited).

Every strategy answers the questions as built on the old version ("before"), is updated the way that
strategy is updated in practice, and answers again ("after"):

- baseline: nothing to update; it never read the documents.
- prompt: the tuned prompt is rebuilt with the same spec (no new search); its static block of
  documents is chosen again from the new version.
- rag: the new version is ingested into a copy of the index, incrementally (only changed documents
  are embedded); the original index stays as it was, for later suites and runs.
- finetune: the adapter is trained further for ``retrain_steps`` steps on what changed: the changed
  documents (their chunks and generated questions, as in training) and the train-split examples
  whose answer changed.
- rag+finetune: both.

Questions in the train split are never asked: they update the few-shot pool and the training data
instead, so no strategy is scored on an answer it was shown. Everything the update writes lies under
``OUT/freshness/``; the old version's prompt, index and adapter are read, never written.

Rows (suite ``freshness``, per strategy): ``changed_f1_before``/``_after`` (token F1 against the new
answer, citations removed), ``changed_f1_delta`` (after − before, paired, with its p-value),
``stale_rate_before``/``_after`` (the answer contains the old value, over the questions that have
one), ``update_s`` (the update, counted as ``build_s`` counts a build: the static block's rebuild,
the ingest, the training run), ``full_rebuild_s`` (what the full build cost in this run: prompt
search, whole index, whole training), what the update processed: documents and chunks re-embedded
(rag), steps and tokens trained (finetune), and ``simulated_edits`` when the change was simulated.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace
from pathlib import Path

from tailor import plugins
from tailor.artifacts import write_jsonl_atomic, write_text_atomic
from tailor.config import Recipe
from tailor.contract import Answer, Strategy, User, asker, strip_citations
from tailor.data.corpus import load_corpus
from tailor.data.examples import Example, TaskDataset, load_examples
from tailor.errors import DataError, RecipeError
from tailor.eval.base import Column, NoRows, Size, SuiteInput, SuiteSpec
from tailor.eval.edits import Edit, apply_edits, plan_edits
from tailor.eval.metrics import contains_answer, token_f1
from tailor.eval.results import ResultRow, mean_row, paired_row
from tailor.eval.settings import FreshnessConfig
from tailor.finetune.settings import CanaryConfig
from tailor.strategies.base import Cost, Update, Updated
from tailor.workspace import Workspace

NAME = "freshness"


def freshness_suite(inp: SuiteInput) -> list[ResultRow]:
    ws = inp.workspace
    if ws is None:
        return NoRows("it rebuilds strategies, which needs the run's workspace")
    cfg = ws.recipe.eval.freshness or FreshnessConfig()
    target = target_dataset(ws, cfg)
    if inp.dataset.kind != "qa" or inp.dataset.name != target:
        return NoRows(f"its questions about changed facts belong to dataset {target!r}")
    limit = ws.recipe.eval.size("freshness_questions")
    if cfg.simulated:
        update, edits = simulated_update(ws, cfg, inp.dataset, inp.examples, limit)
        if not edits:
            return NoRows(
                f"no simulated edit could be made: none of the {len(inp.examples)} asked questions has an answer "
                "that is a number, date, year, version or name written in its source document (Example.sources)"
            )
        ws.reporter.log(f"freshness: {_edits_summary(edits)}; the edits are in {simulated_dir(ws) / 'edits.jsonl'}")
    else:
        update, edits = load_update(ws, cfg, inp.dataset), []
    questions = update.questions[:limit]
    ws.reporter.log(
        f"freshness: {len(questions)} questions about changed facts; {len(update.changed_docs)} documents "
        f"new or changed, {len(update.trained)} train-split answers changed"
    )
    if not questions:
        return NoRows("no question about a changed fact (eval.freshness.examples) to ask")
    rows, answers = [], []
    for before in inp.strategies:
        updated = _updated(before, update)
        if updated is None:
            ws.reporter.log(f"freshness: no update is defined for strategy {before.name!r}; skipped")
            continue
        # What the runner asked already (a changed fact's question in the evaluated split) is not asked again.
        old = _answers(ws, before, questions, "before", _runner_answers(inp, before.name))
        after, cost = updated
        # baseline: nothing changed, the same prompts to the same weights
        new = old if after is before else _answers(ws, after, questions, "after", {})
        strategy_rows = _rows(before.name, inp.dataset.name, questions, old, new, cost, inp.seed)
        if edits:
            strategy_rows.append(
                ResultRow(before.name, inp.dataset.name, NAME, "simulated_edits", len(edits), len(edits))
            )
        rows += strategy_rows
        ws.reporter.log(_summary(before.name, strategy_rows))
        answers += [
            {
                "strategy": before.name,
                "id": e.id,
                "question": e.question,
                "answer": e.answer,
                "old_answer": e.metadata.get("old_answer"),
                "before": a.text,
                "after": b.text,
                **({"simulated": True} if edits else {}),
            }
            for e, a, b in zip(questions, old, new, strict=True)
        ]
    write_jsonl_atomic(freshness_dir(ws) / "answers.jsonl", answers)
    return rows


def _runner_answers(inp: SuiteInput, strategy: str) -> dict[tuple[str, User], Answer]:
    run = next((r for r in inp.runs if r.strategy == strategy), None)
    if run is None:
        return {}
    return {(e.question, asker(e)): a for e, a in zip(inp.examples, run.answers, strict=True)}


def _answers(
    ws: Workspace, strategy: Strategy, questions: tuple[Example, ...], when: str, known: dict[tuple[str, User], Answer]
) -> list[Answer]:
    todo = [e for e in questions if (e.question, asker(e)) not in known]
    with ws.reporter.task(f"freshness · {strategy.name}: {when}", len(todo)) as advance:
        fresh = strategy.answer_batch([e.question for e in todo], [asker(e) for e in todo], advance) if todo else []
    got = known | {(e.question, asker(e)): a for e, a in zip(todo, fresh, strict=True)}
    return [got[(e.question, asker(e))] for e in questions]


def freshness_dir(ws: Workspace) -> Path:
    return ws.recipe.out_dir / NAME


def target_dataset(ws: Workspace, cfg: FreshnessConfig) -> str | None:
    """The dataset the freshness questions belong to: ``cfg.dataset``, else the first QA dataset.

    Raises:
        RecipeError: ``cfg.dataset`` names no QA dataset of the recipe.
    """
    qa = [d.name for d in ws.datasets if d.kind == "qa"]
    if cfg.dataset is None:
        return qa[0] if qa else None
    if cfg.dataset not in qa:
        message = f"no question/answer dataset named {cfg.dataset!r} (QA datasets: {', '.join(qa) or 'none'})"
        raise RecipeError(ws.recipe.problem(message, "eval", "freshness", "dataset"))
    return cfg.dataset


def load_update(ws: Workspace, cfg: FreshnessConfig, dataset: TaskDataset) -> Update:
    """The new version of ``ws``'s documents and ``dataset``, from ``cfg``; nothing is built yet.

    Raises:
        DataError: the examples file is unusable, or the corpus globs match no document.
    """
    r = ws.recipe
    recipe = _update_recipe(ws, cfg, freshness_dir(ws), list(cfg.corpus or ()))
    corpus = tuple(load_corpus(recipe))
    if not corpus:
        raise DataError(r.problem("matched no documents", "eval", "freshness", "corpus"))
    fresh = load_examples(r.resolve(cfg.examples))
    if r.data.default_groups:
        fresh = [e if e.groups else e.model_copy(update={"groups": tuple(r.data.default_groups)}) for e in fresh]
    # A question keeps its fact's split in the dataset; a fact the dataset lacks is asked unless marked train.
    known = {e.id: e.split for e in dataset.examples}
    fresh = [e.model_copy(update={"split": known.get(e.id) or e.split or "test"}) for e in fresh]
    trained = {e.id: e for e in fresh if e.split == "train"}
    examples = [_renewed(e, trained[e.id]) if e.id in trained else e for e in dataset.examples]
    examples += [e for i, e in trained.items() if i not in known]
    old_text = {d.doc_id: d.text for d in ws.corpus}
    return Update(
        old=ws,
        new=ws.derive(recipe=recipe, corpus=corpus),
        old_dataset=dataset,
        dataset=replace(dataset, examples=tuple(examples)),
        questions=tuple(e for e in fresh if e.split != "train"),
        trained=tuple(trained.values()),
        changed_docs=tuple(d for d in corpus if old_text.get(d.doc_id) != d.text),
    )


def simulated_update(
    ws: Workspace, cfg: FreshnessConfig, dataset: TaskDataset, asked: tuple[Example, ...], limit: int
) -> tuple[Update, list[Edit]]:
    """A new version made by editing copies of ``ws``'s documents (:mod:`tailor.eval.edits`): the answers
    of up to ``limit`` of the ``asked`` questions change in their source; train-split examples with the
    same answer from the same document change with them. The edits and edited copies are written under
    ``OUT/freshness/simulated/``."""
    edits = plan_edits(asked, ws.corpus, limit, ws.recipe.seed)
    corpus = apply_edits(ws.corpus, edits)
    changed = {e.doc_id for e in edits}
    by_example = {e.example_id: e for e in edits}
    new_value = {(e.doc_id, e.old): e.new for e in edits}

    def renewed(example: Example) -> Example | None:
        value = next(
            (new_value[(s, example.answer)] for s in example.sources if (s, example.answer) in new_value), None
        )
        return None if value is None else example.model_copy(update={"answer": value})

    trained = tuple(t for e in dataset.split("train") if (t := renewed(e)) is not None)
    renewed_train = {e.id: e for e in trained}
    questions = tuple(
        e.model_copy(
            update={
                "answer": by_example[e.id].new,
                "metadata": {**e.metadata, "old_answer": by_example[e.id].old, "simulated": by_example[e.id].kind},
            }
        )
        for e in asked
        if e.id in by_example
    )
    out = simulated_dir(ws)
    recipe = _update_recipe(ws, cfg, out, ws.recipe.data.corpus)
    changed_docs = tuple(d for d in corpus if d.doc_id in changed)
    write_jsonl_atomic(out / "edits.jsonl", [e.to_json() for e in edits])
    for doc in changed_docs:  # what each strategy is updated on, for a person to read
        write_text_atomic(out / "docs" / f"{_file_name(doc.doc_id)}.txt", doc.text)
    update = Update(
        old=ws,
        new=ws.derive(recipe=recipe, corpus=corpus),
        old_dataset=dataset,
        dataset=replace(dataset, examples=tuple(renewed_train.get(e.id, e) for e in dataset.examples)),
        questions=questions,
        trained=trained,
        changed_docs=changed_docs,
    )
    return update, edits


def simulated_dir(ws: Workspace) -> Path:
    return freshness_dir(ws) / "simulated"


def _update_recipe(ws: Workspace, cfg: FreshnessConfig, out: Path, corpus: list[str]) -> Recipe:
    """The recipe a strategy is updated with: the new version's documents, built under ``out``."""
    r = ws.recipe
    return r.model_copy(
        update={
            "data": r.data.model_copy(update={"corpus": corpus}),
            "out": str(out),
            "rag": r.rag.model_copy(update={"index_dir": None}),  # → out/index
            # Continued training: no warm-up (the adapter is trained already), no canaries (planted once).
            "finetune": r.finetune.model_copy(
                update={"max_steps": cfg.retrain_steps, "warmup_steps": 0, "canaries": CanaryConfig()}
            ),
        }
    )


def _file_name(doc_id: str) -> str:
    return re.sub(r"[^\w.-]+", "_", doc_id).strip("._") or "document"


def _edits_summary(edits: list[Edit]) -> str:
    kinds = Counter(e.kind for e in edits)
    made = ", ".join(f"{n} {kind}{'s' if n > 1 else ''}" for kind, n in kinds.most_common())
    return f"simulated edits (eval.freshness names no new version): {len(edits)} facts changed ({made})"


def _renewed(example: Example, fresh: Example) -> Example:
    return example.model_copy(update={"question": fresh.question, "answer": fresh.answer})


def _updated(before: Strategy, up: Update) -> Updated | None:
    """The strategy rebuilt on the new version and what that took; None for a strategy without an update."""
    spec = plugins.strategies().get(before.name)
    return None if spec is None or spec.update is None else spec.update(before, up)


def _rows(
    strategy: str,
    dataset: str,
    questions: tuple[Example, ...],
    before: list[Answer],
    after: list[Answer],
    cost: Cost,
    seed: int,
) -> list[ResultRow]:
    rows, f1s = [], []
    for when, answers in (("before", before), ("after", after)):
        texts = [strip_citations(a.text) for a in answers]
        f1s.append([token_f1(t, e.answer) for t, e in zip(texts, questions, strict=True)])
        rows.append(mean_row(strategy, dataset, NAME, f"changed_f1_{when}", f1s[-1], seed))
        stale = [
            contains_answer(t, e.metadata["old_answer"])
            for t, e in zip(texts, questions, strict=True)
            if e.metadata.get("old_answer")
        ]
        if stale:
            rows.append(mean_row(strategy, dataset, NAME, f"stale_rate_{when}", stale, seed))
    rows.append(paired_row(strategy, dataset, NAME, "changed_f1_delta", f1s[1], f1s[0], seed))  # after − before
    rows.append(ResultRow(strategy, dataset, NAME, "update_s", round(cost.update_s, 3), 1))
    rows.append(ResultRow(strategy, dataset, NAME, "full_rebuild_s", round(cost.full_rebuild_s, 3), 1))
    rows += [ResultRow(strategy, dataset, NAME, name, value, n) for name, (value, n) in cost.processed.items()]
    return rows


def _summary(strategy: str, rows: list[ResultRow]) -> str:
    got = {r.metric: r.value for r in rows}
    stale = (
        f", stale {got['stale_rate_before']:.2f} → {got['stale_rate_after']:.2f}" if "stale_rate_before" in got else ""
    )
    return (
        f"freshness · {strategy}: F1 {got['changed_f1_before']:.3f} → {got['changed_f1_after']:.3f}{stale}; "
        f"update {got['update_s']:.1f} s (full rebuild {got['full_rebuild_s']:.1f} s)"
    )


def _evidence(m, ds: str, s: str, c) -> list[str]:
    """When the documents change: what updating the chosen strategy took, and how stale it was."""
    update, rebuild = m.value(ds, s, "update_s"), m.value(ds, s, "full_rebuild_s")
    stale_before, stale_after = m.row(ds, s, "stale_rate_before"), m.row(ds, s, "stale_rate_after")
    if c.data_change == "never" or update is None or stale_after is None:
        return []
    others = [
        f"{o} {m.value(ds, o, 'update_s'):.1f} s"
        for o in m.strategies(ds)
        if o != s and m.value(ds, o, "update_s") is not None
    ]
    simulated = " (simulated edits of your documents)" if m.value(ds, s, "simulated_edits") else ""
    return [
        f"Your documents change {c.data_change}: updating {s} took {update:.2f} s "
        f"(a full rebuild {rebuild or 0:.1f} s; others: {', '.join(others) or 'none measured'}), and it was "
        f"stale on {stale_before['value']:.0%} → {stale_after['value']:.0%} of {stale_after['n']} changed facts"
        f"{simulated}."
    ]


SUITE = SuiteSpec(
    name=NAME,
    run=freshness_suite,
    summary="after the documents change (a new version, or simulated edits): each strategy updated as in "
    "practice; F1 and stale answers before/after",
    order=70,
    sizes=(
        Size(
            "freshness_questions",
            "freshness: questions about facts that changed in the new version",
            8,
            64,
            scored=True,
        ),
    ),
    columns=(
        Column("changed_f1_before", "F1 before"),
        Column("changed_f1_after", "F1 after"),
        Column("stale_rate_before", "stale before"),
        Column("stale_rate_after", "stale after"),
        Column("update_s", "update s"),
        Column("simulated_edits", "simulated edits"),
    ),
    evidence=_evidence,
)
