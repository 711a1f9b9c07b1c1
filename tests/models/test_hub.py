"""``kind: hf`` names a directory or a hub repo id. A repo id is read from a real Hugging Face cache layout
(``models--ORG--NAME/snapshots/REV`` with ``refs/main``) holding the real packaged model; offline and not
cached, the error is one line naming the field. Nothing here reaches the network: downloads are off."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tailor.errors import ModelError, RecipeError
from tailor.models.hub import is_repo_id, model_directory
from tailor.recipe_file import load_recipe


@pytest.fixture
def hub_cache(tmp_path, monkeypatch, real_generator) -> Path:
    """A hub cache holding ``tailor-test/smollm2`` (the converted packaged model's files) and nothing else."""
    from tailor.models.gguf import converted_dir, packaged_gguf

    source = converted_dir(packaged_gguf("smollm2-135m-instruct"))
    cache = tmp_path / "hub"
    repo = cache / "models--tailor-test--smollm2"
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    for f in source.iterdir():
        (snapshot / f.name).symlink_to(f)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def _recipe(tmp_path: Path, path: str) -> Path:
    (tmp_path / "ex.jsonl").write_text(json.dumps({"id": "1", "question": "q?", "answer": "a"}) + "\n")
    recipe = tmp_path / "tailor.yaml"
    recipe.write_text(f"model:\n  kind: hf\n  path: {path}\ndata:\n  examples:\n    - path: ex.jsonl\n")
    return recipe


def test_a_repo_id_is_told_from_a_directory(tmp_path):
    assert is_repo_id("org/name", tmp_path / "org/name")
    assert not is_repo_id("./models/mine", tmp_path / "models/mine")
    (tmp_path / "org").mkdir()
    (tmp_path / "org" / "name").mkdir()
    assert not is_repo_id("org/name", tmp_path / "org" / "name")  # a directory of that name wins


@pytest.mark.slow
def test_a_cached_repo_id_loads_the_real_model(tmp_path, hub_cache):
    from tailor.models.load import load_generator

    recipe = load_recipe(_recipe(tmp_path, "tailor-test/smollm2"))  # no "directory not found": it is an id
    assert model_directory(recipe, "tailor-test/smollm2").parent.parent.name == "models--tailor-test--smollm2"
    generator = load_generator(recipe)
    from tailor.models.base import GenerationSettings

    answer = generator.generate(
        [[{"role": "user", "content": "What is the capital of France?"}]], GenerationSettings(8)
    )
    assert "Paris" in answer[0].text


def test_an_uncached_repo_id_offline_is_one_line_naming_the_field(tmp_path, monkeypatch):
    from tailor.models.load import load_generator

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    recipe = load_recipe(_recipe(tmp_path, "nobody/no-such-model"))
    with pytest.raises(ModelError) as e:
        load_generator(recipe)
    text = str(e.value)
    assert len(text.splitlines()) == 1
    assert "tailor.yaml:3: model.path: 'nobody/no-such-model' is not in the Hugging Face cache" in text
    assert "downloads are off (HF_HUB_OFFLINE=1)" in text and "hf download nobody/no-such-model" in text


def test_a_missing_directory_is_still_a_recipe_error(tmp_path):
    with pytest.raises(RecipeError, match=r"model directory not found: .*no/such/dir/here"):
        load_recipe(_recipe(tmp_path, "./no/such/dir/here"))
