"""`tailor serve` and `tailor keys`: every strategy as an OpenAI-compatible model, and the keys it accepts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tailor.cli.conventions import RecipeOpt, cli_errors, reporter, stderr

keys_app = typer.Typer(help="Manage the API keys `tailor serve` accepts (stored hashed).", no_args_is_help=True)
keys_app.rich_markup_mode = None


@cli_errors
def serve(
    recipe: RecipeOpt = None,
    host: Annotated[str | None, typer.Option(help="interface [default: serve.host, 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port [default: serve.port, 8000]")] = None,
) -> None:
    """Serve every strategy as an OpenAI-compatible model (tailor-baseline, tailor-rag, ...); with models:,
    every candidate (tailor-rag@MODEL, ...), all models loaded at once.

    Routes: /v1/models, /v1/chat/completions and /v1/completions (streaming too), /health. Every
    request needs an API key (tailor keys add); the key's groups decide which documents rag and
    prompt may put in front of the model. Prompts, index and adapter are reused (built first if
    missing). Requests are batched (serve.batch_size); a full queue answers 429 with Retry-After.
    """
    try:
        from tailor.serve.keys import load_keys
        from tailor.serve.server import serve_over
    except ImportError as e:
        from tailor.errors import TailorError

        raise TailorError(f"tailor serve needs {e.name}: pip install 'llm-tailor[serve]'") from None
    from tailor.candidates import workspaces
    from tailor.recipe_file import find_recipe, load_recipe

    loaded = load_recipe(find_recipe(recipe))
    keys = load_keys(loaded.resolve(loaded.serve.keys))  # before the model loads: a missing file fails fast
    # every model stays loaded: each candidate answers as its own served model
    served = [(None if run is None else run.name, ws) for run, ws in workspaces(loaded, reporter())]
    serve_over(served, keys, host=host, port=port)


@keys_app.command("add")
@cli_errors
def keys_add(
    user: Annotated[str, typer.Argument(help="who the key belongs to (shown in logs)")],
    groups: Annotated[str, typer.Option(help="comma-separated access groups, e.g. everyone,finance")] = "",
    models: Annotated[
        str | None, typer.Option(help="comma-separated models the key may use [default: all]", show_default=False)
    ] = None,
    keys: Annotated[
        Path | None,
        typer.Option(help="keys file [default: the recipe's serve.keys, else ./keys.yaml]", show_default=False),
    ] = None,
    recipe: RecipeOpt = None,
) -> None:
    """Create a key for USER; print it once. Only its SHA-256 is stored in the keys file."""
    from tailor.serve.keys import add_key

    if keys is None:
        from tailor.config import DEFAULT_RECIPE_NAME
        from tailor.recipe_file import find_recipe, load_recipe

        found = recipe or (Path(DEFAULT_RECIPE_NAME) if Path(DEFAULT_RECIPE_NAME).is_file() else None)
        if found is not None:
            r = load_recipe(find_recipe(found), check_files=False)
            keys = r.resolve(r.serve.keys)
        else:
            keys = Path("keys.yaml")
    split = lambda text: [x.strip() for x in text.split(",") if x.strip()]  # noqa: E731
    key, entry = add_key(keys, user, split(groups), split(models) if models else None)
    stderr().print(f"added {entry.id} for {user} (groups: {', '.join(sorted(entry.groups)) or 'none'}) to {keys}")
    typer.echo(key)
