"""What every `tailor` command shares: one-line errors with exit code 2, warnings and progress on stderr
(so ``--json`` on stdout stays clean), rank-zero reporting under a multi-process launcher, the
``--recipe`` and ``--json`` options, and the result tables."""

from __future__ import annotations

import functools
import json
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

RecipeOpt = Annotated[
    Path | None,
    typer.Option("--recipe", "-r", help="recipe file [default: ./tailor.yaml]", show_default=False),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print machine-readable JSON on stdout instead of tables")]
Size = Literal["tiny", "small", "medium"]  # a synthetic world's (demo, init, world)


def stderr():
    from rich.console import Console

    return Console(stderr=True)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    stderr().print(f"[yellow]warning:[/] {message}", highlight=False)


def cli_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn tailor's own errors into one line per problem and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from tailor.errors import TailorError

        warnings.showwarning = _show_warning
        try:
            return fn(*args, **kwargs)
        except TailorError as e:
            console = stderr()
            for problem in e.problems:
                console.print(f"[red]error:[/] {problem}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            stderr().print("interrupted; files already written are complete (written atomically)")
            raise typer.Exit(130) from None

    return wrapper


def reporter():
    """Progress and log lines go to stderr, so ``--json`` output on stdout stays clean.

    Under a multi-process launcher (accelerate launch, torchrun) only rank 0 reports.
    """
    from tailor.progress import RichReporter, SilentReporter

    return RichReporter() if rank_zero() else SilentReporter()


def rank_zero() -> bool:
    """True unless this is a secondary process of a multi-process launch (RANK set and not 0)."""
    return int(os.environ.get("RANK", "0")) == 0


def each_workspace(recipe: Path | None, reporter):
    """(None, the recipe's workspace), or with models: (name, workspace) per model, each loaded after the
    last is released."""
    from tailor.candidates import workspaces
    from tailor.recipe_file import find_recipe, load_recipe

    for run, ws in workspaces(load_recipe(find_recipe(recipe)), reporter):
        yield (None if run is None else run.name), ws


def console():
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=160)  # piped or logged: not squeezed to 80 columns


def print_results(results: dict[str, Any], as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(results, indent=2) + "\n")
        return
    from tailor.report.table import rich_tables

    out = console()
    for table in rich_tables(results):
        out.print(table)
