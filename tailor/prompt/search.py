"""`tailor tune prompt`: search prompt variants on the dev split, keep the best, save it with its score.

The search is greedy coordinate ascent (:mod:`tailor.prompt.ascent`, which rag's search shares), each
stage keeping the best so far: few-shot count and selection → instruction → placement → static context
on/off (demonstrations first: they move a small model's score most, and a small budget may not reach the
last stage). The baseline's plain prompt is always the first candidate, so on the search part of dev the
tuned prompt never scores below it; the held-out part confirms it. Few-shot examples come only from the
train split; test examples are never seen.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from tailor.contract import PromptedStrategy
from tailor.data.examples import Example, TaskDataset
from tailor.errors import DataError, Problem
from tailor.eval.scoring import primary_metric
from tailor.prompt.ascent import Stage, ascend, bootstrap, scorer, split_dev
from tailor.prompt.builder import PromptSpec, ShotPool, StaticContext, instructions, make_builder, shot_pool
from tailor.prompt.saved import SavedSearch, Tuned, fingerprint_of, search_inputs
from tailor.records import PromptChoice
from tailor.workspace import Workspace

CONTEXT_RESERVE_TOKENS = 512  # room left in the window for instruction, demonstrations and question


@dataclass(frozen=True, kw_only=True)
class TunedPrompt(Tuned[PromptSpec]):
    """The winning prompt of a search, with the evidence for it."""

    spec_type: ClassVar[type] = PromptSpec
    coverage: tuple[dict[str, Any], ...]  # per asker group set: how much of what they may read the static block holds

    def choice(self) -> PromptChoice:
        return replace(super().choice(), context_coverage=self.coverage)

    def chosen(self, path: Path) -> list[str]:
        lines = [
            f"{self.dataset}: best {self.metric} {self.dev_score:.3f} on dev with {self.spec.describe()} → {path}",
            f"  {self.held_out()}",
        ]
        return lines + [
            f"  static context for groups {row['groups']}: {row['documents_included']} of "
            f"{row['documents_visible']} visible documents fit ({row['token_share']:.0%} of their tokens)"
            for row in self.coverage
        ]

    def reused(self, path: Path) -> str:
        return f"{self.dataset}: using the tuned prompt in {path} (dev {self.metric} {self.dev_score:.3f})"


def prompt_path(ws: Workspace, dataset: TaskDataset) -> Path:
    return ws.recipe.out_dir / "prompt" / f"{dataset.name}.json"


def fingerprint(ws: Workspace, dataset: TaskDataset) -> str:
    """Everything the search result depends on; a saved prompt with another fingerprint is stale."""
    r = ws.recipe
    return fingerprint_of(
        search_inputs(ws, dataset)
        | {"generation": r.generation.model_dump(mode="json"), "prompt": r.prompt.model_dump(mode="json")}
    )


def saved_prompt(ws: Workspace, dataset: TaskDataset) -> SavedSearch[TunedPrompt]:
    """Where ``dataset``'s prompt search is saved, and the fingerprint it must carry to be reused."""
    return SavedSearch(prompt_path(ws, dataset), fingerprint(ws, dataset), TunedPrompt, "tuned prompt")


def static_context(ws: Workspace, dataset: TaskDataset) -> StaticContext | None:
    if dataset.kind != "qa" or not ws.corpus or ws.recipe.prompt.context_tokens == 0:
        return None
    window_room = ws.generator.context_window - ws.settings.max_new_tokens - CONTEXT_RESERVE_TOKENS
    budget = max(0, min(ws.recipe.prompt.context_tokens, window_room))
    questions = [e.question for e in dataset.split("train")]
    return StaticContext(ws.corpus, questions, budget, ws.generator.count_tokens)


def build_prompt_strategy(
    ws: Workspace, dataset: TaskDataset, spec: PromptSpec, bootstrapped: tuple[str, ...] = ()
) -> PromptedStrategy:
    """The prompt strategy with ``spec``; ``bootstrapped``: the ids its bootstrapped demonstrations come from."""
    pool = shot_pool(dataset.split("train"), ws.recipe.seed, spec.selection, bootstrapped)
    builder = make_builder(spec, dataset, pool, static_context(ws, dataset) if spec.context else None)
    return PromptedStrategy("prompt", ws.generator, builder, ws.settings_for(dataset))


def _stages(dataset: TaskDataset, ws: Workspace, has_context: bool, bootstrapped: bool) -> list[Stage[PromptSpec]]:
    """The search's stages in order; each maps the best spec so far to the variants to score next.
    ``bootstrapped``: whether the model got any train example right, to draw bootstrapped demonstrations from."""
    cfg = ws.recipe.prompt
    candidates = [dataset.instruction] if dataset.instruction else []
    candidates += [i for i in instructions(dataset.kind) if i not in candidates]
    ways = [*cfg.selection, *(["bootstrapped"] if bootstrapped else [])]
    shot_options = [(k, s) for k in cfg.shots if k > 0 for s in ways]
    # Demonstrations first, as rag's search orders them: for a small model they move the score most, and a
    # small budget may run out before the last stage (wording alone left a 135M model's labels unparsed).
    return [
        lambda best: [replace(best, shots=k, selection=s) for k, s in shot_options],
        lambda best: [replace(best, instruction=i) for i in candidates],
        lambda best: [replace(best, placement=p) for p in ("system", "user")],
        lambda best: [replace(best, context=True)] if has_context else [],
    ]


def search_examples(ws: Workspace, dataset: TaskDataset) -> tuple[list[Example], list[Example]]:
    """(search part, confirm part) of ``dataset``'s dev split, as every prompt search cuts it.

    Raises:
        DataError: the dataset has no dev examples to score variants on.
    """
    dev = dataset.split("dev")
    if not dev:
        raise DataError(
            Problem(
                "prompt search needs examples with split 'dev' (or examples without a split)",
                file=dataset.path,
            )
        )
    cfg = ws.recipe.prompt
    return split_dev(dev, cfg.dev_size, cfg.confirm_size)


def tune_prompt(ws: Workspace, dataset: TaskDataset) -> TunedPrompt:
    """Search prompt variants for ``dataset`` on its dev split and return the best (not saved).

    Raises:
        DataError: the dataset has no dev examples to score variants on.
    """
    start = time.perf_counter()
    search, confirm = search_examples(ws, dataset)
    metric = primary_metric(dataset)
    context = static_context(ws, dataset)
    plain = PromptSpec(instruction=dataset.instruction or instructions(dataset.kind)[0])
    train, seed = dataset.split("train"), ws.recipe.seed
    pools = {"random": ShotPool(train, seed)}

    def builder_of(spec: PromptSpec):
        pool = pools["bootstrapped" if spec.selection == "bootstrapped" else "random"]
        return make_builder(spec, dataset, pool, context)

    score = scorer(ws.generator, ws.settings_for(dataset), dataset, metric, builder_of)
    # Bootstrapping: as many train examples as one candidate's search, asked with the plain prompt.
    tried = train[: len(search)]
    right = bootstrap(
        score, plain, tried, ws.reporter, f"bootstrap prompt: {dataset.name} ({len(tried)} train examples)"
    )
    pools["bootstrapped"] = shot_pool(train, seed, "bootstrapped", right)
    outcome = ascend(
        plain,
        _stages(dataset, ws, context is not None, bool(right)),
        score,
        search,
        confirm,
        ws.recipe.prompt.candidates,
        lambda spec: {"spec": asdict(spec)},
        ws.reporter,
        f"tune prompt: {dataset.name} ({len(search)} dev examples, {len(confirm)} held out)",
        spent=len(tried),
    )
    return TunedPrompt(
        dataset=dataset.name,
        spec=outcome.best,
        metric=metric,
        dev_score=outcome.dev_score,
        n_dev=outcome.n_dev,
        leaderboard=outcome.leaderboard,
        coverage=_coverage(dataset, context),
        fingerprint=fingerprint(ws, dataset),
        tune_s=round(time.perf_counter() - start, 3),
        confirm_score=outcome.confirm_score,
        n_confirm=outcome.n_confirm,
        confirmed=outcome.confirmed,
        calls=outcome.calls,
        bootstrapped=right,
    )


def _coverage(dataset: TaskDataset, context: StaticContext | None) -> tuple[dict[str, Any], ...]:
    """For each distinct asker group set: how much of what they may read fits in the static block."""
    if context is None:
        return ()
    group_sets = sorted({frozenset(e.groups) for e in dataset.examples}, key=sorted)
    return tuple({"groups": sorted(g), **context.coverage(g)} for g in group_sets)


def tune_prompts(ws: Workspace) -> list[TunedPrompt]:
    """Tune and save a prompt for every dataset of the recipe, whether or not a current one is saved."""
    return [saved_prompt(ws, dataset).save(tune_prompt(ws, dataset), ws.reporter) for dataset in ws.datasets]


def ensure_tuned(ws: Workspace, dataset: TaskDataset) -> TunedPrompt:
    """The saved prompt if it is current, else a fresh search (saved)."""
    return saved_prompt(ws, dataset).ensure(lambda: tune_prompt(ws, dataset), ws.reporter)
