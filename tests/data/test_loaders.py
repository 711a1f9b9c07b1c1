"""Corpus formats (markdown, text, HTML, PDF, JSONL) and bad files: each skipped with one clear warning."""

from __future__ import annotations

import hashlib
import io
import json
import re
import warnings
from pathlib import Path

import pytest

from tailor.config import Recipe
from tailor.data import corpus
from tailor.data.corpus import load_corpus, load_document, scan_corpus, validate_group
from tailor.errors import DataError


def _recipe(tmp_path: Path, **data) -> Recipe:
    data = {"corpus": ["docs/**/*"], **data}
    return Recipe.model_validate({"data": {"examples": [{"path": "qa.jsonl"}], **data}}).with_base_dir(tmp_path)


def _write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    return path


def _pdf(pages: list[str], title: str | None = None) -> bytes:
    """A minimal valid PDF by hand: one Helvetica text line per line of each page."""
    objects: list[bytes] = [b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    pages_id = 2 + 2 * len(pages)
    page_ids = []
    for text in pages:
        ops = b"".join(
            b"BT /F1 12 Tf 72 %d Td (%s) Tj ET\n" % (712 - 20 * i, line.encode("latin-1"))
            for i, line in enumerate(text.splitlines())
        )
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(ops), ops))
        objects.append(
            b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
            b"/Resources << /Font << /F1 1 0 R >> >> >>" % (pages_id, len(objects))
        )
        page_ids.append(len(objects))
    kids = b" ".join(b"%d 0 R" % p for p in page_ids)
    objects.append(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(page_ids)))
    objects.append(b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id)
    trailer = b"/Root %d 0 R" % len(objects)
    if title is not None:
        objects.append(b"<< /Title (%s) >>" % title.encode("latin-1"))
        trailer += b" /Info %d 0 R" % len(objects)
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d %s >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, trailer, xref)
    return bytes(out)


def _encrypted(pdf: bytes, user_password: str) -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter(clone_from=io.BytesIO(pdf))
    writer.encrypt(user_password, owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _by_id(recipe: Recipe) -> dict[str, corpus.Document]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a good corpus loads without a single warning
        return {d.doc_id: d for d in load_corpus(recipe)}


def test_the_handmade_pdf_is_real() -> None:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(_pdf(["Hello Veltro"], title="T")))
    assert reader.pages[0].extract_text() == "Hello Veltro" and reader.metadata.title == "T"


def test_markdown_and_text_with_bom_crlf_and_front_matter(tmp_path: Path) -> None:
    md = "\ufeff---\r\ndoc_id: pay\r\ntitle: Payroll\r\ngroups: [finance, hr]\r\n---\r\n# Heading\r\nBody.\r\n"
    path = _write(tmp_path / "docs/pay.md", md)
    _write(tmp_path / "docs/notes/plain.txt", "Just text.\n")
    _write(tmp_path / "docs/long.markdown", "# Long Title\n\nParagraph.\n")
    docs = _by_id(_recipe(tmp_path, default_groups=["everyone"]))
    assert set(docs) == {"pay", "notes/plain", "long"}
    pay = docs["pay"]
    assert (pay.title, pay.text, pay.groups) == ("Payroll", "# Heading\nBody.", {"finance", "hr"})
    assert pay.path == path.resolve() and pay.content_hash == hashlib.sha256(md.encode()).hexdigest()
    assert docs["notes/plain"].title == "plain" and docs["notes/plain"].groups == {"everyone"}
    assert docs["long"].title == "Long Title"


HTML = """<!doctype html><html><head><title>Travel Policy</title>
<meta name="groups" content="finance, hr"><meta name="doc_id" content="policy/travel">
<style>.x { color: red }</style><script>var secret = "SCRIPT TEXT";</script></head>
<body><nav><a href="/">Home NAV</a></nav>
<h1>Travel</h1><p>Book   economy
 class.</p><!-- a comment -->
<h2>Meals</h2><ul><li>Breakfast is covered.</li><li>Dinner <b>up to</b> 40 EUR.</li></ul>
<pre>rate  = 1.2
total = 3</pre><table><tr><td>Hotel</td><td>120</td></tr></table>
<footer>FOOTER TEXT</footer></body></html>"""


def test_html_keeps_headings_and_paragraphs_and_drops_scripts_and_chrome(tmp_path: Path) -> None:
    _write(tmp_path / "docs/travel.html", HTML)
    _write(tmp_path / "docs/faq.htm", "<h1>FAQ</h1><div>Ask <i>us</i>.<br>Anytime.</div>")
    docs = _by_id(_recipe(tmp_path, access=[{"glob": "docs/faq.htm", "groups": ["staff"]}]))
    travel = docs["policy/travel"]
    assert travel.title == "Travel Policy" and travel.groups == {"finance", "hr"}
    assert travel.text.split("\n\n") == [
        "# Travel",
        "Book economy class.",
        "## Meals",
        "Breakfast is covered.",
        "Dinner up to 40 EUR.",
        "rate  = 1.2\ntotal = 3",  # <pre> keeps its lines
        "Hotel 120",  # a table row stays on one line
    ]
    assert not re.search("SCRIPT|NAV|FOOTER|color|comment", travel.text)
    faq = docs["faq"]  # no <title>: the first <h1>; no meta: the path rule and the recipe's rule
    assert (faq.title, faq.text, faq.groups) == ("FAQ", "# FAQ\n\nAsk us.\nAnytime.", {"staff"})


def test_html_in_windows_1252_is_decoded_from_its_meta_charset(tmp_path: Path) -> None:
    page = '<meta charset="windows-1252"><title>Café</title><p>“Crème” brûlée</p>'
    raw = page.encode("cp1252")
    _write(tmp_path / "docs/menu.html", raw)
    doc = _by_id(_recipe(tmp_path))["menu"]
    assert (doc.title, doc.text) == ("Café", "“Crème” brûlée")
    assert doc.content_hash == hashlib.sha256(raw).hexdigest()


def test_pdf_pages_are_joined_and_titled_from_metadata_else_first_line(tmp_path: Path) -> None:
    handbook = _pdf(["Hello Veltro\nWelcome aboard.", "Page two."], title="Veltro Handbook")
    _write(tmp_path / "docs/fin/handbook.pdf", handbook)
    _write(tmp_path / "docs/memo.pdf", _pdf(["Quarterly memo\nNumbers are up."]))
    _write(tmp_path / "docs/restricted.pdf", _encrypted(_pdf(["Print-protected only"]), user_password=""))
    docs = _by_id(_recipe(tmp_path, access=[{"glob": "docs/fin/*", "groups": ["finance"]}]))
    book = docs["fin/handbook"]
    assert (book.title, book.text) == ("Veltro Handbook", "Hello Veltro\nWelcome aboard.\n\nPage two.")
    assert book.groups == {"finance"} and book.content_hash == hashlib.sha256(handbook).hexdigest()
    assert (docs["memo"].title, docs["memo"].groups) == ("Quarterly memo", frozenset())
    assert docs["restricted"].text == "Print-protected only"  # an empty user password opens in any viewer


def test_jsonl_lines_become_documents_and_bad_lines_are_skipped_alone(tmp_path: Path) -> None:
    lines = [
        json.dumps({"text": "Alpha body.", "doc_id": "alpha", "title": "Alpha", "groups": ["hr"]}),
        json.dumps({"text": "Beta body."}),
        "",
        "{not json",
        json.dumps(["a", "list"]),
        json.dumps({"title": "No text"}),
        json.dumps({"text": "   "}),
        json.dumps({"text": "x", "title": 3}),
        json.dumps({"text": "x", "groups": "hr"}),
        json.dumps({"text": "x", "colour": "red"}),
        json.dumps({"text": "Last body."}),
    ]
    raw = "\n".join(lines) + "\n"
    path = _write(tmp_path / "docs/kb.jsonl", raw)
    recipe = _recipe(tmp_path, default_groups=["everyone"])
    with pytest.warns(UserWarning) as caught:
        docs = {d.doc_id: d for d in load_corpus(recipe)}
    assert set(docs) == {"alpha", "kb#2", "kb#11"}
    alpha = docs["alpha"]
    assert (alpha.title, alpha.text, alpha.groups, alpha.path) == ("Alpha", "Alpha body.", {"hr"}, path.resolve())
    assert alpha.content_hash == hashlib.sha256(lines[0].encode()).hexdigest()
    assert (docs["kb#2"].title, docs["kb#2"].groups) == ("kb", {"everyone"})
    expected = [
        r"kb\.jsonl:4: malformed JSON \(.* at column 2\)",
        r"kb\.jsonl:5: must be a JSON object, got list",
        r"kb\.jsonl:6: text: missing",
        r"kb\.jsonl:7: text: blank",
        r"kb\.jsonl:8: title: must be a non-blank string",
        r"kb\.jsonl:9: groups: must be a list of group names",
        r"kb\.jsonl:10: colour: unknown key \(allowed: text, doc_id, title, groups\)",
    ]
    messages = [str(w.message) for w in caught]
    assert len(messages) == len(expected)
    for pattern, message in zip(expected, messages, strict=True):
        assert message.startswith("skipped: ") and re.search(pattern, message), message
    assert scan_corpus(recipe).summary() == "3 documents (3 .jsonl); 7 JSONL lines skipped"


GOOD = "---\ngroups: [everyone]\n---\n# Good\nText.\n"
BAD_FILES = [
    ("unreadable.pdf", b"%PDF-1.4\ngarbage that is no PDF", r"unreadable\.pdf: unreadable PDF \(\w+: .+\)"),
    ("truncated.pdf", _pdf(["Cut short"])[:200], r"truncated\.pdf: unreadable PDF \("),
    ("locked.pdf", _encrypted(_pdf(["Secret"]), user_password="pw"), r"locked\.pdf: encrypted PDF"),
    ("scan.pdf", _pdf([""]), r"scan\.pdf: PDF has no extractable text \(scanned\?\)"),
    ("nul.txt", b"looks like text\x00\x01\x02", r"nul\.txt: binary file \(NUL byte at offset 15\)"),
    ("image.html", b"\x89PNG\r\n\x1a\n\x00\x00", r"image\.html: binary file \(NUL byte at offset 8\)"),
    ("data.jsonl", b'{"text": "x"}\x00', r"data\.jsonl: binary file"),
    ("utf16.md", "# Hi\n".encode("utf-16"), r"utf16\.md: not UTF-8 text \(UTF-16 byte order mark"),
    ("empty.md", b"", r"empty\.md: empty file$"),
    ("blank.txt", b"  \n\n", r"blank\.txt: no text after parsing$"),
    ("only-meta.md", b"---\ntitle: T\n---\n", r"only-meta\.md:2: no text after parsing$"),
    ("scripts.html", b"<script>x()</script><nav>menu</nav>", r"scripts\.html: no text after parsing$"),
    ("blank.jsonl", b"\n  \n", r"blank\.jsonl: no documents: every line is blank$"),
    ("huge.md", b"x" * 10_001, r"huge\.md: document is 10,001 bytes; the limit is 10,000$"),
    ("latin1.txt", "caf\xe9\n".encode("latin-1"), r"latin1\.txt: not UTF-8 text \(byte 3\)"),
    ("table.csv", b"a,b\n", r"table\.csv: unsupported format '\.csv' \(supported: \.md, .*\.pdf, \.jsonl\)"),
    ("badmeta.md", b"---\ngroups: [unclosed\n---\nBody\n", r"badmeta\.md:\d+: malformed front matter YAML"),
    ("listmeta.md", b"---\n- a\n---\nBody\n", r"listmeta\.md:2: front matter must be a YAML mapping"),
    ("badid.md", b"---\ndoc_id: [x]\n---\nBody\n", r"badid\.md:2: doc_id: must be a non-blank string"),
    (
        "badgroup.md",
        b"---\ngroups: ['fin ance']\n---\nBody\n",
        r"badgroup\.md:2: groups: invalid group name 'fin ance'",
    ),
    (
        "badgroup.html",
        b'<meta name="groups" content="hr, x;drop table"><p>Body</p>',
        r"badgroup\.html: groups: invalid group name 'x;drop table'",
    ),
    (
        "zz-dup.md",  # sorts after good.md: the later file is the one skipped
        b"---\ndoc_id: good\n---\nSame id.\n",
        r"zz-dup\.md: doc_id: 'good' also used by .*/good\.md, which is kept",
    ),
]


@pytest.mark.parametrize(("name", "content", "pattern"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_a_bad_file_is_skipped_with_one_warning_and_the_rest_loads(
    tmp_path: Path, monkeypatch, name: str, content: bytes, pattern: str
) -> None:
    monkeypatch.setattr(corpus, "MAX_DOCUMENT_BYTES", 10_000)
    _write(tmp_path / "docs/good.md", GOOD)
    _write(tmp_path / "docs" / name, content)
    recipe = _recipe(tmp_path)
    scan = scan_corpus(recipe)
    assert [d.doc_id for d in scan.documents] == ["good"]
    assert len(scan.skipped) == 1 and re.search(pattern, str(scan.skipped[0])), scan.skipped
    assert scan.summary() == "1 document (1 .md); 1 file skipped"
    with pytest.warns(UserWarning) as caught:
        assert [d.doc_id for d in load_corpus(recipe)] == ["good"]
    assert [str(w.message) for w in caught] == [f"skipped: {scan.skipped[0]}"]


def test_jsonl_invalid_group_and_duplicate_ids_across_files_name_the_line(tmp_path: Path) -> None:
    _write(tmp_path / "docs/a.md", "---\ndoc_id: same\n---\nFirst.\n")
    rows = [{"text": "Dup.", "doc_id": "same"}, {"text": "Bad group.", "groups": ["ok", "no spaces"]}, {"text": "Ok."}]
    _write(tmp_path / "docs/b.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    scan = scan_corpus(_recipe(tmp_path))
    assert [(d.doc_id, d.text) for d in scan.documents] == [("same", "First."), ("b#3", "Ok.")]
    problems = sorted(str(p) for p in scan.skipped)
    assert re.search(r"b\.jsonl:1: doc_id: 'same' also used by .*a\.md, which is kept", problems[0])
    assert re.search(r"b\.jsonl:2: groups: invalid group name 'no spaces'", problems[1])
    assert scan.by_format == {".md": 1, ".jsonl": 1}
    assert scan.summary() == "2 documents (1 .jsonl, 1 .md); 2 JSONL lines skipped"


def test_summary_counts_formats_and_skips(tmp_path: Path) -> None:
    for name in ("a.md", "b.md", "c.txt"):
        _write(tmp_path / "docs" / name, f"# {name}\nText.\n")
    _write(tmp_path / "docs/d.html", "<p>Page</p>")
    _write(tmp_path / "docs/e.pdf", _pdf(["Report"]))
    _write(tmp_path / "docs/f.jsonl", '{"text": "ok"}\n{"text": ""}\n')
    _write(tmp_path / "docs/g.md", b"")
    _write(tmp_path / "docs/h.csv", "x")
    scan = scan_corpus(_recipe(tmp_path))
    assert scan.by_format == {".md": 2, ".txt": 1, ".html": 1, ".pdf": 1, ".jsonl": 1}
    assert scan.summary() == "6 documents (2 .md, 1 .html, 1 .jsonl, 1 .pdf, 1 .txt); 2 files and 1 JSONL line skipped"
    assert scan_corpus(_recipe(tmp_path, corpus=[])).summary() == "0 documents"


def test_load_document_reads_one_file_and_refuses_a_multi_document_jsonl(tmp_path: Path) -> None:
    recipe = _recipe(tmp_path)
    doc = load_document(_write(tmp_path / "docs/x.md", "# X\nBody."), recipe, tmp_path / "docs")
    assert (doc.doc_id, doc.title, doc.text) == ("x", "X", "# X\nBody.")
    many = _write(tmp_path / "docs/many.jsonl", '{"text": "a"}\n{"text": "b"}\n')
    with pytest.raises(DataError, match=r"many\.jsonl: holds 2 documents"):
        load_document(many, recipe, tmp_path / "docs")


@pytest.mark.parametrize("name", ["finance", "hr", "a", "Team.EU:sales-2_x", "9" * 64])
def test_valid_group_names(name: str) -> None:
    assert validate_group(name) == name


@pytest.mark.parametrize("name", ["", "-lead", ".x", "fin ance", "a/b", "x'", "fin\n", "9" * 65, "é", 3, None])
def test_invalid_group_names_are_refused_with_the_rule(name: object) -> None:
    with pytest.raises(ValueError, match=r"invalid group name .*: use 1-64 letters, digits"):
        validate_group(name)  # type: ignore[arg-type]
