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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Literal, TypeVar

Kind = Literal["suite", "strategy", "store"]
S = TypeVar("S")  # a tailor.eval.base.SuiteSpec, tailor.strategies.base.StrategySpec or tailor.rag.store.StoreSpec

_PACKAGES: dict[Kind, str] = {
    "suite": "tailor.eval.suites",
    "strategy": "tailor.strategies",
    "store": "tailor.rag.stores",
}
_ATTRIBUTES: dict[Kind, str] = {"suite": "SUITE", "strategy": "STRATEGY", "store": "STORE"}
_GROUPS: dict[Kind, str] = {"suite": "tailor.suites", "strategy": "tailor.strategies", "store": "tailor.stores"}
# Each kind's declaration, beside the contract it describes; named, not imported, so this module stays a leaf.
_TYPES: dict[Kind, str] = {
    "suite": "tailor.eval.base.SuiteSpec",
    "strategy": "tailor.strategies.base.StrategySpec",
    "store": "tailor.rag.store.StoreSpec",
}


def _declared(spec: Any) -> str:
    return f"{type(spec).__module__}.{type(spec).__qualname__}"


def _kind_of(spec: Any) -> Kind:
    """Which kind of plug-in ``spec`` declares. Raises: TypeError, it declares none."""
    for kind, declared in _TYPES.items():
        if _declared(spec) == declared:
            return kind
    raise TypeError(f"{_declared(spec)} is not a plug-in declaration (one of {', '.join(_TYPES.values())})")


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
            if _declared(spec) != _TYPES[kind]:
                raise TypeError(f"entry point {entry.name} ({entry.value}) is not a {_TYPES[kind]}")
            found[spec.name] = spec
        _registry.found[kind] = found
    return _registry.found[kind]


def _all(kind: Kind) -> dict[str, Any]:
    return {**_discover(kind), **_registry.added[kind]}


def suites() -> dict[str, Any]:
    """Every suite, in report order."""
    return dict(sorted(_all("suite").items(), key=lambda item: (item[1].order, item[0])))


def strategies() -> dict[str, Any]:
    """Every strategy, simplest first."""
    return dict(sorted(_all("strategy").items(), key=lambda item: (item[1].simplicity, item[0])))


def stores() -> dict[str, Any]:
    return dict(sorted(_all("store").items()))


def suite(name: str) -> Any:
    """Raises: KeyError naming the known suites."""
    return _get(suites(), "suite", name)


def strategy(name: str) -> Any:
    """Raises: KeyError naming the known strategies."""
    return _get(strategies(), "strategy", name)


def store(name: str) -> Any:
    """Raises: KeyError naming the known stores."""
    return _get(stores(), "store", name)


def _get(specs: dict[str, S], kind: str, name: str) -> S:
    if name not in specs:
        raise KeyError(f"unknown {kind} {name!r}; choose from {', '.join(specs)}")
    return specs[name]


def trainers() -> dict[str, Any]:
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


def sizes() -> dict[str, Any]:
    """Every suite's sizes by their ``eval.<name>`` key."""
    return {size.name: size for spec in suites().values() for size in spec.sizes}


def register(spec: S) -> S:
    """Add (or replace) a plug-in for this process; returns it, so it can decorate an assignment."""
    _registry.added[_kind_of(spec)][spec.name] = spec
    return spec


def unregister(spec: Any) -> None:
    _registry.added[_kind_of(spec)].pop(spec.name, None)


@contextmanager
def registered(*specs: Any) -> Iterator[None]:
    """Plug-ins present only inside the ``with`` block (tests)."""
    for spec in specs:
        register(spec)
    try:
        yield
    finally:
        for spec in specs:
            unregister(spec)
