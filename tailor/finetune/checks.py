"""Data checks run before fine-tuning: empty, over-long, repeated and leaked records, personal data, balance.

Every finding points at record ids; ``ChecksReport.raise_if`` decides what stops training. Near-duplicates
are found with MinHash signatures and LSH banding, so 20k records take seconds rather than an O(n²) scan.
"""

from __future__ import annotations

import itertools
import re
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from tailor.data.examples import Example
from tailor.errors import DataError, Problem

CountTokens = Callable[[str], int]
Severity = Literal["warning", "error"]

_NUM_PERM = 128
_PRIME = (1 << 32) + 15  # above every 32-bit shingle hash; a*x + b stays below 2**64 for 32-bit a, b, x
_MIN_LEAK_WORDS = 4  # shorter eval questions ("hello?") would match inside unrelated training text
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}")
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_SSN = re.compile(r"(?<![\d-])(?!000|666|9)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])")
_UK_NI = re.compile(r"\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b")
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){1,4}"  # international
    r"|\(\d{3}\) ?\d{3}[ .-]?\d{4}|\d{3}(?P<sep>[.-])\d{3}(?P=sep)\d{4}"  # US; "100 200 3000" is a table row
    r"|0\d{2,4}[ -]?\d{3,4}[ -]?\d{3,4})(?![\w-])"  # national with a trunk 0 (UK, most of Europe)
)


@dataclass(frozen=True)
class TrainRecord:
    """One training text, with where it came from (so a finding can point at it)."""

    record_id: str  # e.g. example id, or "doc:<doc_id>#<chunk>"
    prompt: str  # the user turn / question ('' for continued pre-training text)
    completion: str  # the answer / the text to learn
    source: str  # "task" | "knowledge" | "qa" | "canary"
    label: str | None = None


@dataclass(frozen=True)
class Finding:
    """One problem a check found, and the training records it concerns."""

    check: str
    message: str
    record_ids: tuple[str, ...]
    severity: Severity


@dataclass(frozen=True)
class ChecksReport:
    """Every finding of ``check_training_data``, in check order."""

    findings: tuple[Finding, ...]
    n_train: int
    n_eval: int

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")

    def to_dict(self) -> dict[str, Any]:
        findings = [asdict(f) | {"record_ids": list(f.record_ids)} for f in self.findings]
        return {"n_train": self.n_train, "n_eval": self.n_eval, "findings": findings}

    def raise_if(self, strict: bool) -> None:
        """Stop on any finding when ``strict``, otherwise only on errors (leakage, empty records).

        Raises:
            DataError: one line per finding, ``check: message``.
        """
        fatal = self.findings if strict else self.errors
        if fatal:
            raise DataError(*(Problem(f.message, field=f.check) for f in fatal))


def check_training_data(
    train: Sequence[TrainRecord],
    eval_examples: Sequence[Example],
    *,
    max_tokens: int,
    count_tokens: CountTokens,
    min_records: int = 50,
    near_duplicate_threshold: float = 0.8,
) -> ChecksReport:
    """Check training records (and their separation from the eval examples) before fine-tuning.

    Raises:
        ValueError: ``near_duplicate_threshold`` outside (0, 1].
    """
    if not 0 < near_duplicate_threshold <= 1:
        raise ValueError(f"near_duplicate_threshold must be in (0, 1], got {near_duplicate_threshold}")
    texts = [r for r in train if (r.prompt + r.completion).strip()]
    findings = [
        *_empty(train),
        *_too_long(texts, max_tokens, count_tokens),
        *_duplicates(texts),
        *_near_duplicates(texts, near_duplicate_threshold),
        *_label_imbalance(texts),
        *_eval_overlap(train, eval_examples),
        *_pii(texts),
        *_too_little_data(train, min_records),
    ]
    return ChecksReport(tuple(findings), n_train=len(train), n_eval=len(eval_examples))


def _empty(train: Sequence[TrainRecord]) -> list[Finding]:
    ids = [r.record_id for r in train if not (r.prompt + r.completion).strip()]
    if not ids:
        return []
    message = f"{_count(len(ids), 'training record is', 'training records are')} empty (ids: {_some(ids)}); "
    return [Finding("empty", message + "fill in the prompt or completion, or drop them", tuple(ids), "error")]


def _too_long(train: Sequence[TrainRecord], max_tokens: int, count_tokens: CountTokens) -> list[Finding]:
    sizes = [(r.record_id, count_tokens(r.prompt + r.completion)) for r in train]
    long = [(rid, n) for rid, n in sizes if n > max_tokens]
    if not long:
        return []
    shown = _some([f"{rid}: {n} tokens" for rid, n in long])
    message = (
        f"{_count(len(long), 'training record is', 'training records are')} longer than the limit of "
        f"{max_tokens} tokens ({shown}); shorten or split them, or raise max_tokens"
    )
    return [Finding("too_long", message, tuple(rid for rid, _ in long), "warning")]


def _duplicates(train: Sequence[TrainRecord]) -> list[Finding]:
    first: dict[tuple[str, str], str] = {}
    repeats: list[tuple[str, str]] = []  # (repeat, the record it repeats)
    for r in train:
        if r.source == "canary":  # canaries are repeated on purpose, to measure memorisation
            continue
        key = (_norm(r.prompt), _norm(r.completion))
        if key in first:
            repeats.append((r.record_id, first[key]))
        else:
            first[key] = r.record_id
    if not repeats:
        return []
    message = (
        f"{_count(len(repeats), 'training record repeats', 'training records repeat')} an earlier one word for word "
        f"({_some([f'{a} = {b}' for a, b in repeats])}); drop the repeats, which weigh those examples double"
    )
    return [Finding("duplicate", message, tuple(a for a, _ in repeats), "warning")]


def _near_duplicates(train: Sequence[TrainRecord], threshold: float) -> list[Finding]:
    ids: list[str] = []
    shingles: list[set[int]] = []
    seen: set[tuple[str, str]] = set()
    for r in train:
        key = (_norm(r.prompt), _norm(r.completion))
        # Exact repeats are the duplicate check's; canaries repeat and generated questions vary one fact on purpose.
        if r.source in ("canary", "qa") or key in seen:
            continue
        seen.add(key)
        ids.append(r.record_id)
        shingles.append(_shingles(f"{r.prompt} {r.completion}"))
    pairs = [
        (ids[i], ids[j])
        for i, j in sorted(_candidate_pairs(shingles, threshold))
        if _jaccard(shingles[i], shingles[j]) >= threshold
    ]
    if not pairs:
        return []
    message = (
        f"{_count(len(pairs), 'pair', 'pairs')} of training records share at least {threshold:.0%} of their word "
        f"3-grams ({_some([f'{a} ~ {b}' for a, b in pairs])}); drop one of each pair or make them differ"
    )
    return [Finding("near_duplicate", message, tuple(dict.fromkeys(itertools.chain(*pairs))), "warning")]


def _shingles(text: str) -> set[int]:
    words = text.lower().split()
    grams = (" ".join(words[i : i + 3]) for i in range(max(1, len(words) - 2)))
    return {zlib.crc32(g.encode()) for g in grams}


def _jaccard(a: set[int], b: set[int]) -> float:
    return len(a & b) / len(a | b)


def _candidate_pairs(shingles: Sequence[set[int]], threshold: float) -> set[tuple[int, int]]:
    """Index pairs whose MinHash signatures agree on a whole band: likely similar, to verify exactly."""
    rng = np.random.default_rng(0)
    a = rng.integers(1, 1 << 32, size=(_NUM_PERM, 1), dtype=np.uint64)
    b = rng.integers(0, 1 << 32, size=(_NUM_PERM, 1), dtype=np.uint64)
    rows = _rows_per_band(threshold)
    buckets: dict[bytes, list[int]] = defaultdict(list)
    for i, s in enumerate(shingles):
        x = np.fromiter(s, dtype=np.uint64, count=len(s))
        signature = ((a * x + b) % _PRIME).min(axis=1)  # (num_perm,) from (num_perm, n_shingles)
        for band in range(_NUM_PERM // rows):
            buckets[band.to_bytes(2, "big") + signature[band * rows : (band + 1) * rows].tobytes()].append(i)
    return {pair for members in buckets.values() for pair in itertools.combinations(members, 2)}


def _rows_per_band(threshold: float) -> int:
    """The most rows per band (fewest chance candidates) that still catch 99% of pairs at the threshold."""
    for rows in range(_NUM_PERM, 1, -1):
        if 1 - (1 - threshold**rows) ** (_NUM_PERM // rows) >= 0.99:
            return rows
    return 1


def _label_imbalance(train: Sequence[TrainRecord]) -> list[Finding]:
    counts = Counter(r.label for r in train if r.label is not None and r.source != "canary").most_common()
    if len(counts) < 2 or counts[0][1] <= 5 * counts[-1][1]:
        return []
    (top, most), (rare, least) = counts[0], counts[-1]
    message = (
        f"labels are imbalanced: '{top}' has {most} training records, '{rare}' only {least}; the model will lean "
        f"towards '{top}' — add records for the rare labels or drop some of '{top}'"
    )
    return [Finding("label_imbalance", message, (), "warning")]


def _eval_overlap(train: Sequence[TrainRecord], eval_examples: Sequence[Example]) -> list[Finding]:
    questions = {_words(e.question) for e in eval_examples} - {""}
    by_head: dict[str, list[tuple[str, str]]] = defaultdict(list)  # first 3 words -> (question, answer)
    for e in eval_examples:
        q = _words(e.question)
        if len(q.split()) >= _MIN_LEAK_WORDS:
            by_head[" ".join(q.split()[:3])].append((q, _words(e.answer)))
    leaked = [r.record_id for r in train if _words(r.prompt) in questions or _quotes_eval(r, by_head)]
    eval_ids = {e.id for e in eval_examples}
    clashes = [r.record_id for r in train if r.record_id in eval_ids]
    findings = []
    if leaked:
        one, many = "training record repeats an evaluation question", "training records repeat evaluation questions"
        message = (
            f"{_count(len(leaked), one, many)} (ids: {_some(leaked)}); drop them from the train split, "
            "or the scores measure memory, not skill"
        )
        findings.append(Finding("eval_overlap", message, tuple(leaked), "error"))
    if clashes:
        message = (
            f"{_count(len(clashes), 'training record has', 'training records have')} the id of an evaluation "
            f"example (ids: {_some(clashes)}); an example can't be in both splits — drop it from the train split"
        )
        findings.append(Finding("eval_overlap", message, tuple(clashes), "error"))
    return findings


def _quotes_eval(record: TrainRecord, by_head: dict[str, list[tuple[str, str]]]) -> bool:
    """Whether the prompt contains an eval question, or the completion one with its answer."""
    if not by_head:
        return False
    for text, needs_answer in ((_words(record.prompt), False), (_words(record.completion), True)):
        words, padded = text.split(), f" {text} "
        for i in range(len(words) - 2):
            for question, answer in by_head.get(" ".join(words[i : i + 3]), ()):
                if f" {question} " in padded and (not needs_answer or f" {answer} " in padded):
                    return True
    return False


def _pii(train: Sequence[TrainRecord]) -> list[Finding]:
    totals: Counter[str] = Counter()
    ids: list[str] = []
    for r in train:
        found = _pii_kinds(f"{r.prompt}\n{r.completion}")
        if found:
            totals.update(found)
            ids.append(r.record_id)
    if not ids:
        return []
    # Kinds and counts only: a report that quoted the matches would spread the personal data further.
    kinds = ", ".join(f"{kind} ×{n}" for kind, n in totals.most_common())
    message = (
        f"possible personal data in {_count(len(ids), 'training record', 'training records')} ({kinds}; "
        f"ids: {_some(ids)}); remove or mask it before training — a fine-tuned model can repeat what it saw"
    )
    return [Finding("pii", message, tuple(ids), "warning")]


def _pii_kinds(text: str) -> Counter[str]:
    found: Counter[str] = Counter()
    for kind, pattern in (("email", _EMAIL), ("card number", _CARD), ("US SSN", _SSN), ("UK NI number", _UK_NI)):
        for match in pattern.finditer(text):
            if kind == "card number" and not _luhn_ok(re.sub(r"\D", "", match.group())):
                continue
            found[kind] += 1
            # Blank it so a card or SSN is not counted again as a phone number.
            text = text[: match.start()] + " " * len(match.group()) + text[match.end() :]
    for match in _PHONE.finditer(text):
        if 9 <= len(re.sub(r"\D", "", match.group())) <= 15:
            found["phone number"] += 1
    return found


def _luhn_ok(digits: str) -> bool:
    """The payment-card checksum; it rejects 9 in 10 random digit runs, such as order numbers."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0 and len(set(digits)) > 1


def _too_little_data(train: Sequence[TrainRecord], min_records: int) -> list[Finding]:
    n = sum(r.source != "canary" for r in train)
    if n >= min_records:
        return []
    message = (
        f"{_count(n, 'training record', 'training records')}; fine-tuning usually needs hundreds — expect little "
        f"effect, or add examples to the train split (the check asks for at least {min_records})"
    )
    return [Finding("too_little_data", message, (), "warning")]


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def _words(text: str) -> str:
    """Lowercase words only, so "What's X?" and "what s x" compare equal."""
    return " ".join(re.findall(r"\w+", text.lower()))


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _some(ids: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(ids[:limit])
    return shown if len(ids) <= limit else f"{shown} and {len(ids) - limit} more"
