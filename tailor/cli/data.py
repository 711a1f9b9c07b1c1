"""The commands that make a project's data: `tailor world` (a synthetic organisation), `tailor synth` (a
checked test set from your documents) and `tailor ingest` (the rag index)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from tailor.cli.conventions import JsonOpt, RecipeOpt, Size, cli_errors, each_workspace, reporter, stderr


@cli_errors
def world(
    out: Annotated[Path, typer.Option(help="directory to write the world to")],
    seed: Annotated[int, typer.Option(help="same seed, same world, byte for byte")] = 0,
    size: Annotated[Size, typer.Option(help="world size")] = "small",
    version: Annotated[int, typer.Option(help="2 writes the evolved world (changed facts in changes.jsonl)")] = 1,
) -> None:
    """Write a synthetic organisation: markdown documents with access groups, QA and routing examples."""
    from tailor.data.world import evolve_world, generate_world, write_world
    from tailor.errors import DataError

    if version < 1:
        raise DataError("--version must be 1 or more")
    w, changes = generate_world(seed, size), None
    for _ in range(version - 1):
        w, changes = evolve_world(w, seed=seed)
    write_world(w, out, changes)
    summary = f"{len(w.documents)} documents, {len(w.facts)} facts, {len(w.messages)} routing messages"
    extra = f", {len(changes)} changed facts" if changes else ""
    stderr().print(f"wrote world v{w.version} (seed {seed}, {size}) to {out}: {summary}{extra}")


@cli_errors
def synth(
    recipe: RecipeOpt = None,
    limit: Annotated[
        int | None,
        typer.Option(min=1, metavar="N", help="questions to keep [default: synth.questions]", show_default=False),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            help="seed for the order spans are tried in and for splits [default: synth.seed]", show_default=False
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="print the report as JSON on stdout instead of a summary")
    ] = False,
) -> None:
    """Write the recipe's examples from its documents: a checked test set when you have no labelled questions.

    Answers are spans of your documents (numbers, dates, versions, identifiers, names, defined terms);
    the model (the recipe's, or synth.model) writes one question per span, and a question is kept only
    if it is one clean question, does not give its answer away, is answered with the span by the model
    given the passage alone (round trip), makes a search of the whole corpus rank its source in the top
    synth.specificity_k, and is no duplicate. Also: questions over two related passages, and
    unanswerable ones (a made-up subject; expected answer synth.abstention). Questions about
    group-restricted documents carry those groups and a user of them. Splits keep each fact in one split.

    Writes data.examples[0].path (or synth.output), and beside it NAME.synth-report.json (counts at
    every check) and NAME.synth-state.json. Run again after documents change: new and changed
    documents get questions, the rest keep theirs, and an example you edited is never overwritten.
    Deterministic for a seed. Nothing leaves the machine unless synth.model names an endpoint.
    """
    from tailor.progress import RichReporter
    from tailor.recipe_file import find_recipe, load_recipe
    from tailor.synth.pipeline import synthesize

    loaded = load_recipe(find_recipe(recipe), check_files=False)  # the examples file is what synth writes
    run = synthesize(loaded, RichReporter(), limit=limit, seed=seed)
    if as_json:
        sys.stdout.write(json.dumps(run.report, indent=2) + "\n")
    else:
        typer.echo("\n".join(run.summary()))


@cli_errors
def ingest(
    recipe: RecipeOpt = None,
    drop: Annotated[
        bool,
        typer.Option(
            "--drop",
            help="delete the index instead: drop its tables on the pgvector server (only this index's), "
            "then remove the index directory; with nothing to drop, says so",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Build or update the rag index from the recipe's documents; with --drop, delete it.

    Only new or changed documents are embedded; deleted ones are removed. Safe to interrupt: the
    index stays usable and the next run finishes the work.

    --drop deletes the index: with rag.store: pgvector, the tables its directory's pgvector.json names
    (no other index's on the server), then the directory; it prints what it dropped. Use it rather than
    deleting the directory by hand, which leaves the tables on the server and loses the file naming them.
    Copies of the directory made by hand (a serve machine's) use the same tables. Nothing to drop: it says
    so and exits 0.
    """
    from dataclasses import asdict

    from tailor.rag.pipeline import ensure_index

    if drop:
        _drop_indexes(recipe, as_json)
        return
    ready = [ensure_index(ws) for _, ws in each_workspace(recipe, reporter())]
    if as_json:
        payload = [{**asdict(r.report), "index": str(r.index_dir)} for r in ready]
        _print_json(payload)


def _drop_indexes(recipe: Path | None, as_json: bool) -> None:
    """`tailor ingest --drop`: delete the index of each model's run (one unless the recipe lists models)."""
    from tailor.candidates import model_runs
    from tailor.rag.index import drop_index
    from tailor.rag.pipeline import recipe_server
    from tailor.recipe_file import find_recipe, load_recipe

    loaded = load_recipe(find_recipe(recipe), check_files=False)  # the documents are not read
    recipes = {r.index_dir: r for r in [run.recipe for run in model_runs(loaded)] or [loaded]}
    dropped = [drop_index(r.index_dir, r.rag.store, recipe_server(r)) for r in recipes.values()]
    if as_json:
        _print_json([{"index": str(d.index_dir), "tables": list(d.tables), "removed": d.removed} for d in dropped])
        return
    for d in dropped:
        stderr().print(d.summary(), highlight=False, soft_wrap=True)


def _print_json(payload: list[dict]) -> None:
    """One object for one index, a list for several (a recipe with models:)."""
    sys.stdout.write(json.dumps(payload[0] if len(payload) == 1 else payload, indent=2) + "\n")
