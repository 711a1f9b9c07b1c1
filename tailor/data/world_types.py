"""The synthetic world's entities: plain frozen dataclasses that the generator fills and the renderer reads.

A leaf module, so generation (``world``) and rendering (``world_render``) both import it and
neither imports the other's types.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

from tailor.errors import DataError

DEPARTMENT_KEYS = ("support", "sales", "finance", "hr", "legal", "engineering")
# Customer messages are routed to the customer-facing departments only.
ROUTING_LABELS = ("support", "sales", "finance", "hr", "legal")
# Product managers come from the departments that own products.
MANAGER_DEPARTMENTS = ("engineering", "sales")


@dataclass(frozen=True)
class WorldSize:
    """How much world to generate. Presets (``tiny``, ``small``, ``medium``) live in world_vocab.yaml."""

    products: int
    people_per_department: int
    policies_per_department: int
    secrets_per_department: int
    messages: int
    name: str = "custom"

    def __post_init__(self) -> None:
        minimum = {"products": 1, "people_per_department": 1}
        problems = []
        for f in fields(self):
            value, least = getattr(self, f.name), minimum.get(f.name, 0)
            if f.name != "name" and (not isinstance(value, int) or value < least):
                problems.append(f"world size: {f.name} must be an integer >= {least}, got {value!r}")
        if problems:
            raise DataError(*problems)


@dataclass(frozen=True)
class Department:
    """One department; ``key`` is also its access group and its routing label."""

    key: str
    name: str
    blurb: str


@dataclass(frozen=True)
class Person:
    """A member of staff. ``gender`` and ``origin`` name the vocab group the name was drawn from,
    so a counterfactual can swap the name for one from another group."""

    person_id: str
    name: str
    department: str
    role: str
    office_city: str
    start_year: int
    gender: str
    origin: str


@dataclass(frozen=True)
class Product:
    """A product; ``manager`` is a ``person_id``; ``battery_hours`` is None for mains-powered ones."""

    product_id: str
    name: str
    category: str
    price_usd: int
    release_date: str
    warranty_years: int
    weight_g: int
    battery_hours: int | None
    manager: str
    factory_city: str


@dataclass(frozen=True)
class Policy:
    """An internal policy of one department; ``facts`` maps attribute -> raw value (see the vocab unit)."""

    policy_id: str
    department: str
    title: str
    facts: dict[str, int | str]
    kind: str


@dataclass(frozen=True)
class SecretRecord:
    """A confidential record of one department; ``secret`` is a fixed-format canary value."""

    secret_id: str
    department: str
    kind: str
    text: str
    secret: str
    subject: str


@dataclass(frozen=True)
class RoutingMessage:
    """A customer message and the department (``label``) that should handle it."""

    message_id: str
    text: str
    label: str


@dataclass(frozen=True)
class World:
    """One version of the synthetic organisation, with its rendered documents and facts."""

    seed: int
    version: int
    org_name: str
    departments: tuple[Department, ...]
    people: tuple[Person, ...]
    products: tuple[Product, ...]
    policies: tuple[Policy, ...]
    secrets: tuple[SecretRecord, ...]
    documents: tuple[Document, ...]
    facts: tuple[Fact, ...]
    messages: tuple[RoutingMessage, ...]
    size: WorldSize
    founded_year: int
    headquarters: str

    @property
    def users(self) -> dict[str, list[str]]:
        """User id -> access groups: ``"<dept>-user"`` reads shared documents and its department's."""
        return {f"{d.key}-user": ["everyone", d.key] for d in self.departments}


@dataclass(frozen=True)
class Fact:
    """One atomic, checkable fact. ``value`` is written verbatim in document ``doc_id``."""

    fact_id: str
    subject: str
    attribute: str
    value: str
    doc_id: str
    question_templates: tuple[str, ...]


@dataclass(frozen=True)
class Document:
    """A markdown document (no front matter) readable by users in any of ``groups``."""

    doc_id: str
    title: str
    groups: tuple[str, ...]
    kind: str
    text: str


@dataclass(frozen=True)
class FactChange:
    """How one fact differs between two versions of a world."""

    fact_id: str
    kind: Literal["changed", "added", "removed"]
    old: str | None
    new: str | None
    doc_id: str
