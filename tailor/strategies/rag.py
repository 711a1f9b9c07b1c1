"""rag: retrieval-augmented generation over the recipe's index (see tailor.rag)."""

from __future__ import annotations

from tailor.contract import PromptedStrategy, Strategy
from tailor.data.examples import TaskDataset
from tailor.models.base import Generator
from tailor.rag.index import ChunkIndex, copy_index
from tailor.rag.pipeline import INDEX, cite, ensure_index, store_server
from tailor.rag.search import TunedRag, builder_factory, ensure_rag_tuned, saved_rag, tune_rag
from tailor.records import Build, IndexInfo
from tailor.strategies.base import BuiltStrategy, Cost, StrategySpec, Update, Updated
from tailor.workspace import Workspace


def rag_with(
    ws: Workspace,
    dataset: TaskDataset,
    name: str,
    generator: Generator,
    build_s: float = 0.0,
    index: ChunkIndex | None = None,
    tuned_on: tuple[Workspace, TaskDataset] | None = None,
) -> BuiltStrategy:
    """``generator`` behind rag's retrieval, prompt and citations, named ``name``; over the workspace's
    index unless ``index`` is given. The prompt is the one searched for ``name`` on the workspace's dev
    split (:mod:`tailor.rag.search`), or on ``tuned_on``'s (an update keeps its old choice).
    ``build_s``: what building the generator cost, added to the index's and the search's."""
    home, home_dataset = tuned_on or (ws, dataset)
    ready = home.shared(INDEX, lambda: ensure_index(home)).index
    tuned = ensure_rag_tuned(home, home_dataset, name, generator, ready)
    index = index or ws.shared(INDEX, lambda: ensure_index(ws)).index
    builder = builder_factory(ws, dataset, index, tuned.bootstrapped)(tuned.spec)
    indexed = IndexInfo(len(index), index.settings.embedder, index.version)
    strategy = PromptedStrategy(name, generator, builder, ws.settings_for(dataset), finish=cite)
    return BuiltStrategy(strategy, Build(index.build_s + build_s + tuned.tune_s, index=indexed, prompt=tuned.choice()))


def over_index(ws: Workspace, dataset: TaskDataset, strategy: Strategy, index: ChunkIndex) -> Strategy:
    """``strategy`` retrieving from ``index`` instead of the recipe's (same model, prompt and citations)."""
    return rag_with(ws, dataset, strategy.name, strategy.generator, index=index).strategy


def reingest(up: Update) -> Cost:
    """Ingest the new version into a copy of the old index (once per update; rag and rag+finetune share it)."""
    old = up.old.shared(INDEX, lambda: ensure_index(up.old))

    def build():
        copy_index(old.index_dir, up.new.recipe.index_dir, store_server(up.old))
        return ensure_index(up.new)

    report = up.new.shared(INDEX, build).report
    return Cost(
        report.seconds,
        old.index.build_s,
        {
            "docs_reembedded": (report.added + report.updated, len(up.new.corpus)),
            "chunks_reembedded": (report.chunks_embedded, report.chunks_total),
        },
    )


def build(ws: Workspace, dataset: TaskDataset) -> BuiltStrategy:
    return rag_with(ws, dataset, "rag", ws.generator)


def search_prompts(ws: Workspace, name: str = "rag", generator: Generator | None = None) -> list[TunedRag]:
    """Search and save ``name``'s prompt (``generator`` behind rag's retrieval) afresh for every dataset the
    recipe scores it on (`tailor tune prompt --strategy`); the index is built first if it is missing."""
    index = ws.shared(INDEX, lambda: ensure_index(ws)).index
    model = generator or ws.generator
    datasets = [d for d in ws.datasets if name in ws.strategies_for(d)]
    return [saved_rag(ws, name, d).save(tune_rag(ws, d, name, model, index), ws.reporter) for d in datasets]


def update(before: Strategy, up: Update) -> Updated:
    """The new version ingested incrementally into a copy of the index; the original stays as it was.
    The prompt stays the one searched on the old version (no new search)."""
    cost = reingest(up)
    return rag_with(up.new, up.dataset, "rag", up.new.generator, tuned_on=(up.old, up.old_dataset)).strategy, cost


STRATEGY = StrategySpec(
    name="rag",
    build=build,
    summary="chunks retrieved (dense + BM25, filtered by the asker's groups) in front of the base model, cited",
    simplicity=2,
    retrieves=True,
    default=True,
    update=update,
    sections=("rag",),
    over_index=over_index,
    search=search_prompts,
    settings="rag",
)
