"""Errors users can act on. Each message says what went wrong, where, and how to fix it.

The CLI prints ``str(error)`` on one line per problem and exits with code 2; no traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One located problem: ``file:line: field: message``."""

    message: str
    file: Path | str | None = None
    line: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = f"{self.file}:{self.line}: " if self.line is not None else f"{self.file}: "
        field = f"{self.field}: " if self.field else ""
        return f"{where}{field}{self.message}"


class TailorError(Exception):
    """Base of every error tailor raises on purpose. Carries one or more located problems."""

    def __init__(self, *problems: Problem | str):
        self.problems = tuple(p if isinstance(p, Problem) else Problem(p) for p in problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class RecipeError(TailorError):
    """The recipe (tailor.yaml) is malformed or inconsistent."""


class DataError(TailorError):
    """A corpus document or an examples file cannot be used."""


class ModelError(TailorError):
    """A model cannot be found, loaded or queried."""


class ArtifactError(TailorError):
    """A file tailor wrote earlier (tuned prompt, results) is missing or unreadable."""
