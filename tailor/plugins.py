"""Plug-in points: a suite, a strategy and a vector store each declare themselves once, here read by all.

A suite module ends with ``SUITE = SuiteSpec(...)``, a strategy module with ``STRATEGY =
StrategySpec(...)``, a store module with ``STORE = StoreSpec(...)``. The recipe (which names are
valid, suite sizes and their defaults), the runner, ``--help``, the report's tables and plots and the
recommendation read these declarations; none of them lists names. Plug-ins are found three ways:

- tailor's own, in the packages ``tailor.eval.suites``, ``tailor.strategies`` and ``tailor.rag.stores``;
- installed packages' entry points in the groups ``tailor.suites``, ``tailor.strategies``, ``tailor.stores``
  (each pointing at a spec object);
- :func:`register`, for a spec defined at run time (tests, notebooks).

This module imports nothing of tailor's at import time: plug-in modules are imported by name when
first asked for, so it sits below every module that uses it and ties no import cycle.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

if TYPE_CHECKING:
    from tailor.config import ConstraintsConfig
    from tailor.contract import Strategy
    from tailor.data.examples import TaskDataset
    from tailor.eval.base import SuiteInput
    from tailor.eval.results import ResultRow
    from tailor.strategies.base import BuiltStrategy, Update, Updated
    from tailor.workspace import Workspace

Kind = Literal["suite", "strategy", "store"]
# What a suite may need from a strategy or a run; the runner says which when a suite finds none of it.
Need = Literal["local-weights", "retrieval", "trained", "judge"]
NEEDS: dict[str, str] = {
    "local-weights": "a strategy whose model has local weights (not an endpoint)",
    "retrieval": "a strategy that puts documents in front of the model",
    "trained": "a fine-tuned strategy in the recipe",
    "judge": "a model to grade answers (eval.judge)",
}


@dataclass(frozen=True)
class Size:
    """One of a suite's sizes: the recipe's ``eval.<name>``, defaulting by mode (quick / full)."""

    name: str
    description: str
    quick: int
    full: int
    scored: bool = False  # counts the questions the suite's scores (0 to 1) rest on: eval.detect sizes it


@dataclass(frozen=True)
class Column:
    """A result metric shown as a column of the suite's table. ``prefix``: every metric starting with
    ``metric`` (ordered by the number after it), labelled ``label`` with ``{}`` for that suffix."""

    metric: str
    label: str
    prefix: bool = False


@dataclass(frozen=True)
class Panel:
    """A plot of the report: one group of comparable metrics (same unit), a bar per strategy."""

    title: str
    metrics: tuple[str, ...]


# (measured view of results.json, dataset, chosen strategy, constraints, its strategy properties) → lines
Evidence = Callable[[Any, str, str, "ConstraintsConfig", dict[str, Any]], list[str]]


@dataclass(frozen=True)
class SuiteSpec:
    """An evaluation suite. ``run`` is one function of the strategies' answers → result rows."""

    name: str
    run: Callable[[SuiteInput], list[ResultRow]]
    summary: str  # one line: what it measures (shown in --help and the README's table)
    order: int  # where its table and panels sit in the report (lower first)
    needs: tuple[Need, ...] = ()
    sizes: tuple[Size, ...] = ()
    columns: tuple[Column, ...] = ()
    panels: tuple[Panel, ...] = ()
    note: str = "mean (95% CI); * paired difference with p < 0.05"  # under its table
    intervals: bool = True  # cells show the 95% interval
    evidence: Evidence | None = None  # what it adds to the recommendation's explanation of a choice


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


@dataclass(frozen=True)
class StoreSpec:
    """A vector store for the rag index (see tailor.rag.store for the interface it opens)."""

    name: str
    open: Callable[..., Any]  # a tailor.rag.store.OpenStore
    summary: str
    # A tailor.rag.store.CopyStore; None: the store's data are files under the index directory, copied with it.
    copy: Callable[..., None] | None = None


Spec = SuiteSpec | StrategySpec | StoreSpec
S = TypeVar("S", SuiteSpec, StrategySpec, StoreSpec)

_PACKAGES: dict[Kind, str] = {
    "suite": "tailor.eval.suites",
    "strategy": "tailor.strategies",
    "store": "tailor.rag.stores",
}
_ATTRIBUTES: dict[Kind, str] = {"suite": "SUITE", "strategy": "STRATEGY", "store": "STORE"}
_GROUPS: dict[Kind, str] = {"suite": "tailor.suites", "strategy": "tailor.strategies", "store": "tailor.stores"}
_TYPES: dict[Kind, type] = {"suite": SuiteSpec, "strategy": StrategySpec, "store": StoreSpec}


@dataclass
class _Registry:
    found: dict[Kind, dict[str, Any]] = field(default_factory=dict)  # discovered once per process
    added: dict[Kind, dict[str, Any]] = field(default_factory=lambda: {"suite": {}, "strategy": {}, "store": {}})


_registry = _Registry()


def _discover(kind: Kind) -> dict[str, Any]:
    if kind not in _registry.found:
        found: dict[str, Any] = {}
        package = importlib.import_module(_PACKAGES[kind])
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
            spec = getattr(importlib.import_module(f"{package.__name__}.{info.name}"), _ATTRIBUTES[kind], None)
            if spec is not None:
                found[spec.name] = spec
        for entry in metadata.entry_points(group=_GROUPS[kind]):
            spec = entry.load()
            if not isinstance(spec, _TYPES[kind]):
                raise TypeError(f"entry point {entry.name} ({entry.value}) is not a {_TYPES[kind].__name__}")
            found[spec.name] = spec
        _registry.found[kind] = found
    return _registry.found[kind]


def _all(kind: Kind) -> dict[str, Any]:
    return {**_discover(kind), **_registry.added[kind]}


def suites() -> dict[str, SuiteSpec]:
    """Every suite, in report order."""
    return dict(sorted(_all("suite").items(), key=lambda item: (item[1].order, item[0])))


def strategies() -> dict[str, StrategySpec]:
    """Every strategy, simplest first."""
    return dict(sorted(_all("strategy").items(), key=lambda item: (item[1].simplicity, item[0])))


def stores() -> dict[str, StoreSpec]:
    return dict(sorted(_all("store").items()))


def suite(name: str) -> SuiteSpec:
    """Raises: KeyError naming the known suites."""
    return _get(suites(), "suite", name)


def strategy(name: str) -> StrategySpec:
    """Raises: KeyError naming the known strategies."""
    return _get(strategies(), "strategy", name)


def store(name: str) -> StoreSpec:
    """Raises: KeyError naming the known stores."""
    return _get(stores(), "store", name)


def _get(specs: dict[str, S], kind: str, name: str) -> S:
    if name not in specs:
        raise KeyError(f"unknown {kind} {name!r}; choose from {', '.join(specs)}")
    return specs[name]


def trainers() -> dict[str, StrategySpec]:
    """Every strategy that declares its training (``train``), simplest first: what `tailor tune train`,
    `tailor compress --model` and the report's loss curves take."""
    return {name: spec for name, spec in strategies().items() if spec.train is not None}


def default_strategies() -> list[str]:
    """What a recipe that names no strategies compares: those declared default (those that train are opt-in)."""
    return [name for name, spec in strategies().items() if spec.default]


def listing() -> dict[str, dict[str, dict[str, Any]]]:
    """Every plug-in with what it declares, for ``tailor plugins``."""
    return {
        "suites": {
            name: {
                "summary": s.summary,
                "needs": list(s.needs),
                "sizes": {z.name: {"quick": z.quick, "full": z.full, "scored": z.scored} for z in s.sizes},
            }
            for name, s in suites().items()
        },
        "strategies": {
            name: {"summary": s.summary, "default": s.default, **s.properties()} for name, s in strategies().items()
        },
        "stores": {name: {"summary": s.summary} for name, s in stores().items()},
    }


def sizes() -> dict[str, Size]:
    """Every suite's sizes by their ``eval.<name>`` key."""
    return {size.name: size for spec in suites().values() for size in spec.sizes}


def register(spec: S) -> S:
    """Add (or replace) a plug-in for this process; returns it, so it can decorate an assignment."""
    kind = next(k for k, t in _TYPES.items() if isinstance(spec, t))
    _registry.added[kind][spec.name] = spec
    return spec


def unregister(spec: Spec) -> None:
    kind = next(k for k, t in _TYPES.items() if isinstance(spec, t))
    _registry.added[kind].pop(spec.name, None)


@contextmanager
def registered(*specs: Spec) -> Iterator[None]:
    """Plug-ins present only inside the ``with`` block (tests)."""
    for spec in specs:
        register(spec)
    try:
        yield
    finally:
        for spec in specs:
            unregister(spec)
