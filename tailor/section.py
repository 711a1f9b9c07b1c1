"""The base of every recipe section, and the names a section may hold that must be registered plug-ins
(near a leaf: it imports only tailor.plugins, which imports nothing of tailor's; tailor.config and the
packages' own settings build on it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

from tailor import plugins


class Section(BaseModel):
    """Base of every recipe section: unknown keys are errors, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _registered(kind: str) -> Callable[[str], str]:
    """A check that a name is a registered suite, strategy or store (see tailor.plugins)."""

    def check(name: str) -> str:
        known = {"suite": plugins.suites, "strategy": plugins.strategies, "store": plugins.stores}[kind]()
        if name not in known:
            raise ValueError(f"unknown {kind} {name!r}; choose from {', '.join(known)}")
        return name

    return check


StrategyName = Annotated[str, AfterValidator(_registered("strategy"))]
SuiteName = Annotated[str, AfterValidator(_registered("suite"))]
StoreName = Annotated[str, AfterValidator(_registered("store"))]
