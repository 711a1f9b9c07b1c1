"""llama.cpp as a generator backend: the recipe's `backend: llamacpp` runs the packaged GGUF file as is."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tailor.errors import ModelError
from tailor.models.base import GenerationSettings
from tailor.models.llamacpp import LlamaCppGenerator, llama_cpp_available
from tailor.models.load import load_generator
from tailor.recipe_file import load_recipe
from tailor.scaffold import init_project

pytestmark = pytest.mark.skipif(
    not llama_cpp_available(),
    reason="llama-cpp-python not installed: pip install 'llm-tailor[llamacpp]' (make llamacpp; CI installs it)",
)


def test_the_packaged_model_answers_through_llama_cpp(tmp_path: Path, real_generator):
    path = init_project(tmp_path, size="tiny")
    recipe = yaml.safe_load(path.read_text())
    recipe["model"] = {"kind": "packaged", "backend": "llamacpp"}
    path.write_text(yaml.safe_dump(recipe))
    generator = load_generator(load_recipe(path))
    assert isinstance(generator, LlamaCppGenerator) and generator.name == "smollm2-135m-instruct"
    settings = GenerationSettings(max_new_tokens=16, temperature=0.0, batch_size=2)
    chat = [{"role": "user", "content": "What is the capital of France?"}]
    got = generator.generate([chat, "The capital of France is"], settings)
    # The prompt is the text transformers renders for the same messages, token for token.
    assert got[0].prompt_tokens == real_generator.count_tokens(real_generator.render(chat))
    assert got[0].text and 0 < got[0].completion_tokens <= 16
    assert got[1].text and got[1].completion_tokens <= 16
    # Greedy answers may differ from transformers': llama.cpp multiplies the packaged file's 4-bit
    # weights with 8-bit activations, transformers with float ones. The compress suite measures it.
    # Streamed, the same answers and token counts come back, reported word by word on the way.
    long = [{"role": "user", "content": "Describe the sea in a long sentence."}]
    reported: dict[int, list[str]] = {}
    streamed = generator.generate(
        [chat, long], settings, on_text=lambda i, text: reported.setdefault(i, []).append(text)
    )
    plain = generator.generate([chat, long], settings)
    assert [(g.text, g.prompt_tokens, g.completion_tokens) for g in streamed] == [
        (g.text, g.prompt_tokens, g.completion_tokens) for g in plain
    ]
    assert len(reported[1]) >= 3 and all(plain[1].text.startswith(t) for t in reported[1])


def test_a_prompt_beyond_the_window_and_a_missing_file_are_model_errors(tmp_path: Path):
    from tailor.models.gguf import packaged_gguf

    small = LlamaCppGenerator(packaged_gguf("smollm2-135m-instruct"), context_window=64)
    with pytest.raises(ModelError):
        small.generate(["word " * 200], GenerationSettings(max_new_tokens=4))
    with pytest.raises(ModelError, match="GGUF file not found"):
        LlamaCppGenerator(tmp_path / "absent.gguf")
