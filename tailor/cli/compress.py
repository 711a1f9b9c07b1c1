"""`tailor compress`: a compressed copy of the model (int8, bf16, GGUF)."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from tailor.cli.conventions import RecipeOpt, cli_errors, each_workspace, reporter, stderr


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

    for name, ws in each_workspace(recipe, reporter()):
        done = compress_model(ws, to, model)
        said = f"{model}@{name}" if name else model
        stderr().print(f"{said} {to}: {done.mb} MB (from {done.loaded} {done.loaded_mb} MB) → {done.directory}")
