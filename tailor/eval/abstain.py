"""Did an answer decline ("I don't know", "the documents do not say") or commit to something?

Strategies are told how to abstain in one way (see :func:`tailor.data.examples.abstention_instruction`), but
a small model rewords what it is told and an endpoint model has its own habits, so detection reads the
answer's meaning, not one phrase: a refusal to know, a statement that the source is silent, or an answer
that is nothing but "unknown" / "N/A". A sentence that only mentions something missing ("the Kestrel is not
available in red") is an answer, not an abstention.

On unanswerable questions (``kind: unanswerable``) an answer that does not abstain is a hallucination; on
answerable ones an abstention is a false abstention.
"""

from __future__ import annotations

import re

_SUBJECT = r"(?:i|we|the (?:assistant|model))"
_NEG = (
    r"(?:do not|don't|dont|cannot|can't|cant|can not|could not|couldn't|am unable to|'m unable to"
    r"|am not able to|'m not able to|are unable to|have no way to)"
)
_KNOW = r"(?:know|say|tell|answer|find|determine|provide|confirm|see|locate|access)"
_SOURCE = (
    r"(?:document|documents|context|passage|passages|text|source|sources|reference|references|records?"
    r"|information (?:provided|given|available))"
)
_NOT = r"(?:does not|do not|did not|doesn't|don't|didn't)"
_PATTERNS = (
    rf"\b{_SUBJECT} {_NEG} {_KNOW}\b",  # I don't know / I cannot answer / we can't say
    r"\bi(?:'m| am) not (?:sure|certain|aware)\b",
    r"\b(?:no|not enough|insufficient) (?:information|details|context|record|records|mention)\b",
    rf"\b(?:{_SOURCE}|it|they) {_NOT} (?:say|mention|specify|state|indicate|cover|describe|tell)\b",
    rf"\b{_SOURCE} {_NOT} (?:contain|include|provide|give|have)\b",  # the passage does not contain that
    r"\b(?:(?:is|are|was|were) not|isn't|aren't|wasn't|weren't) (?:mentioned|specified|stated|known|covered)\b",
    r"\b(?:cannot|can't|can not|unable to) (?:be )?(?:answered|determined|known|said|told)\b",
    rf"\bnot (?:in|within|part of|found in|mentioned in|covered by|given in) (?:the |my |any |these )?{_SOURCE}\b",
    r"\bno idea\b",
    r"\bi have no (?:knowledge|information|way)\b",
)
_ABSTAIN = re.compile("|".join(f"(?:{p})" for p in _PATTERNS))
_BARE = re.compile(r"^(?:unknown|not known|n/?a|none|no answer|unanswerable|not available|not sure)$")


def _plain(text: str) -> str:
    """Lower-case, typographic apostrophes made plain, whitespace collapsed."""
    return " ".join(text.lower().replace("\u2019", "'").replace("\u2018", "'").split())


def abstains(answer: str) -> bool:
    """True if ``answer`` declines to answer (any wording of "I don't know" / "the documents do not say")."""
    text = _plain(answer)
    return bool(_ABSTAIN.search(text) or _BARE.match(text.strip(" .!\"'")))
