"""Training-data checks: each fires on a crafted case, stays quiet on clean data, and never echoes PII."""

from __future__ import annotations

import json
import random
import string

import pytest

from tailor.data.examples import Example
from tailor.errors import DataError
from tailor.finetune.checks import ChecksReport, TrainRecord, check_training_data


def words(text: str) -> int:
    return len(text.split())


def vocabulary(rng: random.Random, size: int) -> list[str]:
    return sorted({"".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 9))) for _ in range(size)})


def clean_records(n: int = 60) -> list[TrainRecord]:
    """Varied task records with the numbers real data has (prices, dates, versions, order numbers), no PII."""
    rng = random.Random(0)
    vocab = vocabulary(rng, 800)
    records = []
    for i in range(n):
        topic = " ".join(rng.sample(vocab, 3))
        facts = " ".join(rng.sample(vocab, 25))
        price = f"${rng.randint(10, 999)}.{rng.randint(10, 99)}"
        date = f"2024-{rng.randint(1, 12):02d}-{i % 28 + 1:02d}"
        table_row = f"{rng.randint(100, 999)} {rng.randint(100, 999)} {rng.randint(1000, 9999)}"
        completion = (
            f"The {topic} plan costs {price} since {date}; version {i % 9 + 1}.{i}.1, "
            f"order #{rng.randint(10000, 99999)}, {table_row} units. {facts.capitalize()}."
        )
        records.append(TrainRecord(f"t{i}", f"What changed in the {topic} plan?", completion, "task", f"L{i % 3}"))
    return records


EVAL = [
    Example(id="e1", question="What does the Veltro X200 router cost?", answer="$149", split="test"),
    Example(id="e2", question="Who manages the legal team in Lisbon?", answer="Ana Ferreira", split="test"),
]


def check(train: list[TrainRecord], eval_examples: list[Example] = EVAL, **kwargs) -> ChecksReport:
    kwargs = {"max_tokens": 200, "count_tokens": words, "min_records": 50} | kwargs
    return check_training_data(train, eval_examples, **kwargs)


def only(report: ChecksReport, name: str):
    found = [f for f in report.findings if f.check == name]
    assert len(found) == 1, report.findings
    return found[0]


def test_clean_records_have_no_findings():
    report = check(clean_records())
    assert report.findings == ()
    report.raise_if(strict=True)
    assert (report.n_train, report.n_eval) == (60, 2)


def test_empty_record_is_an_error_and_long_id_lists_are_cut():
    empties = [TrainRecord(f"blank{i}", " ", "\n", "task") for i in range(8)]
    finding = only(check(clean_records() + empties), "empty")
    assert finding.severity == "error"
    assert finding.record_ids == tuple(f"blank{i}" for i in range(8))
    assert "blank4" in finding.message and "blank5" not in finding.message and "and 3 more" in finding.message


def test_too_long_names_the_count_and_the_limit():
    long = TrainRecord("long", "Summarise this.", " ".join(["word"] * 300), "knowledge")
    finding = only(check([*clean_records(), long]), "too_long")
    assert finding.severity == "warning" and finding.record_ids == ("long",)
    assert f"{words(long.prompt + long.completion)} tokens" in finding.message and "limit of 200" in finding.message


def test_exact_duplicates_ignore_case_and_whitespace():
    records = clean_records()
    first = records[0]
    repeat = TrainRecord("again", first.prompt.upper(), "  " + first.completion.replace(" ", "   "), "task", "L0")
    finding = only(check([*records, repeat]), "duplicate")
    assert finding.record_ids == ("again",) and "again = t0" in finding.message
    assert not [f for f in check([*records, repeat]).findings if f.check == "near_duplicate"]


def test_repeated_canaries_are_not_duplicates():
    canaries = [TrainRecord(f"canary{i}", "", "The vault phrase is zebra-quartz-91.", "canary") for i in range(10)]
    assert check(clean_records() + canaries).findings == ()


@pytest.mark.parametrize(("position", "threshold"), [(39, 0.9), (20, 0.8)])
def test_near_duplicate_found_among_2000_records(position, threshold):
    # One changed word alters at most three 3-grams: Jaccard 37/39 at the end, 35/41 (0.85) in the middle.
    rng = random.Random(0)
    vocab = vocabulary(rng, 5000)
    records = [TrainRecord(f"d{i}", "", " ".join(rng.sample(vocab, 40)), "knowledge") for i in range(2000)]
    text = records[1234].completion.split()
    text[position] = "changed"
    records.append(TrainRecord("twin", "", " ".join(text), "knowledge"))
    finding = only(check(records, near_duplicate_threshold=threshold), "near_duplicate")
    assert finding.record_ids == ("d1234", "twin")
    assert "1 pair " in finding.message


def test_label_imbalance_warns_with_counts():
    records = [TrainRecord(f"r{i}", f"ticket {i}", f"body {i}", "task", "billing") for i in range(60)]
    records += [TrainRecord(f"s{i}", f"ticket s{i}", f"body s{i}", "task", "refund") for i in range(11)]
    finding = only(check(records), "label_imbalance")
    assert "'billing' has 60" in finding.message and "'refund' only 11" in finding.message
    balanced = records + [TrainRecord(f"b{i}", f"ticket b{i}", f"body b{i}", "task", "refund") for i in range(1)]
    assert not [f for f in check(balanced).findings if f.check == "label_imbalance"]


def test_eval_overlap_is_an_error():
    leaks = [
        TrainRecord("asked", "what does the veltro x200 router COST", "It costs $149.", "task"),
        TrainRecord("doc:faq#3", "", "Q: Who manages the legal team in Lisbon? A: Ana Ferreira.", "knowledge"),
        TrainRecord("e2", "Unrelated prompt", "Unrelated answer", "task"),
        # The question without its answer is not leakage: documents may discuss the topic.
        TrainRecord("doc:faq#4", "", "Who manages the legal team in Lisbon? Nobody knows.", "knowledge"),
    ]
    report = check(clean_records() + leaks)
    overlap = [f for f in report.findings if f.check == "eval_overlap"]
    assert [f.record_ids for f in overlap] == [("asked", "doc:faq#3"), ("e2",)]
    assert all(f.severity == "error" for f in overlap)
    assert "2 training records repeat evaluation questions" in overlap[0].message
    with pytest.raises(DataError, match="drop them from the train split"):
        report.raise_if(strict=False)


PII = [
    ("email", "jane.doe+work@example.co.uk"),
    ("phone number", "+44 20 7946 0958"),
    ("phone number", "+1 (555) 123-4567"),
    ("phone number", "(555) 123-4567"),
    ("phone number", "555-123-4567"),
    ("card number", "4111 1111 1111 1111"),
    ("card number", "4111-1111-1111-1111"),
    ("US SSN", "123-45-6789"),
    ("UK NI number", "AB 12 34 56 C"),
    ("UK NI number", "AB123456C"),
]


@pytest.mark.parametrize(("kind", "secret"), PII)
def test_pii_is_found_by_kind_without_quoting_it(kind, secret):
    records = [*clean_records(), TrainRecord("p", "Update the customer record.", f"Use {secret} from now on.", "task")]
    report = check(records)
    finding = only(report, "pii")
    assert finding.record_ids == ("p",) and finding.severity == "warning"
    assert f"({kind} ×1;" in finding.message
    assert secret not in json.dumps(report.to_dict()) and secret.replace(" ", "") not in finding.message


@pytest.mark.parametrize(
    "text",
    [
        "Card 4111 1111 1111 1112 was declined.",  # 16 digits, fails the Luhn checksum
        "Rows: 100 200 3000 and 2024-05-01 and v10.2.3 and order 1234567.",
        "Ticket 12-34-5678 and part AB-1234.",
    ],
)
def test_numbers_that_are_not_pii_are_not_flagged(text):
    records = [*clean_records(), TrainRecord("n", "Update the customer record.", text, "task")]
    assert check(records).findings == ()


def test_too_little_data_counts_real_records_only():
    records = clean_records(12) + [TrainRecord("c", "", "canary text", "canary")] * 3
    finding = only(check(records), "too_little_data")
    assert finding.message.startswith("12 training records; fine-tuning usually needs hundreds — expect little effect")


def test_raise_if_strict_stops_on_warnings_and_lenient_only_on_errors():
    warned = check(clean_records(12))
    warned.raise_if(strict=False)
    with pytest.raises(DataError, match=r"^too_little_data: 12 training records"):
        warned.raise_if(strict=True)

    failed = check([*clean_records(), TrainRecord("blank", "", "", "task")])
    with pytest.raises(DataError) as raised:
        failed.raise_if(strict=False)
    assert str(raised.value).splitlines()[0].startswith("empty: 1 training record is empty (ids: blank)")


def test_report_is_json_serialisable():
    report = check(clean_records(12))
    data = json.loads(json.dumps(report.to_dict()))
    assert data["n_train"] == 12 and data["findings"][0]["check"] == "too_little_data"
    assert data["findings"][0]["record_ids"] == []


def test_threshold_outside_zero_one_is_rejected():
    with pytest.raises(ValueError, match="near_duplicate_threshold"):
        check(clean_records(), near_duplicate_threshold=1.5)
