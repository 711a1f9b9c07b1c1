"""Starting points: a project on the synthetic world, a project on the user's own documents, the demo."""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tailor import plugins
from tailor.artifacts import write_text_atomic
from tailor.config import DEFAULT_RECIPE_NAME, Recipe
from tailor.data.corpus import SUPPORTED_SUFFIXES
from tailor.data.settings import DataConfig, ExampleSet
from tailor.errors import DataError, Problem, RecipeError
from tailor.models.settings import PackagedModel
from tailor.progress import Reporter, SilentReporter
from tailor.recipe_file import load_recipe
from tailor.recipe_render import render_recipe

if TYPE_CHECKING:
    from tailor.report.html import Report

ROUTING_ANSWER_TOKENS = 8  # a department name; longer answers only cost time


@dataclass(frozen=True)
class DemoScale:
    """How much the demo trains and probes: in 8 to 15 minutes on 2 CPU cores for the small
    world (a real run trains longer; see finetune.max_steps), and little for the tiny world the tests use.
    Suites run in quick mode; ``eval`` overrides its sizes."""

    finetune_steps: int
    eval: dict[str, int] = field(default_factory=dict)
    retrain_steps: int = 3  # freshness: continued training on the changed documents
    prompt: dict[str, int] = field(default_factory=dict)  # prompt search overrides (variants, dev examples)
    answer_tokens: int | None = None  # qa's answer length (default: generation.max_new_tokens)
    batch_size: int | None = None  # prompts generated together (default: generation.batch_size)


DEMO_SCALE = {
    # The tests' demo: every suite runs, on as little as shows it works.
    "tiny": DemoScale(
        finetune_steps=4,
        eval={
            "limit": 6,
            "leakage_probes": 4,
            "canary_candidates": 15,
            "forgetting_passages": 4,
            "trivia_questions": 4,
            "robustness_questions": 2,
            "bias_questions": 1,
            "freshness_questions": 3,
            "interpret_examples": 2,
            "compress": ["int8"],
            "compress_examples": 2,
            "compress_prompts": 1,
        },
        retrain_steps=2,
        prompt={"candidates": 3, "dev_size": 4, "confirm_size": 2},  # each search runs and tries one variant
        answer_tokens=16,  # the world's answers are a name, a figure or a date: 16 tokens hold them
        batch_size=16,
    ),
    # 8 to 15 minutes on 2 cores (500 s recorded, in bf16 on a CPU with bf16 instructions; 777 s in
    # float32): 40 of the 58 qa test questions; each prompt search (prompt, rag, rag+finetune) spends 4
    # variants' worth (of 12) of answers on 12 dev examples (of 24), 6 more held out: the searches cost
    # 93 s of the recorded demo (166 s in float32). Freshness on 6 changed
    # facts (those outside the train split), every model also in int8 on 8 questions (1 timed prompt); the
    # suites' own quick sizes do the rest. Answers of 16 tokens (the default 32 let the base model ramble
    # to the cap) and batches of 16 (one decode step of 16 rows costs ~1.1x a step of 8 on 2 cores: the
    # weights are read once per step either way) took the demo from 942 s to 795 s on a machine of this kind.
    "small": DemoScale(
        finetune_steps=40,
        eval={
            "limit": 40,
            "freshness_questions": 6,
            "compress": ["int8"],
            "compress_examples": 8,
            "compress_prompts": 1,
        },
        prompt={"candidates": 4, "dev_size": 12, "confirm_size": 6},
        answer_tokens=16,
        batch_size=16,
    ),
    "medium": DemoScale(finetune_steps=60),
}
# Formats `init --from-dir` globs for. JSONL is left out: a folder of documents often holds the task
# examples too, and those are not corpus; JSONL corpora are added to data.corpus by hand.
INIT_SUFFIXES = tuple(s for s in SUPPORTED_SUFFIXES if s != ".jsonl")


def _guard(recipe_path: Path, force: bool) -> None:
    if recipe_path.exists() and not force:
        raise RecipeError(Problem("already exists; pass --force to overwrite it", file=recipe_path))


def world_recipe(
    world_dir: str = "world", out: str = "runs/latest", seed: int = 0, demo: DemoScale | None = None
) -> Recipe:
    """A recipe over a world written by :func:`tailor.data.world.write_world` at ``world_dir``.

    With ``demo``, the recipe also trains (``finetune`` and ``rag+finetune``), at the demo's scale, and
    measures freshness against the world's version 2 at ``<world_dir>-v2`` (see :func:`init_project`).
    """
    extra = {}
    routing = ["baseline", "prompt"]  # routing a message needs no documents: rag is not scored there
    if demo is not None:
        # Three canaries (planted 1, 4 and 16 times) let the leakage suite measure memorisation.
        extra = {
            "strategies": [*plugins.default_strategies(), "finetune", "rag+finetune"],
            "finetune": {"max_steps": demo.finetune_steps, "canaries": {"count": 3}},
            **({"generation": {"batch_size": demo.batch_size}} if demo.batch_size else {}),
            **({"prompt": demo.prompt} if demo.prompt else {}),
            "eval": {
                "mode": "quick",
                **demo.eval,
                "freshness": {
                    "corpus": [f"{world_dir}-v2/docs/**/*.md"],
                    "examples": f"{world_dir}-v2/changed_qa.jsonl",
                    "retrain_steps": demo.retrain_steps,
                },
            },
        }
        routing.append("finetune")
    return Recipe(
        data=DataConfig(
            corpus=[f"{world_dir}/docs/**/*.md"],
            examples=[
                ExampleSet(path=f"{world_dir}/qa.jsonl", max_new_tokens=demo.answer_tokens if demo else None),
                ExampleSet(
                    path=f"{world_dir}/routing.jsonl",
                    max_new_tokens=ROUTING_ANSWER_TOKENS,
                    strategies=routing,
                ),
            ],
        ),
        seed=seed,
        out=out,
        **extra,
    )


def init_project(
    directory: Path,
    *,
    size: str = "small",
    seed: int = 0,
    force: bool = False,
    out: str = "runs/latest",
    demo: DemoScale | None = None,
) -> Path:
    """Write ``directory/tailor.yaml`` and a synthetic world beside it; the recipe runs as is.

    ``demo`` adds the fine-tuning strategies (they train, so a plain project leaves them out) and the
    world's version 2 in ``world-v2/`` (changed facts; ``changed_qa.jsonl`` asks about them) for the
    freshness suite.

    Raises:
        RecipeError: a recipe exists there already and ``force`` is false.
    """
    from tailor.data.world import evolve_world, generate_world, write_world

    directory = Path(directory)
    recipe_path = directory / DEFAULT_RECIPE_NAME
    _guard(recipe_path, force)
    world = generate_world(seed, size)
    write_world(world, directory / "world")
    if demo is not None:
        v2, changes = evolve_world(world, seed=seed)
        write_world(v2, directory / "world-v2", changes, previous=world)
    header = (
        "tailor recipe over a synthetic organisation (world/). Run from this directory:\n"
        "  tailor tune prompt && tailor eval\n"
        "Replace data: with your own documents and examples when ready (tailor init --from-dir DOCS)."
    )
    recipe = world_recipe(seed=seed, out=out, demo=demo)
    write_text_atomic(recipe_path, render_recipe(recipe, header))
    return recipe_path


def init_from_dir(
    directory: Path, docs: Path, examples: Path | None = None, *, force: bool = False
) -> tuple[Path, dict[str, int]]:
    """Write ``directory/tailor.yaml`` over the user's documents in ``docs`` (and examples, if given).

    Returns the recipe path and the count of documents found per file type.

    Raises:
        DataError: ``docs`` is not a directory or holds no supported document.
        RecipeError: a recipe exists there already and ``force`` is false.
    """
    directory, docs = Path(directory).resolve(), Path(docs).resolve()
    if not docs.is_dir():
        raise DataError(Problem("not a directory", file=docs))
    counts = Counter(p.suffix.lower() for p in docs.rglob("*") if p.is_file())
    found = {s: counts[s] for s in INIT_SUFFIXES if counts[s]}
    if not found:
        kinds = ", ".join(sorted(counts)) or "none"
        raise DataError(Problem(f"no {'/'.join(INIT_SUFFIXES)} documents found (file types seen: {kinds})", file=docs))
    recipe_path = directory / DEFAULT_RECIPE_NAME
    _guard(recipe_path, force)
    rel = _relative(docs, directory)
    example_path = _relative(Path(examples).resolve(), directory) if examples else "examples.jsonl"
    data = DataConfig(
        corpus=[f"{rel}/**/*{suffix}" for suffix in found],
        examples=[ExampleSet(path=example_path)],
        default_groups=["everyone"],
    )
    ladder = installed_ladder()
    recipe = Recipe(data=data) if len(ladder) < 2 else Recipe(data=data, models=ladder)
    header = (
        f"tailor recipe over the documents in {docs}.\n"
        + (
            ""
            if examples
            else "No labelled questions? `tailor synth` writes examples.jsonl from the documents, each question\n"
            'checked (synth: below); or write your own, one {"id", "question", "answer"} object per line.\n'
        )
        + MODELS_HINT
        + "Documents and examples without `groups` are visible to group 'everyone' (data.default_groups);\n"
        "give confidential documents `groups:` in front matter or data.access rules.\n"
        + (
            "Run from this directory: tailor tune prompt && tailor eval"
            if examples
            else "Run from this directory: tailor synth && tailor eval && tailor report"
        )
    )
    write_text_atomic(recipe_path, render_recipe(recipe, header))
    return recipe_path, found


MODELS_HINT = (
    "The base model is the first lever: list several under models: and every strategy is scored on each\n"
    "(strategy@model). Packaged, offline: `tailor models` lists them; pip install 'llm-tailor[ladder]' adds\n"
    "Qwen2.5-Coder-0.5B/1.5B-Instruct. Your own: {kind: hf, path: org/name} (a hub id) or {kind: hf, path: DIR},\n"
    "{kind: gguf, path: FILE.gguf}, or an endpoint {kind: openai, base_url: http://HOST:PORT/v1, model: NAME}.\n"
)


def installed_ladder() -> dict[str, PackagedModel]:
    """The packaged models installed here as a models: ladder, smallest first, by their short names."""
    from tailor.models.packaged import catalog, installed_models

    return {catalog()[name].short: PackagedModel(name=name) for name in installed_models()}


def _relative(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()


@dataclass(frozen=True)
class DemoRun:
    results: dict[str, Any]  # results.json's content
    report: Report


def run_demo(out: Path, *, size: str = "small", seed: int = 0, reporter: Reporter | None = None) -> DemoRun:
    """The embedded default end to end: world → recipe → prompt search, index, LoRA → eval → report.

    Run again on the same ``out``, the world is rewritten identically and the tuned prompts are reused.
    """
    from tailor.eval.runner import evaluate
    from tailor.report.html import write_report
    from tailor.workspace import open_workspace

    reporter = reporter or SilentReporter()
    start = time.perf_counter()
    recipe_path = init_project(Path(out), size=size, seed=seed, force=True, out=".", demo=DEMO_SCALE[size])
    reporter.log(f"demo: synthetic world and recipe written to {recipe_path}")
    ws = open_workspace(load_recipe(recipe_path), reporter)
    results = evaluate(ws)  # tunes the prompt strategy first, or reuses a current tuned prompt
    report = write_report(ws.recipe.out_dir)
    reporter.log(f"demo finished in {time.perf_counter() - start:.0f} s; report: {report.html}")
    return DemoRun(results, report)
