"""What a run records about its model: the name the recipe gives it, the loaded form beside it."""

from __future__ import annotations

import json

from tailor.eval.runner import _model_facts
from tailor.recipe_file import load_recipe
from tailor.workspace import open_workspace


def test_the_model_is_named_as_the_recipe_names_it_not_by_its_cache_directory(tmp_path, scripted):
    row = {"id": "q1", "question": "Where is the office?", "answer": "Lisbon", "split": "test"}
    (tmp_path / "qa.jsonl").write_text(json.dumps(row) + "\n")
    recipe = tmp_path / "tailor.yaml"
    recipe.write_text(
        "model: {kind: packaged, name: qwen2.5-coder-0.5b-instruct}\n"
        "data:\n  examples: [{path: qa.jsonl}]\nstrategies: [baseline]\n"
    )
    loaded = scripted(lambda messages: "Lisbon")
    loaded.name = "qwen-0.5b-1d9614638d18024d"  # what the converted model's directory is called
    facts = _model_facts(open_workspace(load_recipe(recipe), generator=loaded))
    assert facts["model"] == "qwen2.5-coder-0.5b-instruct"
    assert facts["loaded_as"] == "qwen-0.5b-1d9614638d18024d"
