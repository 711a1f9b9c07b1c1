"""General knowledge as 4-option multiple choice, scored by option log-likelihood through a strategy's own prompt.

The questions come from the Red-Trivia package (``pip install 'llm-tailor[trivia]'``): trivia lists
with their accepted answers, in YAML. Its question data is GPLv3, so it is an optional extra that
tailor imports only when asked to and runs without. Only lists of general knowledge are used (not
the ones about one video game or a picture behind a link, and not those the base model answers
near chance, where a drop could not show).

An item is a question and 4 options: the gold option is the question's first accepted answer, the 3
distractors are answers to other questions of the same list and of the same kind (a number for a
number), distinct from each other and from every accepted answer once normalised.

Scoring asks the question through the strategy's own prompt builder, so its instruction, few-shot
demonstrations and static or retrieved context stay in front of it (a long context can hurt too),
renders the conversation as the strategy's generator does (the chat template with its generation
prompt), and compares the log-likelihood of each option's tokens as the start of the assistant's
reply. The prefix runs once and the 4 options continue from its key-value cache: with a 320-token
prefix, 48 items took 45 s against 162 s for 4 full sequences (one CPU thread).

The model's choice is the option with the highest *summed* log-likelihood. Measured on the base
model with the baseline prompt (300 items, seed 1): sum 0.69, mean per token 0.56, mean per
character 0.55. On an earlier, wider choice of lists, also scoring the end-of-turn token after the
option fell from 0.60 to 0.53 (this model seldom ends a reply after a bare name, so that token is
noise), and listing the options in the question fell to chance, 0.25 (a 135M model does not read
them).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from tailor.contract import PromptedStrategy, User
from tailor.errors import DataError
from tailor.eval.base import local_weights

# Red-Trivia lists of general knowledge that the base model answers well above chance.
LISTS = ("general", "worldcapitals", "uscapitals", "elements", "artandliterature", "computers")
OPTIONS = 4
_MAX_ANSWER_CHARS = 40  # longer "answers" are explanations, not options
_NOT_OPTIONS = frozenset({"yes", "no", "true", "false"})  # any distractor would give these away
_PUNCTUATION = re.compile(r"[^\w]+")


@dataclass(frozen=True)
class TriviaQuestion:
    text: str
    answer: str  # the first accepted answer: the gold option
    accepted: frozenset[str]  # every accepted answer, normalised


@dataclass(frozen=True)
class TriviaItem:
    """One 4-option question; ``options[gold]`` is the accepted answer."""

    source: str  # the Red-Trivia list it came from
    question: str
    options: tuple[str, ...]
    gold: int


def normalise(answer: str) -> str:
    """Lower case, no punctuation, no leading article: "The Beatles" and "beatles" are one option."""
    words = _PUNCTUATION.sub(" ", answer.lower()).split()
    if len(words) > 1 and words[0] in ("the", "a", "an"):
        words = words[1:]
    return " ".join(words)


def trivia_lists() -> dict[str, list[TriviaQuestion]]:
    """The general-knowledge lists of the installed Red-Trivia package, cleaned, by list name.

    Raises:
        DataError: Red-Trivia is not installed.
    """
    return dict(_load())


@cache
def _load() -> tuple[tuple[str, list[TriviaQuestion]], ...]:
    try:
        from redbot.ext.trivia import lists
    except ImportError:
        raise DataError(
            "general-knowledge questions need Red-Trivia (GPLv3 question data): pip install 'llm-tailor[trivia]'"
        ) from None
    import yaml

    paths = {p.stem: p for p in lists()}
    return tuple((name, _clean(yaml.safe_load(paths[name].read_text(encoding="utf-8")))) for name in LISTS)


def _clean(raw: dict) -> list[TriviaQuestion]:
    questions, seen = [], set()
    for key, answers in raw.items():
        if not isinstance(answers, list) or not answers or str(key).isupper():  # AUTHOR, CONFIG
            continue
        text = " ".join(str(key).split())
        answers = [" ".join(str(a).split()) for a in answers]  # some answers are YAML numbers
        gold = answers[0][:1].upper() + answers[0][1:]  # "bugs bunny" as a reply starts with a capital
        accepted = frozenset(normalise(a) for a in answers) - {""}
        unusable = not normalise(gold) or len(gold) > _MAX_ANSWER_CHARS or normalise(gold) in _NOT_OPTIONS
        if unusable or "http" in text or normalise(text) in seen:  # a picture we cannot show; a repeat
            continue
        seen.add(normalise(text))
        questions.append(TriviaQuestion(text, gold, accepted))
    return questions


def trivia_items(count: int, seed: int = 0, lists: dict[str, list[TriviaQuestion]] | None = None) -> list[TriviaItem]:
    """``count`` items drawn by ``seed`` from all lists; the same seed gives the same items, a larger count more.

    Raises:
        DataError: Red-Trivia is not installed (and no ``lists`` were given).
    """
    lists = trivia_lists() if lists is None else lists
    rng = random.Random(f"{seed}/trivia")
    candidates = [(name, q) for name in sorted(lists) for q in lists[name]]
    rng.shuffle(candidates)
    items = []
    for name, q in candidates:
        if len(items) == count:
            break
        item = _item(name, q, lists[name], rng)
        if item is not None:
            items.append(item)
    return items


def _kind(answer: str) -> str:
    return "number" if normalise(answer).replace(" ", "").isdigit() else "text"


def _item(name: str, q: TriviaQuestion, pool: list[TriviaQuestion], rng: random.Random) -> TriviaItem | None:
    others = sorted({o.answer for o in pool if _kind(o.answer) == _kind(q.answer)})
    rng.shuffle(others)
    taken, options = set(q.accepted), [q.answer]
    for other in others:
        if normalise(other) not in taken:  # neither an accepted answer nor an option already taken
            taken.add(normalise(other))
            options.append(other)
            if len(options) == OPTIONS:
                break
    if len(options) < OPTIONS:
        return None
    rng.shuffle(options)
    return TriviaItem(name, q.text, tuple(options), options.index(q.answer))


def trivia_correct(strategy: PromptedStrategy, user: User, items: Sequence[TriviaItem]) -> list[float]:
    """Per item, 1.0 where the option of highest summed log-likelihood after ``strategy``'s prompt is the gold one.

    Raises:
        ValueError: the strategy's generator has no local weights to score with.
    """
    from tailor.eval.suites.leakage import continuation_logprobs

    weights = local_weights(strategy.generator)
    if weights is None:
        raise ValueError(f"{strategy.name}: no local weights to score options with")
    out = []
    for item in items:
        prefix = strategy.generator.render(strategy.build(item.question, user).messages)
        lead = "" if prefix.endswith(("\n", " ")) else " "  # a plain "Assistant:" transcript, no chat template
        scores = continuation_logprobs(weights, prefix, [lead + o for o in item.options])
        out.append(float(max(range(len(scores)), key=scores.__getitem__) == item.gold))
    return out
