"""`tailor tune`: build a strategy from the recipe's data (a searched prompt, a trained adapter)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from tailor.cli.conventions import JsonOpt, RecipeOpt, cli_errors, each_workspace, rank_zero, reporter, stderr

app = typer.Typer(
    help="Build a strategy from the recipe's data (search, index, train).", no_args_is_help=True, rich_markup_mode=None
)


@app.command("prompt")
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
        for _, ws in each_workspace(recipe, reporter())
        if strategy in ws.recipe.strategies
        for t in searched[strategy](ws)
    ]
    if as_json:
        sys.stdout.write(json.dumps([t.to_json() for t in tuned], indent=2) + "\n")


StrictOpt = Annotated[bool | None, typer.Option("--strict/--no-strict", help="any data-check finding stops training")]
ExportOpt = Annotated[
    Path | None, typer.Option(metavar="<dir>", help="also write the merged model here (plain HF directory)")
]


@app.command("train")
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
    for name, ws in each_workspace(recipe, reporter()):
        trained = trainers[strategy].train(ws, strict=strict)
        if export is not None and rank_zero():
            target = export if name is None else export / name
            path = export_merged(trained.model_dir, base_model_dir(ws), ws.generator.tokenizer, target)
            ws.reporter.log(f"{strategy}: merged model written to {path}")
        manifests.append({**trained.manifest, "model_dir": str(trained.model_dir)})
    if as_json and rank_zero():
        sys.stdout.write(json.dumps(manifests[0] if len(manifests) == 1 else manifests, indent=2) + "\n")


@app.command("finetune")
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
        stderr().print(said, highlight=False, soft_wrap=True)
    tune_train(recipe=recipe, as_json=as_json, strategy=strategy, strict=strict, export=export)
