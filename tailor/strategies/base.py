"""What building and updating a strategy returns; the one entry point that builds any strategy by name."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tailor import plugins
from tailor.contract import Strategy
from tailor.data.corpus import Document
from tailor.data.examples import Example, TaskDataset
from tailor.workspace import Workspace


@dataclass(frozen=True)
class BuiltStrategy:
    strategy: Strategy
    build_s: float = 0.0  # what building it cost (search, indexing, training), for the cost suite
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Update:
    """The documents' new version, as the strategies' inputs: a workspace and dataset to rebuild them from."""

    old: Workspace
    new: Workspace  # the new corpus; writes under OUT/freshness; its own cache of built pieces
    old_dataset: TaskDataset
    dataset: TaskDataset  # the old dataset with the train-split answers that changed
    questions: tuple[Example, ...]  # asked before and after: changed facts outside the train split
    trained: tuple[Example, ...]  # train-split examples whose answer changed (or that are new)
    changed_docs: tuple[Document, ...]  # new or changed in the new version


@dataclass
class Cost:
    """What an update took; ``processed``: metric → (value, n), what it worked through."""

    update_s: float = 0.0
    full_rebuild_s: float = 0.0
    processed: dict[str, tuple[float, int]] = field(default_factory=dict)

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.update_s + other.update_s, self.full_rebuild_s + other.full_rebuild_s, self.processed | other.processed
        )


Updated = tuple[Strategy, Cost]  # the strategy on the new version, and what updating it took


def build_strategy(name: str, ws: Workspace, dataset: TaskDataset) -> BuiltStrategy:
    """Build the registered strategy ``name`` for ``dataset``.

    Raises:
        KeyError: no strategy of that name is registered (the recipe checks names first).
    """
    return plugins.strategy(name).build(ws, dataset)
