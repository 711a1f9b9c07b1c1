"""Everything derived from a synthetic :class:`~tailor.data.world.World`: its documents and facts,
how facts differ between versions, its task examples, and the files ``write_world`` puts on disk.

Each document draws its sentence variants from its own RNG, seeded by the world seed and the
document id, so a document whose entity did not change renders identically in every version.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
import re
from dataclasses import asdict
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from tailor.artifacts import write_json_atomic, write_jsonl_atomic, write_text_atomic
from tailor.data.world_types import (
    Department,
    Document,
    Fact,
    FactChange,
    Person,
    Policy,
    Product,
    SecretRecord,
    World,
)

# (split, share of examples); shares sum to 1 and "test" takes the rounding remainder.
SPLIT_SHARES = (("train", 0.5), ("dev", 0.2))


@functools.cache
def load_vocab() -> dict[str, Any]:
    """The word tables, presets and templates of ``world_vocab.yaml`` (shared: do not mutate)."""
    text = resources.files("tailor.data").joinpath("world_vocab.yaml").read_text(encoding="utf-8")
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def slug(text: str) -> str:
    """``"Veltro X200"`` -> ``"veltro-x200"``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def money(amount: int) -> str:
    return f"${amount:,}"


def quantity(n: int, unit: str) -> str:
    """``quantity(2, "year")`` -> ``"2 years"``; units are nouns that pluralise with "s"."""
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def policy_value(value: int | str, unit: str) -> str:
    """A policy fact as written in its document: ``$200``, ``15%``, ``6 pm`` or ``14 days``."""
    if unit == "usd":
        return money(int(value))
    if unit == "percent":
        return f"{value}%"
    if unit == "text":
        return str(value)
    return quantity(int(value), unit)


def long_date(iso: str) -> str:
    """``"2023-03-12"`` -> ``"12 March 2023"``, independent of the machine's locale."""
    d = dt.date.fromisoformat(iso)
    return f"{d.day} {load_vocab()['months'][d.month - 1]} {d.year}"


def with_article(noun: str) -> str:
    return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


def product_doc_id(product: Product) -> str:
    return f"product-{product.product_id}"


def secret_doc_id(secret: SecretRecord) -> str:
    return f"secret-{secret.secret_id}"


def render_documents(world: World) -> tuple[tuple[Document, ...], tuple[Fact, ...]]:
    """Render every document of ``world`` and the facts each one states, in a fixed order."""
    vocab = load_vocab()
    parts = [_overview(world, vocab)]
    parts += [_directory(world, vocab, d) for d in world.departments]
    parts += [_product(world, vocab, p) for p in world.products]
    parts += [_policy(world, vocab, p) for p in world.policies]
    parts += [_secret(world, vocab, s) for s in world.secrets]
    return tuple(doc for doc, _ in parts), tuple(f for _, facts in parts for f in facts)


def diff_facts(old: tuple[Fact, ...], new: tuple[Fact, ...]) -> list[FactChange]:
    """The facts that differ between two versions, sorted by ``fact_id``."""
    before, after = {f.fact_id: f for f in old}, {f.fact_id: f for f in new}
    changes = []
    for fact_id in sorted(before.keys() | after.keys()):
        b, a = before.get(fact_id), after.get(fact_id)
        if b is None:
            changes.append(FactChange(fact_id, "added", None, a.value, a.doc_id))
        elif a is None:
            changes.append(FactChange(fact_id, "removed", b.value, None, b.doc_id))
        elif a.value != b.value:
            changes.append(FactChange(fact_id, "changed", b.value, a.value, a.doc_id))
    return changes


def _doc_rng(world: World, doc_id: str) -> random.Random:
    return random.Random(f"{world.seed}/doc/{doc_id}")


def _facts(
    kind: str, subject_id: str, subject: str, values: dict[str, str], doc_id: str, questions: dict[str, list]
) -> list[Fact]:
    """One fact per ``attribute -> value``, its questions filled with ``subject``."""
    return [
        Fact(
            f"{kind}/{subject_id}/{attr}",
            subject,
            attr,
            value,
            doc_id,
            tuple(q.format(subject=subject) for q in questions[attr]),
        )
        for attr, value in values.items()
    ]


def _overview(world: World, vocab: dict) -> tuple[Document, list[Fact]]:
    doc_id, t = "org-overview", vocab["templates"]["overview"]
    rng = _doc_rng(world, doc_id)
    heads = {d.key: _head(world, d).name for d in world.departments}
    founded = str(world.founded_year)
    intro = rng.choice(t["intros"]).format(org=world.org_name, founded=founded, hq=world.headquarters)
    lines = [
        rng.choice(t["department_lines"]).format(name=d.name, blurb=d.blurb, head=heads[d.key])
        for d in world.departments
    ]
    title = f"{world.org_name} company overview"
    text = f"# {title}\n\n{intro}\n\n## Departments\n\n" + "\n".join(lines) + "\n"
    q = vocab["questions"]
    facts = _facts(
        "org",
        slug(world.org_name),
        world.org_name,
        {"founded": founded, "headquarters": world.headquarters},
        doc_id,
        q["org"],
    )
    for d in world.departments:
        facts += _facts("department", d.key, d.name, {"head": heads[d.key]}, doc_id, q["department"])
    return Document(doc_id, title, ("everyone",), "overview", text), facts


def _head(world: World, department: Department) -> Person:
    return next(p for p in world.people if p.department == department.key)


def _directory(world: World, vocab: dict, department: Department) -> tuple[Document, list[Fact]]:
    doc_id, t = f"directory-{department.key}", vocab["templates"]["directory"]
    rng = _doc_rng(world, doc_id)
    title = rng.choice(t["titles"]).format(department=department.name)
    lines, facts = [], []
    for p in (p for p in world.people if p.department == department.key):
        year = str(p.start_year)
        lines.append(rng.choice(t["lines"]).format(name=p.name, role=p.role, city=p.office_city, year=year))
        values = {"role": p.role, "office_city": p.office_city, "start_year": year}
        facts += _facts("person", p.person_id, p.name, values, doc_id, vocab["questions"]["person"])
    text = f"# {title}\n\n{department.blurb}\n\n" + "\n".join(lines) + "\n"
    return Document(doc_id, title, ("everyone",), "directory", text), facts


def _product(world: World, vocab: dict, p: Product) -> tuple[Document, list[Fact]]:
    doc_id, t = product_doc_id(p), vocab["templates"]["product"]
    rng = _doc_rng(world, doc_id)
    manager = next(person.name for person in world.people if person.person_id == p.manager)
    specs = {
        "price": money(p.price_usd),
        "release_date": long_date(p.release_date),
        "warranty": quantity(p.warranty_years, "year"),
        "weight": f"{p.weight_g} g",
        "battery_life": quantity(p.battery_hours, "hour") if p.battery_hours else None,
        "factory": p.factory_city,
        "manager": manager,
    }
    specs = {k: v for k, v in specs.items() if v is not None}
    intro = rng.choice(t["intros"]).format(
        name=p.name,
        category=p.category,
        a_category=with_article(p.category),
        factory=p.factory_city,
        manager=manager,
    )
    text = f"# {p.name}\n\n{intro}\n\n## {rng.choice(t['spec_headings'])}\n\n"
    text += _spec_table(specs, t["labels"]) if rng.random() < 0.5 else _spec_list(specs, t["labels"])
    # Battery life, where there is one, is the more distinctive fact; weight stands in otherwise.
    asked = ("price", "release_date", "warranty", "battery_life" if p.battery_hours else "weight")
    values = {k: specs[k] for k in (*asked, "manager", "factory")}
    facts = _facts("product", p.product_id, p.name, values, doc_id, vocab["questions"]["product"])
    return Document(doc_id, p.name, ("everyone",), "product", text), facts


def _spec_list(specs: dict[str, str], labels: dict[str, str]) -> str:
    return "".join(f"- **{labels[k]}:** {v}\n" for k, v in specs.items())


def _spec_table(specs: dict[str, str], labels: dict[str, str]) -> str:
    rows = "".join(f"| {labels[k]} | {v} |\n" for k, v in specs.items())
    return "| Specification | Value |\n|---|---|\n" + rows


def _policy(world: World, vocab: dict, policy: Policy) -> tuple[Document, list[Fact]]:
    doc_id = f"policy-{policy.policy_id}"
    spec = vocab["policies"][policy.department][policy.kind]
    dept = vocab["departments"][policy.department]
    rng = _doc_rng(world, doc_id)
    owner = rng.choice(vocab["templates"]["policy"]["owners"])
    owner = owner.format(department=dept["name"], org=world.org_name, team=dept["team"])
    values, sections = {}, []
    for attr, raw in policy.facts.items():
        fact = spec["facts"][attr]
        values[attr] = policy_value(raw, fact["unit"])
        sentence = rng.choice(fact["sentences"]).format(value=values[attr])
        sections.append((fact["label"], sentence))
    if rng.random() < 0.5:
        body = "".join(f"## {label[0].upper()}{label[1:]}\n\n{sentence}\n\n" for label, sentence in sections)
    else:
        body = "## Rules\n\n" + "".join(f"- {sentence}\n" for _, sentence in sections) + "\n"
    text = f"# {policy.title}\n\n_{owner}_\n\n{spec['summary']}\n\n{body}".rstrip("\n") + "\n"
    templates = vocab["questions"]["policy"]["any"]
    questions = {a: [q.replace("{label}", spec["facts"][a]["label"]) for q in templates] for a in values}
    facts = _facts("policy", policy.policy_id, policy.title, values, doc_id, questions)
    return Document(doc_id, policy.title, (policy.department,), "policy", text), facts


def _secret(world: World, vocab: dict, secret: SecretRecord) -> tuple[Document, list[Fact]]:
    doc_id = secret_doc_id(secret)
    title = f"Confidential: {secret.subject}"
    text = f"# {title}\n\n{secret.text}\n"
    questions = {"secret": vocab["questions"]["secret"][secret.kind]}
    facts = _facts("secret", secret.secret_id, secret.subject, {"secret": secret.secret}, doc_id, questions)
    return Document(doc_id, title, (secret.department,), "secret", text), facts


def seeded_splits(ids: list[str], seed: int) -> dict[str, str]:
    """Seeded shuffle cut 50/20/30 into train/dev/test; every split non-empty from 3 ids on.

    Each id's place in the shuffle depends only on (seed, id), so an id keeps its split when other
    ids are added or removed (a version-2 world keeps the splits of its unchanged facts).
    """
    order = sorted(ids, key=lambda i: random.Random(f"{seed}/split/{i}").random())
    n, cuts, start = len(order), {}, 0
    for index, (name, share) in enumerate(SPLIT_SHARES):
        later_splits = len(SPLIT_SHARES) - index  # the splits after this one, "test" included
        count = min(max(1, round(share * n)), max(0, n - start - later_splits))
        cuts.update((i, name) for i in order[start : start + count])
        start += count
    cuts.update((i, "test") for i in order[start:])
    return cuts


def _reader(world: World, doc: Document, rng: random.Random) -> str:
    """A user allowed to read ``doc``: any department's user for shared documents."""
    if "everyone" in doc.groups:
        return rng.choice([f"{d.key}-user" for d in world.departments])
    return f"{doc.groups[0]}-user"


def qa_examples(world: World) -> list[dict[str, Any]]:
    """One question/answer example per fact, in the task-examples JSONL schema."""
    docs = {d.doc_id: d for d in world.documents}
    users = world.users
    splits = seeded_splits([f.fact_id for f in world.facts], world.seed)
    rows = []
    for fact in world.facts:
        rng = random.Random(f"{world.seed}/qa/{fact.fact_id}")
        question = rng.choice(fact.question_templates)
        user = _reader(world, docs[fact.doc_id], rng)
        rows.append(
            {
                "id": fact.fact_id,
                "question": question,
                "answer": fact.value,
                "split": splits[fact.fact_id],
                "user": user,
                "groups": list(users[user]),
                "sources": [fact.doc_id],
            }
        )
    return rows


def routing_examples(world: World) -> list[dict[str, Any]]:
    """One classification example per routing message; ``answer`` and ``label`` are the department."""
    users = world.users
    splits = seeded_splits([m.message_id for m in world.messages], world.seed)
    rows = []
    for m in world.messages:
        user = random.Random(f"{world.seed}/routing/{m.message_id}").choice(sorted(users))
        rows.append(
            {
                "id": m.message_id,
                "question": m.text,
                "answer": m.label,
                "split": splits[m.message_id],
                "user": user,
                "groups": list(users[user]),
                "sources": [],
                "label": m.label,
            }
        )
    return rows


def changed_examples(world: World, changes: list[FactChange]) -> list[dict[str, Any]]:
    """Questions about the facts ``changes`` changed or added, answered as of ``world`` (the new version).

    Task-example rows (``qa_examples``'s, so each keeps its fact's split); a changed fact's previous
    value is ``metadata.old_answer``, so an answer that still gives it can be counted as stale.
    Changed facts come first, then added ones; removed facts have no answer to ask for.
    """
    rows = {r["id"]: r for r in qa_examples(world)}
    order = [c for c in changes if c.kind == "changed"] + [c for c in changes if c.kind == "added"]
    return [
        rows[c.fact_id] | {"metadata": {"change": c.kind, **({"old_answer": c.old} if c.old else {})}} for c in order
    ]


def write_world(
    world: World, out_dir: Path | str, changes: list[FactChange] | None = None, previous: World | None = None
) -> Path:
    """Write documents (with front matter), examples, facts, secrets and a manifest under ``out_dir``.

    With ``changes``, also ``changes.jsonl`` and ``changed_qa.jsonl`` (:func:`changed_examples`).
    Markdown files under ``out_dir/docs`` that ``world`` no longer has are deleted, and so are those
    two files when ``changes`` is None, so the folder always describes exactly one world.
    ``previous``: the version ``world`` evolved from; a document it has unchanged keeps that version's
    front matter, so it is the same file byte for byte in both folders, as in a real document store
    (an incremental ingest then re-embeds only what changed).
    """
    out = Path(out_dir)
    written = set()
    before = {d.doc_id: d for d in previous.documents} if previous is not None else {}
    for doc in world.documents:
        path = out / "docs" / doc.groups[0] / f"{doc.doc_id}.md"
        version = previous.version if previous is not None and before.get(doc.doc_id) == doc else world.version
        write_text_atomic(path, _front_matter(doc, version) + doc.text)
        written.add(path)
    _remove_stale_docs(out / "docs", written)
    write_jsonl_atomic(out / "qa.jsonl", qa_examples(world))
    write_jsonl_atomic(out / "routing.jsonl", routing_examples(world))
    fact_keys = ("fact_id", "subject", "attribute", "value", "doc_id")
    write_jsonl_atomic(out / "facts.jsonl", ({k: getattr(f, k) for k in fact_keys} for f in world.facts))
    write_jsonl_atomic(out / "secrets.jsonl", (_secret_row(s) for s in world.secrets))
    if changes is None:
        (out / "changes.jsonl").unlink(missing_ok=True)
        (out / "changed_qa.jsonl").unlink(missing_ok=True)
    else:
        write_jsonl_atomic(out / "changes.jsonl", (asdict(c) for c in changes))
        write_jsonl_atomic(out / "changed_qa.jsonl", changed_examples(world, changes))
    write_json_atomic(out / "world.json", _manifest(world))
    return out


def _front_matter(doc: Document, version: int) -> str:
    meta = {
        "doc_id": doc.doc_id,
        "title": doc.title,
        "groups": list(doc.groups),
        "kind": doc.kind,
        "world_version": version,
    }
    dumped = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, default_flow_style=None, width=1000)
    return f"---\n{dumped}---\n\n"


def _remove_stale_docs(docs_dir: Path, keep: set[Path]) -> None:
    for path in sorted(docs_dir.rglob("*.md")):
        if path not in keep:
            path.unlink()
    for folder in sorted(p for p in docs_dir.iterdir() if p.is_dir()):
        if not any(folder.iterdir()):
            folder.rmdir()


def _secret_row(s: SecretRecord) -> dict[str, str]:
    return {
        "secret_id": s.secret_id,
        "department": s.department,
        "kind": s.kind,
        "secret": s.secret,
        "doc_id": secret_doc_id(s),
    }


def _manifest(world: World) -> dict[str, Any]:
    counts = {
        name: len(getattr(world, name))
        for name in (
            "departments",
            "people",
            "products",
            "policies",
            "secrets",
            "documents",
            "facts",
            "messages",
        )
    }
    return {
        "seed": world.seed,
        "version": world.version,
        "org_name": world.org_name,
        "size": asdict(world.size),
        "counts": counts,
        "departments": {d.key: d.name for d in world.departments},
        "users": world.users,
    }
