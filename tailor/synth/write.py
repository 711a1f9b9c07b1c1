"""What the model is asked, and what of its reply may become a question.

The model is asked for one question whose answer is a given span of a given passage. Its reply is
screened before anything else looks at it: an empty reply, a preamble ("Sure! Here is a question:"),
a list of questions, or anything that is not one question is rejected under its own reason and never
stored. A label such as "Question:" in front is harmless and dropped.
"""

from __future__ import annotations

import re
from typing import Literal

from tailor.eval.metrics import contains_answer, normalize_answer, token_f1
from tailor.models.base import Message

Screened = Literal["empty", "preamble", "list", "malformed", "points_at_passage"]

# How the prompts were chosen, on 83 candidates from 23 synthetic-world documents and 12 pydoc topics with
# the packaged 135M model: shown the one sentence that holds the span (a whole chunk, it summarises the
# chunk instead), after two worked examples (without them, 38 of 83 replies were no question at all,
# mostly "What is the answer to the question: What is the answer to..."; with them, 2), and answering with
# the same two examples before it (5 of 83 passed the round trip against 0 without).
QUESTION_REQUEST = (
    'Write a question about the text above. The answer to the question must be "{answer}". Write only the question.'
)
ANSWER_INSTRUCTION = "Answer the question using only the passage. Reply with only the answer, copied from the passage."
CLOSED_BOOK_INSTRUCTION = "Reply with only the answer: a name, number, date or short phrase."
# (text, answer, question): general knowledge, so no corpus is ever quoted back as a demonstration.
WORKED = (
    ("The Eiffel Tower in Paris is 330 metres tall.", "330 metres", "How tall is the Eiffel Tower?"),
    (
        "Marie Curie was born in Warsaw in 1867 and later moved to France.",
        "Warsaw",
        "In which city was Marie Curie born?",
    ),
)

_LABEL = re.compile(r"^\s*(?:\*\*)?(?:question|q)\s*\d*\s*(?:\*\*)?\s*[:.)-]\s*(?:\*\*)?\s*", re.IGNORECASE)
_PREAMBLE = re.compile(
    r"^(?:sure|certainly|of course|absolutely|okay|ok|great|alright|yes|no problem|"
    r"here(?:'s| is| are)|below|i (?:can|will|would|have|'d|'ll)|as an ai|let me|let's|the following|"
    r"this (?:question|is)|a (?:good |possible )?question)\b",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)|\n\s*\n")
_UNDERLINE = re.compile(r"[-=*#~^_]{3,}")  # a heading's underline, not text
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)]|\(?[a-z][.)])\s+")
_QUOTES = "\"'“”‘’`"
MIN_WORDS, MAX_WORDS = 3, 40
# A question that points at the passage it was written from instead of naming its subject: "the given
# text", "used in the text", "in the given list". Whoever reads the test set never sees that passage. Read
# on the 1.5B writer's questions about Python's reference (bench/data/pydoc_synth_review.jsonl), where 4 of
# the 13 single questions a person rejected were these.
_PASSAGE_NOUNS = r"(?:text|passage|paragraph|excerpt|snippet|sentence|document|section|context|list|code|example|table)"
_POINTS_AT_PASSAGE = re.compile(
    rf"\b(?:the|this)\s+(?:given|above|following|provided|preceding)\s+{_PASSAGE_NOUNS}\b"
    r"|\b(?:the|this)\s+(?:text|passage|paragraph|excerpt|snippet)\b(?!\s+of\b)"  # "the text of a file" names one
    rf"|\b{_PASSAGE_NOUNS}\s+(?:above|below)\b",
    re.IGNORECASE,
)
_WORD_FORM_LETTERS = 5  # a one-word answer this long or longer is given away by another form of it too
_PLAIN_WORD = re.compile(r"[A-Za-z]+(?:-[A-Za-z]+)*")


def question_prompt(context: str, answer: str) -> list[Message]:
    """The chat asking for one question about ``context`` (the sentence holding the span) whose answer is ``answer``."""
    messages: list[Message] = []
    for text, worked_answer, question in WORKED:
        messages += [
            {"role": "user", "content": f"{text}\n\n{QUESTION_REQUEST.format(answer=worked_answer)}"},
            {"role": "assistant", "content": question},
        ]
    return [*messages, {"role": "user", "content": f"{context}\n\n{QUESTION_REQUEST.format(answer=answer)}"}]


def sentence_around(text: str, start: int, end: int, most_words: int = 60) -> str:
    """The sentence of ``text`` holding ``text[start:end]``, whitespace collapsed; a window of it if very long."""
    left = max(_SENTENCE_END.finditer(text[:start]), key=lambda m: m.end(), default=None)
    right = _SENTENCE_END.search(text, end)
    sentence = text[left.end() if left else 0 : right.start() + 1 if right else len(text)]
    sentence = " ".join(_UNDERLINE.sub(" ", sentence).split())
    words = sentence.split()
    if len(words) <= most_words:
        return sentence
    before = len(" ".join(text[left.end() if left else 0 : start].split()).split())
    lo = max(0, min(before - most_words // 2, len(words) - most_words))
    return " ".join(words[lo : lo + most_words])


def answer_prompt(passage: str | None, question: str) -> list[Message]:
    """The chat asking the model to answer ``question`` from ``passage`` alone (None: from memory), after the
    worked examples answered the same way."""

    def ask(text: str, q: str) -> str:
        return q if passage is None else f"Passage:\n{text}\n\nQuestion: {q}"

    system = CLOSED_BOOK_INSTRUCTION if passage is None else ANSWER_INSTRUCTION
    messages: list[Message] = [{"role": "system", "content": system}]
    for text, answer, worked_question in WORKED:
        messages += [{"role": "user", "content": ask(text, worked_question)}, {"role": "assistant", "content": answer}]
    return [*messages, {"role": "user", "content": ask(passage or "", question)}]


def screen(reply: str) -> tuple[str, Screened | None]:
    """(the question, None) when ``reply`` is one question; else ("", the reason it is not).

    Reasons: ``empty`` (nothing, or only a label), ``preamble`` (talk before or instead of the
    question), ``list`` (several questions or a bulleted/numbered reply), ``malformed`` (not one
    question of 3-40 words ending with a question mark; JSON, markup or code), ``points_at_passage``
    ("the given text" instead of the subject's name).
    """
    lines = [line.strip() for line in reply.strip().splitlines() if line.strip()]
    if not lines:
        return "", "empty"
    if _PREAMBLE.match(lines[0]) or (lines[0].endswith(":") and len(lines) > 1):
        return "", "preamble"
    if len(lines) > 1 or _BULLET.match(lines[0]) or lines[0].count("?") > 1:
        if sum(line.count("?") for line in lines) > 1 or any(_BULLET.match(line) for line in lines):
            return "", "list"
        return "", "malformed"
    text = _LABEL.sub("", lines[0]).strip().strip(_QUOTES).strip()
    if not text:
        return "", "empty"
    if _PREAMBLE.match(text):
        return "", "preamble"
    words = text.split()
    if not text.endswith("?") or not MIN_WORDS <= len(words) <= MAX_WORDS:
        return "", "malformed"
    if not text[0].isalnum() or any(c in text for c in "{}[]<>"):  # JSON, markup or code, not a question
        return "", "malformed"
    if _POINTS_AT_PASSAGE.search(text):
        return "", "points_at_passage"
    return text, None


def check_reply(reply: str, answer: str) -> tuple[str, Screened | Literal["answer_in_question"] | None]:
    """(the question, None) when ``reply`` is one question that does not give ``answer`` away; else ("", the
    reason): :func:`screen`'s, or ``answer_in_question`` (:func:`leaks_answer`)."""
    question, why = screen(reply)
    if why is None and leaks_answer(question, answer):
        return "", "answer_in_question"
    return question, why


def round_trip_score(prediction: str, answer: str) -> float:
    """How well the model's answer, given the passage, matches the span: token F1 (tailor.eval.metrics).

    Not contains-answer: a model that copies the passage's sentence back "contains" every span of it,
    whatever the question was; F1 credits the span said with a few words around it, not the sentence.
    """
    return token_f1(prediction, answer)


def leaks_answer(question: str, answer: str) -> bool:
    """True if the question already contains the answer (as whole normalised tokens), or, for an answer
    that is one plain word of 5 letters or more, another form of that word ("raising" for "raised"): the
    same word with at most its last 3 letters changed. Not for names of code (``__bases__``, ``compile()``),
    which a question may well describe in their own words ("the base classes")."""
    normal = normalize_answer(answer)
    if not normal:
        return False
    if contains_answer(question, answer) == 1.0:
        return True
    if not _PLAIN_WORD.fullmatch(answer.strip()) or len(normal) < _WORD_FORM_LETTERS:
        return False
    stem = normal[: max(4, len(normal) - 3)]
    return any(word.startswith(stem) for word in normalize_answer(question).split())
