"""A prompt search's saved result: the winner with its evidence, one JSON file per search, reused while a
fingerprint of everything the search read still matches.

prompt's search (:mod:`tailor.prompt.search`) and rag's (:mod:`tailor.rag.search`) differ in their spec
and in one field each (prompt's static-context coverage, the strategy rag's searched for); the record,
its file, its fingerprint and the load-or-search-and-save step are this module's, once for both.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, Self, TypeVar

from tailor.artifacts import read_json_artifact, write_json_atomic
from tailor.errors import ArtifactError
from tailor.records import PromptChoice, SearchEffort

if TYPE_CHECKING:
    from tailor.data.examples import TaskDataset
    from tailor.progress import Reporter
    from tailor.workspace import Workspace


class Spec(Protocol):
    def describe(self) -> str: ...


S = TypeVar("S", bound=Spec)


@dataclass(frozen=True, kw_only=True)
class Tuned(ABC, Generic[S]):
    """The winner of one search on one dataset's dev split, with the evidence for it."""

    spec_type: ClassVar[type]  # what ``spec`` is read back as

    dataset: str
    spec: S
    metric: str
    dev_score: float
    n_dev: int
    leaderboard: tuple[dict[str, Any], ...]
    fingerprint: str
    tune_s: float
    confirm_score: float | None = None  # on held-out dev examples the search never saw
    n_confirm: int = 0
    confirmed: bool = True  # False: the winner lost to the starting spec there, which was kept
    calls: int = 0  # generations the search took, bootstrapping included (held-out confirmation apart)
    bootstrapped: tuple[str, ...] = ()  # ids of the train examples bootstrapped demonstrations are drawn from

    def to_json(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        """Raises: TypeError or KeyError: a field is missing or the spec does not fit ``spec_type``."""
        known = cls.file_keys()
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known}
        return cls(**values | {"spec": cls.spec_type(**data["spec"])})

    @classmethod
    def file_keys(cls) -> tuple[str, ...]:
        """The keys of its saved file (``tailor_version`` apart)."""
        return tuple(f.name for f in fields(cls))

    def choice(self) -> PromptChoice:
        """What a build reports about the search (results.json ``builds``; the task suite's dev-to-test gap)."""
        return PromptChoice(
            spec=self.spec.describe(),
            dev_metric=self.metric,
            dev_score=self.dev_score,
            n_dev=self.n_dev,
            confirm_score=self.confirm_score,
            n_confirm=self.n_confirm,
            search=SearchEffort(len(self.leaderboard), self.calls, self.tune_s),
        )

    def held_out(self) -> str:
        """What the held-out dev examples said about the winner, in words."""
        if self.confirm_score is None:
            return "no dev examples held out to confirm it (prompt.confirm_size, or dev too small)"
        if not self.confirmed:
            return (
                f"on {self.n_confirm} held-out dev examples it lost to the starting prompt "
                f"({self.confirm_score:.3f}), which is kept"
            )
        return f"on {self.n_confirm} held-out dev examples it scores {self.confirm_score:.3f}"

    @abstractmethod
    def chosen(self, path: Path) -> list[str]:
        """Lines telling the user what a fresh search chose and where it is saved."""

    @abstractmethod
    def reused(self, path: Path) -> str:
        """The line telling the user a saved search is used."""


T = TypeVar("T", bound=Tuned)


def search_inputs(ws: Workspace, dataset: TaskDataset) -> dict[str, Any]:
    """What every prompt search depends on: the model, the seed, the train and dev examples and the corpus."""
    return {
        "model": ws.model_identity(),
        "seed": ws.recipe.seed,
        "examples": [e.model_dump(mode="json") for e in dataset.examples if e.split in ("train", "dev")],
        "corpus": [(d.doc_id, d.content_hash, sorted(d.groups)) for d in ws.corpus],
    }


def fingerprint_of(parts: dict[str, Any]) -> str:
    """A short digest of JSON-able ``parts``: a saved search with another is stale."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class SavedSearch(Generic[T]):
    """Where one search's result is saved, the fingerprint it must carry to be reused, and its type.
    ``what``: how messages name it ("tuned prompt", "rag prompt")."""

    path: Path
    fingerprint: str
    tuned_type: type[T]
    what: str

    def load(self, reporter: Reporter) -> T | None:
        """The saved result if it exists, reads, and carries this fingerprint; else None (said why)."""
        if not self.path.exists():
            return None
        try:
            tuned = self.tuned_type.from_json(read_json_artifact(self.path, self.tuned_type.file_keys(), self.what))
        except (ArtifactError, TypeError, KeyError):
            reporter.log(f"ignoring unreadable {self.what} {self.path}; tuning again")
            return None
        if tuned.fingerprint != self.fingerprint:
            reporter.log(f"{self.path}: data, model or search settings changed since it was tuned; tuning again")
            return None
        return tuned

    def save(self, tuned: T, reporter: Reporter) -> T:
        """Write ``tuned`` atomically and say what it chose."""
        write_json_atomic(self.path, tuned.to_json())
        for line in tuned.chosen(self.path):
            reporter.log(line)
        return tuned

    def ensure(self, search: Callable[[], T], reporter: Reporter) -> T:
        """The saved result if it is current, else ``search()``'s, saved."""
        tuned = self.load(reporter)
        if tuned is None:
            return self.save(search(), reporter)
        reporter.log(tuned.reused(self.path))
        return tuned
