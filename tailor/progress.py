"""Progress reporting, passed explicitly to long steps. The library is silent unless given a reporter."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

Advance = Callable[[int], None]


class Reporter(Protocol):
    def log(self, message: str) -> None:
        """A line worth telling the user (a step starting, a file written)."""
        ...

    def task(self, description: str, total: int | None) -> AbstractContextManager[Advance]:
        """A unit of work with ``total`` steps; the yielded function advances it."""
        ...


class SilentReporter:
    def log(self, message: str) -> None:
        pass

    @contextmanager
    def task(self, description: str, total: int | None) -> Iterator[Advance]:
        yield lambda n: None


class RichReporter:
    """Progress bars and log lines on stderr, so stdout stays clean for ``--json``."""

    def __init__(self, console=None):
        from rich.console import Console

        self.console = console or Console(stderr=True)

    def log(self, message: str) -> None:
        self.console.print(message, highlight=False, soft_wrap=True)

    @contextmanager
    def task(self, description: str, total: int | None) -> Iterator[Advance]:
        if not self.console.is_terminal:
            # Logs and CI: a bar would print only when done; say when work starts and how long it took.
            start = time.perf_counter()
            self.log(f"{description}: {total if total is not None else '?'} steps ...")
            yield lambda n: None
            self.log(f"{description}: done in {time.perf_counter() - start:.1f} s")
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=self.console, transient=False) as bar:
            task_id = bar.add_task(description, total=total)
            yield lambda n: bar.advance(task_id, n)
