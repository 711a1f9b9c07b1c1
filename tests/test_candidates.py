"""The model as an axis: ``models:`` × ``strategies:``, each pair a candidate ``strategy@model``.

Unit tests check how a recipe is split per model; the end-to-end test runs the CLI as a user would over
two real models — the packaged SmolLM2 and an OpenAI-compatible endpoint on localhost — through eval
(killed with SIGKILL mid-run, then resumed), report and serve."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tailor.candidates import model_runs, unbuildable
from tailor.config import Recipe
from tailor.errors import RecipeError
from tailor.models.settings import OpenAIModel, PackagedModel
from tailor.recipe_file import load_recipe

ENDPOINT = {"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m"}


def _write(tmp_path: Path, recipe: dict) -> Path:
    (tmp_path / "qa.jsonl").write_text(json.dumps({"id": "1", "question": "q?", "answer": "a"}) + "\n")
    path = tmp_path / "tailor.yaml"
    path.write_text(yaml.safe_dump({"data": {"examples": [{"path": "qa.jsonl"}]}, **recipe}, sort_keys=False))
    return path


def test_each_model_runs_alone_under_its_own_directory_and_skips_what_it_cannot_build(tmp_path):
    recipe = load_recipe(
        _write(
            tmp_path,
            {
                "models": {"local": {"kind": "packaged"}, "remote": ENDPOINT},
                "strategies": ["baseline", "prompt", "finetune"],
                "rag": {"index_dir": "shared-index"},
                "out": "out",
            },
        )
    )
    local, remote = model_runs(recipe)
    assert (local.name, remote.name) == ("local", "remote")
    assert local.recipe.strategies == ["baseline", "prompt", "finetune"] and local.skipped == {}
    assert remote.recipe.strategies == ["baseline", "prompt"]
    assert remote.skipped == {
        "finetune": "finetune trains weights, and remote is an endpoint (training needs local weights)"
    }
    assert local.out_dir == tmp_path / "out" / "models" / "local"
    assert remote.recipe.index_dir == tmp_path / "shared-index" / "remote"  # chunked in each model's tokens
    assert isinstance(remote.recipe.model, OpenAIModel) and remote.recipe.models is None
    assert model_runs(load_recipe(_write(tmp_path, {"model": {"kind": "packaged"}}))) == []  # one model: as always


def test_training_needs_local_weights_on_transformers():
    assert unbuildable("rag", OpenAIModel(**ENDPOINT), "x") is None
    assert "llama.cpp" in unbuildable("finetune", PackagedModel(backend="llamacpp"), "fast")
    assert unbuildable("finetune", PackagedModel(), "small") is None


def test_model_and_models_together_or_a_model_nothing_runs_on_are_recipe_errors(tmp_path):
    both = _write(tmp_path, {"model": {"kind": "packaged"}, "models": {"a": {"kind": "packaged"}}})
    with pytest.raises(RecipeError, match=r"tailor.yaml:\d+: \(top level\): set model: .* or models: .*, not both"):
        load_recipe(both)
    only_training = _write(tmp_path, {"models": {"remote": ENDPOINT}, "strategies": ["finetune"]})
    with pytest.raises(
        RecipeError, match=r"tailor.yaml:\d+: models.remote: no strategy of the recipe can run on it: finetune trains"
    ):
        model_runs(load_recipe(only_training))
    with pytest.raises(RecipeError, match=r"models.rag@x"):
        load_recipe(_write(tmp_path, {"models": {"rag@x": {"kind": "packaged"}}}))


def test_a_one_model_recipe_names_its_model_on_the_axis():
    recipe = Recipe.model_validate({"data": {"examples": [{"path": "x.jsonl"}]}})
    assert list(recipe.model_axis()) == ["smollm2-135m-instruct"]


def _last_word(messages) -> str:
    """An endpoint that answers with the question's last word: wrong, but not the local model's answers."""
    return messages[-1]["content"].rstrip("?. ").rsplit(" ", 1)[-1]


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tailor", *args], cwd=cwd, capture_output=True, text=True)


@pytest.mark.slow
def test_two_models_end_to_end_eval_killed_and_resumed_report_and_serve(tmp_path, tiny_world_dir, faulty_endpoint):
    from tailor.serve.keys import add_key
    from tailor.serve.server import free_port

    shutil.copytree(tiny_world_dir, tmp_path / "world")
    with faulty_endpoint(_last_word) as endpoint:
        recipe = {
            # the endpoint first: it answers at once, so the kill lands while the local model works
            "models": {
                "remote": {"kind": "openai", "base_url": endpoint.url, "model": "m"},
                "small": {"kind": "packaged", "dtype": "float32"},
            },
            "data": {"examples": [{"path": "world/qa.jsonl"}], "corpus": ["world/docs/**/*.md"]},
            "strategies": ["baseline", "prompt"],  # what is measured is the model axis: the cheapest search
            "suites": ["task", "cost"],
            "prompt": {"candidates": 2, "dev_size": 4, "confirm_size": 0},
            "eval": {"mode": "quick", "limit": 4},
            "generation": {"max_new_tokens": 12},
            "out": "run",
        }
        (tmp_path / "tailor.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
        killed = subprocess.Popen(
            [sys.executable, "-m", "tailor", "eval"], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        saved = tmp_path / "run" / "models" / "small" / "eval-cache" / "answers" / "qa" / "baseline.json"
        deadline = time.monotonic() + 600
        while not saved.exists() and killed.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert saved.exists(), killed.stderr.read().decode() if killed.poll() is not None else "no answers saved"
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        assert (tmp_path / "run" / "models" / "remote" / "results.json").is_file()
        assert not (tmp_path / "run" / "results.json").exists()

        done = _run(["eval", "--json"], tmp_path)
        assert done.returncode == 0, done.stderr
        assert "reused from an earlier run" in done.stderr and "qa · baseline answers" in done.stderr
        results = json.loads(done.stdout)
        assert list(results["models"]) == ["remote", "small"]
        candidates = {r["strategy"] for r in results["results"]}
        assert {"baseline@remote", "prompt@remote", "baseline@small", "prompt@small"} <= candidates
        assert all(r["model"] in ("remote", "small") for r in results["results"])
        across = [r for r in results["results"] if r.get("vs") and r["vs"].split("@")[1] != r["model"]]
        assert {(r["strategy"], r["vs"]) for r in across} >= {("prompt@small", "prompt@remote")}
        assert all(r["n"] == 4 and "p" in r for r in across)
        assert set(results["builds"]["qa"]) == {"baseline@remote", "prompt@remote", "baseline@small", "prompt@small"}
        predictions = (tmp_path / "run" / "predictions.jsonl").read_text().splitlines()
        assert {json.loads(p)["model"] for p in predictions} == {"remote", "small"}

        reported = _run(["report"], tmp_path)
        assert reported.returncode == 0, reported.stderr
        page = (tmp_path / "run" / "report.html").read_text()
        assert "The field: models × strategies" in page and "prompt@small" in page
        recommendation = json.loads((tmp_path / "run" / "recommendation.json").read_text())
        assert {r["strategy"] for r in recommendation["decisions"][0]["ranking"]} == {
            "baseline@remote",
            "prompt@remote",
            "baseline@small",
            "prompt@small",
        }

        key, _ = add_key(tmp_path / "keys.yaml", "erin", ["everyone"])
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "tailor", "serve", "--port", str(port)],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / "serve.log").open("w"),
        )
        try:
            base = f"http://127.0.0.1:{port}/v1"
            deadline = time.monotonic() + 300
            while True:
                assert server.poll() is None, (tmp_path / "serve.log").read_text()
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "tailor serve did not come up"
                time.sleep(0.2)
            from openai import OpenAI

            client = OpenAI(base_url=base, api_key=key)
            served = {m.id for m in client.models.list().data}
            assert served == {
                "tailor-baseline@remote",
                "tailor-prompt@remote",
                "tailor-baseline@small",
                "tailor-prompt@small",
            }
            asked = {"role": "user", "content": "Who leads the finance department?"}
            remote = client.chat.completions.create(model="tailor-baseline@remote", messages=[asked])
            assert remote.choices[0].message.content == "department"  # the endpoint's answer
            local = client.chat.completions.create(model="tailor-prompt@small", messages=[asked])
            assert local.choices[0].message.content and local.choices[0].message.content != "department"
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)


def test_synth_writes_with_the_last_model_of_a_ladder_unless_synth_model_says(tmp_path):
    ladder = {"models": {"small": {"kind": "packaged"}, "big": {"kind": "packaged", "dtype": "float32"}}}
    recipe = load_recipe(_write(tmp_path, ladder))
    model, at = recipe.writer_model()
    assert at == ("models", "big") and model.dtype == "float32"
    chosen = load_recipe(_write(tmp_path, {**ladder, "synth": {"model": ENDPOINT}}))
    assert chosen.writer_model()[1] == ("synth", "model")


def test_the_merge_pairs_candidates_across_models_on_the_questions_both_answered(tmp_path):
    """Two models' runs on disk (results.json and predictions.jsonl as tailor eval writes them): the merged
    record names every row by candidate and pairs each candidate with every candidate of the other model,
    on the ids both answered, as the real paired test computes it."""
    from tailor.candidates import merge
    from tailor.eval.results import paired_row

    recipe = load_recipe(
        _write(tmp_path, {"models": {"a": {"kind": "packaged"}, "b": ENDPOINT}, "strategies": ["baseline"], "out": "o"})
    )
    runs = model_runs(recipe)
    f1 = {"a": [1.0, 0.0, 1.0, 1.0, 0.5], "b": [0.0, 0.0, 1.0, 0.0, 0.0]}
    for run in runs:
        run.out_dir.mkdir(parents=True)
        row = {"strategy": "baseline", "dataset": "qa", "suite": "task", "metric": "token_f1", "value": 0.5, "n": 5}
        (run.out_dir / "results.json").write_text(
            json.dumps({"results": [row], "primary": {"qa": "token_f1"}, "environment": {"model": run.name}})
        )
        lines = [
            {"strategy": "baseline", "dataset": "qa", "id": f"q{i}", "scores": {"token_f1": v}}
            for i, v in enumerate(f1[run.name])
        ]
        lines.append({"strategy": "baseline", "dataset": "qa", "id": "u1", "kind": "unanswerable", "scores": {}})
        (run.out_dir / "predictions.jsonl").write_text("".join(json.dumps(p) + "\n" for p in lines))
    merged = merge(recipe, runs)
    assert [r["strategy"] for r in merged["results"][:2]] == ["baseline@a", "baseline@b"]
    across = [r for r in merged["results"] if r.get("vs")]
    want = paired_row("baseline@b", "qa", "task", "token_f1_delta", f1["b"], f1["a"], recipe.seed, vs="baseline@a")
    assert across == [{**want.to_json(), "model": "b"}]
    assert json.loads((tmp_path / "o" / "results.json").read_text())["models"]["b"]["skipped"] == {}
    on_disk = (tmp_path / "o" / "predictions.jsonl").read_text().splitlines()
    assert {json.loads(p)["strategy"] for p in on_disk} == {"baseline@a", "baseline@b"}
