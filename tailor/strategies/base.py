"""What building and updating a strategy returns; the one entry point that builds any strategy by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from tailor import plugins
from tailor.contract import Strategy
from tailor.data.corpus import Document
from tailor.data.examples import Example, TaskDataset
from tailor.records import Build
from tailor.workspace import Workspace


@dataclass(frozen=True)
class BuiltStrategy:
    strategy: Strategy
    build: Build = field(default_factory=Build)  # what building it cost and did (results.json ``builds``)

    @property
    def build_s(self) -> float:
        """What building it cost (search, indexing, training), for the cost suite."""
        return self.build.build_s


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


class Train(Protocol):
    """A strategy's training: returns a tailor.finetune.train.TrainedModel (model_dir and its manifest).
    ``strict``: any data-check finding stops it (None: the recipe's ``finetune.strict``)."""

    def __call__(self, ws: Workspace, *, strict: bool | None = None) -> Any: ...


@dataclass(frozen=True)
class StrategySpec:
    """A strategy: how it is built, how it is brought up to date when documents change, what it is."""

    name: str
    build: Callable[[Workspace, TaskDataset], BuiltStrategy]
    summary: str
    simplicity: int  # less to build and keep running first: ties in the recommendation go to the lower
    retrieves: bool = False  # its prompt holds retrieved chunks (retrieval suite, planted documents)
    trains: bool = False  # its weights are trained on the user's data (privacy, forgetting, interpret)
    default: bool = False  # in a recipe that names no strategies (those that train are opt-in)
    sections: tuple[str, ...] = ()  # recipe sections its answers depend on (beyond model, data and seed)
    # The strategy rebuilt on a new version of the documents, and what that took; None: it has no update.
    update: Callable[[Strategy, Update], Updated] | None = None
    # The same strategy retrieving from another index (robustness plants documents this way).
    over_index: Callable[[Workspace, TaskDataset, Strategy, Any], Strategy] | None = None
    # Its prompt searched afresh and saved for every dataset it is scored on (`tailor tune prompt --strategy`),
    # returning each dataset's choice (with to_json()); None: it has no searched prompt.
    search: Callable[[Workspace], list[Any]] | None = None
    # Its own weights trained, or reused when current, for the workspace's recipe (`tailor tune train
    # --strategy`), writing under OUT/<name>/ (model/, checks.json, loss_curve.json); None: it trains
    # nothing of its own (it may answer with another's weights, as rag+finetune with finetune's).
    train: Train | None = None
    settings: str | None = None  # the recipe section of its own settings (`Recipe.<settings>`), if any

    def properties(self) -> dict[str, Any]:
        """What results.json records about it, so the report reads properties rather than names."""
        return {
            "retrieves": self.retrieves,
            "trains": self.trains,
            "simplicity": self.simplicity,
            "updates": self.update is not None,
        }


def build_strategy(name: str, ws: Workspace, dataset: TaskDataset) -> BuiltStrategy:
    """Build the registered strategy ``name`` for ``dataset``.

    Raises:
        KeyError: no strategy of that name is registered (the recipe checks names first).
    """
    return plugins.strategy(name).build(ws, dataset)
