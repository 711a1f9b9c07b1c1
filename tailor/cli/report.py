"""`tailor report`: the run's report page and recommendation, or what changed between two runs."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from tailor.cli.conventions import JsonOpt, RecipeOpt, cli_errors, console


def print_report(report) -> None:
    typer.echo(f"report: {report.html.resolve()}")
    typer.echo(f"recommendation: {report.recommendation.headline}")


@cli_errors
def report(
    run: Annotated[
        Path | None,
        typer.Argument(help="run directory holding results.json [default: the recipe's out:]", show_default=False),
    ] = None,
    recipe: RecipeOpt = None,
    compare: Annotated[
        tuple[Path, Path] | None,
        typer.Option(metavar="RUN1 RUN2", help="show what changed between two run directories instead"),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write RUN/report.html and RUN/recommendation.json from the run's results; print the recommendation.

    The page is self-contained (plots are inline SVG; nothing is fetched when it is opened): the
    recommendation explained step by step under the recipe's constraints:, tables with 95%
    intervals and significance, plots per suite, answers side by side with retrieved chunks, why the
    fine-tuned model answers as it does, the recipe and the machine. Reads only what `tailor eval`
    wrote. With --compare RUN1 RUN2: the figures, recipe fields and recommendation that changed.
    """
    if compare is not None:
        _print_comparison(*compare, as_json=as_json)
        return
    from tailor.report.html import write_report

    if run is None:
        from tailor.recipe_file import find_recipe, load_recipe

        run = load_recipe(find_recipe(recipe), check_files=False).out_dir
    written = write_report(run)
    if as_json:
        payload = {"report": str(written.html), "recommendation": written.recommendation.to_json()}
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    else:
        print_report(written)


def _print_comparison(run1: Path, run2: Path, as_json: bool) -> None:
    from tailor.report.compare import compare_runs, rich_comparison

    comparison = compare_runs(run1, run2)
    if as_json:
        sys.stdout.write(json.dumps(comparison.to_json(), indent=2) + "\n")
        return
    out = console()
    for table in rich_comparison(comparison):
        out.print(table)
