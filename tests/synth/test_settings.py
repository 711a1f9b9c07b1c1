"""The recipe's synth: section: strict like every section, and it survives dump → load and render → load."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from tailor.config import Recipe
from tailor.data.settings import DataConfig, ExampleSet
from tailor.models.settings import ModelConfig, OpenAIModel
from tailor.recipe_file import load_recipe
from tailor.recipe_render import render_recipe
from tailor.synth.settings import SynthConfig

SECTIONS = [
    SynthConfig[ModelConfig](),
    SynthConfig[ModelConfig](
        model=OpenAIModel(kind="openai", base_url="http://127.0.0.1:8000/v1", model="m"),
        questions=7,
        seed=3,
        round_trip=0.3,
        specificity_k=2,
        kinds={"single": 1.0, "unanswerable": 0.5},
        abstention="Not in the documents.",
        output="synth.jsonl",
    ),
]


@pytest.mark.parametrize("section", SECTIONS)
def test_the_section_survives_dump_and_load(section) -> None:
    dumped = yaml.safe_load(yaml.safe_dump(section.model_dump(mode="json")))
    assert SynthConfig[ModelConfig].model_validate(dumped) == section


def test_a_recipe_with_a_synth_section_renders_and_loads_back_equal(tmp_path: Path) -> None:
    recipe = Recipe(data=DataConfig(examples=[ExampleSet(path="x.jsonl")]), synth=SECTIONS[1].model_dump())
    (tmp_path / "tailor.yaml").write_text(render_recipe(recipe))
    loaded = load_recipe(tmp_path / "tailor.yaml", check_files=False)
    assert loaded.synth == recipe.synth and isinstance(loaded.synth.model, OpenAIModel)


def test_unknown_fields_and_bad_shares_are_refused() -> None:
    with pytest.raises(ValidationError, match="extra"):
        SynthConfig[ModelConfig](question=3)
    with pytest.raises(ValidationError, match="single above 0"):
        SynthConfig[ModelConfig](kinds={"single": 0.0, "unanswerable": 1.0})
    with pytest.raises(ValidationError, match="0 or more"):
        SynthConfig[ModelConfig](kinds={"single": 1.0, "multi": -1.0})


def test_questions_are_shared_among_kinds_by_largest_remainder() -> None:
    cfg = SynthConfig[ModelConfig]()
    assert cfg.wanted(10) == {"single": 8, "multi": 1, "unanswerable": 1}
    assert cfg.wanted(1) == {"single": 1, "multi": 0, "unanswerable": 0}
    assert sum(cfg.wanted(37).values()) == 37
