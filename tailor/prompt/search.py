"""`tailor tune prompt`: search prompt variants on the dev split, keep the best, save it with its score.

The search is greedy coordinate ascent over three choices, each stage keeping the best so far:
instruction → few-shot count and selection → static context on/off. The baseline's plain prompt is
always the first candidate, so on the dev split the tuned prompt never scores below it. Few-shot
examples come only from the train split; test examples are never seen.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from tailor.artifacts import read_json_artifact, write_json_atomic
from tailor.contract import PromptedStrategy, asker
from tailor.data.examples import TaskDataset
from tailor.errors import ArtifactError, DataError, Problem
from tailor.eval.suites.task import example_scores, primary_metric
from tailor.prompt.builder import PromptSpec, ShotPool, StaticContext, instructions, make_builder
from tailor.workspace import Workspace

TUNED_KEYS = (
    "dataset",
    "spec",
    "metric",
    "dev_score",
    "n_dev",
    "leaderboard",
    "coverage",
    "fingerprint",
    "tune_s",
)
CONTEXT_RESERVE_TOKENS = 512  # room left in the window for instruction, demonstrations and question


@dataclass(frozen=True)
class TunedPrompt:
    """The winning prompt of a search, with the evidence for it."""

    dataset: str
    spec: PromptSpec
    metric: str
    dev_score: float
    n_dev: int
    leaderboard: tuple[dict[str, Any], ...]
    coverage: tuple[dict[str, Any], ...]
    fingerprint: str
    tune_s: float

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["leaderboard"], d["coverage"] = list(self.leaderboard), list(self.coverage)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TunedPrompt:
        fields = {k: d[k] for k in TUNED_KEYS}
        fields["spec"] = PromptSpec(**d["spec"])
        fields["leaderboard"], fields["coverage"] = tuple(d["leaderboard"]), tuple(d["coverage"])
        return cls(**fields)


def prompt_path(ws: Workspace, dataset: TaskDataset) -> Path:
    return ws.recipe.out_dir / "prompt" / f"{dataset.name}.json"


def fingerprint(ws: Workspace, dataset: TaskDataset) -> str:
    """Everything the search result depends on; a saved prompt with another fingerprint is stale."""
    r = ws.recipe
    parts = {
        "model": r.model.model_dump(mode="json"),
        "generation": r.generation.model_dump(mode="json"),
        "prompt": r.prompt.model_dump(mode="json"),
        "seed": r.seed,
        "examples": [e.model_dump(mode="json") for e in dataset.examples if e.split in ("train", "dev")],
        "corpus": [(d.doc_id, d.content_hash, sorted(d.groups)) for d in ws.corpus],
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def static_context(ws: Workspace, dataset: TaskDataset) -> StaticContext | None:
    if dataset.kind != "qa" or not ws.corpus or ws.recipe.prompt.context_tokens == 0:
        return None
    window_room = ws.generator.context_window - ws.settings.max_new_tokens - CONTEXT_RESERVE_TOKENS
    budget = max(0, min(ws.recipe.prompt.context_tokens, window_room))
    questions = [e.question for e in dataset.split("train")]
    return StaticContext(ws.corpus, questions, budget, ws.generator.count_tokens)


def build_prompt_strategy(ws: Workspace, dataset: TaskDataset, spec: PromptSpec) -> PromptedStrategy:
    pool = ShotPool(dataset.split("train"), ws.recipe.seed)
    builder = make_builder(spec, dataset, pool, static_context(ws, dataset) if spec.context else None)
    return PromptedStrategy("prompt", ws.generator, builder, ws.settings_for(dataset))


def _stages(dataset: TaskDataset, ws: Workspace, has_context: bool) -> list[Callable[[PromptSpec], list[PromptSpec]]]:
    """The search's stages in order; each maps the best spec so far to the variants to score next."""
    cfg = ws.recipe.prompt
    candidates = [dataset.instruction] if dataset.instruction else []
    candidates += [i for i in instructions(dataset.kind) if i not in candidates]
    shot_options = [(k, s) for k in cfg.shots if k > 0 for s in cfg.selection]
    return [
        lambda best: [replace(best, instruction=i) for i in candidates],
        lambda best: [replace(best, placement=p) for p in ("system", "user")],
        lambda best: [replace(best, shots=k, selection=s) for k, s in shot_options],
        lambda best: [replace(best, context=True)] if has_context else [],
    ]


def _search_size(stages: list[Callable[[PromptSpec], list[PromptSpec]]], start: PromptSpec, budget: int) -> int:
    """How many variants the search will score (for the progress bar): every stage's new ones, within budget."""
    distinct = {start} | {spec for stage in stages for spec in stage(start)}
    return min(budget, len(distinct))


def tune_prompt(ws: Workspace, dataset: TaskDataset) -> TunedPrompt:
    """Search prompt variants for ``dataset`` on its dev split and return the best (not saved).

    Raises:
        DataError: the dataset has no dev examples to score variants on.
    """
    dev_all = dataset.split("dev")
    if not dev_all:
        raise DataError(
            Problem(
                "prompt search needs examples with split 'dev' (or examples without a split)",
                file=dataset.path,
            )
        )
    start = time.perf_counter()
    cfg, metric = ws.recipe.prompt, primary_metric(dataset)
    dev = dev_all[: cfg.dev_size]
    context = static_context(ws, dataset)
    pool = ShotPool(dataset.split("train"), ws.recipe.seed)
    scored: dict[PromptSpec, dict[str, Any]] = {}

    def evaluate(specs: list[PromptSpec], advance: Callable[[int], None]) -> None:
        specs = [s for s in specs if s not in scored][: cfg.candidates - len(scored)]
        if not specs:
            return
        builders = [make_builder(s, dataset, pool, context) for s in specs]
        # One generate call for the whole stage: batches stay full across candidates.
        built = [build(e.question, asker(e)) for build in builders for e in dev]
        gens = ws.generator.generate([b.messages for b in built], ws.settings_for(dataset), advance)
        for j, spec in enumerate(specs):
            chunk = gens[j * len(dev) : (j + 1) * len(dev)]
            score = sum(example_scores(g.text, e, dataset)[metric] for g, e in zip(chunk, dev, strict=True)) / len(dev)
            tokens = sum(g.prompt_tokens for g in chunk) / len(dev)
            scored[spec] = {
                "spec": asdict(spec),
                "score": round(score, 6),
                "prompt_tokens_mean": round(tokens, 1),
            }

    best = PromptSpec(instruction=dataset.instruction or instructions(dataset.kind)[0])
    stages = _stages(dataset, ws, context is not None)
    total = _search_size(stages, best, cfg.candidates) * len(dev)
    with ws.reporter.task(f"tune prompt: {dataset.name} ({len(dev)} dev examples)", total) as advance:
        evaluate([best], advance)
        for stage in stages:
            evaluate(stage(best), advance)
            # Best score wins; ties go to the shorter (cheaper) prompt.
            best = PromptSpec(**max(scored.values(), key=lambda r: (r["score"], -r["prompt_tokens_mean"]))["spec"])
    leaderboard = sorted(scored.values(), key=lambda r: (-r["score"], r["prompt_tokens_mean"]))
    return TunedPrompt(
        dataset=dataset.name,
        spec=best,
        metric=metric,
        dev_score=scored[best]["score"],
        n_dev=len(dev),
        leaderboard=tuple(leaderboard),
        coverage=_coverage(dataset, context),
        fingerprint=fingerprint(ws, dataset),
        tune_s=round(time.perf_counter() - start, 3),
    )


def _coverage(dataset: TaskDataset, context: StaticContext | None) -> tuple[dict[str, Any], ...]:
    """For each distinct asker group set: how much of what they may read fits in the static block."""
    if context is None:
        return ()
    group_sets = sorted({frozenset(e.groups) for e in dataset.examples}, key=sorted)
    return tuple({"groups": sorted(g), **context.coverage(g)} for g in group_sets)


def save_tuned(ws: Workspace, dataset: TaskDataset, tuned: TunedPrompt) -> Path:
    return write_json_atomic(prompt_path(ws, dataset), tuned.to_json())


def load_saved_prompt(ws: Workspace, dataset: TaskDataset) -> TunedPrompt | None:
    """The saved prompt for ``dataset`` if it exists and still matches the data, model and settings."""
    path = prompt_path(ws, dataset)
    if not path.exists():
        return None
    try:
        tuned = TunedPrompt.from_json(read_json_artifact(path, TUNED_KEYS, "tuned prompt"))
    except (ArtifactError, TypeError, KeyError):
        ws.reporter.log(f"[yellow]ignoring unreadable tuned prompt {path}; tuning again[/]")
        return None
    if tuned.fingerprint != fingerprint(ws, dataset):
        ws.reporter.log(f"{path}: data, model or search settings changed since it was tuned; tuning again")
        return None
    return tuned


def _tune_and_save(ws: Workspace, dataset: TaskDataset) -> TunedPrompt:
    result = tune_prompt(ws, dataset)
    path = save_tuned(ws, dataset, result)
    ws.reporter.log(
        f"{dataset.name}: best {result.metric} {result.dev_score:.3f} on dev with {result.spec.describe()} → {path}"
    )
    for row in result.coverage:
        ws.reporter.log(
            f"  static context for groups {row['groups']}: {row['documents_included']} of "
            f"{row['documents_visible']} visible documents fit ({row['token_share']:.0%} of their tokens)"
        )
    return result


def tune_prompts(ws: Workspace) -> list[TunedPrompt]:
    """Tune and save a prompt for every dataset of the recipe, whether or not a current one is saved."""
    return [_tune_and_save(ws, dataset) for dataset in ws.datasets]


def ensure_tuned(ws: Workspace, dataset: TaskDataset) -> TunedPrompt:
    """The saved prompt if it is current, else a fresh search (saved)."""
    tuned = load_saved_prompt(ws, dataset)
    if tuned is None:
        return _tune_and_save(ws, dataset)
    path = prompt_path(ws, dataset)
    ws.reporter.log(f"{dataset.name}: using the tuned prompt in {path} (dev {tuned.metric} {tuned.dev_score:.3f})")
    return tuned
