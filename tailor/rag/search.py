"""rag's prompt search: the prompt around the retrieved chunks, chosen on dev as prompt's is.

rag's prompt is a prompt too: a fixed set of demonstrations can teach a small model the wrong answer
format (one answer beginning with "-" and every answer began with "-"). So rag and rag+finetune get the
search the prompt strategy gets (:mod:`tailor.prompt.ascent`), with the same budget (``prompt:``) and the
same held-out confirmation, over their own choices, in this order, each stage keeping the best so far:

1. demonstrations: none, each count of ``prompt.shots`` chosen each way of ``prompt.selection`` and
   bootstrapped (as DSPy does: drawn from train examples the model answered right with the recipe's
   retrieval and no demonstrations, asked as their own askers), and another random draw of the recipe's
   count (which demonstrations, not only how many);
2. retrieval: half and twice ``rag.k`` chunks, twice with twice the context budget;
3. instruction: the recipe's, then the task kind's candidates.

The start is the recipe's fixed prompt (``rag.instruction``, ``rag.shots`` random demonstrations,
``rag.k``, ``rag.context_tokens``), so on the search part of dev the choice never scores below it.
Demonstrations come only from the train split and, per user, only from examples whose askers' groups
the user has (:func:`tailor.prompt.builder.may_see`); retrieval is pre-filtered by the same groups.
rag+finetune searches on its fine-tuned model: the weights change which prompt suits them.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import ClassVar

from tailor import plugins
from tailor.contract import PromptBuilder
from tailor.data.examples import TaskDataset
from tailor.eval.scoring import primary_metric
from tailor.models.base import Generator
from tailor.prompt.ascent import Stage, ascend, bootstrap, scorer
from tailor.prompt.builder import fill_instruction, instructions, shot_pool
from tailor.prompt.saved import SavedSearch, Tuned, fingerprint_of, search_inputs
from tailor.prompt.search import search_examples
from tailor.rag.index import ChunkIndex
from tailor.rag.pipeline import RagSpec, context_budget, rag_builder, retriever
from tailor.workspace import Workspace


@dataclass(frozen=True, kw_only=True)
class TunedRag(Tuned[RagSpec]):
    """The prompt rag's search chose for one strategy and dataset, with the evidence for it."""

    spec_type: ClassVar[type] = RagSpec
    strategy: str  # rag, or a strategy that answers behind rag's retrieval (rag+finetune, raft)

    def chosen(self, path: Path) -> list[str]:
        return [
            f"{self.dataset}: {self.strategy}'s best {self.metric} {self.dev_score:.3f} on dev with "
            f"{self.spec.describe()} → {path}",
            f"  {self.held_out()}",
        ]

    def reused(self, path: Path) -> str:
        return f"{self.dataset}: {self.strategy} uses the prompt in {path} (dev {self.dev_score:.3f})"


def tuned_path(ws: Workspace, strategy: str, dataset: TaskDataset) -> Path:
    return ws.recipe.out_dir / "prompt" / strategy / f"{dataset.name}.json"


def fingerprint(ws: Workspace, strategy: str, dataset: TaskDataset) -> str:
    """Everything the search depends on; a saved choice with another fingerprint is stale. rag+finetune's
    model is the fine-tuned one, which its ``finetune:`` section (one of the strategy's ``sections``) and
    the train split determine."""
    r = ws.recipe
    # prompt's budget and the recipe sections the strategy reads (rag+finetune's: its training too)
    sections = [getattr(r, s).model_dump(mode="json") for s in ("prompt", *plugins.strategy(strategy).sections)]
    return fingerprint_of(
        search_inputs(ws, dataset)
        | {"strategy": strategy, "generation": asdict(ws.settings_for(dataset)), "sections": sections}
    )


def saved_rag(ws: Workspace, strategy: str, dataset: TaskDataset) -> SavedSearch[TunedRag]:
    """Where ``strategy``'s prompt search on ``dataset`` is saved, and the fingerprint it must carry to be reused."""
    return SavedSearch(
        tuned_path(ws, strategy, dataset), fingerprint(ws, strategy, dataset), TunedRag, f"{strategy} prompt"
    )


def start_spec(ws: Workspace) -> RagSpec:
    """The recipe's fixed prompt: where the search starts, and what rag was before it searched."""
    cfg = ws.recipe.rag
    return RagSpec(cfg.instruction, cfg.shots, "random", 0, cfg.k, cfg.context_tokens)


def stages(ws: Workspace, dataset: TaskDataset, bootstrapped: bool = True) -> list[Stage[RagSpec]]:
    """The search's stages in order (see the module docstring); each maps the best so far to its variants.
    ``bootstrapped``: whether the model got any train example right, to draw bootstrapped demonstrations from."""
    cfg, rag = ws.recipe.prompt, ws.recipe.rag
    texts = [rag.instruction] + [i for i in instructions(dataset.kind) if i != rag.instruction]

    def demonstrations(best: RagSpec) -> list[RagSpec]:
        ways = [*cfg.selection, *(["bootstrapped"] if bootstrapped else [])]
        shown = [(n, s, 0) for n in sorted(set(cfg.shots)) if n > 0 for s in ways]
        redraw = [(rag.shots, "random", 1)] if rag.shots else []
        options = [(0, "random", 0), *shown, *redraw]
        return [replace(best, shots=n, selection=s, draw=d) for n, s, d in options]

    def retrieval(best: RagSpec) -> list[RagSpec]:
        # Twice the chunks may not fit the budget: also tried with twice the budget (capped by the window).
        fewer, more = max(1, best.k // 2), min(100, 2 * best.k)
        options = [
            replace(best, k=fewer),
            replace(best, k=more),
            replace(best, k=more, context_tokens=2 * best.context_tokens),
        ]
        return [o for o in options if o != best]

    return [demonstrations, retrieval, lambda best: [replace(best, instruction=i) for i in texts]]


def builder_factory(
    ws: Workspace, dataset: TaskDataset, index: ChunkIndex, bootstrapped: tuple[str, ...] = (), *, cache: bool = False
):
    """spec → rag's prompt builder for ``dataset`` over ``index``: demonstrations from its train split, those
    with ids in ``bootstrapped`` for bootstrapped ones."""
    settings = ws.settings_for(dataset)
    train, seed = dataset.split("train"), ws.recipe.seed
    pools = {way: shot_pool(train, seed, way, bootstrapped) for way in ("random", "bootstrapped")}
    retrieve = retriever(index, ws.recipe.rag, cache=cache)

    def builder_of(spec: RagSpec) -> PromptBuilder:
        capped = replace(spec, context_tokens=context_budget(ws, settings.max_new_tokens, spec.context_tokens))
        instruction = fill_instruction(spec.instruction, dataset)
        pool = pools["bootstrapped" if spec.selection == "bootstrapped" else "random"]
        return rag_builder(index, ws.recipe.rag, ws.generator.count_tokens, capped, instruction, pool, retrieve)

    return builder_of


def tune_rag(ws: Workspace, dataset: TaskDataset, strategy: str, generator: Generator, index: ChunkIndex) -> TunedRag:
    """Search the prompt of ``strategy`` (rag's retrieval and prompt in front of ``generator``) on
    ``dataset``'s dev split; return the choice (not saved).

    Raises:
        DataError: the dataset has no dev examples to score variants on.
    """
    began = time.perf_counter()
    search, confirm = search_examples(ws, dataset)
    metric = primary_metric(dataset)
    settings = ws.settings_for(dataset)
    # Bootstrapping: as many train examples as one candidate's search, asked with no demonstrations.
    train = dataset.split("train")[: len(search)]
    plain = scorer(generator, settings, dataset, metric, builder_factory(ws, dataset, index))
    title = f"bootstrap {strategy}: {dataset.name} ({len(train)} train examples)"
    right = bootstrap(plain, replace(start_spec(ws), shots=0), train, ws.reporter, title)
    builder_of = builder_factory(ws, dataset, index, right, cache=True)
    outcome = ascend(
        start_spec(ws),
        stages(ws, dataset, bool(right)),
        scorer(generator, settings, dataset, metric, builder_of),
        search,
        confirm,
        ws.recipe.prompt.candidates,
        lambda spec: {"spec": asdict(spec)},
        ws.reporter,
        f"tune {strategy}: {dataset.name} ({len(search)} dev examples, {len(confirm)} held out)",
        spent=len(train),
    )
    return TunedRag(
        strategy=strategy,
        dataset=dataset.name,
        spec=outcome.best,
        metric=metric,
        dev_score=outcome.dev_score,
        n_dev=outcome.n_dev,
        confirm_score=outcome.confirm_score,
        n_confirm=outcome.n_confirm,
        confirmed=outcome.confirmed,
        leaderboard=outcome.leaderboard,
        fingerprint=fingerprint(ws, strategy, dataset),
        tune_s=round(time.perf_counter() - began, 3),
        bootstrapped=right,
        calls=outcome.calls,
    )


def ensure_rag_tuned(
    ws: Workspace, dataset: TaskDataset, strategy: str, generator: Generator, index: ChunkIndex
) -> TunedRag:
    """The saved choice if it is current, else a fresh search, saved."""
    saved = saved_rag(ws, strategy, dataset)
    return saved.ensure(lambda: tune_rag(ws, dataset, strategy, generator, index), ws.reporter)
