"""The files `tailor synth` writes, and what it remembers between runs.

``OUT.jsonl`` holds the examples (the format users write, plus ``kind`` and ``synthetic``); beside it
``OUT.synth-state.json`` records, per document, the content hash it was read at and how many of its
candidate answers were tried, and, per example synth wrote, a hash of every field as written. On the
next run an example whose fields no longer match its hash was edited by a person: it is kept as it
is, never overwritten, and the run says so. An example synth did not write is never touched. Every
file is written atomically (temp file + rename), so an interrupted run leaves the previous files.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tailor.artifacts import read_json_artifact, write_json_atomic, write_text_atomic
from tailor.config import Recipe
from tailor.data.corpus import Document
from tailor.data.examples import Example, Split, load_examples
from tailor.data.settings import SplitConfig
from tailor.progress import Reporter

STATE_KEYS = ("settings", "documents", "examples")
# The fields a synthesized line carries, in the order they are written.
FIELDS = ("id", "question", "answer", "sources", "groups", "user", "split", "kind", "synthetic")


@dataclass(frozen=True)
class DocState:
    """What an earlier run did with a document: read at ``hash``, ``tried`` candidates, nothing left if ``done``."""

    hash: str
    tried: int = 0
    done: bool = False


@dataclass(frozen=True)
class Previous:
    """The output file and state as an earlier run (and any person since) left them."""

    examples: tuple[Example, ...] = ()  # in file order
    lines: dict[str, str] = field(default_factory=dict)  # id → the line as it is in the file
    documents: dict[str, DocState] = field(default_factory=dict)
    written: dict[str, tuple[str, ...]] = field(default_factory=dict)  # synth's example id → its documents
    edited: frozenset[str] = frozenset()  # ids synth wrote whose fields a person changed since
    settings: str | None = None  # digest of what decided the candidates (see pipeline.candidate_settings)

    @property
    def human(self) -> frozenset[str]:
        """Ids in the file that synth never wrote (a person's own examples)."""
        return frozenset(e.id for e in self.examples if e.id not in self.written)


@dataclass
class Carry:
    """What an earlier run left that this one keeps: rows, their documents, the documents' state."""

    rows: list[tuple[Example, str | None]] = field(default_factory=list)  # (example, its line kept verbatim)
    owners: dict[str, tuple[str, ...]] = field(default_factory=dict)  # synth's example id → its documents
    documents: dict[str, DocState] = field(default_factory=dict)
    fresh: list[str] = field(default_factory=list)  # new or changed documents: asked first
    edited: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # new / changed / unchanged / removed documents


def carry_over(previous: Previous, readable: dict[str, Document], settings: str, reporter: Reporter) -> Carry:
    """Keep every row a person wrote or edited, and synth's rows whose documents are all unchanged."""
    same = previous.settings == settings
    if previous.settings is not None and not same:
        reporter.log("synth: seed, chunking or model changed since the last run: every document is asked anew")
    unchanged = {
        d for d, s in previous.documents.items() if same and d in readable and readable[d].content_hash == s.hash
    }
    carry = Carry(documents={d: previous.documents[d] for d in unchanged})
    carry.fresh = [d for d in readable if d not in unchanged]
    carry.counts = {
        "new": sum(d not in previous.documents for d in readable),
        "changed": sum(d in previous.documents and d not in unchanged for d in readable),
        "unchanged": len(unchanged),
        "removed": sum(d not in readable for d in previous.documents),
    }
    for example in previous.examples:
        owners = previous.written.get(example.id)
        line = previous.lines[example.id]
        if owners is None or example.id in previous.edited:
            carry.rows.append((example, line))  # a person's own or edited example: never touched
            if owners is not None:
                carry.edited.append(example.id)
                carry.owners[example.id] = owners
                if not set(owners) <= unchanged:
                    reporter.log(f"synth: kept {example.id} as you edited it, although its document changed")
        elif set(owners) <= unchanged:
            carry.rows.append((example, line))
            carry.owners[example.id] = owners
    return carry


def paths(output: Path) -> tuple[Path, Path]:
    """(state file, report file) beside the examples file ``output``."""
    stem = output.name.removesuffix(".jsonl")
    return output.with_name(f"{stem}.synth-state.json"), output.with_name(f"{stem}.synth-report.json")


def output_path(recipe: Recipe) -> Path:
    """The JSONL file synth writes: ``synth.output``, else the first ``data.examples`` path."""
    return recipe.resolve(recipe.synth.output or recipe.data.examples[0].path)


def fingerprint(example: Example) -> str:
    """A hash of every field of ``example``: equal exactly when nobody changed it."""
    return hashlib.sha256(json.dumps(example.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:16]


def read_previous(output: Path) -> Previous:
    """What an earlier run left: the examples (validated like any examples file), their lines, the state.

    Raises:
        DataError: the examples file exists but is invalid (names file, line and field).
        ArtifactError: the state file is not valid JSON.
    """
    state_path, _ = paths(output)
    examples: list[Example] = []
    if output.is_file() and output.read_bytes().strip():
        examples = load_examples(output)
    lines = {}
    for line in output.read_text(encoding="utf-8").splitlines() if examples else ():
        if line.strip():
            lines[json.loads(line)["id"]] = line
    if not state_path.is_file():
        return Previous(tuple(examples), lines)
    state = read_json_artifact(state_path, STATE_KEYS, "synth state")
    written = {i: e for i, e in state.get("examples", {}).items() if isinstance(e, dict)}
    edited = frozenset(e.id for e in examples if e.id in written and written[e.id].get("hash") != fingerprint(e))
    documents = {
        d: DocState(s["hash"], int(s.get("tried", 0)), bool(s.get("done", False)))
        for d, s in state.get("documents", {}).items()
        if isinstance(s, dict) and "hash" in s
    }
    return Previous(
        tuple(examples),
        lines,
        documents,
        {i: tuple(e.get("documents", ())) for i, e in written.items()},
        edited,
        state.get("settings"),
    )


def example_line(example: Example) -> str:
    """A synthesized example as one JSON line, fields in the order users write them."""
    data = example.model_dump(mode="json")
    return json.dumps({k: data[k] for k in FIELDS}, ensure_ascii=False)


def write_output(
    output: Path,
    rows: Sequence[tuple[Example, str | None]],
    documents: dict[str, DocState],
    owners: dict[str, tuple[str, ...]],
    settings: str,
    report: dict[str, Any],
) -> None:
    """Write the examples (``(example, line)``: a line to keep verbatim, or None to write it anew), state and report.

    The examples file is replaced last: until then an interrupted run leaves the earlier one whole.
    """
    state_path, report_path = paths(output)
    state = {
        "settings": settings,
        "documents": {d: {"hash": s.hash, "tried": s.tried, "done": s.done} for d, s in sorted(documents.items())},
        "examples": {
            e.id: {"hash": fingerprint(e), "documents": list(owners[e.id])} for e, _ in rows if e.id in owners
        },
    }
    write_json_atomic(state_path, state)
    write_json_atomic(report_path, report)
    write_text_atomic(output, "".join((line or example_line(e)) + "\n" for e, line in rows))


def assign_fact_splits(
    facts: Sequence[Iterable[str]], fixed: dict[int, Split], split: SplitConfig, seed: int
) -> list[Split]:
    """A split per item such that items sharing a fact (any key in common) share a split.

    ``facts[i]`` are item i's fact keys (source + normalised answer); ``fixed`` are splits items already
    have (kept from an earlier run): a group containing one takes it. Other groups are ordered by a hash
    of (seed, their smallest key) and dealt out in the recipe's proportions, the test share rounded up, so
    a handful of questions still has one to evaluate on.

    Raises:
        DataError: two items that share a fact were given different splits before (edited by hand).
    """
    parent = list(range(len(facts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[str, int] = {}
    for i, keys in enumerate(facts):
        for key in keys:
            if key in first:
                parent[root(i)] = root(first[key])
            else:
                first[key] = i
    groups: dict[int, list[int]] = {}
    for i in range(len(facts)):
        groups.setdefault(root(i), []).append(i)
    out: dict[int, Split] = {}
    free = []
    for members in groups.values():
        given = {fixed[i] for i in members if i in fixed}
        if len(given) > 1:
            # A person put one fact in two splits; respect each example's own split, as written.
            out.update({i: fixed.get(i, sorted(given)[0]) for i in members})
        elif given:
            out.update(dict.fromkeys(members, given.pop()))
        else:
            free.append(members)
    free.sort(key=lambda m: hashlib.sha256(f"{seed}:{min(min(facts[i]) for i in m)}".encode()).hexdigest())
    n = len(free)
    n_test = -(-round(n * split.test * 1000) // 1000) if n else 0  # ceil, robust to float noise
    n_test = min(n, max(n_test, 1 if n else 0))
    n_dev = min(n - n_test, round(n * split.dev))
    for rank, members in enumerate(free):
        name: Split = "test" if rank < n_test else "dev" if rank < n_test + n_dev else "train"
        out.update(dict.fromkeys(members, name))
    return [out[i] for i in range(len(facts))]
