"""The CLI end to end with the real model: the exact files a run writes, and what a user sees."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tailor import plugins
from tailor.cli import app

runner = CliRunner()


# The session's tiny demo run (tests/conftest.py) is built in the setup of whichever of these runs first: 12.6 minutes
# measured on 2 cores (2026-12-02, partly under load), more on a busier machine; so these get twice the 900 s limit.
demo_timeout = pytest.mark.timeout(1800)


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


@pytest.mark.slow
@demo_timeout
def test_demo_writes_exactly_these_files(demo_run) -> None:
    out, result = demo_run
    assert result.exit_code == 0, result.output
    files = _files(out)
    indexes = tuple(f"{d}index/{part}/" for d in ("", "freshness/", "robustness/") for part in ("lance", "bm25"))
    run_files = {f for f in files if not f.startswith(("world/", "world-v2/", "eval-cache/", *indexes))}
    # What eval finished, piece by piece: every strategy's answers and every suite's rows, per dataset.
    answered = {
        "qa": ("baseline", "prompt", "rag", "finetune", "rag_plus_finetune"),
        "routing": ("baseline", "prompt", "finetune"),
    }
    assert {f for f in files if f.startswith("eval-cache/")} == {
        f"eval-cache/answers/{d}/{s}.json" for d, names in answered.items() for s in names
    } | {f"eval-cache/suites/{d}/{suite}.json" for d in answered for suite in plugins.suites()}
    assert run_files == {
        "tailor.yaml",
        "prompt/qa.json",
        "prompt/routing.json",
        "prompt/rag/qa.json",  # rag's and rag+finetune's prompts, searched on dev as prompt's is
        "prompt/rag+finetune/qa.json",
        "results.json",
        "predictions.jsonl",
        "interpret.jsonl",
        "report.html",
        "recommendation.json",
        "index/index.json",
        "index/.lock",
        "finetune/checks.json",
        "finetune/loss_curve.json",
        "finetune/model/adapter_config.json",
        "finetune/model/adapter_model.safetensors",
        "finetune/model/README.md",
        "finetune/model/train.json",
        "finetune/canaries.json",
        # freshness: the updated index and adapter, beside (never over) the originals
        "freshness/answers.jsonl",
        "freshness/index/index.json",
        "freshness/index/.lock",
        "freshness/finetune/checks.json",
        "freshness/finetune/loss_curve.json",
        "freshness/finetune/model/adapter_config.json",
        "freshness/finetune/model/adapter_model.safetensors",
        "freshness/finetune/model/README.md",
        "freshness/finetune/model/train.json",
        # robustness: the index with planted instructions
        "robustness/index/index.json",
        "robustness/index/.lock",
    }
    # One Lance table and one BM25 cache, both named after the index settings; no temp dirs left behind.
    manifest = json.loads((out / "index" / "index.json").read_text())
    assert {f.split("/")[2] for f in files if f.startswith("index/lance/")} == {manifest["table"] + ".lance"}
    assert [p.name for p in (out / "index" / "bm25").iterdir()] == [f"{manifest['table']}-v2"]
    world = {f for f in files if f.startswith("world/") and not f.startswith("world/docs/")}
    assert world == {f"world/{n}" for n in ("qa.jsonl", "routing.jsonl", "facts.jsonl", "secrets.jsonl", "world.json")}
    v2 = {f for f in files if f.startswith("world-v2/") and not f.startswith("world-v2/docs/")}
    assert v2 == {f"world-v2/{n}" for n in ("changes.jsonl", "changed_qa.jsonl", *(w.split("/")[1] for w in world))}
    assert all(f.endswith(".md") for f in files if f.startswith("world/docs/"))


@pytest.mark.slow
@demo_timeout
def test_demo_results_have_every_strategy_suite_and_dataset(demo_run) -> None:
    out, result = demo_run
    results = json.loads((out / "results.json").read_text())
    assert set(results) >= {"tailor_version", "recipe", "started_at", "results", "environment"}
    # What a suite measured on, where it chose: the world's documents do not contain Python's reference.
    held = "held text: the prose of Python's reference manual (pydoc_data.topics)"
    assert results["notes"] == {"qa": {"forgetting": held}}
    assert held.replace("'", "&#39;") in (out / "report.html").read_text()
    keys = {(r["strategy"], r["dataset"], r["suite"]) for r in results["results"]}
    # rag answers qa only (routing declares strategies: [baseline, prompt, finetune]); retrieval rows for
    # those that put documents in front of the model.
    both = ("baseline", "prompt", "finetune")
    # prompt puts documents in front of the model only when its search chose a static block
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    static_block = any(p["contexts"] for p in predictions if p["strategy"] == "prompt" and p["dataset"] == "qa")
    retrieving = ("prompt", "rag", "rag+finetune") if static_block else ("rag", "rag+finetune")
    per_answer = ("task", "cost", "bias", "robustness")  # suites that ask each dataset's own questions
    assert keys == (
        {(s, d, suite) for s in both for d in ("qa", "routing") for suite in per_answer}
        | {(s, "qa", suite) for s in ("rag", "rag+finetune") for suite in per_answer}
        | {(s, "qa", "retrieval") for s in retrieving}
        | {(s, "qa", suite) for s in (*both, "rag", "rag+finetune") for suite in ("leakage", "forgetting", "freshness")}
        | {(s, d, "interpret") for s, d in (("finetune", "qa"), ("finetune", "routing"), ("rag+finetune", "qa"))}
        | {(s, d, "compress") for s in both for d in ("qa", "routing")}
        | {(s, "qa", "compress") for s in ("rag", "rag+finetune")}
    )
    # Every strategy also answered with its model in int8: paired against its own answers, timed, sized.
    int8 = {(r["strategy"], r["metric"]) for r in results["results"] if r.get("variant") == "int8"}
    assert {("finetune", "compressed_score_delta"), ("rag", "decode_tokens_per_s"), ("baseline", "model_mb")} <= int8
    rows = {(r["strategy"], r["dataset"], r["metric"]): r for r in results["results"] if "vs" not in r}
    # Every pair of strategies is compared on the primary metric, with a p-value.
    pairs = {(r["strategy"], r["vs"]) for r in results["results"] if r.get("vs") and r["dataset"] == "qa"}
    assert len(pairs) == 10 and all("p" in r for r in results["results"] if r.get("vs"))
    # The planted instruction reached rag's prompt (how often is reported): the success rate measures the model.
    assert rows[("rag", "qa", "doc_injection_retrieved_rate")]["value"] > 0
    assert ("baseline", "qa", "doc_injection_success_rate") not in rows
    assert {f"bias_amplification_{a}" for a in ("gender", "nationality", "age")} <= {
        m for s, d, m in rows if s == "finetune" and d == "routing"
    }
    # After re-ingesting the new version, rag no longer repeats a stale value it repeated before.
    before, after = rows[("rag", "qa", "stale_rate_before")], rows[("rag", "qa", "stale_rate_after")]
    assert after["value"] <= before["value"] and rows[("baseline", "qa", "update_s")]["value"] == 0.0
    assert {"trivia_accuracy", "trivia_accuracy_delta"} <= {m for s, d, m in rows if s == "prompt"}
    # Only weights can forget: strategies on the base model score a delta of exactly 0.
    forgetting = {r["strategy"]: r for r in results["results"] if r["metric"] == "general_text_ce_delta"}
    assert forgetting["rag"]["value"] == forgetting["prompt"]["value"] == 0.0
    assert forgetting["finetune"]["value"] != 0.0
    leakage = {(r["strategy"], r["metric"]): r for r in results["results"] if r["suite"] == "leakage"}
    assert {m for _, m in leakage} == {
        "cross_user_leak_rate",
        "canary_exposure_bits",
        "canary_extraction_rate",
        "canary_exposure_bits_x1",
        "canary_exposure_bits_x4",
        "canary_exposure_bits_x16",
    }
    assert leakage[("rag", "cross_user_leak_rate")]["value"] == 0.0  # access control holds
    for row in results["results"]:
        assert set(row) >= {"strategy", "dataset", "suite", "metric", "value", "n"}
        assert row["n"] > 0
    tests = {
        name: sum(1 for line in (out / "world" / f"{name}.jsonl").read_text().splitlines() if '"test"' in line)
        for name in ("qa", "routing")
    }
    limit = results["recipe"]["eval"]["limit"] or 10**9  # the tiny demo scores a few questions per dataset
    assert len(predictions) == 5 * min(limit, tests["qa"]) + 3 * min(limit, tests["routing"])
    assert {p["strategy"] for p in predictions} == {"baseline", "prompt", "rag", "finetune", "rag+finetune"}
    # rag's answers carry the chunks they were given, each from a document the asker may read.
    rag = [p for p in predictions if p["strategy"] in ("rag", "rag+finetune")]
    assert all(p["contexts"] for p in rag)
    # Training has a cost line: its build time, and the loss curve it wrote.
    build = {r["strategy"]: r["value"] for r in results["results"] if r["metric"] == "build_s" and r["dataset"] == "qa"}
    assert build["finetune"] > 0 and build["rag+finetune"] > build["finetune"]
    # The human table names both datasets and both strategies.
    assert "qa · task" in result.output and "routing · task" in result.output and "prompt" in result.output
    assert "qa · retrieval" in result.output and "rag" in result.output


@pytest.mark.slow
@demo_timeout
def test_demo_ends_with_the_report_and_the_recommendation(demo_run) -> None:
    out, result = demo_run
    recommendation = json.loads((out / "recommendation.json").read_text())
    assert result.stdout.splitlines()[-2:] == [
        f"report: {(out / 'report.html').resolve()}",
        f"recommendation: {recommendation['headline']}",
    ]
    assert [d["dataset"] for d in recommendation["decisions"]] == ["qa", "routing"]
    page = (out / "report.html").read_text()
    assert "Why the fine-tuned model answers as it does" in page and 'data-plot="freshness"' in page
    assert 'data-plot="frontier"' in page  # int8 against fp32, per strategy
    # interpret.jsonl explains the fine-tuned strategies' answers on both datasets
    lines = [json.loads(line) for line in (out / "interpret.jsonl").read_text().splitlines()]
    assert {(x["strategy"], x["dataset"]) for x in lines} == {
        ("finetune", "qa"),
        ("finetune", "routing"),
        ("rag+finetune", "qa"),
    }


@pytest.mark.slow
@demo_timeout
def test_eval_reuses_tuned_prompts_and_prints_json(demo_run_copy) -> None:
    out, _ = demo_run_copy  # eval writes its results into the run: a copy, so the shared demo stays as it was
    before = (out / "prompt" / "qa.json").stat().st_mtime_ns
    # The demo's recipe, scoring a few examples on the task suite only: what is reused is the point.
    recipe = yaml.safe_load((out / "tailor.yaml").read_text())
    recipe["suites"], recipe["eval"]["limit"] = ["task"], 3
    (out / "quick.yaml").write_text(yaml.safe_dump(recipe))
    result = runner.invoke(app, ["eval", "--recipe", str(out / "quick.yaml"), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["results"] and "tune prompt" not in result.stderr and "using the tuned prompt" in result.stderr
    assert "0 added, 0 changed, 0 removed" in result.stderr and "0 chunks embedded" in result.stderr
    assert "finetune: using the trained model" in result.stderr  # trained once, reused by both strategies
    assert (out / "prompt" / "qa.json").stat().st_mtime_ns == before


@pytest.mark.slow
def test_tune_prompt_command_saves_a_prompt_per_dataset(tmp_path: Path) -> None:
    assert runner.invoke(app, ["init", str(tmp_path), "--size", "tiny"]).exit_code == 0
    recipe = yaml.safe_load((tmp_path / "tailor.yaml").read_text())
    recipe["prompt"].update(candidates=3, dev_size=3)  # 9 answers: bootstrapping's 3, the start's 3, one variant
    (tmp_path / "tailor.yaml").write_text(yaml.safe_dump(recipe))
    result = runner.invoke(app, ["tune", "prompt", "--recipe", str(tmp_path / "tailor.yaml"), "--json"])
    assert result.exit_code == 0, result.output
    tuned = json.loads(result.stdout)
    assert [t["dataset"] for t in tuned] == ["qa", "routing"]
    assert all(t["n_dev"] == 3 and len(t["leaderboard"]) == 2 and t["calls"] <= 3 * 3 for t in tuned)
    assert _files(tmp_path / "runs" / "latest") == {"prompt/qa.json", "prompt/routing.json"}

    # rag's prompt, for the datasets rag is scored on (not routing): the index is built first.
    rag = runner.invoke(app, ["tune", "prompt", "--strategy", "rag", "-r", str(tmp_path / "tailor.yaml"), "--json"])
    assert rag.exit_code == 0, rag.output
    (tuned,) = json.loads(rag.stdout)
    assert tuned["strategy"] == "rag" and tuned["dataset"] == "qa" and tuned["calls"] <= 3 * 3
    assert "prompt/rag/qa.json" in _files(tmp_path / "runs" / "latest") and "qa: rag's best" in rag.stderr
    wrong = runner.invoke(app, ["tune", "prompt", "--strategy", "finetune", "-r", str(tmp_path / "tailor.yaml")])
    assert wrong.exit_code == 2 and "'finetune' has no searched prompt; use one of prompt, rag" in wrong.stderr


def _endpoint_project(root: Path) -> Path:
    """The tiny project over an endpoint model: opening its workspace loads no weights (nothing is asked)."""
    assert runner.invoke(app, ["init", str(root), "--size", "tiny"]).exit_code == 0
    recipe = yaml.safe_load((root / "tailor.yaml").read_text())
    recipe["model"] = {"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m"}
    (root / "tailor.yaml").write_text(yaml.safe_dump(recipe))
    return root / "tailor.yaml"


def test_tune_train_runs_the_training_a_strategy_declares(tmp_path: Path) -> None:
    from tailor.finetune.train import TrainedModel
    from tailor.strategies.base import StrategySpec

    calls = []

    def train(ws, *, strict=None):
        calls.append(strict)
        return TrainedModel(ws.recipe.out_dir / "loud" / "model", {"steps": 3, "method": "lora"})

    loud = StrategySpec("loud", plugins.strategy("baseline").build, "trained loudly", 9, trains=True, train=train)
    path = _endpoint_project(tmp_path)
    with plugins.registered(loud):
        trained = runner.invoke(app, ["tune", "train", "--strategy", "loud", "--no-strict", "-r", str(path), "--json"])
        assert trained.exit_code == 0, trained.output
        manifest = json.loads(trained.stdout)
        assert manifest == {"steps": 3, "method": "lora", "model_dir": str(tmp_path / "runs/latest/loud/model")}
        assert calls == [False] and "deprecated" not in trained.stderr
        wrong = runner.invoke(app, ["tune", "train", "--strategy", "rag", "-r", str(path)])
        choices = ", ".join(plugins.trainers())
    assert "finetune, raft" in choices and choices.endswith("loud")  # simplest first; the registered one too
    assert wrong.exit_code == 2 and f"'rag' trains nothing of its own; use one of {choices}" in wrong.stderr


def test_tune_finetune_is_an_alias_that_says_to_use_tune_train(tmp_path: Path) -> None:
    missing = str(tmp_path / "none.yaml")
    for flags, strategy in (([], "finetune"), (["--raft"], "raft")):
        old = runner.invoke(app, ["tune", "finetune", *flags, "-r", missing])
        new = runner.invoke(app, ["tune", "train", "--strategy", strategy, "-r", missing])
        said = f"tailor tune finetune is deprecated: use tailor tune train --strategy {strategy}\n"
        assert old.exit_code == new.exit_code == 2 and old.stderr == said + new.stderr  # one line, then the same


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    assert runner.invoke(app, ["init", str(tmp_path), "--size", "tiny"]).exit_code == 0
    again = runner.invoke(app, ["init", str(tmp_path), "--size", "tiny"])
    assert again.exit_code == 2 and "already exists; pass --force" in again.stderr
    assert runner.invoke(app, ["init", str(tmp_path), "--size", "tiny", "--force"]).exit_code == 0


def test_init_from_dir_points_the_recipe_at_your_documents(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "a.md").write_text("# A\ntext")
    (docs / "sub" / "b.txt").write_text("text")
    (docs / "c.csv").write_text("a,b")  # not a document format: not globbed
    examples = tmp_path / "ex.jsonl"
    examples.write_text(json.dumps({"id": "1", "question": "q", "answer": "a"}) + "\n")
    result = runner.invoke(app, ["init", str(tmp_path / "proj"), "--from-dir", str(docs), "--examples", str(examples)])
    assert result.exit_code == 0, result.output
    assert "1 .md, 1 .txt" in " ".join(result.stderr.split())  # the console wraps lines where the path ends
    from tailor.data.corpus import load_corpus
    from tailor.recipe_file import load_recipe

    recipe = load_recipe(tmp_path / "proj" / "tailor.yaml")
    assert recipe.data.corpus == ["../docs/**/*.md", "../docs/**/*.txt"]
    assert sorted(d.doc_id for d in load_corpus(recipe)) == ["a", "sub/b"]


def test_init_from_dir_without_documents_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "x.bin").write_bytes(b"\0")
    result = runner.invoke(app, ["init", str(tmp_path / "p"), "--from-dir", str(tmp_path)])
    assert (
        result.exit_code == 2
        and "no .md/.markdown/.txt/.html/.htm/.pdf documents found (file types seen: .bin)" in result.stderr
    )


def test_world_command_is_deterministic(tmp_path: Path) -> None:
    for name in ("a", "b"):
        assert (
            runner.invoke(app, ["world", "--out", str(tmp_path / name), "--size", "tiny", "--seed", "4"]).exit_code == 0
        )
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert a == b and all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in a)
    v2 = runner.invoke(app, ["world", "--out", str(tmp_path / "a"), "--size", "tiny", "--seed", "4", "--version", "2"])
    assert v2.exit_code == 0 and "changed facts" in v2.stderr
    assert (tmp_path / "a" / "changes.jsonl").is_file()


def test_the_installed_command_runs_and_fails_cleanly(tmp_path: Path) -> None:
    """The real entry point in a subprocess: --help works, and a bad recipe exits 2 without a traceback."""
    help_ = subprocess.run([sys.executable, "-m", "tailor", "--help"], capture_output=True, text=True, check=False)
    assert help_.returncode == 0 and "tune" in help_.stdout and "eval" in help_.stdout
    (tmp_path / "tailor.yaml").write_text("data: [\n")
    bad = subprocess.run(
        [sys.executable, "-m", "tailor", "eval"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr and "tailor.yaml:" in bad.stderr
