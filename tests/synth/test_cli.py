"""`tailor synth` as a user meets it: the command with synth.model on a local OpenAI-compatible stand-in
(a real HTTP server on 127.0.0.1 whose model is the fake question writer), `init --from-dir` pointing at
it, `eval` saying to run it, and bad input as one located line, exit 2, no traceback."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tailor.cli import app

runner = CliRunner()


@pytest.fixture
def stand_in(replies, openai_endpoint) -> Iterator[tuple[str, list[dict]]]:
    """(base url, request bodies received) of an OpenAI-compatible endpoint on 127.0.0.1 serving the fake."""
    with openai_endpoint(replies()) as served:
        yield served


def _with_endpoint(recipe_text: str, url: str) -> str:
    return recipe_text + f"  model: {{kind: openai, base_url: '{url}', model: stand-in, concurrency: 1}}\n"


def test_synth_with_an_openai_compatible_endpoint_prints_clean_json(
    tmp_path: Path, make_project, recipe_text, stand_in
) -> None:
    url, seen = stand_in
    recipe = make_project(tmp_path, recipe=_with_endpoint(recipe_text, url))
    result = runner.invoke(app, ["synth", "--recipe", str(recipe), "--json", "--limit", "6"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)  # stdout holds the report and nothing else
    assert sum(k["kept"] for k in report["kinds"].values()) >= 5
    assert report["model"]["kind"] == "openai"
    assert seen and all(body["path"] == "/v1/chat/completions" and body["model"] == "stand-in" for body in seen)
    assert (tmp_path / "examples.jsonl").is_file() and (tmp_path / "examples.synth-report.json").is_file()
    assert not (tmp_path / "runs" / "latest" / "index").exists()  # another model's chunks: its own index
    assert (tmp_path / "runs" / "latest" / "synth" / "index" / "index.json").is_file()
    human = runner.invoke(app, ["synth", "--recipe", str(recipe)])
    assert human.exit_code == 0 and "the decision will rest on" in human.stdout and "wrote" in human.stdout


def test_synth_help_explains_the_command() -> None:
    result = runner.invoke(app, ["synth", "--help"])
    assert result.exit_code == 0
    for text in ("--limit", "--seed", "--json", "round", "synth.model", "edited"):
        assert text in result.stdout


def test_init_from_dir_points_at_synth_and_eval_says_to_run_it(tmp_path: Path, docs) -> None:
    for name, text in docs.items():
        (tmp_path / "docs" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "docs" / name).write_text(text)
    result = runner.invoke(app, ["init", str(tmp_path / "proj"), "--from-dir", str(tmp_path / "docs")])
    assert result.exit_code == 0, result.output
    assert "tailor synth" in result.stderr and "examples.jsonl" in result.stderr
    text = (tmp_path / "proj" / "tailor.yaml").read_text()
    assert "- path: examples.jsonl" in text and "tailor synth && tailor eval" in text and "synth:" in text
    evaluated = runner.invoke(app, ["eval", "--recipe", str(tmp_path / "proj" / "tailor.yaml")])
    assert evaluated.exit_code == 2 and "Traceback" not in evaluated.output
    errors = [line for line in evaluated.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "file not found" in errors[0] and "run `tailor synth`" in errors[0], errors
    assert re.search(r"tailor\.yaml:\d+: data\.examples\[0\]\.path: ", errors[0])


@pytest.mark.parametrize(
    ("extra", "examples", "pattern"),
    [
        ("  questions: 0\n", None, r"tailor\.yaml:10: synth\.questions: .*greater than or equal to 1"),
        ("  kinds: {single: 1, riddles: 1}\n", None, r"tailor\.yaml:10: synth\.kinds\.riddles: "),
        ("  round_trip: 2\n", None, r"tailor\.yaml:10: synth\.round_trip: .*less than or equal to 1"),
        ("  model: {kind: hf, path: no-such-dir}\n", None, r"tailor\.yaml:10: synth\.model\.path: .*no-such-dir"),
        (
            "  model: {kind: openai, base_url: 'http://127.0.0.1:9/v1', model: m, api_key_env: TAILOR_TEST_UNSET}\n",
            None,
            r"tailor\.yaml:10: synth\.model\.api_key_env: "
            r"the environment variable .TAILOR_TEST_UNSET. \(api_key_env\) is not set$",
        ),
        ("", '{"id": "a", "question": "q", "answer": "x"}\n{broken\n', r"examples\.jsonl:2: malformed JSON"),
        (
            "",
            '{"id": "a", "question": "q", "answer": "x", "knd": "single"}\n',
            r"examples\.jsonl:1: knd: unknown field",
        ),
    ],
    ids=["questions", "kind", "round-trip", "model-path", "api-key", "examples-json", "examples-field"],
)
def test_bad_input_is_one_located_line_and_exit_2(
    tmp_path: Path, make_project, recipe_text, monkeypatch, extra: str, examples: str | None, pattern: str
) -> None:
    monkeypatch.delenv("TAILOR_TEST_UNSET", raising=False)
    recipe = make_project(tmp_path, recipe=recipe_text + extra)
    if examples is not None:
        (tmp_path / "examples.jsonl").write_text(examples)
    result = runner.invoke(app, ["synth", "--recipe", str(recipe)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and re.search(pattern, errors[0]), result.stderr
