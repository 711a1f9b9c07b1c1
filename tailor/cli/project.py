"""`tailor init` and `tailor demo`: a project's recipe, and the embedded default run end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tailor.cli.conventions import JsonOpt, Size, cli_errors, print_results, reporter, stderr
from tailor.cli.report import print_report


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

    demo_run = run_demo(out, size=size, seed=seed, reporter=reporter())
    print_results(demo_run.results, as_json)
    if not as_json:
        print_report(demo_run.report)


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

    console = stderr()
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
