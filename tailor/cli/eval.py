"""`tailor eval`: every strategy through every suite, into the run's results."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from tailor.cli.conventions import JsonOpt, RecipeOpt, cli_errors, print_results, reporter

Mode = Literal["quick", "full"]


@cli_errors
def eval_(
    recipe: RecipeOpt = None,
    suites: Annotated[
        str | None,
        typer.Option(
            help="comma-separated suites to run (`tailor plugins` lists them) [default: the recipe's suites:, "
            "which default to all; each skips what does not apply]",
            show_default=False,
        ),
    ] = None,
    mode: Annotated[
        Mode | None,
        typer.Option(
            help="suite sizes: quick (minutes on a CPU) or full (what a decision rests on) [default: eval.mode]",
            show_default=False,
        ),
    ] = None,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="recompute everything, ignoring the answers and suite results saved")
    ] = False,
    until_decided: Annotated[
        bool,
        typer.Option(
            "--until-decided",
            help="answer in batches; stop once one strategy is separated from every other (eval.until_decided)",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Run every strategy through every suite; write OUT/results.json and OUT/predictions.jsonl.

    A prompt strategy whose search result is missing or stale is tuned first. Each suite's size
    (probes, perturbed questions, personas...) follows --mode unless the recipe's eval: sets it.
    Each strategy's answers and each suite's results are saved as they finish (OUT/eval-cache/):
    run again after an interruption and only what is missing is done. --until-decided: see docs/suites.md.
    """
    from tailor.candidates import evaluate_models
    from tailor.recipe_file import find_recipe, load_recipe

    loaded = load_recipe(find_recipe(recipe)).with_suites(suites, mode, until_decided)
    results = evaluate_models(loaded, reporter(), fresh=fresh)
    print_results(results, as_json)
