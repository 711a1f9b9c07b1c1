"""The document corpus: markdown and text files with access groups.

A document's groups come from its front matter (``groups: [finance]``), else from the recipe's
``data.access`` rules, else from ``data.default_groups``. A document that ends up with no group is
visible to nobody: access control fails closed.
"""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from tailor.config import Recipe
from tailor.errors import DataError, Problem

SUPPORTED_SUFFIXES = (".md", ".markdown", ".txt")
MAX_DOCUMENT_BYTES = 20_000_000


@dataclass(frozen=True)
class Document:
    doc_id: str
    title: str
    text: str
    groups: frozenset[str]
    path: Path | None = None
    content_hash: str = ""

    def visible_to(self, groups: Iterable[str]) -> bool:
        """True if a user in ``groups`` may read this document."""
        return not self.groups.isdisjoint(groups)


def parse_front_matter(raw: str, path: Path) -> tuple[dict, str]:
    """Split ``---`` YAML front matter from a markdown body.

    Raises:
        DataError: the front matter is not a YAML mapping.
    """
    if not raw.startswith("---"):
        return {}, raw
    end = raw.find("\n---", 3)
    if end < 0:
        return {}, raw
    try:
        meta = yaml.safe_load(raw[3:end]) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1
        raise DataError(Problem("malformed front matter YAML", file=path, line=line)) from None
    if not isinstance(meta, dict):
        raise DataError(Problem("front matter must be a YAML mapping", file=path, line=2))
    body = raw[end + 4 :].lstrip("\n")
    return meta, body


def _title(meta: dict, body: str, path: Path) -> str:
    if isinstance(meta.get("title"), str):
        return meta["title"]
    for line in body.splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
    return path.stem


def _groups(meta: dict, rel: str, recipe: Recipe, path: Path) -> frozenset[str]:
    declared = meta.get("groups")
    if declared is not None:
        if isinstance(declared, str):
            declared = [declared]
        if not isinstance(declared, list) or not all(isinstance(g, str) for g in declared):
            raise DataError(Problem("must be a list of group names", file=path, line=2, field="groups"))
        return frozenset(declared)
    for rule in recipe.data.access:
        if fnmatch.fnmatch(rel, rule.glob):
            return frozenset(rule.groups)
    return frozenset(recipe.data.default_groups)


def corpus_paths(recipe: Recipe) -> list[tuple[Path, Path]]:
    """(file, base directory of the glob that matched it) for the recipe's corpus, sorted, without duplicates."""
    seen: dict[Path, Path] = {}
    for pattern in recipe.data.corpus:
        absolute = recipe.resolve(pattern)
        base = _glob_base(absolute)
        for p in sorted(glob.glob(str(absolute), recursive=True)):
            path = Path(p)
            if path.is_file():
                seen.setdefault(path.resolve(), base.resolve())
    return list(seen.items())


def _glob_base(pattern: Path) -> Path:
    """The directory part of a glob before its first wildcard: document ids are paths relative to it."""
    parts = []
    for part in pattern.parts:
        if any(c in part for c in "*?["):
            break
        parts.append(part)
    return Path(*parts) if len(parts) < len(pattern.parts) else pattern.parent


def load_document(path: Path, recipe: Recipe, base: Path | None = None) -> Document:
    """Read one document; without a front-matter ``doc_id`` its id is its path relative to ``base``, sans suffix.

    Raises:
        DataError: unsupported format, too large, not UTF-8, or malformed front matter.
    """
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise DataError(
            Problem(f"unsupported format {path.suffix!r} (supported: {', '.join(SUPPORTED_SUFFIXES)})", file=path)
        )
    size = path.stat().st_size
    if size > MAX_DOCUMENT_BYTES:
        raise DataError(Problem(f"document is {size:,} bytes; the limit is {MAX_DOCUMENT_BYTES:,}", file=path))
    raw_bytes = path.read_bytes()
    try:
        raw = raw_bytes.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(Problem(f"not UTF-8 text (byte {e.start})", file=path)) from None
    meta, body = parse_front_matter(raw, path)
    rel = Path(os.path.relpath(path, recipe.base_dir.resolve())).as_posix()  # what access rules match
    doc_id = str(meta.get("doc_id") or Path(os.path.relpath(path, base or recipe.base_dir)).with_suffix("").as_posix())
    return Document(
        doc_id=doc_id,
        title=_title(meta, body, path),
        text=body.strip(),
        groups=_groups(meta, rel, recipe, path),
        path=path,
        content_hash=hashlib.sha256(raw_bytes).hexdigest(),
    )


def load_corpus(recipe: Recipe) -> list[Document]:
    """Every readable document of the recipe's corpus. Unreadable files are skipped with a warning each.

    Raises:
        DataError: two documents share a ``doc_id``.
    """
    docs: list[Document] = []
    by_id: dict[str, Path | None] = {}
    for path, base in corpus_paths(recipe):
        try:
            doc = load_document(path, recipe, base)
        except DataError as e:
            warnings.warn(f"skipped: {e}", stacklevel=2)
            continue
        if not doc.text:
            warnings.warn(f"skipped: {path}: empty document", stacklevel=2)
            continue
        if doc.doc_id in by_id:
            raise DataError(
                Problem(f"doc_id {doc.doc_id!r} also used by {by_id[doc.doc_id]}", file=path, field="doc_id")
            )
        by_id[doc.doc_id] = path
        docs.append(doc)
    return docs
