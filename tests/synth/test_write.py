"""Screening the model's reply, spans as answers, made-up subjects: pure functions, crafted inputs."""

from __future__ import annotations

import random

import pytest

from tailor.synth.checks import corpus_contains, fabricate, is_duplicate, specific, words
from tailor.synth.questions import compose
from tailor.synth.spans import find_spans
from tailor.synth.write import check_reply, leaks_answer, round_trip_score, screen

# (crafted reply, the reason it is rejected) — each rule of tailor.synth.write.screen
BAD_REPLIES = [
    ("", "empty"),
    ("   \n  ", "empty"),
    ("Question:", "empty"),
    ("Sure! Here is a question: What does the X200 cost?", "preamble"),
    ("Here are two questions about the passage:\n1. What does it cost?\n2. When was it launched?", "preamble"),
    ("Certainly. What does the X200 cost?", "preamble"),
    ("Question: Here is one question for you: what is it?", "preamble"),
    ("1. What does the X200 cost?\n2. When was it launched?", "list"),
    ("- What does the X200 cost?", "list"),
    ("What does the X200 cost? When was it launched?", "list"),
    ("What does the X200 cost?\nAnswer: $149", "malformed"),
    ("The X200 costs a lot.", "malformed"),
    ("Cost?", "malformed"),
    ("What " + "very " * 45 + "long?", "malformed"),
    ('{"question": "What does it cost?"', "malformed"),
    ("What is the language of the given text?", "points_at_passage"),
    ("What is the base of the number system used in the text?", "points_at_passage"),
    ("What is the imaginary number in the given list?", "points_at_passage"),
    ("Which warranty does the passage above mention?", "points_at_passage"),
]


@pytest.mark.parametrize(("reply", "reason"), BAD_REPLIES)
def test_a_bad_reply_is_rejected_with_its_own_reason(reply: str, reason: str) -> None:
    assert screen(reply) == ("", reason)


@pytest.mark.parametrize(
    ("reply", "question"),
    [
        ("What does the X200 cost?", "What does the X200 cost?"),
        ("Question: What does the X200 cost?", "What does the X200 cost?"),
        ("**Q:** What does the X200 cost?", "What does the X200 cost?"),
        ('"What does the X200 cost?"', "What does the X200 cost?"),
        ("  What does the X200 cost?  \n", "What does the X200 cost?"),
        # naming its subject in the corpus's own words is not pointing at the passage
        (
            "What is raised if the given name does not exist in any enclosing scope?",
            "What is raised if the given name does not exist in any enclosing scope?",
        ),
        (
            "Which encoding is the text of a source file read in?",
            "Which encoding is the text of a source file read in?",
        ),
    ],
)
def test_one_question_is_kept_and_a_label_dropped(reply: str, question: str) -> None:
    assert screen(reply) == (question, None)


def test_a_question_that_gives_its_answer_away_is_caught() -> None:
    assert leaks_answer("Does the X200 cost $149?", "$149")
    assert leaks_answer("Is the price 149 dollars?", "$149")  # compared as normalised tokens
    assert not leaks_answer("What does the X200 cost?", "$149")
    assert not leaks_answer("Which version is 1490?", "149")  # whole tokens only


def test_a_plain_word_answer_is_given_away_by_another_form_of_it_but_a_code_name_is_not() -> None:
    assert leaks_answer("What is the term for the action of raising an exception?", "raised")
    assert leaks_answer("How is a loop that stops early said to terminate?", "terminated")
    assert not leaks_answer("What is the term for the action of raising an exception?", "thrown")
    # code names are often described in their own words: the base classes are __bases__
    assert not leaks_answer("Which attribute holds a class's base classes?", "__bases__")
    assert not leaks_answer("Which built-in compiles source into a code object?", "compile()")
    assert not leaks_answer("Which constant is returned for a missing value?", "None")  # under 5 letters


def test_a_reply_is_screened_then_checked_for_its_answer() -> None:
    assert check_reply("Question: What does the X200 cost?", "$149") == ("What does the X200 cost?", None)
    assert check_reply("Does the X200 cost $149?", "$149") == ("", "answer_in_question")
    assert check_reply("What is the language of the given text?", "English") == ("", "points_at_passage")
    assert check_reply("Sure! What does it cost?", "$149") == ("", "preamble")


def test_round_trip_credits_the_span_with_a_few_words_but_not_the_sentence_copied_back() -> None:
    assert round_trip_score("$149", "$149") == 1.0
    assert round_trip_score("It costs $149.", "$149") == pytest.approx(0.5)
    assert round_trip_score("149", "149 dollars") == pytest.approx(2 / 3)  # a dropped unit
    assert round_trip_score("The X200 is sold for $149 in every region.", "$149") < 0.5
    assert round_trip_score("I do not know.", "$149") == 0.0


def test_spans_of_each_kind_are_found_and_common_words_are_not() -> None:
    text = (
        "The Veltro X200 costs $149 and ships with a 30 day warranty. It was released on 2023-04-12 "
        'by Marta Okonkwo. Firmware 4.2.1 added os.path.join and the "quiet mode" setting max_retries.'
    )
    found = {(s.text, s.kind) for s in find_spans(text, most=50)}
    assert {
        ("2023-04-12", "date"),
        ("4.2.1", "version"),
        ("$149", "number"),
        ("30 day", "number"),
        ("os.path.join", "identifier"),
        ("max_retries", "identifier"),
        ("Veltro X200", "name"),
        ("Marta Okonkwo", "name"),
        ("quiet mode", "term"),
    } <= found
    assert not {t for t, _ in found} & {"The", "It", "and"}
    assert all(text[s.start : s.start + len(s.text)] == s.text for s in find_spans(text, most=50))


def test_duplicates_are_questions_with_mostly_the_same_words() -> None:
    kept = [words("What does the Veltro X200 cost?")]
    assert is_duplicate("what does the Veltro X200 cost", kept)
    assert is_duplicate("What does the Veltro X200 cost today?", kept)  # 6 of 7 words: 0.86
    assert not is_duplicate("When was the Veltro X200 released?", kept)


def test_specific_needs_every_source_among_the_top_k_chunks() -> None:
    def search(_: str) -> list[str]:
        return ["a", "a", "b", "c", "d"]

    assert specific("q", ["a"], search, k=1)
    assert not specific("q", ["c"], search, k=3)
    assert specific("q", ["b", "c"], search, k=4)
    assert not specific("q", ["b", "e"], search, k=5)


def test_an_unanswerable_question_names_a_subject_the_corpus_does_not_contain() -> None:
    known = corpus_contains(["The Veltro X200 costs $149.", "Support is run by Marta Okonkwo."])
    question, why = fabricate("What does the Veltro X200 cost?", "$149", random.Random(0), known)
    assert why is None and question is not None and "Veltro" not in question and question.endswith("cost?")
    assert not known(question.split("the ")[1].removesuffix(" cost?"))
    assert fabricate("What does it cost?", "$149", random.Random(0), known) == (None, "no_subject")
    assert fabricate("What does the Veltro X200 cost?", "$149", random.Random(0), lambda _: True) == (
        None,
        "subject_in_corpus",
    )


def test_two_questions_are_asked_as_one() -> None:
    assert compose("What does the X200 cost?", "When was it launched?") == (
        "What does the X200 cost, and when was it launched?"
    )
    assert compose("What does the X200 cost?", "Python 3 added what?").endswith(", and Python 3 added what?")
