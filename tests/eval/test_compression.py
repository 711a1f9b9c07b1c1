"""Compressed variants with the real model: each reloads and generates; the compress suite pairs their answers
with the uncompressed ones and times both."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from tailor.compress.variants import compress, load_variant, precision, save_variant, size_bytes, speed
from tailor.contract import asker
from tailor.errors import ArtifactError, ModelError
from tailor.eval.base import StrategyRun, SuiteInput
from tailor.eval.measure import measure
from tailor.eval.runner import evaluated_examples
from tailor.eval.suites.compress import compress_suite
from tailor.models.base import GenerationSettings
from tailor.recipe_file import load_recipe
from tailor.scaffold import init_project
from tailor.strategies import build_strategy
from tailor.workspace import open_workspace

QUESTION = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
GREEDY = GenerationSettings(max_new_tokens=8, temperature=0.0, batch_size=1)


def _float32_bytes(generator) -> int:
    """The model's weights in float32, whatever precision it was loaded in (model.dtype: auto)."""
    return 4 * sum(p.numel() for p in generator.model.parameters())


@pytest.fixture(scope="module")
def int8(real_generator):
    return compress(real_generator, "int8")


@pytest.mark.slow
def test_int8_quantizes_the_layers_but_not_the_output_head(real_generator, int8):
    import torch

    assert int8.model is not real_generator.model and int8.name.endswith("@int8")
    assert size_bytes(int8) < 0.6 * _float32_bytes(real_generator)
    kinds = {type(m) for m in int8.model.modules()}
    assert torch.ao.nn.quantized.dynamic.Linear in kinds
    # The head is tied to the 49152-row embedding: quantized with one scale, answers came out in
    # other scripts. It stays a float Linear, and the answers stay in English.
    assert type(int8.model.get_output_embeddings()) is torch.nn.Linear
    assert int8.generate([QUESTION], GREEDY)[0].text.isascii()
    assert "Paris" in real_generator.generate([QUESTION], GREEDY)[0].text  # the original is untouched


@pytest.mark.slow
def test_a_saved_variant_reloads_and_answers_the_same(real_generator, int8, tmp_path: Path):
    out = save_variant(int8, "int8", tmp_path / "int8", base=real_generator.name)
    assert sorted(p.name for p in out.iterdir()) == ["model.pt", "variant.json"]
    reloaded = load_variant(real_generator, out)
    assert reloaded.generate([QUESTION], GREEDY)[0].text == int8.generate([QUESTION], GREEDY)[0].text
    (out / "variant.json").unlink()
    with pytest.raises(ArtifactError, match="not a compressed variant"):
        load_variant(real_generator, out)


def test_each_precision_answers_and_unknown_variants_are_refused(real_generator):
    loaded = precision(real_generator)  # model.dtype auto: bf16 on a CPU with bf16 instructions
    other = {"fp32": "bf16", "bf16": "fp32"}[loaded]
    converted = compress(real_generator, other)
    assert converted.dtype == {"fp32": "float32", "bf16": "bfloat16"}[other] != real_generator.dtype
    assert converted.generate([QUESTION], GREEDY)[0].text.strip()
    assert compress(real_generator, loaded) is real_generator  # the model itself, not a copy
    with pytest.raises(ModelError, match="unknown variant 'q3'"):
        compress(real_generator, "q3")


def test_speed_separates_prefill_from_decode(int8):
    timing = speed(int8, [QUESTION, QUESTION], max_new_tokens=8)
    assert timing.prefill_tokens_per_s > timing.decode_tokens_per_s > 0
    assert 0 < timing.latency_p50_s <= timing.latency_p95_s and timing.completion_tokens > 0


def _tiny_workspace(tmp_path: Path, generator, **eval_fields):
    """A tiny world's workspace on ``generator`` with 8-token answers and ``eval_fields`` in its recipe."""
    path = init_project(tmp_path, size="tiny")
    recipe = yaml.safe_load(path.read_text())
    recipe["eval"] = eval_fields
    recipe["generation"] = {"max_new_tokens": 8}
    path.write_text(yaml.safe_dump(recipe))
    return open_workspace(load_recipe(path), generator=generator), path


def test_compress_takes_the_base_model_or_a_strategy_that_trains_its_own(tmp_path: Path, scripted):
    from tailor import plugins
    from tailor.compress.variants import compress_model

    ws, _ = _tiny_workspace(tmp_path, scripted(lambda m: "x"))
    for source in ("rag", "rag+finetune"):  # rag+finetune answers with finetune's model: compress that
        with pytest.raises(ModelError) as e:
            compress_model(ws, "int8", source)
        choices = ", ".join(plugins.trainers())
        assert str(e.value) == f"{source!r} trains no model of its own; choose base or one of {choices}"
    assert not (ws.recipe.out_dir / "compressed").exists()


@pytest.mark.slow
def test_the_suite_pairs_each_variant_with_the_uncompressed_answers(tmp_path: Path, real_generator, scripted):
    ws, path = _tiny_workspace(
        tmp_path, real_generator, limit=6, compress=["int8"], compress_examples=4, compress_prompts=1
    )
    dataset = ws.datasets[0]
    examples = evaluated_examples(ws, dataset)
    baseline = build_strategy("baseline", ws, dataset).strategy
    endpoint = build_strategy("baseline", open_workspace(load_recipe(path), generator=scripted(lambda m: "x")), dataset)
    remote = replace(endpoint.strategy, name="remote")
    with measure() as used:
        answers = baseline.answer_batch([e.question for e in examples], [asker(e) for e in examples])
    runs = (
        StrategyRun("baseline", tuple(answers), 1.0, used.peak_rss_bytes),
        StrategyRun("remote", tuple(answers), 1.0, 0),
    )
    rows = compress_suite(SuiteInput(dataset, tuple(examples), runs, (baseline, remote), 0, ws))
    got = {(r.variant, r.metric): r for r in rows}
    assert {r.strategy for r in rows} == {"baseline"}  # the endpoint-backed strategy has no weights here
    delta = got[("int8", "compressed_score_delta")]
    assert delta.n == 4 and delta.p is not None and delta.variant == "int8"
    assert 0 <= got[("int8", "same_answer_rate")].value <= 1
    built = precision(real_generator)  # the reference row is the model as loaded, named by its precision
    assert got[("int8", "model_mb")].value < got[(built, "model_mb")].value
    assert got[("int8", "variant_peak_rss_mb")].value > 0 and got[(built, "variant_peak_rss_mb")].value > 0
    assert {r.variant for r in rows} == {built, "int8"}
    for variant in (built, "int8"):
        assert got[(variant, "decode_tokens_per_s")].value > 0 and got[(variant, "prefill_tokens_per_s")].value > 0
    assert all(r.suite == "compress" for r in rows)
    assert compress_suite(SuiteInput(dataset, tuple(examples), runs, (baseline,), 0, None)) == []


@pytest.mark.slow
def test_compress_command_writes_the_variant(tmp_path: Path):
    from typer.testing import CliRunner

    from tailor.cli import app

    path = init_project(tmp_path, size="tiny")
    result = CliRunner().invoke(app, ["compress", "--to", "int8", "--recipe", str(path)])
    assert result.exit_code == 0, result.output
    out = tmp_path / "runs" / "latest" / "compressed" / "base-int8"
    assert sorted(p.name for p in out.iterdir()) == ["model.pt", "variant.json"]
    assert re.search(r"base int8: [\d.]+ MB \(from (fp32|bf16) [\d.]+ MB\)", result.stderr)
    bad = CliRunner().invoke(app, ["compress", "--to", "q3", "--recipe", str(path)])
    assert bad.exit_code == 2


@pytest.mark.slow
def test_q8_0_gguf_export_reloads_and_answers_as_the_model_does(real_generator, tmp_path: Path):
    """The exported file round-trips: transformers reads it back and answers exactly as the source model."""
    from transformers import AutoModelForCausalLM

    from tailor.compress.gguf_export import export_gguf
    from tailor.models.gguf import packaged_gguf
    from tailor.models.local import TransformersGenerator

    template = packaged_gguf("smollm2-135m-instruct")
    source = compress(real_generator, "fp32")  # transformers reads the file back in float32
    out = export_gguf(source.model, template, tmp_path / "base.q8_0.gguf", "q8_0")
    assert [p.name for p in tmp_path.iterdir()] == ["base.q8_0.gguf"]  # no temp file left
    reloaded = AutoModelForCausalLM.from_pretrained(str(tmp_path), gguf_file=out.name).eval()
    again = TransformersGenerator(reloaded, real_generator.tokenizer, "q8_0")
    prompts = [QUESTION, [{"role": "user", "content": "Name three colors."}]]
    settings = GenerationSettings(max_new_tokens=16, temperature=0.0, batch_size=2)
    assert [g.text for g in again.generate(prompts, settings)] == [g.text for g in source.generate(prompts, settings)]


def test_gguf_export_needs_a_template_of_the_models_own_kind(real_generator, tmp_path: Path):
    from tailor.compress.variants import compress_gguf

    with pytest.raises(ModelError, match="use model kind packaged or gguf"):
        compress_gguf(real_generator, "q8_0", None, tmp_path / "x.gguf")


needs_llama_cpp = pytest.mark.skipif(
    not __import__("tailor.models.llamacpp", fromlist=["x"]).llama_cpp_available(),
    reason="llama-cpp-python not installed: pip install 'llm-tailor[llamacpp]' (make llamacpp; CI installs it)",
)


@pytest.mark.slow
@needs_llama_cpp
@pytest.mark.parametrize("variant", ["q8_0", "q4_k_m"])
def test_llama_cpp_runs_each_gguf_variant(real_generator, tmp_path: Path, variant):
    from tailor.compress.variants import compress_gguf
    from tailor.models.gguf import packaged_gguf

    fast = compress_gguf(real_generator, variant, packaged_gguf("smollm2-135m-instruct"), tmp_path / f"{variant}.gguf")
    answer = fast.generate([QUESTION], GenerationSettings(max_new_tokens=24, temperature=0.0, batch_size=1))[0]
    assert "Paris" in answer.text and answer.completion_tokens > 0 and answer.prompt_tokens > 10
    assert fast.count_tokens("What is the capital of France?") == real_generator.count_tokens(
        "What is the capital of France?"
    )
    q8 = (tmp_path / "q8_0.gguf").stat().st_size if variant == "q8_0" else None
    if q8 is not None:
        assert q8 < 0.4 * _float32_bytes(real_generator)


@pytest.mark.slow
@needs_llama_cpp
def test_the_suite_runs_a_gguf_variant_in_llama_cpp(tmp_path: Path, real_generator):
    ws, _ = _tiny_workspace(
        tmp_path, real_generator, limit=4, compress=["q8_0"], compress_examples=3, compress_prompts=1
    )
    dataset = ws.datasets[0]
    examples = evaluated_examples(ws, dataset)
    baseline = build_strategy("baseline", ws, dataset).strategy
    answers = baseline.answer_batch([e.question for e in examples], [asker(e) for e in examples])
    rows = compress_suite(
        SuiteInput(dataset, tuple(examples), (StrategyRun("baseline", tuple(answers), 1, 0),), (baseline,), 0, ws)
    )
    got = {(r.variant, r.metric): r for r in rows}
    assert got[("q8_0", "compressed_score_delta")].n == 3
    assert got[("q8_0", "model_mb")].value < 0.4 * _float32_bytes(real_generator) / 2**20
    assert got[("q8_0", "decode_tokens_per_s")].value > 0
    assert [p.name for p in (ws.recipe.out_dir / "compress").iterdir()] == ["base-q8_0.gguf"]
