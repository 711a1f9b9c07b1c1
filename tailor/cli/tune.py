"""`tailor tune`: build a strategy from the recipe's data (a searched prompt, a trained adapter)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from tailor.cli.conventions import JsonOpt, RecipeOpt, cli_errors, each_workspace, rank_zero, reporter

app = typer.Typer(
    help="Build a strategy from the recipe's data (search, index, train).", no_args_is_help=True, rich_markup_mode=None
)


@app.command("prompt")
@cli_errors
def tune_prompt(
    recipe: RecipeOpt = None,
    as_json: JsonOpt = False,
    strategy: Annotated[str, typer.Option(help="whose prompt: prompt, rag or rag+finetune")] = "prompt",
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


@app.command("finetune")
@cli_errors
def tune_finetune(
    recipe: RecipeOpt = None,
    as_json: JsonOpt = False,
    strict: Annotated[
        bool | None, typer.Option("--strict/--no-strict", help="any data-check finding stops training")
    ] = None,
    export: Annotated[
        Path | None, typer.Option(metavar="<dir>", help="also write the merged model here (plain HF directory)")
    ] = None,
    raft: Annotated[
        bool,
        typer.Option(
            "--raft", help="train the raft strategy's adapter instead: questions shown with their retrieved chunks"
        ),
    ] = False,
) -> None:
    """Check the training data, then train (LoRA by default) on the train split and the corpus.

    Writes OUT/finetune/model/ (peft adapter, or full model), checks.json, loss_curve.json and, with
    finetune.canaries, canaries.json; with --raft the same under OUT/raft/ (the index is ingested
    first). Checkpoints every finetune.save_steps; rerun the same command after an interruption to
    resume. Evaluation examples found in the training data always stop the run. Several processes or
    GPUs: accelerate launch --config_file configs/accelerate/ddp.yaml -m tailor tune finetune (see
    configs/accelerate/).
    """
    from tailor.finetune.model import export_merged
    from tailor.finetune.train import base_model_dir, ensure_finetuned

    manifests = []
    for name, ws in each_workspace(recipe, reporter()):
        if raft:
            from tailor.strategies.raft import ensure_raft

            trained = ensure_raft(ws, strict=strict)
        else:
            trained = ensure_finetuned(ws, strict=strict)
        if export is not None and rank_zero():
            target = export if name is None else export / name
            path = export_merged(trained.model_dir, base_model_dir(ws), ws.generator.tokenizer, target)
            ws.reporter.log(f"finetune: merged model written to {path}")
        manifests.append({**trained.manifest, "model_dir": str(trained.model_dir)})
    if as_json and rank_zero():
        sys.stdout.write(json.dumps(manifests[0] if len(manifests) == 1 else manifests, indent=2) + "\n")
