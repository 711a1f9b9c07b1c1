"""The document corpus: markdown, text, HTML, PDF and JSONL files with access groups.

A document's groups come from the file itself (front matter ``groups: [finance]``,
``<meta name="groups">``, a JSONL ``"groups"``), else from the recipe's ``data.access`` rules, else from
``data.default_groups``. A document that ends up with no group is visible to nobody: access control
fails closed. A file that cannot be used is skipped and reported, never fatal.
"""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import os
import re
import warnings
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from tailor.data.loaders import (
    Parsed,
    parse_front_matter,
    parse_html,
    parse_jsonl,
    parse_markdown,
    parse_pdf,
    sniff_binary,
)
from tailor.data.settings import GROUP_PATTERN
from tailor.errors import DataError, Problem

if TYPE_CHECKING:  # at run time only duck-typed: tailor.config may import validate_group from here
    from tailor.config import Recipe

__all__ = [
    "GROUP_NAME",
    "GROUP_PATTERN",
    "MAX_DOCUMENT_BYTES",
    "SUPPORTED_SUFFIXES",
    "CorpusScan",
    "Document",
    "corpus_paths",
    "load_corpus",
    "load_document",
    "load_file",
    "parse_front_matter",
    "scan_corpus",
    "validate_group",
]

_PARSERS: dict[str, Callable[[bytes, Path], Parsed]] = {
    ".md": parse_markdown,
    ".markdown": parse_markdown,
    ".txt": parse_markdown,
    ".html": parse_html,
    ".htm": parse_html,
    ".pdf": parse_pdf,
}
SUPPORTED_SUFFIXES = (*_PARSERS, ".jsonl")
MAX_DOCUMENT_BYTES = 20_000_000
# Group names end up in index filter expressions: nothing but this alphabet may reach them.
GROUP_NAME = re.compile(GROUP_PATTERN)


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


@dataclass(frozen=True)
class CorpusScan:
    """What loading the corpus found: the documents, and one problem per skipped file or JSONL line."""

    documents: tuple[Document, ...]
    skipped: tuple[Problem, ...]
    by_format: dict[str, int] = field(default_factory=dict)  # documents loaded per file suffix

    def summary(self) -> str:
        """One line, e.g. ``41 documents (38 .md, 2 .html, 1 .pdf); 3 files skipped``."""
        formats = ", ".join(f"{n} {s}" for s, n in sorted(self.by_format.items(), key=lambda kv: (-kv[1], kv[0])))
        text = _plural(len(self.documents), "document") + (f" ({formats})" if formats else "")
        lines = sum(_is_jsonl_line(p) for p in self.skipped)
        files = len(self.skipped) - lines
        parts = [_plural(n, noun) for n, noun in ((files, "file"), (lines, "JSONL line")) if n]
        return text + (f"; {' and '.join(parts)} skipped" if parts else "")


def validate_group(name: str) -> str:
    """``name`` if it is a valid access group name.

    Raises:
        ValueError: not 1-64 letters, digits, ``_ . : -`` starting with a letter or digit.
    """
    # fullmatch, not match: ``$`` alone would accept a trailing newline
    if not isinstance(name, str) or not GROUP_NAME.fullmatch(name):
        raise ValueError(
            f"invalid group name {name!r}: use 1-64 letters, digits, '_', '.', ':' or '-', "
            "starting with a letter or digit"
        )
    return name


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


def load_file(path: Path, recipe: Recipe, base: Path | None = None) -> tuple[list[Document], list[Problem]]:
    """The documents of one corpus file, and a problem for each JSONL line skipped.

    Without a ``doc_id`` of its own a document's id is its path relative to ``base``, sans suffix
    (``#<line>`` appended for JSONL lines).

    Raises:
        DataError: the whole file is unusable: unsupported, too large, empty, binary, not UTF-8,
            malformed front matter or metadata, an unreadable or encrypted PDF, or no text.
    """
    found, problems = _load(path, recipe, base)
    return [doc for _, doc in found], problems


def _load(path: Path, recipe: Recipe, base: Path | None) -> tuple[list[tuple[int | None, Document]], list[Problem]]:
    """``load_file``, keeping each document's JSONL line for later problems."""
    data = _read(path)
    path_id = Path(os.path.relpath(path, base or recipe.base_dir)).with_suffix("").as_posix()
    rel = Path(os.path.relpath(path, recipe.base_dir.resolve())).as_posix()  # what access rules match
    suffix = path.suffix.lower()
    if suffix != ".pdf":
        sniff_binary(data, path)
    if suffix != ".jsonl":
        parsed = replace(_PARSERS[suffix](data, path), content_hash=hashlib.sha256(data).hexdigest())
        return [(None, _document(parsed, path, path_id, rel, recipe))], []
    found: list[tuple[int | None, Document]] = []
    problems: list[Problem] = []
    for item in parse_jsonl(data, path):
        if isinstance(item, Problem):
            problems.append(item)
            continue
        try:
            found.append((item.line, _document(item, path, f"{path_id}#{item.line}", rel, recipe)))
        except DataError as e:
            problems.extend(e.problems)
    if not found and not problems:
        raise DataError(Problem("no documents: every line is blank", file=path))
    return found, problems


def _read(path: Path) -> bytes:
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise DataError(
            Problem(f"unsupported format {path.suffix!r} (supported: {', '.join(SUPPORTED_SUFFIXES)})", file=path)
        )
    try:
        size = path.stat().st_size
        if size > MAX_DOCUMENT_BYTES:
            raise DataError(Problem(f"document is {size:,} bytes; the limit is {MAX_DOCUMENT_BYTES:,}", file=path))
        data = path.read_bytes()
    except OSError as e:
        raise DataError(Problem(f"cannot read ({e.strerror or e})", file=path)) from None
    if not data:
        raise DataError(Problem("empty file", file=path))
    return data


def _document(parsed: Parsed, path: Path, default_id: str, rel: str, recipe: Recipe) -> Document:
    """A Document with the recipe's id and access rules applied.

    Raises:
        DataError: no text, or a declared group name is invalid.
    """
    if not parsed.text.strip():
        raise DataError(Problem("no text after parsing", file=path, line=parsed.line))
    if parsed.groups is None:
        groups = _recipe_groups(rel, recipe)
    else:
        try:
            groups = frozenset(validate_group(g) for g in parsed.groups)
        except ValueError as e:
            raise DataError(Problem(str(e), file=path, line=parsed.line, field="groups")) from None
    return Document(
        doc_id=parsed.doc_id or default_id,
        title=parsed.title or path.stem,
        text=parsed.text,
        groups=groups,
        path=path,
        content_hash=parsed.content_hash or "",
    )


def _recipe_groups(rel: str, recipe: Recipe) -> frozenset[str]:
    for rule in recipe.data.access:
        if fnmatch.fnmatch(rel, rule.glob):
            return frozenset(rule.groups)
    return frozenset(recipe.data.default_groups)


def load_document(path: Path, recipe: Recipe, base: Path | None = None) -> Document:
    """The one document of a file; see ``load_file`` for ids.

    Raises:
        DataError: the file is unusable, or it is a JSONL file that does not hold exactly one good line.
    """
    docs, problems = load_file(path, recipe, base)
    if problems:
        raise DataError(*problems)
    if len(docs) != 1:
        raise DataError(Problem(f"holds {len(docs)} documents; load it with load_file", file=path))
    return docs[0]


def scan_corpus(recipe: Recipe) -> CorpusScan:
    """Load the recipe's corpus, collecting instead of warning: each unusable file or JSONL line is skipped.

    When two documents share a ``doc_id`` the first one (in path order) is kept.
    """
    docs: dict[str, Document] = {}
    skipped: list[Problem] = []
    for path, base in corpus_paths(recipe):
        try:
            found, problems = _load(path, recipe, base)
        except DataError as e:
            skipped.extend(e.problems)
            continue
        skipped.extend(problems)
        for line, doc in found:
            if doc.doc_id in docs:
                first = docs[doc.doc_id].path
                skipped.append(
                    Problem(f"{doc.doc_id!r} also used by {first}, which is kept", file=path, line=line, field="doc_id")
                )
            else:
                docs[doc.doc_id] = doc
    by_format = Counter(d.path.suffix.lower() for d in docs.values() if d.path is not None)
    return CorpusScan(documents=tuple(docs.values()), skipped=tuple(skipped), by_format=dict(by_format))


def load_corpus(recipe: Recipe) -> list[Document]:
    """Every usable document of the recipe's corpus; each skipped file or JSONL line is one warning."""
    scan = scan_corpus(recipe)
    for problem in scan.skipped:
        warnings.warn(f"skipped: {problem}", stacklevel=2)
    return list(scan.documents)


def _is_jsonl_line(problem: Problem) -> bool:
    return problem.line is not None and Path(str(problem.file)).suffix.lower() == ".jsonl"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
