"""Shared fixtures: the real packaged model (loaded once), a scripted generator for logic tests, tiny worlds."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from tailor.models.base import Generation, GenerationSettings, Message, Prompt


class ScriptedGenerator:
    """A generator whose answer is a function of the messages: logic tests without a model (DSPy's DummyLM).

    Records every prompt it was given, so tests can assert what reached the model.
    """

    name = "scripted"

    def __init__(self, respond: Callable[[list[Message]], str], context_window: int = 8192):
        self.respond = respond
        self.prompts: list[list[Message]] = []
        self._window = context_window

    @property
    def context_window(self) -> int:
        return self._window

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def generate(
        self, prompts: Sequence[Prompt], settings: GenerationSettings, progress: Callable[[int], None] | None = None
    ) -> list[Generation]:
        out = []
        for p in prompts:
            messages = [{"role": "user", "content": p}] if isinstance(p, str) else list(p)
            self.prompts.append(messages)
            text = self.respond(messages)
            tokens = sum(self.count_tokens(m["content"]) for m in messages)
            out.append(Generation(text, tokens, self.count_tokens(text), 0.001))
            if progress:
                progress(1)
        return out


@pytest.fixture(scope="session")
def scripted() -> type[ScriptedGenerator]:
    return ScriptedGenerator


@pytest.fixture(scope="session")
def real_generator():
    """The packaged SmolLM2-135M-Instruct, converted once into the cache and loaded once per session."""
    from tailor.models.gguf import converted_dir, packaged_gguf
    from tailor.models.local import TransformersGenerator

    return TransformersGenerator.load(converted_dir(packaged_gguf("smollm2-135m-instruct")))


@pytest.fixture(scope="session")
def tiny_world_dir(tmp_path_factory) -> Path:
    """A tiny synthetic world on disk (documents, qa.jsonl, routing.jsonl); read-only for tests."""
    from tailor.data.world import generate_world, write_world

    return write_world(generate_world(0, "tiny"), tmp_path_factory.mktemp("world") / "world")
