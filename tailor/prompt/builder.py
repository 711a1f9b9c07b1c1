"""Turning a prompt specification into messages for one (question, user).

Per-user prompt isolation: a prompt may hold only what its user may see. Few-shot examples are
drawn from training examples whose askers' groups are a subset of the user's groups; the static
context block holds only documents visible to the user's groups.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

import yaml

from tailor.contract import BuiltPrompt, Context, PromptBuilder, User
from tailor.data.corpus import Document
from tailor.data.examples import Example, TaskDataset, abstention_instruction
from tailor.models.base import Message

Selection = Literal["random", "similar"]
# bootstrapped: at random from the train examples the model answered right without demonstrations (DSPy's
# BootstrapFewShot); the search finds those, the saved prompt names them.
Way = Selection | Literal["bootstrapped"]
Placement = Literal["system", "user"]


@dataclass(frozen=True)
class PromptSpec:
    """One point of the prompt search space."""

    instruction: str
    placement: Placement = "system"  # in the system message, or repeated before every question
    shots: int = 0
    selection: Way = "random"
    context: bool = False

    def describe(self) -> str:
        parts = [f"instruction in {self.placement} turn"]
        parts.append(f"{self.shots} shots ({self.selection})" if self.shots else "0 shots")
        parts.append("static context" if self.context else "no context")
        return f"{', '.join(parts)}; {self.instruction!r}"


@cache
def instructions(kind: str) -> tuple[str, ...]:
    """Instruction candidates for a task kind; the first is the baseline's plain instruction."""
    text = resources.files("tailor.prompt").joinpath("instructions.yaml").read_text(encoding="utf-8")
    return tuple(yaml.safe_load(text)[kind])


def fill_instruction(template: str, dataset: TaskDataset) -> str:
    """The instruction for ``dataset``: its labels filled in, and how to abstain where that is measured."""
    return abstention_instruction(template.replace("{labels}", ", ".join(dataset.labels)), dataset)


def may_see(user: User, example: Example) -> bool:
    """A user may see an example if they may see everything its asker could (its groups ⊆ theirs)."""
    return set(example.groups) <= user.groups


class ShotPool:
    """Training examples a prompt may show, chosen at random or by TF-IDF similarity to the question."""

    def __init__(self, examples: Sequence[Example], seed: int):
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.examples = list(examples)
        self.seed = seed
        self._vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True) if self.examples else None
        self._matrix = self._vectorizer.fit_transform([e.question for e in self.examples]) if self._vectorizer else None

    def select(self, question: str, user: User, k: int, how: Selection, draw: int = 0) -> list[Example]:
        """``k`` examples ``user`` may see; ``draw`` numbers other random draws (0: the first)."""
        visible = [i for i, e in enumerate(self.examples) if may_see(user, e) and e.question != question]
        if k == 0 or not visible:
            return []
        if how == "random":
            # The same demonstrations for every question of a user's groups: a fixed prompt, seeded.
            rng = random.Random(f"{self.seed}:{sorted(user.groups)}" + (f":{draw}" if draw else ""))
            chosen = rng.sample(visible, min(k, len(visible)))
        else:
            sims = (self._matrix[visible] @ self._vectorizer.transform([question]).T).toarray().ravel()
            best = sorted(range(len(visible)), key=lambda j: (-sims[j], visible[j]))[:k]
            chosen = [visible[j] for j in reversed(best)]  # most similar last, nearest the question
        return [self.examples[i] for i in chosen]


def shot_pool(train: Sequence[Example], seed: int, selection: Way, bootstrapped: Sequence[str] = ()) -> ShotPool:
    """The demonstrations a prompt chosen ``selection`` draws from: the train examples, or for bootstrapped
    ones only those with ids in ``bootstrapped``."""
    if selection == "bootstrapped":
        return ShotPool([e for e in train if e.id in set(bootstrapped)], seed)
    return ShotPool(train, seed)


class StaticContext:
    """A fixed block of whole documents, ranked by how often training questions ask about them.

    The block is the same for every question of a user's groups, which is exactly the limit of
    prompt engineering this measures: only what fits in the budget can ever be answered from it.
    """

    def __init__(
        self,
        documents: Sequence[Document],
        questions: Sequence[str],
        budget_tokens: int,
        count_tokens: Callable[[str], int],
    ):
        self.documents = list(documents)
        self.budget_tokens = budget_tokens
        self._tokens = [count_tokens(render_document(d)) for d in self.documents]
        self._order = self._rank(questions)
        self._cache: dict[frozenset[str], tuple[Context, ...]] = {}

    def _rank(self, questions: Sequence[str]) -> list[int]:
        if not self.documents or not questions:
            return list(range(len(self.documents)))
        from sklearn.feature_extraction.text import TfidfVectorizer

        vec = TfidfVectorizer(sublinear_tf=True, stop_words="english")
        docs = vec.fit_transform([f"{d.title}\n{d.text}" for d in self.documents])
        relevance = (vec.transform(list(questions)) @ docs.T).sum(axis=0).A1  # (n_docs,)
        return sorted(range(len(self.documents)), key=lambda i: (-relevance[i], self.documents[i].doc_id))

    def for_groups(self, groups: frozenset[str]) -> tuple[Context, ...]:
        if groups not in self._cache:
            left, chosen = self.budget_tokens, []
            for i in self._order:
                doc = self.documents[i]
                if doc.visible_to(groups) and self._tokens[i] <= left:
                    chosen.append(Context(doc.doc_id, render_document(doc)))
                    left -= self._tokens[i]
            self._cache[groups] = tuple(chosen)
        return self._cache[groups]

    def coverage(self, groups: frozenset[str]) -> dict[str, float | int]:
        """How much of what ``groups`` may read fits in the block."""
        visible = [i for i, d in enumerate(self.documents) if d.visible_to(groups)]
        included = {c.doc_id for c in self.for_groups(groups)}
        tokens_visible = sum(self._tokens[i] for i in visible)
        tokens_included = sum(self._tokens[i] for i in visible if self.documents[i].doc_id in included)
        return {
            "documents_visible": len(visible),
            "documents_included": len(included),
            "tokens_visible": tokens_visible,
            "tokens_included": tokens_included,
            "token_share": tokens_included / tokens_visible if tokens_visible else 0.0,
        }


def render_document(doc: Document) -> str:
    return f"[{doc.doc_id}] {doc.title}\n{doc.text}"


def make_builder(
    spec: PromptSpec, dataset: TaskDataset, pool: ShotPool | None, context: StaticContext | None
) -> PromptBuilder:
    """The prompt builder for ``spec``: system message (instruction, documents), demonstrations, question."""
    instruction = fill_instruction(spec.instruction, dataset)

    def turn(text: str) -> str:
        return f"{instruction}\n\n{text}" if spec.placement == "user" else text

    def build(question: str, user: User) -> BuiltPrompt:
        contexts = context.for_groups(user.groups) if spec.context and context is not None else ()
        system = [instruction] if spec.placement == "system" else []
        if contexts:
            system.append("Reference documents:\n" + "\n\n".join(c.text for c in contexts))
        # With no system message the model's chat template supplies its own default one.
        messages: list[Message] = [{"role": "system", "content": "\n\n".join(system)}] if system else []
        if spec.shots and pool is not None:
            how = "random" if spec.selection == "bootstrapped" else spec.selection  # the pool holds only those
            for ex in pool.select(question, user, spec.shots, how):
                messages.append({"role": "user", "content": turn(ex.question)})
                messages.append({"role": "assistant", "content": ex.answer})
        messages.append({"role": "user", "content": turn(question)})
        return BuiltPrompt(messages, contexts)

    return build


def baseline_builder(dataset: TaskDataset) -> PromptBuilder:
    """The base model with a plain instruction: the dataset's own, else the first candidate."""
    spec = PromptSpec(instruction=dataset.instruction or instructions(dataset.kind)[0])
    return make_builder(spec, dataset, None, None)
