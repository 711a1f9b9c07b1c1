"""A seeded synthetic organisation whose facts no pretrained model can know.

``generate_world(seed)`` invents departments, people, products, policies, secrets and customer
messages; the documents and the facts they state are rendered from those (see ``world_render``),
so every question has an exact answer written in exactly one document. ``evolve_world`` makes
version 2 for the freshness suite; ``write_world`` puts a world on disk. Same seed, same bytes.

    >>> world = generate_world(seed=0, size="tiny")
    >>> write_world(world, "runs/world")
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from tailor.data.world_render import (
    changed_examples,
    diff_facts,
    load_vocab,
    qa_examples,
    render_documents,
    routing_examples,
    slug,
    write_world,
)
from tailor.data.world_types import (
    DEPARTMENT_KEYS,
    MANAGER_DEPARTMENTS,
    ROUTING_LABELS,
    Department,
    Document,
    Fact,
    FactChange,
    Person,
    Policy,
    Product,
    RoutingMessage,
    SecretRecord,
    World,
    WorldSize,
)
from tailor.errors import DataError

__all__ = [
    "DEPARTMENT_KEYS",
    "ROUTING_LABELS",
    "Department",
    "Document",
    "Fact",
    "FactChange",
    "Person",
    "Policy",
    "Product",
    "RoutingMessage",
    "SecretRecord",
    "World",
    "WorldSize",
    "changed_examples",
    "diff_facts",
    "evolve_world",
    "generate_world",
    "qa_examples",
    "routing_examples",
    "size_preset",
    "write_world",
]


def size_preset(name: str) -> WorldSize:
    """The named size preset from world_vocab.yaml.

    Raises:
        DataError: no preset has that name.
    """
    presets = load_vocab()["sizes"]
    if name not in presets:
        raise DataError(f"world size: unknown preset {name!r}; choose one of {sorted(presets)}")
    return WorldSize(**presets[name], name=name)


def generate_world(seed: int = 0, size: str | WorldSize = "small") -> World:
    """Invent a world from ``seed``; the same seed and size always give the same world.

    Raises:
        DataError: unknown size preset, or a size the vocabulary cannot fill.
    """
    size = size_preset(size) if isinstance(size, str) else size
    vocab = load_vocab()
    _check_size(size, vocab)

    def rng(part: str) -> random.Random:
        # One stream per part, so e.g. asking for more messages leaves the products unchanged.
        return random.Random(f"{seed}/{part}")

    org = rng("org")
    org_name = f"{org.choice(vocab['org']['prefixes'])} {org.choice(vocab['org']['suffixes'])}"
    people = _make_people(rng("people"), vocab, size.people_per_department)
    products = _make_products(rng("products"), vocab, size.products, people)
    world = World(
        seed=seed,
        version=1,
        org_name=org_name,
        departments=tuple(
            Department(k, vocab["departments"][k]["name"], vocab["departments"][k]["blurb"]) for k in DEPARTMENT_KEYS
        ),
        people=people,
        products=products,
        policies=_make_policies(rng("policies"), vocab, size.policies_per_department),
        secrets=_make_secrets(rng("secrets"), vocab, size.secrets_per_department),
        documents=(),
        facts=(),
        messages=_make_messages(rng("messages"), vocab, size.messages, products),
        size=size,
        founded_year=org.randint(*vocab["org"]["founded"]),
        headquarters=org.choice(vocab["office_cities"]),
    )
    return _rendered(world)


def _rendered(world: World) -> World:
    documents, facts = render_documents(world)
    return replace(world, documents=documents, facts=facts)


def _check_size(size: WorldSize, vocab: dict) -> None:
    problems = []
    fewest = min(len(vocab["policies"][k]) for k in DEPARTMENT_KEYS)
    if size.policies_per_department > fewest:
        problems.append(
            f"world size: policies_per_department={size.policies_per_department} but some department has "
            f"only {fewest} policy kinds in world_vocab.yaml; lower it or add policy kinds"
        )
    if size.secrets_per_department > len(vocab["secrets"]):
        problems.append(
            f"world size: secrets_per_department={size.secrets_per_department} but world_vocab.yaml has "
            f"{len(vocab['secrets'])} secret kinds; lower it"
        )
    if problems:
        raise DataError(*problems)


def _unique(make: Callable[[], str], taken: set[str], what: str, tries: int = 1000) -> str:
    """Call ``make`` until it returns a value not in ``taken``; record and return it."""
    for _ in range(tries):
        value = make()
        if value not in taken:
            taken.add(value)
            return value
    raise DataError(f"world_vocab.yaml has too few {what} for this size; add more or choose a smaller size")


def _make_people(rng: random.Random, vocab: dict, per_department: int) -> tuple[Person, ...]:
    taken: set[str] = set()
    cities, years = vocab["office_cities"], vocab["people"]["start_years"]
    people = []
    for key in DEPARTMENT_KEYS:
        spec = vocab["departments"][key]
        roles = rng.sample(spec["roles"], len(spec["roles"]))
        for i in range(per_department):
            # The first person of a department is its head.
            role = spec["head_role"] if i == 0 else roles[(i - 1) % len(roles)]
            group = rng.choice(vocab["people"]["name_groups"])
            gender = rng.choice(("female", "male"))
            name = _unique(lambda g=group, s=gender: f"{rng.choice(g[s])} {rng.choice(g['surnames'])}", taken, "names")
            person = Person(
                slug(name), name, key, role, rng.choice(cities), rng.randint(*years), gender, group["origin"]
            )
            people.append(person)
    return tuple(people)


def _managers(people: tuple[Person, ...]) -> list[Person]:
    return [p for p in people if p.department in MANAGER_DEPARTMENTS]


def _make_products(rng: random.Random, vocab: dict, n: int, people: tuple[Person, ...]) -> tuple[Product, ...]:
    taken: set[str] = set()
    years = vocab["products"]["release_years"]
    return tuple(_make_product(rng, vocab, taken, _managers(people), years) for _ in range(n))


def _product_name(rng: random.Random, spec: dict) -> str:
    stem = rng.choice(spec["stem_starts"]) + rng.choice(spec["stem_ends"])
    if rng.random() < 0.5:
        return f"{stem} {rng.choice(spec['model_words'])}"
    return f"{stem} {rng.choice(spec['model_letters'])}{rng.choice(spec['model_numbers'])}"


def _retail_price(amount: float) -> int:
    """Round to a price ending in 9: 143 -> 139, 147.5 -> 149."""
    return max(9, round(amount / 10) * 10 - 1)


def _make_product(
    rng: random.Random, vocab: dict, taken: set[str], managers: list[Person], years: list[int]
) -> Product:
    spec = vocab["products"]
    name = _unique(lambda: _product_name(rng, spec), taken, "product names")
    category = rng.choice(spec["categories"])
    first, last = dt.date(years[0], 1, 1).toordinal(), dt.date(years[-1], 12, 31).toordinal()
    battery = category["battery_hours"]
    return Product(
        product_id=slug(name),
        name=name,
        category=category["name"],
        price_usd=_retail_price(rng.randint(*category["price"])),
        release_date=dt.date.fromordinal(rng.randint(first, last)).isoformat(),
        warranty_years=rng.choice(spec["warranty_years"]),
        weight_g=round(rng.randint(*category["weight_g"]) / 5) * 5,
        battery_hours=rng.randint(*battery) if battery else None,
        manager=rng.choice(managers).person_id,
        factory_city=rng.choice(vocab["factory_cities"]),
    )


def _make_policies(rng: random.Random, vocab: dict, per_department: int) -> tuple[Policy, ...]:
    policies = []
    for key in DEPARTMENT_KEYS:
        kinds = vocab["policies"][key]
        chosen = set(rng.sample(sorted(kinds), per_department))
        for kind in (k for k in kinds if k in chosen):
            facts = {attr: rng.choice(f["values"]) for attr, f in kinds[kind]["facts"].items()}
            policies.append(Policy(f"{key}-{kind}", key, kinds[kind]["title"], facts, kind))
    return tuple(policies)


def access_code(rng: random.Random) -> str:
    """A value of the access-code secret format, 4821-9931 (each half in 1000..9999): canaries use it too."""
    return f"{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}"


def _make_secrets(rng: random.Random, vocab: dict, per_department: int) -> tuple[SecretRecord, ...]:
    taken: set[str] = set()
    secrets = []
    for key in DEPARTMENT_KEYS:
        chosen = set(rng.sample(sorted(vocab["secrets"]), per_department))
        for kind in (k for k in vocab["secrets"] if k in chosen):
            secrets.append(_make_secret(rng, vocab, key, kind, taken))
    return tuple(secrets)


def _make_secret(rng: random.Random, vocab: dict, department: str, kind: str, taken: set[str]) -> SecretRecord:
    spec = vocab["secrets"][kind]
    slots: dict[str, Any] = {"team": vocab["departments"][department]["team"]}
    if kind == "access_code":
        slots["place"] = spec["places"][department]
        secret = _unique(lambda: access_code(rng), taken, "access codes")
    else:
        slots["codename"] = _unique(
            lambda: rng.choice(spec["codename_starts"]) + rng.choice(spec["codename_ends"]),
            taken,
            "codenames",
        )
        slots["purpose"] = rng.choice(spec["purposes"])
        secret = _unique(lambda: f"${rng.randint(11, 99) / 10:.1f}M", taken, "budgets")
    text = rng.choice(spec["texts"]).format(secret=secret, **slots)
    secret_id = f"{department}-{kind.replace('_', '-')}"
    return SecretRecord(secret_id, department, kind, text, secret, spec["subject"].format(**slots))


def _make_messages(
    rng: random.Random, vocab: dict, n: int, products: tuple[Product, ...]
) -> tuple[RoutingMessage, ...]:
    spec = vocab["routing"]
    labels = [ROUTING_LABELS[i % len(ROUTING_LABELS)] for i in range(n)]
    rng.shuffle(labels)
    seen: set[str] = set()
    messages = []
    for i, label in enumerate(labels):
        templates = spec["templates"][label]
        text = rng.choice(templates).format(**_message_slots(rng, spec, products))
        for _ in range(50):  # prefer unseen texts, so no message sits in two splits
            if text not in seen:
                break
            text = rng.choice(templates).format(**_message_slots(rng, spec, products))
        seen.add(text)
        messages.append(RoutingMessage(f"msg-{i:04d}", text, label))
    return tuple(messages)


def _message_slots(rng: random.Random, spec: dict, products: tuple[Product, ...]) -> dict[str, str]:
    return {
        "product": rng.choice(products).name,
        "order": f"#A-{rng.randint(10000, 99999)}",
        "amount": f"${rng.randint(20, 4000):,}.{rng.choice(('00', '50', '99'))}",
        "n": str(rng.choice(spec["quantities"])),
        "invoice": f"INV-{rng.randint(10000, 99999)}",
        "month": rng.choice(load_vocab()["months"]),
        "role": rng.choice(spec["open_roles"]),
        "clause": rng.choice(spec["clauses"]),
        "contract": f"C-{rng.randint(2019, 2025)}-{rng.randint(100, 999)}",
        "code": str(rng.randint(100, 999)),
        "country": rng.choice(spec["countries"]),
    }


def evolve_world(world: World, seed: int | None = None, fraction: float = 0.25) -> tuple[World, list[FactChange]]:
    """Version ``world.version + 1``: about ``fraction`` of products change price and/or warranty,
    as many policies change one value, one product is discontinued and one is launched.

    Returns the new world (``world`` is not modified) and every fact that changed, was added or was
    removed. ``fraction=0`` changes nothing but the version. Deterministic for (world, seed).

    Raises:
        DataError: ``fraction`` is outside [0, 1].
    """
    if not 0 <= fraction <= 1:
        raise DataError(f"evolve_world: fraction must be between 0 and 1, got {fraction}")
    rng = random.Random(f"{world.seed}/evolve/{world.version}/{seed}")
    vocab = load_vocab()
    products, policies = list(world.products), list(world.policies)
    if fraction > 0:
        if len(products) > 1:
            products.pop(rng.randrange(len(products)))
        for i in rng.sample(range(len(products)), max(1, round(fraction * len(products)))):
            products[i] = _reprice(rng, vocab, products[i])
        for i in rng.sample(range(len(policies)), min(len(policies), max(1, round(fraction * len(policies))))):
            policies[i] = _revise_policy(rng, vocab, policies[i])
        taken = {p.name for p in world.products}
        year = vocab["products"]["new_release_year"]
        products.append(_make_product(rng, vocab, taken, _managers(world.people), [year, year]))
    new = _rendered(replace(world, version=world.version + 1, products=tuple(products), policies=tuple(policies)))
    return new, diff_facts(world.facts, new.facts)


def _reprice(rng: random.Random, vocab: dict, product: Product) -> Product:
    what = rng.choice(("price", "warranty", "both"))
    price, warranty = product.price_usd, product.warranty_years
    if what != "warranty":
        new_price = _retail_price(price * rng.choice((0.8, 0.85, 0.9, 1.1, 1.15, 1.2, 1.25)))
        price = new_price if new_price != price else price + 10
    if what != "price":
        warranty = rng.choice([w for w in vocab["products"]["warranty_years"] if w != warranty])
    return replace(product, price_usd=price, warranty_years=warranty)


def _revise_policy(rng: random.Random, vocab: dict, policy: Policy) -> Policy:
    spec = vocab["policies"][policy.department][policy.kind]["facts"]
    attr = rng.choice([a for a in policy.facts if len(spec[a]["values"]) > 1])
    value = rng.choice([v for v in spec[attr]["values"] if v != policy.facts[attr]])
    return replace(policy, facts={**policy.facts, attr: value})
