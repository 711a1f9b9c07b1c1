"""Bad input, as a user meets it through the CLI: one line naming file, line and field; exit 2; no traceback."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tailor.cli import app

GOOD_LINE = {"id": "q1", "question": "What does the X200 cost?", "answer": "$149"}


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def _examples(n: int = 10) -> str:
    splits = ["train", "dev", "test"]
    return _jsonl([{**GOOD_LINE, "id": f"q{i}", "split": splits[i % 3]} for i in range(n)])


RECIPE = "data:\n  examples:\n    - path: qa.jsonl\n"

# (case id, recipe text, examples text or None for the default, expected message pattern)
# The pattern is matched against the whole error line: "error: FILE:LINE: FIELD: message".
CASES = [
    ("yaml-syntax", "data:\n  examples: [\n", None, r"tailor\.yaml:\d+: malformed YAML"),
    ("yaml-empty", "", None, r"tailor\.yaml:1: recipe is empty"),
    ("yaml-not-mapping", "- data\n- model\n", None, r"tailor\.yaml:1: recipe must be a mapping"),
    ("unknown-top-key", RECIPE + "strategys: [baseline]\n", None, r"tailor\.yaml:4: strategys: unknown field"),
    (
        "unknown-nested-key",
        RECIPE + "generation:\n  batchsize: 4\n",
        None,
        r"tailor\.yaml:5: generation\.batchsize: unknown field",
    ),
    (
        "wrong-type",
        RECIPE + "generation:\n  max_new_tokens: many\n",
        None,
        r"tailor\.yaml:5: generation\.max_new_tokens: .*integer",
    ),
    (
        "out-of-range",
        RECIPE + "generation:\n  temperature: 5\n",
        None,
        r"tailor\.yaml:5: generation\.temperature: .*less than or equal to 2",
    ),
    (
        "unknown-strategy",
        RECIPE + "strategies: [baseline, magic]\n",
        None,
        r"tailor\.yaml:4: strategies\[1\]: .*'magic'",
    ),
    ("unknown-model-kind", "model:\n  kind: hub\n" + RECIPE, None, r"tailor\.yaml:1: model: .*'hub'"),
    ("model-missing-field", "model:\n  kind: hf\n" + RECIPE, None, r"tailor\.yaml:1: model\.path: required field"),
    (
        "model-dir-not-found",
        "model:\n  kind: hf\n  path: no-such-model\n" + RECIPE,
        None,
        r"tailor\.yaml:3: model\.path: model directory not found",
    ),
    (
        "examples-not-found",
        "data:\n  examples:\n    - path: missing.jsonl\n",
        None,
        r"tailor\.yaml:3: data\.examples\[0\]\.path: file not found",
    ),
    ("missing-data", "seed: 1\n", None, r"tailor\.yaml:1: data: required field is missing"),
    (
        "until-decided-batch",
        RECIPE + "eval:\n  until_decided: {batch: 0}\n",
        None,
        r"tailor\.yaml:5: eval\.until_decided\.batch: .*greater than or equal to 1",
    ),
    (
        "split-sum",
        RECIPE + "  split: {train: 0.5, dev: 0.5, test: 0.5}\n",
        None,
        r"tailor\.yaml:4: data\.split: .*sum to 1",
    ),
    (
        "duplicate-strategy",
        RECIPE + "strategies: [baseline, baseline]\n",
        None,
        r"tailor\.yaml:1: \(top level\): strategies lists an entry twice",
    ),
    (
        "openai-url",
        "model: {kind: openai, base_url: localhost:8000, model: m}\n" + RECIPE,
        None,
        r"tailor\.yaml:1: model\.base_url: must start with http",
    ),
    (
        "canary-repetitions",
        RECIPE + "finetune:\n  canaries:\n    count: 2\n    repetitions: [4, 0]\n",
        None,
        r"tailor\.yaml:7: finetune\.canaries\.repetitions: .*at least 1",
    ),
    ("jsonl-malformed", RECIPE, _examples(2) + "{not json\n", r"qa\.jsonl:3: malformed JSON"),
    ("jsonl-missing-field", RECIPE, _jsonl([{"id": "a", "answer": "x"}]), r"qa\.jsonl:1: question: required field"),
    ("jsonl-unknown-field", RECIPE, _jsonl([{**GOOD_LINE, "anwser": "x"}]), r"qa\.jsonl:1: anwser: unknown field"),
    ("jsonl-duplicate-id", RECIPE, _jsonl([GOOD_LINE, GOOD_LINE]), r"qa\.jsonl:2: id: duplicate id 'q1'"),
    ("jsonl-wrong-type", RECIPE, _jsonl([{**GOOD_LINE, "groups": "finance"}]), r"qa\.jsonl:1: groups: .*tuple"),
    ("jsonl-bad-split", RECIPE, _jsonl([{**GOOD_LINE, "split": "validation"}]), r"qa\.jsonl:1: split: "),
    ("jsonl-not-object", RECIPE, "[1, 2]\n", r"qa\.jsonl:1: each line must be a JSON object"),
    ("jsonl-blank-answer", RECIPE, _jsonl([{**GOOD_LINE, "answer": "   "}]), r"qa\.jsonl:1: answer: must not be blank"),
    ("jsonl-empty-file", RECIPE, "\n\n", r"qa\.jsonl: no examples"),
    (
        "jsonl-mixed-labels",
        RECIPE,
        _jsonl([{**GOOD_LINE, "label": "sales"}, {**GOOD_LINE, "id": "q2"}]),
        r"qa\.jsonl: label: mixes labelled and unlabelled",
    ),
    (
        "no-test-split",
        RECIPE,
        _jsonl([{**GOOD_LINE, "id": f"q{i}", "split": "train"} for i in range(3)]),
        r"qa\.jsonl: no examples in the 'test' split",
    ),
    (
        "model-dir-not-a-model",
        "model:\n  kind: hf\n  path: .\n" + RECIPE + "strategies: [baseline]\n",
        None,
        r"tailor\.yaml:3: model\.path: .*not a Hugging Face model directory \(no config\.json\)",
    ),
    ("unknown-store", RECIPE + "rag:\n  store: qdrant\n", None, r"tailor\.yaml:5: rag\.store: .*'qdrant'"),
    (
        "pgvector-without-server",
        RECIPE + "rag:\n  store: pgvector\n",
        None,
        r"tailor\.yaml:4: rag: store: pgvector needs exactly one of pg_uri and pg_uri_env",
    ),
    (
        "pg-uri-for-lancedb",
        RECIPE + "rag:\n  pg_uri_env: TAILOR_TEST_PG\n",
        None,
        r"tailor\.yaml:4: rag: pg_uri, pg_uri_env and pg_reader_uri_env are for store: pgvector, not lancedb",
    ),
    (
        "rag-without-documents",
        "data:\n  corpus: [docs/*.md]\n  examples:\n    - path: qa.jsonl\nstrategies: [baseline, prompt, rag]\n",
        None,
        r"tailor\.yaml:2: data\.corpus: rag needs documents; data\.corpus matched none$",
    ),
    (
        "hub-id-offline-uncached",
        "model: {kind: hf, path: nobody-here/no-such-model}\n" + RECIPE + "strategies: [baseline]\n",
        None,
        r"tailor\.yaml:1: model\.path: 'nobody-here/no-such-model' is not in the Hugging Face cache .*HF_HUB_OFFLINE",
    ),
    (
        "model-and-models",
        "model: {kind: packaged}\nmodels: {a: {kind: packaged}}\n" + RECIPE,
        None,
        r"tailor\.yaml:1: \(top level\): set model: \(one base model\) or models: \(several\), not both",
    ),
    (
        "unknown-packaged-model",
        "models: {big: {kind: packaged, name: llama-70b}}\n" + RECIPE,
        None,
        r"tailor\.yaml:1: models\.big\.name: unknown packaged model 'llama-70b'; choose from smollm2-135m-instruct",
    ),
    (
        "api-key-env-unset",
        "model: {kind: openai, base_url: 'http://127.0.0.1:9', model: m, api_key_env: TAILOR_TEST_UNSET_KEY}\n"
        + RECIPE
        + "strategies: [baseline]\n",
        None,
        r"tailor\.yaml:1: model\.api_key_env: .*'TAILOR_TEST_UNSET_KEY'.*not set",
    ),
]


@pytest.mark.parametrize(("recipe", "examples", "pattern"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_located_line_and_exit_2(
    tmp_path: Path, monkeypatch, recipe: str, examples: str | None, pattern: str
) -> None:
    monkeypatch.delenv("TAILOR_TEST_UNSET_KEY", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    (tmp_path / "tailor.yaml").write_text(recipe)
    (tmp_path / "qa.jsonl").write_text(examples if examples is not None else _examples())
    result = CliRunner().invoke(app, ["eval", "--recipe", str(tmp_path / "tailor.yaml")])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert re.search(pattern, errors[0]), errors[0]


def test_every_problem_of_a_recipe_is_reported_at_once(tmp_path: Path) -> None:
    (tmp_path / "tailor.yaml").write_text(RECIPE + "generation:\n  batchsize: 4\n  temperature: -1\nseed: x\n")
    result = CliRunner().invoke(app, ["eval", "--recipe", str(tmp_path / "tailor.yaml")])
    assert result.exit_code == 2
    fields = [re.search(r"tailor\.yaml:(\d+): ([\w.\[\]]+):", line).group(2) for line in result.stderr.splitlines()]
    assert fields == ["generation.batchsize", "generation.temperature", "seed"]


def test_missing_recipe_names_the_path_and_the_fix(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["eval"])
    assert result.exit_code == 2
    assert "tailor.yaml: recipe not found" in result.stderr
    assert "tailor init" in result.stderr


def test_unreadable_documents_are_skipped_with_a_warning_not_a_crash(tmp_path: Path) -> None:
    """A corpus with a binary file and a bad front matter still loads; each skip is reported."""
    from tailor.data.corpus import load_corpus
    from tailor.recipe_file import load_recipe

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "good.md").write_text("---\ngroups: [everyone]\n---\n# Good\nText.\n")
    (tmp_path / "docs" / "binary.md").write_bytes(b"\xff\xfe\x00\x01")
    (tmp_path / "docs" / "badmeta.md").write_text("---\ngroups: [unclosed\n---\nBody\n")
    (tmp_path / "docs" / "table.csv").write_text("a,b\n")
    (tmp_path / "qa.jsonl").write_text(_examples())
    (tmp_path / "tailor.yaml").write_text("data:\n  corpus: ['docs/*']\n  examples:\n    - path: qa.jsonl\n")
    with pytest.warns(UserWarning) as caught:
        docs = load_corpus(load_recipe(tmp_path / "tailor.yaml"))
    assert [d.doc_id for d in docs] == ["good"]
    messages = sorted(str(w.message) for w in caught)
    assert any("binary.md: not UTF-8" in m for m in messages)
    assert any("badmeta.md:" in m and "malformed front matter" in m for m in messages)
    assert any("table.csv: unsupported format '.csv'" in m for m in messages)
