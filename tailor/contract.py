"""The spine: every strategy answers a question for a user, and says what it cost.

``Strategy.answer(question, user) -> Answer`` is the whole contract (DESIGN.md). Strategies that
generate with a model are :class:`PromptedStrategy`: a generator plus a function that turns
(question, user) into a prompt. Baseline, prompt engineering, RAG and fine-tuning differ only in
that function or in the generator, so they compose instead of inheriting.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from tailor.models.base import GenerationSettings, Generator, Message, OnText, streams

if TYPE_CHECKING:
    from tailor.data.examples import Example


@dataclass(frozen=True)
class User:
    """Who asks. ``groups`` decide which documents and examples may reach their prompt."""

    id: str
    groups: frozenset[str] = frozenset()


def asker(example: Example) -> User:
    """The user an example is asked as: its ``user`` and ``groups`` fields."""
    return User(example.user or "anonymous", frozenset(example.groups))


@dataclass(frozen=True)
class Context:
    """A piece of text a strategy put in front of the model (a document, a retrieved chunk)."""

    doc_id: str
    text: str


# "[doc_id]" markers an answer may carry to cite its sources; answers are scored without them.
CITATION = re.compile(r"\s*\[([^\[\]\s]{1,200})\]")


def citations(text: str) -> list[str]:
    """The doc ids an answer cites, in order."""
    return CITATION.findall(text)


def strip_citations(text: str) -> str:
    return CITATION.sub("", text).strip()


@dataclass(frozen=True)
class Answer:
    text: str
    contexts: tuple[Context, ...] = ()
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0


@dataclass(frozen=True)
class BuiltPrompt:
    messages: list[Message]
    contexts: tuple[Context, ...] = ()


class Strategy(Protocol):
    """What every strategy implements. ``answer_batch`` exists because generators are far faster in batches.

    A strategy that can stream its answers has ``streams = True`` and takes ``on_text`` in
    ``answer_batch`` (see :data:`tailor.models.base.OnText`); the server streams only those.
    """

    name: str

    def answer(self, question: str, user: User) -> Answer: ...

    def answer_batch(
        self, questions: Sequence[str], users: Sequence[User], progress: Callable[[int], None] | None = None
    ) -> list[Answer]: ...


PromptBuilder = Callable[[str, User], BuiltPrompt]


@dataclass(frozen=True)
class PromptedStrategy:
    """A generator behind a prompt builder."""

    name: str
    generator: Generator
    build: PromptBuilder
    settings: GenerationSettings = field(default_factory=GenerationSettings)
    # Applied to each generated text with the prompt it answered (rag adds citations here). It may only
    # append, so that what was streamed of an answer still begins the finished one.
    finish: Callable[[str, BuiltPrompt], str] | None = None

    @property
    def streams(self) -> bool:
        """Whether answers can be reported while generated: when the generator streams."""
        return streams(self.generator)

    def answer(self, question: str, user: User) -> Answer:
        return self.answer_batch([question], [user])[0]

    def answer_batch(
        self,
        questions: Sequence[str],
        users: Sequence[User],
        progress: Callable[[int], None] | None = None,
        on_text: OnText | None = None,
    ) -> list[Answer]:
        """``on_text``: see :data:`tailor.models.base.OnText`; only where :attr:`streams`."""
        if len(questions) != len(users):
            raise ValueError(f"{len(questions)} questions but {len(users)} users")
        built = [self.build(q, u) for q, u in zip(questions, users, strict=True)]
        streaming = {"on_text": on_text} if on_text is not None and self.streams else {}
        gens = self.generator.generate([b.messages for b in built], self.settings, progress, **streaming)
        finish = self.finish or (lambda text, _: text)
        return [
            Answer(finish(g.text, b), b.contexts, g.prompt_tokens, g.completion_tokens, g.latency_s)
            for b, g in zip(built, gens, strict=True)
        ]
