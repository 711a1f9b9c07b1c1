"""The transformers backend with the real packaged model."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest

from tailor.errors import ModelError
from tailor.models.base import GenerationSettings, settled
from tailor.models.gguf import converted_dir, packaged_gguf
from tailor.models.local import TransformersGenerator

PROMPTS = [
    [
        {"role": "system", "content": "Answer with a short phrase only."},
        {"role": "user", "content": "What is the capital of France?"},
    ],
    [{"role": "user", "content": "Name a colour of the rainbow."}],
    [{"role": "system", "content": "Reply with one word."}, {"role": "user", "content": "Opposite of hot?"}],
]


@pytest.mark.slow
def test_batched_generation_equals_one_by_one_and_keeps_input_order(real_generator) -> None:
    """In float32, padding a prompt into a batch changes none of its answer. (In bf16 it can: a batch's
    shape changes the rounding, and greedy decoding may take another of two nearly tied tokens.)"""
    from tailor.compress.variants import compress

    settings = GenerationSettings(max_new_tokens=10, batch_size=3)
    exact = compress(real_generator, "fp32")
    batched = exact.generate(PROMPTS, settings)
    single = [exact.generate([p], settings)[0] for p in PROMPTS]
    assert [g.text for g in batched] == [g.text for g in single]
    assert "Paris" in batched[0].text
    assert "Paris" in real_generator.generate(PROMPTS, settings)[0].text  # in the precision it was loaded in


def test_token_counts_are_the_tokenizers(real_generator) -> None:
    gen = real_generator.generate([PROMPTS[0]], GenerationSettings(max_new_tokens=10))[0]
    rendered = real_generator.render(PROMPTS[0])
    assert rendered.startswith("<|im_start|>system\nAnswer with a short phrase only.") and rendered.endswith(
        "<|im_start|>assistant\n"
    )
    assert gen.prompt_tokens == real_generator.count_tokens(rendered)
    assert 0 < gen.completion_tokens <= 10
    assert gen.latency_s > 0


def test_progress_counts_every_prompt(real_generator) -> None:
    seen: list[int] = []
    real_generator.generate(PROMPTS, GenerationSettings(max_new_tokens=2, batch_size=2), seen.append)
    assert seen == [2, 1]


def test_answers_stream_word_by_word_and_end_as_the_finished_text(real_generator) -> None:
    prompts = [*PROMPTS, [{"role": "user", "content": "Describe the sea in a long sentence."}]]
    settings = GenerationSettings(max_new_tokens=24, batch_size=2)
    reported: dict[int, list[str]] = {}
    streamed = real_generator.generate(prompts, settings, on_text=lambda i, t: reported.setdefault(i, []).append(t))
    assert [g.text for g in streamed] == [g.text for g in real_generator.generate(prompts, settings)]
    long = streamed[3].text
    assert len(long.split()) >= 4 and len(reported[3]) >= 3  # reported while it grew, not once at the end
    for i, texts in reported.items():  # each report extends the one before and begins the finished answer
        assert all(b.startswith(a) and len(b) > len(a) for a, b in itertools.pairwise(texts))
        assert texts[0] and streamed[i].text.startswith(texts[-1])
    assert reported[3][-1] == settled(long)  # every word but the last, which may still grow until the end


def test_settled_holds_back_the_word_being_generated() -> None:
    assert settled("  The capital") == "The"
    assert settled(" The capital is ") == "The capital is"
    assert settled("Par") == "" and settled("") == ""
    assert settled("caf\ufffd") == "" and settled("le caf\ufffd") == "le"  # half a character is held back


def test_prompt_longer_than_the_window_is_a_clear_error(real_generator) -> None:
    long = "word " * (real_generator.context_window + 10)
    with pytest.raises(ModelError, match=r"exceeds .*context window of 8192"):
        real_generator.generate([long], GenerationSettings(max_new_tokens=4))


def test_not_a_model_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not a Hugging Face model directory"):
        TransformersGenerator.load(tmp_path)


def test_gguf_conversion_is_cached_by_content(real_generator) -> None:
    gguf = packaged_gguf("smollm2-135m-instruct")
    first = converted_dir(gguf)
    stamp = (first / "config.json").stat().st_mtime
    start = time.perf_counter()
    assert converted_dir(gguf) == first
    assert time.perf_counter() - start < 5  # a hash, not a conversion
    assert (first / "config.json").stat().st_mtime == stamp
    assert (first / "model.safetensors").is_file()


def test_missing_gguf_file_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="GGUF file not found"):
        converted_dir(tmp_path / "nope.gguf")


def test_unreadable_gguf_file_is_a_model_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TAILOR_CACHE", str(tmp_path / "cache"))
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf file at all")
    with pytest.raises(ModelError, match="cannot load this GGUF file"):
        converted_dir(bad)
    assert not list((tmp_path / "cache" / "models").iterdir())  # no half-converted directory left behind


def test_reserved_cache_answers_token_for_token_like_the_default_cache(real_generator) -> None:
    import torch

    from tailor.models.reserved_cache import reserved_cache

    tok, model = real_generator.tokenizer, real_generator.model
    ids = [tok(real_generator.render(p), add_special_tokens=False)["input_ids"] for p in PROMPTS]
    width = max(map(len, ids))  # left-padded: the attention mask must be honoured through the cache
    input_ids = torch.tensor([[tok.pad_token_id] * (width - len(s)) + s for s in ids])
    mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in ids])

    def run(cache) -> list[list[int]]:
        with torch.inference_mode():
            out = model.generate(
                input_ids=input_ids,
                attention_mask=mask,
                max_new_tokens=12,
                do_sample=False,
                pad_token_id=tok.pad_token_id,
                cache=cache,
            )
        return out[:, width:].tolist()

    default = run(None)
    assert run(reserved_cache(width + 12)) == default
    assert run(reserved_cache(4)) == default  # too small: it grows, and nothing is lost on the way
