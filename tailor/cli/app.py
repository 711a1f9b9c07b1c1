"""The `tailor` command assembled: each command is a thin wrapper over one library function, defined in
the module of its group (project, data, tune, eval, report, catalog, compress, serve) and registered here.

Errors tailor raises on purpose (bad recipe, bad data, missing model) print one line per problem
and exit with code 2; no traceback (see tailor.cli.conventions).
"""

from __future__ import annotations

from typing import Annotated

import typer

from tailor.cli import tune
from tailor.cli.catalog import models_, plugins_
from tailor.cli.compress import compress
from tailor.cli.data import ingest, synth, world
from tailor.cli.eval import eval_
from tailor.cli.project import demo, init
from tailor.cli.report import report
from tailor.cli.serve import keys_app, serve

app = typer.Typer(
    help="Measure prompt engineering, RAG and fine-tuning on your own model, documents and task.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # help text is plain: "[default: ...]" must print, not parse as markup
)
app.add_typer(tune.app, name="tune")
app.add_typer(keys_app, name="keys")

# In the order `tailor --help` lists them.
app.command()(demo)
app.command()(report)
app.command()(init)
app.command()(synth)
app.command()(world)
app.command()(ingest)
app.command("eval")(eval_)
app.command("plugins")(plugins_)
app.command("models")(models_)
app.command()(compress)
app.command()(serve)


def _version(value: bool) -> None:
    if value:
        from tailor import __version__

        typer.echo(f"tailor {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    """tailor: should you engineer prompts, build RAG or fine-tune? Measure it on your data."""


def main() -> None:
    app()
