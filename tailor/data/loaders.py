"""One parse function per corpus format: bytes in, text and the file's own metadata out.

Parsers know nothing about recipes: ``tailor.data.corpus`` applies the id and access rules. A parser
raises ``DataError`` when the whole file is unusable; ``parse_jsonl`` also yields a ``Problem`` per
bad line so the other lines still load.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import json
import logging
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tailor.errors import DataError, Problem

# Text formats with a NUL byte this early are binary files with a misleading suffix.
BINARY_SNIFF_BYTES = 8192
_UTF16_32_BOMS = {
    codecs.BOM_UTF32_LE: "UTF-32",  # before UTF-16 LE: it starts with the same two bytes
    codecs.BOM_UTF32_BE: "UTF-32",
    codecs.BOM_UTF16_LE: "UTF-16",
    codecs.BOM_UTF16_BE: "UTF-16",
}
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)^---[ \t]*$\n?", re.DOTALL | re.MULTILINE)
_DROPPED_TAGS = ("script", "style", "nav", "footer", "noscript", "template", "head", "title")
_WHITESPACE = re.compile(r"\s+")
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
# Elements whose text stands apart from its neighbours: each becomes a paragraph of its own.
_BLOCK_TAGS = frozenset(
    {"p", "li", "dt", "dd", "blockquote", "tr", "caption", "figcaption", "div", "section", "article"}
    | {"main", "aside", "header", "address", "details", "summary", "form", "fieldset", "table", "ul", "ol"}
    | {"dl", "hr", "body"}
)
JSONL_KEYS = ("text", "doc_id", "title", "groups")


@dataclass(frozen=True)
class Parsed:
    """One document as its file describes it; ``None`` means the file does not say."""

    text: str
    title: str | None = None
    doc_id: str | None = None
    groups: tuple[str, ...] | None = None
    line: int | None = None  # where its metadata sits: front matter, or its JSONL line
    content_hash: str | None = None  # None: the hash of the whole file


@contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    """Silence a parsing library: bs4 and pypdf log and warn about every defect they repair, while the
    corpus reports one line per skipped file instead."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def sniff_binary(data: bytes, path: Path) -> None:
    """Reject a text-format file that is binary or UTF-16/32 encoded.

    Raises:
        DataError: a UTF-16/32 byte order mark, or a NUL byte in the first 8 KiB.
    """
    for bom, name in _UTF16_32_BOMS.items():
        if data.startswith(bom):
            raise DataError(Problem(f"not UTF-8 text ({name} byte order mark; save it as UTF-8)", file=path))
    nul = data.find(b"\x00", 0, BINARY_SNIFF_BYTES)
    if nul >= 0:
        raise DataError(Problem(f"binary file (NUL byte at offset {nul}), not {path.suffix} text", file=path))


def decode_utf8(data: bytes, path: Path, line: int | None = None) -> str:
    """UTF-8 text with any byte order mark dropped and line endings made ``\\n``.

    Raises:
        DataError: the bytes are not UTF-8.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(Problem(f"not UTF-8 text (byte {e.start}); save it as UTF-8", file=path, line=line)) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def parse_front_matter(raw: str, path: Path) -> tuple[dict, str]:
    """Split ``---`` YAML front matter from a markdown body.

    Raises:
        DataError: the front matter is not valid YAML or not a mapping.
    """
    match = _FRONT_MATTER.match(raw)
    if match is None:
        return {}, raw
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except Exception as e:  # besides YAMLError, bad dates raise ValueError and deep nesting RecursionError
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 2
        reason = getattr(e, "problem", None) or str(e) or type(e).__name__
        raise DataError(Problem(f"malformed front matter YAML ({reason})", file=path, line=line)) from None
    if not isinstance(meta, dict):
        raise DataError(Problem("front matter must be a YAML mapping", file=path, line=2))
    return meta, raw[match.end() :].lstrip("\n")


def parse_markdown(data: bytes, path: Path) -> Parsed:
    """A markdown or plain-text file; title from front matter, else its first ``#`` heading.

    Raises:
        DataError: not UTF-8, or malformed front matter.
    """
    meta, body = parse_front_matter(decode_utf8(data, path), path)
    title = _scalar(meta.get("title"), path, 2, "title")
    if title is None:
        title = next((ln.lstrip("#").strip() for ln in body.splitlines() if ln.startswith("#")), None)
    declared = meta.get("groups")
    if isinstance(declared, str):
        declared = [declared]
    return Parsed(
        text=body.strip(),
        title=title or None,
        doc_id=_scalar(meta.get("doc_id"), path, 2, "doc_id"),
        groups=None if declared is None else _group_list(declared, path, 2),
        line=2 if meta else None,
    )


def parse_html(data: bytes, path: Path) -> Parsed:
    """An HTML page as markdown-like text: ``#`` heading lines, one paragraph per block.

    Script, style, navigation and footer are dropped. Title from ``<title>``, else the first ``<h1>``;
    ``<meta name="groups" content="a, b">`` and ``<meta name="doc_id">`` set groups and id.

    Raises:
        DataError: the page cannot be parsed.
    """
    from bs4 import BeautifulSoup

    try:
        with _quiet("bs4"):
            soup = BeautifulSoup(data, "html.parser")  # bytes: bs4 finds the encoding (BOM, <meta charset>)
        title = _clean(soup.title.get_text()) if soup.title else ""
        h1 = soup.find("h1")
        title = title or (_clean(h1.get_text(" ")) if h1 else "")
        doc_id, groups = _meta(soup, "doc_id"), _meta(soup, "groups")
        for tag in soup.find_all(list(_DROPPED_TAGS)):
            if not tag.decomposed:  # already gone with an enclosing dropped tag
                tag.decompose()
        text = "\n\n".join(_html_blocks(soup))
    except Exception as e:  # a parser bug on hostile markup must skip the file, not stop the corpus
        raise DataError(Problem(f"unreadable HTML ({type(e).__name__}: {e})", file=path)) from None
    if doc_id is not None and not doc_id.strip():
        raise DataError(Problem("<meta name='doc_id'> is blank", file=path, field="doc_id"))
    return Parsed(
        text=text,
        title=title or None,
        doc_id=doc_id,
        groups=None if groups is None else tuple(g.strip() for g in groups.split(",") if g.strip()),
    )


def _meta(soup: Any, name: str) -> str | None:
    tag = soup.find("meta", attrs={"name": lambda v: v is not None and v.strip().lower() == name})
    content = tag.get("content") if tag is not None else None
    return content if isinstance(content, str) else None


def _html_blocks(root: Any) -> list[str]:
    """The text of ``root`` as paragraphs; headings become ``#`` lines.

    Iterative rather than recursive: hostile pages nest deeper than Python's recursion limit.
    """
    from bs4 import NavigableString
    from bs4.element import Comment, Declaration, Doctype, ProcessingInstruction

    skipped_strings = (Comment, Declaration, Doctype, ProcessingInstruction)
    blocks: list[str] = []
    inline: list[str] = []

    def flush() -> None:
        lines = (_clean(line) for line in "".join(inline).split("\n"))
        paragraph = "\n".join(line for line in lines if line)
        if paragraph:
            blocks.append(paragraph)
        inline.clear()

    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        if leaving:
            flush()
        elif isinstance(node, NavigableString):
            if not isinstance(node, skipped_strings):
                inline.append(_WHITESPACE.sub(" ", node))  # source newlines are spaces; <br> is a newline
        elif node.name in _HEADINGS:
            flush()
            heading = _clean(node.get_text(" "))
            if heading:
                blocks.append(f"{'#' * _HEADINGS[node.name]} {heading}")
        elif node.name == "pre":
            flush()
            if node.get_text().strip():
                blocks.append(node.get_text().strip("\n"))
        elif node.name == "br":
            inline.append("\n")
        else:
            if node.name in ("td", "th"):
                inline.append(" ")  # cells of a row stay on one line, apart
            if node.name in _BLOCK_TAGS:
                flush()
                stack.append((node, True))
            stack.extend((child, False) for child in reversed(node.contents))
    flush()
    return blocks


def parse_pdf(data: bytes, path: Path) -> Parsed:
    """A PDF's text, pages joined by blank lines; title from its ``/Title`` metadata, else its first line.

    Raises:
        DataError: encrypted with a password, unreadable, or without extractable text (a scan).
    """
    from pypdf import PdfReader

    try:
        with _quiet("pypdf"):
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted and not _opens_without_password(reader):
                raise DataError(Problem("encrypted PDF (needs a password; save a decrypted copy)", file=path))
            pages = [(page.extract_text() or "").replace("\x00", "").strip() for page in reader.pages]
            meta_title = reader.metadata.title if reader.metadata is not None else None
    except DataError:
        raise
    except Exception as e:  # pypdf's PyPdfError, but broken files also raise KeyError, ValueError, zlib.error…
        raise DataError(Problem(f"unreadable PDF ({type(e).__name__}: {e})", file=path)) from None
    text = "\n\n".join(p for p in pages if p)
    if not text:
        raise DataError(Problem("PDF has no extractable text (scanned?); run OCR on it first", file=path))
    title = _clean(meta_title) if isinstance(meta_title, str) else ""
    return Parsed(text=text, title=title or next(ln.strip() for ln in text.splitlines() if ln.strip()))


def _opens_without_password(reader: Any) -> bool:
    """Many PDFs are encrypted only to restrict printing or editing: their user password is empty."""
    try:
        return bool(reader.decrypt(""))
    except Exception:  # e.g. AES without the cryptography package
        return False


def parse_jsonl(data: bytes, path: Path) -> Iterator[Parsed | Problem]:
    """One document per non-blank line ``{"text", "doc_id"?, "title"?, "groups"?}``; a bad line yields a Problem."""
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            yield _jsonl_record(raw, path, number)
        except DataError as e:
            yield from e.problems


def _jsonl_record(raw: bytes, path: Path, line: int) -> Parsed:
    text = decode_utf8(raw, path, line)
    try:
        record = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as e:
        reason = f"{e.msg} at column {e.colno}" if isinstance(e, json.JSONDecodeError) else "nested too deeply"
        raise DataError(Problem(f"malformed JSON ({reason})", file=path, line=line)) from None
    if not isinstance(record, dict):
        raise DataError(Problem(f"must be a JSON object, got {type(record).__name__}", file=path, line=line))
    for key in record:
        if key not in JSONL_KEYS:
            raise DataError(Problem(f"unknown key (allowed: {', '.join(JSONL_KEYS)})", file=path, line=line, field=key))
    body = record.get("text")
    if not isinstance(body, str) or not body.strip():
        reason = "missing" if "text" not in record else "blank" if isinstance(body, str) else "must be a string"
        raise DataError(Problem(reason, file=path, line=line, field="text"))
    for key in ("doc_id", "title"):
        if key in record and (not isinstance(record[key], str) or not record[key].strip()):
            raise DataError(Problem("must be a non-blank string", file=path, line=line, field=key))
    groups = record.get("groups")
    return Parsed(
        text=body.strip(),
        title=record.get("title"),
        doc_id=record.get("doc_id"),
        groups=None if groups is None else _group_list(groups, path, line),
        line=line,
        content_hash=hashlib.sha256(raw.rstrip(b"\r")).hexdigest(),
    )


def _scalar(value: object, path: Path, line: int, field: str) -> str | None:
    """A front-matter string; YAML reads ``doc_id: 2024`` as a number, which is fine."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float) or not str(value).strip():
        raise DataError(Problem("must be a non-blank string", file=path, line=line, field=field))
    return str(value)


def _group_list(value: object, path: Path, line: int | None) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(g, str) for g in value):
        raise DataError(Problem("must be a list of group names", file=path, line=line, field="groups"))
    return tuple(value)


def _clean(text: str) -> str:
    """Whitespace runs (newlines included) collapsed to single spaces."""
    return " ".join(text.split())
