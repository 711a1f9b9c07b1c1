"""`tailor tune prompt`: search prompt variants on the dev split, keep the best, save it with its score.

The search is greedy coordinate ascent (:mod:`tailor.prompt.ascent`, which rag's search shares), each
stage keeping the best so far: few-shot count and selection → instruction → placement → static context
on/off (demonstrations first: they move a small model's score most, and a small budget may not reach the
last stage). The baseline's plain prompt is always the first candidate, so on the search part of dev the
tuned prompt never scores below it; the held-out part confirms it. Few-shot examples come only from the
train split; test examples are never seen.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from tailor.artifacts import read_json_artifact, write_json_atomic
from tailor.contract import PromptedStrategy
from tailor.data.examples import Example, TaskDataset
from tailor.errors import ArtifactError, DataError, Problem
from tailor.eval.scoring import primary_metric
from tailor.prompt.ascent import Stage, ascend, bootstrap, scorer, split_dev
from tailor.prompt.builder import PromptSpec, ShotPool, StaticContext, instructions, make_builder, shot_pool
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
HELD_OUT_KEYS = (
    "confirm_score",
    "n_confirm",
    "confirmed",
    "calls",
    "bootstrapped",
)  # absent from prompts saved before they existed
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
    confirm_score: float | None = None  # on held-out dev examples the search never saw
    n_confirm: int = 0
    confirmed: bool = True  # False: the winner lost to the starting prompt there, which was kept
    calls: int = 0  # generations the search part took (at most prompt.candidates × n_dev)
    bootstrapped: tuple[str, ...] = ()  # ids of the train examples bootstrapped demonstrations are drawn from

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["leaderboard"], d["coverage"], d["bootstrapped"] = (
            list(self.leaderboard),
            list(self.coverage),
            list(self.bootstrapped),
        )
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TunedPrompt:
        fields = {k: d[k] for k in TUNED_KEYS} | {k: d[k] for k in HELD_OUT_KEYS if k in d}
        fields["spec"] = PromptSpec(**d["spec"])
        fields["leaderboard"], fields["coverage"] = tuple(d["leaderboard"]), tuple(d["coverage"])
        fields["bootstrapped"] = tuple(d.get("bootstrapped", ()))
        return cls(**fields)


def prompt_path(ws: Workspace, dataset: TaskDataset) -> Path:
    return ws.recipe.out_dir / "prompt" / f"{dataset.name}.json"


def fingerprint(ws: Workspace, dataset: TaskDataset) -> str:
    """Everything the search result depends on; a saved prompt with another fingerprint is stale."""
    r = ws.recipe
    parts = {
        "model": ws.model_identity(),
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


def held_out(score: float | None, n: int, confirmed: bool) -> str:
    """What the held-out dev examples said about a search's winner, in words."""
    if score is None:
        return "no dev examples held out to confirm it (prompt.confirm_size, or dev too small)"
    if not confirmed:
        return f"on {n} held-out dev examples it lost to the starting prompt ({score:.3f}), which is kept"
    return f"on {n} held-out dev examples it scores {score:.3f}"


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
        tuned = TunedPrompt.from_json(read_json_artifact(path, TUNED_KEYS + HELD_OUT_KEYS, "tuned prompt"))
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
    ws.reporter.log(f"  {held_out(result.confirm_score, result.n_confirm, result.confirmed)}")
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
