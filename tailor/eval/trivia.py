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
reply. The prompt runs once and its 4 options continue together from its key-value cache; prompts
run in token order, each continuing from the cache of the one before as far as they begin alike, so
a static context that every question shares runs once. With ~800-token prompts (one CPU thread, 8
items) that took 11 s against 41 s for a pass over each prompt, and 3-6x that again for 4 full
sequences per item; a context retrieved per question still costs one pass over each prompt.

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
from tailor.progress import Advance

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


def trivia_prompts(
    strategy: PromptedStrategy, user: User, items: Sequence[TriviaItem], progress: Advance | None = None
) -> list[str]:
    """Per item, the text ``strategy``'s generator reads before answering: its own prompt, rendered."""
    out = []
    for item in items:
        out.append(strategy.generator.render(strategy.build(item.question, user).messages))
        if progress:
            progress(1)
    return out


def trivia_correct(
    weights: tuple, prompts: Sequence[str], items: Sequence[TriviaItem], progress: Advance | None = None
) -> list[float]:
    """Per item, 1.0 where the option of highest summed log-likelihood after its prompt is the gold one.

    ``weights``: (model, tokenizer) to score with; ``prompts``: one per item (:func:`trivia_prompts`).
    """
    options = []
    for prompt, item in zip(prompts, items, strict=True):
        lead = "" if prompt.endswith(("\n", " ")) else " "  # a plain "Assistant:" transcript, no chat template
        options.append([lead + o for o in item.options])
    scores = option_logprobs(weights, prompts, options, progress)
    return [float(max(range(len(s)), key=s.__getitem__) == item.gold) for s, item in zip(scores, items, strict=True)]


def option_logprobs(
    model_and_tokenizer, prompts: Sequence[str], options: Sequence[Sequence[str]], progress: Advance | None = None
) -> list[list[float]]:
    """Per prompt, the summed log-probability of each of its options' tokens after it (render a chat first).

    Each prompt + option is tokenized whole, as the model reads it; an option's tokens are those after
    the prompt's own tokens (from one earlier where a merge crosses the boundary). The tokens all of a
    prompt's options begin with run once and its options continue together, right-padded, from a copy
    of that key-value cache. Prompts run in token order, each from the cache of the one before as far
    as they begin alike, so a block every question shares (a static context) runs once.
    """
    import copy

    import torch

    model, tokenizer = model_and_tokenizer
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id or 0
    jobs = [_split(tokenizer, p, o) for p, o in zip(prompts, options, strict=True)]
    scores: list[list[float]] = [[] for _ in jobs]
    cache, held = None, []  # the key-value cache of the last prompt run, and the token ids it holds
    with torch.inference_mode():
        for i in sorted(range(len(jobs)), key=lambda i: jobs[i].head):
            head = jobs[i].head
            keep = min(_common(held, head), len(head) - 1)  # the last token runs again: its logits score the options
            if keep == 0:
                cache = None
            else:
                cache.crop(keep - len(held))  # a count of tokens to drop from the end (0: none)
            out = model(
                input_ids=torch.tensor([head[keep:]], device=device), cache=cache, use_cache=True, logits_to_keep=1
            )
            cache, held = out.cache, head
            after_head = out.logits[0, -1].float().log_softmax(-1)  # (vocab,): the distribution of each first token
            scores[i] = _continue(model, copy.deepcopy(cache), after_head, jobs[i], pad)
            if progress:
                progress(1)
    return scores


@dataclass(frozen=True)
class _Job:
    head: list[int]  # the tokens every option's sequence begins with: run once
    tails: list[list[int]]  # per option, the rest of its sequence
    starts: list[int]  # per option, where in its tail the tokens it is scored on begin


def _split(tokenizer, prompt: str, options: Sequence[str]) -> _Job:
    """Raises: ValueError: the prompt has no token to score the options after."""
    own = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    full = [tokenizer(prompt + o, add_special_tokens=False)["input_ids"] for o in options]
    begins = [_common(own, f) for f in full]  # where each option's tokens begin: len(own) unless a merge crosses
    shared = min(begins)
    if shared == 0:
        raise ValueError(f"no prompt tokens to score options after: {prompt!r}")
    return _Job(full[0][:shared], [f[shared:] for f in full], [b - shared for b in begins])


def _common(a: Sequence[int], b: Sequence[int]) -> int:
    """The length of the longest common prefix of ``a`` and ``b``."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _continue(model, cache, after_head, job: _Job, pad: int) -> list[float]:
    import torch

    device = next(model.parameters()).device
    width = max(1, *(len(t) for t in job.tails))  # an empty continuation still needs one column
    ids = torch.full((len(job.tails), width), pad, dtype=torch.long)
    mask = torch.zeros((len(job.tails), len(job.head) + width), dtype=torch.long)
    for i, t in enumerate(job.tails):
        ids[i, : len(t)] = torch.tensor(t, dtype=torch.long)
        mask[i, : len(job.head) + len(t)] = 1
    cache.batch_repeat_interleave(len(job.tails))  # (1, heads, len(head), dim) -> (options, ...), in place
    out = model(input_ids=ids.to(device), attention_mask=mask.to(device), cache=cache)
    logp = out.logits.float().log_softmax(-1)  # (options, width, vocab): position j predicts tail token j + 1
    scores = []
    for i, (t, start) in enumerate(zip(job.tails, job.starts, strict=True)):
        terms = [float(after_head[tok]) if j == 0 else float(logp[i, j - 1, tok]) for j, tok in enumerate(t)]
        scores.append(float(sum(terms[start:])))
    return scores
