"""The one interface every generator backend implements.

A backend takes a batch of prompts (raw text, or chat messages rendered with the model's own chat
template) and returns one :class:`Generation` per prompt, in input order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, TypedDict


class Message(TypedDict):
    role: Literal["system", "user", "assistant"]
    content: str


# A prompt is either raw text (sent as is) or a chat conversation.
Prompt = str | Sequence[Message]


@dataclass(frozen=True)
class Generation:
    """One completion. ``latency_s`` is the wall time the caller waited for it (its whole batch)."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float


@dataclass(frozen=True)
class GenerationSettings:
    """Decoding settings shared by every backend. Greedy unless ``temperature > 0``."""

    max_new_tokens: int = 32
    temperature: float = 0.0
    batch_size: int = 8


class Generator(Protocol):
    """A text generator: local weights or a remote OpenAI-compatible endpoint."""

    name: str

    @property
    def context_window(self) -> int:
        """Maximum prompt + completion tokens the model accepts."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` occupies in a prompt (an estimate where the backend has no tokenizer)."""
        ...

    def generate(
        self,
        prompts: Sequence[Prompt],
        settings: GenerationSettings,
        progress: Callable[[int], None] | None = None,
    ) -> list[Generation]:
        """Complete every prompt; ``progress(n)`` is called as ``n`` more prompts finish.

        Raises:
            ModelError: the model rejects a prompt (too long) or cannot be reached.
        """
        ...
