"""What every `tailor` command shares: one-line errors with exit code 2, warnings and progress on stderr
(so ``--json`` on stdout stays clean), and rank-zero reporting under a multi-process launcher."""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable
from typing import Any

import typer


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
