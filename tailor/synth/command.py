"""The `tailor synth` command, registered by tailor.cli (which is at the 500-line limit; the command is
typed and documented here, with the library function it wraps, and wired there like the others)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer


def synth_command(
    recipe: Annotated[
        Path | None,
        typer.Option("--recipe", "-r", help="recipe file [default: ./tailor.yaml]", show_default=False),
    ] = None,
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
