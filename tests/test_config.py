"""Recipes: every section survives dump → load; shipped YAMLs are valid and say how to run them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tailor.config import Recipe
from tailor.data.settings import AccessRule, DataConfig, ExampleSet, SplitConfig
from tailor.errors import RecipeError
from tailor.eval.settings import CostConfig, EvalConfig, FreshnessConfig, UntilDecidedConfig
from tailor.finetune.settings import CanaryConfig, FinetuneConfig, RaftConfig
from tailor.models.settings import GenerationConfig, GGUFModel, HFModel, OpenAIModel, PackagedModel
from tailor.prompt.settings import PromptConfig
from tailor.rag.settings import RagConfig
from tailor.recipe_file import load_recipe
from tailor.recipe_render import render_recipe
from tailor.report.settings import ConstraintsConfig
from tailor.scaffold import world_recipe
from tailor.serve.settings import ServeConfig

CONFIGS = sorted((Path(__file__).parent.parent / "configs").glob("*.yaml"))

INSTANCES = [
    PackagedModel(),
    PackagedModel(backend="llamacpp"),
    HFModel(kind="hf", path="models/x"),
    GGUFModel(kind="gguf", path="m.gguf", backend="llamacpp"),
    OpenAIModel(kind="openai", base_url="http://127.0.0.1:8000/v1", model="m", api_key_env="K", concurrency=9),
    GenerationConfig(max_new_tokens=7, batch_size=3, temperature=0.5),
    ExampleSet(path="a.jsonl", name="a", instruction="Be brief.", max_new_tokens=4, strategies=["baseline"]),
    AccessRule(glob="docs/fin/**", groups=["finance"]),
    SplitConfig(train=0.6, dev=0.2, test=0.2),
    DataConfig(corpus=["d/*.md"], examples=[ExampleSet(path="a.jsonl")], default_groups=["everyone"]),
    PromptConfig(candidates=3, shots=[1], selection=["similar"], context_tokens=0),
    EvalConfig(split="dev", limit=5),
    EvalConfig(until_decided=UntilDecidedConfig(batch=4)),
    UntilDecidedConfig(batch=8, max_examples=100, max_seconds=60.0, max_usd=0.5),
    EvalConfig(mode="quick", bias_questions=2, canary_candidates=9, compress=["int8", "bf16"], compress_prompts=2),
    FreshnessConfig(corpus=["v2/*.md"], examples="v2/q.jsonl", dataset="qa", retrain_steps=3),
    CostConfig(cpu_hour_usd=0.2, gpu_hour_usd=3.0, input_usd_per_1k_tokens=0.001, output_usd_per_1k_tokens=0.002),
    FinetuneConfig(method="full", target_modules=["q_proj", "v_proj"], max_steps=3, knowledge=False, strict=True),
    FinetuneConfig(canaries=CanaryConfig(count=4, repetitions=[2, 8]), packing=False, knowledge_qa=0),
    CanaryConfig(count=3),
    RaftConfig(oracle=0.5, seq_tokens=512),
    EvalConfig(mode="quick", detect=0.3),
    ServeConfig(port=9000, dataset="qa", strategies=["rag"], keys="k.yaml", batch_size=1, max_queue=3),
    ConstraintsConfig(
        min_quality=0.5, usd_per_1k_answers=0.02, latency_p95_s=2.0, data_change="weekly", privacy="strict"
    ),
    RagConfig(embedder="wordllama", chunk_tokens=64, chunk_overlap=0, k=2, retrievers=["lexical"], rerank="mmr"),
    world_recipe(),
    Recipe(
        model=OpenAIModel(kind="openai", base_url="https://h/v1", model="m"),
        data=DataConfig(examples=[ExampleSet(path="x")]),
    ),
]


@pytest.mark.parametrize("section", INSTANCES, ids=lambda s: type(s).__name__)
def test_every_recipe_section_survives_dump_and_load(section) -> None:
    dumped = yaml.safe_dump(section.model_dump(mode="json"))
    assert type(section).model_validate(yaml.safe_load(dumped)) == section


def _section_classes() -> set[type]:
    """Every recipe section class tailor defines: in tailor.config and in each package's settings module."""
    import importlib

    from tailor.section import Section

    package = Path(__file__).parent.parent / "tailor"
    names = ["tailor.config", *(f"tailor.{p.parent.name}.settings" for p in sorted(package.glob("*/settings.py")))]
    found = [value for name in names for value in vars(importlib.import_module(name)).values()]
    return {c for c in found if isinstance(c, type) and issubclass(c, Section)} - {Section}


def test_every_section_class_is_covered() -> None:
    assert _section_classes() == {type(s) for s in INSTANCES}


def test_each_section_lives_in_the_settings_of_its_package() -> None:
    """config.py assembles the recipe; every section is declared beside the code it configures."""
    homes = {c.__name__: c.__module__ for c in _section_classes()}
    assert homes.pop("Recipe") == "tailor.config"
    assert {name: home for name, home in homes.items() if not home.endswith(".settings")} == {}


def test_rendered_recipe_loads_back_equal_and_documents_every_field(tmp_path: Path) -> None:
    recipe = world_recipe()
    text = render_recipe(recipe, "header line")
    assert text.startswith("# header line\n")
    path = tmp_path / "tailor.yaml"
    path.write_text(text)
    assert load_recipe(path, check_files=False).model_dump() == recipe.model_dump()
    for name, info in Recipe.model_fields.items():
        assert f"{name}:" in text and info.description in text


def test_paths_resolve_against_the_recipes_directory(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "qa.jsonl").write_text("")
    (tmp_path / "sub" / "tailor.yaml").write_text("data:\n  examples:\n    - path: qa.jsonl\nout: runs/x\n")
    recipe = load_recipe(tmp_path / "sub" / "tailor.yaml")
    assert recipe.out_dir == (tmp_path / "sub" / "runs" / "x").resolve()
    assert recipe.resolve("qa.jsonl").is_file()


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_are_valid_and_start_with_their_command(path: Path) -> None:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# tailor "), f"{path.name} must start with the command that runs it"
    load_recipe(path, check_files=False)


def test_configs_exist() -> None:
    assert CONFIGS


def test_eval_detect_sizes_every_scored_count_to_detect_that_difference() -> None:
    from tailor import plugins
    from tailor.eval.metrics import detectable_difference

    quick = EvalConfig(mode="quick", detect=0.3)
    scored = [s for s in plugins.sizes().values() if s.scored]
    assert {s.name for s in scored} >= {"leakage_probes", "robustness_questions", "bias_questions"}
    for size in scored:
        # (1.96 + 0.84)² · ½ / 0.3² = 43.6: 44 questions, each suite's comparisons then detect 0.30 or less.
        assert quick.size(size.name) == max(size.quick, 44)
        assert detectable_difference(quick.size(size.name)) <= 0.3
        assert EvalConfig(mode="full", detect=0.3).size(size.name) == max(size.full, 44)
    assert quick.size("canary_candidates") == EvalConfig(mode="quick").size("canary_candidates")  # not a score count
    assert EvalConfig(mode="quick", detect=0.3, leakage_probes=5).size("leakage_probes") == 5  # explicit wins
    assert EvalConfig(mode="quick").size("leakage_probes") == plugins.sizes()["leakage_probes"].quick  # unset: as was
    for bad in (0, 1, 1.5):
        with pytest.raises(ValueError, match="detect"):
            EvalConfig(detect=bad)


def test_suites_and_mode_override_the_recipe_and_unknown_suites_are_refused() -> None:
    recipe = world_recipe()
    quick = recipe.with_suites("task, bias,task", "quick")
    assert quick.suites == ["task", "bias"] and quick.eval.mode == "quick"
    assert quick.eval.size("bias_questions") == 2 and recipe.with_suites(None, "full").eval.size("bias_questions") == 24
    assert recipe.with_suites().suites == recipe.suites and recipe.eval.mode == "full"
    assert EvalConfig(mode="quick", bias_questions=7).size("bias_questions") == 7  # an explicit size wins
    assert recipe.eval.until_decided is None and recipe.with_suites(until_decided=True).eval.until_decided.batch == 16
    batch4 = recipe.model_copy(update={"eval": EvalConfig(until_decided=UntilDecidedConfig(batch=4))})
    assert batch4.with_suites(None, "quick", until_decided=True).eval.until_decided.batch == 4  # the recipe's wins
    for bad in ("task,bogus", ","):
        with pytest.raises(RecipeError, match="--suites: unknown suite"):
            recipe.with_suites(bad)
