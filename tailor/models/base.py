"""The one interface every generator backend implements.

A backend takes a batch of prompts (raw text, or chat messages rendered with the model's own chat
template) and returns one :class:`Generation` per prompt, in input order. A backend that can stream
also reports each answer while it is being generated, through ``on_text`` (see :data:`OnText`).
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

# Called while answers are generated: (the prompt's index in the call, its answer so far). The text
# only grows, and the finished Generation's text starts with every text reported for it; see settled().
OnText = Callable[[int, str], None]


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
        on_text: OnText | None = None,
    ) -> list[Generation]:
        """Complete every prompt; ``progress(n)`` is called as ``n`` more prompts finish.

        ``on_text``: given only by callers that stream, and only to a backend that streams (its
        ``streams`` attribute is True); a backend without it is never passed one.

        Raises:
            ModelError: the model rejects a prompt (too long) or cannot be reached.
        """
        ...


def streams(generator: Generator) -> bool:
    """Whether ``generator`` reports answers while generating them (takes ``on_text``)."""
    return bool(getattr(generator, "streams", False))


def remote(generator: Generator) -> bool:
    """Whether ``generator`` answers from elsewhere (an endpoint billing by token, its ``remote`` attribute
    True) rather than on this machine (transformers, llama.cpp), whose time is what an answer costs."""
    return bool(getattr(generator, "remote", False))


def settled(decoded: str) -> str:
    """What of an answer decoded so far is sure to begin the finished answer: its words up to the
    last whitespace, stripped as the finished text is. The word being generated is held back (its
    next token may extend it, and a character cut in half decodes as U+FFFD)."""
    text = decoded.lstrip()
    cut = max((i for i, ch in enumerate(text) if ch.isspace()), default=0)
    return text[:cut].rstrip()
