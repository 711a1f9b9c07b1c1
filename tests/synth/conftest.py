"""A tiny corpus and a fake question writer for synth's logic tests (the real model is in test_end_to_end.py).

The fake implements the Generator protocol (tests/conftest.py's ScriptedGenerator): asked for a question
about a span, it blanks the span out of the sentence it is shown ("Which value completes: 'The X200 costs ___.'?");
asked to answer from a passage, it gives back the span it blanked; from memory, it does not know. A
``bad`` reply per span replaces the question with a crafted bad generation; a span in ``wrong`` is
answered wrongly.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tailor.models.base import Message
from tailor.synth.write import ANSWER_INSTRUCTION, QUESTION_REQUEST

REQUEST = QUESTION_REQUEST.split('"{answer}"')[0] + '"'

DOCS = {
    "products/veltro.md": """---
title: Veltro X200
---
# Veltro X200

The Veltro X200 handheld scanner is sold for $149 in every region.

Its firmware line reached version 4.2.1 after the spring update.

The scanner launched on 2023-04-12 at the Lisbon trade fair.

Support for the scanner is run by Marta Okonkwo from the Porto office.
""",
    "products/quell.md": """---
title: Quell Router
---
# Quell Router

The Quell mesh router covers up to 350 square metres per unit.

Its setup wizard is started with the quell_setup command on any laptop.

Production of the router moved to the Brno plant in March 2022.
""",
    "policies/travel.md": """---
title: Travel policy
---
# Travel policy

Employees may claim a daily meal allowance of 45 euros while travelling.

Train travel is preferred for any trip shorter than 600 kilometres.

Bookings are approved by the Travel Desk within 3 days of a request.
""",
    "finance/orion.md": """---
title: Orion budget
groups: [finance]
---
# Orion budget

The Orion programme was granted a budget of $2,400,000 for the next year.

The budget was approved on 2024-03-01 by controller Dana Whitfield.
""",
}

RECIPE = """\
data:
  corpus: ["docs/**/*.md"]
  examples:
    - path: examples.jsonl
  default_groups: [everyone]
rag:
  embedder: wordllama
synth:
  questions: 10
"""


def write_project(root: Path, docs: dict[str, str] | None = None, recipe: str = RECIPE) -> Path:
    """A project directory: docs/ and tailor.yaml; returns the recipe path."""
    for name, text in (DOCS if docs is None else docs).items():
        path = root / "docs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / "tailor.yaml").write_text(recipe)
    return root / "tailor.yaml"


def writer(bad: dict[str, str] | None = None, wrong: frozenset[str] = frozenset()) -> Callable[[list[Message]], str]:
    """The fake model's replies (see the module docstring); questions about a span in ``wrong`` are answered
    wrongly from the passage."""
    bad = bad or {}
    asked: dict[str, str] = {}

    def respond(messages: list[Message]) -> str:
        system, user = messages[0]["content"], messages[-1]["content"]  # the question request has no system turn
        if REQUEST in user:
            context, _, request = user.partition("\n\n" + REQUEST)
            answer = request.split('"', 1)[0]
            if answer in bad:
                asked[bad[answer]] = answer
                return bad[answer]
            question = f"Which value completes: '{context.replace(answer, '___').strip()}'?"
            asked[question] = answer
            return question
        if system == ANSWER_INSTRUCTION:
            question = user.rsplit("Question: ", 1)[1]
            parts = [a for q, a in asked.items() if q == question or q[1:].rstrip("?") in question]
            return "; ".join(p for p in parts if p not in wrong) or "I cannot tell."
        return "I do not know."

    return respond


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The tiny corpus and its recipe in ``tmp_path``; the recipe's path."""
    return write_project(tmp_path)


@pytest.fixture
def make_project() -> Callable[..., Path]:
    return write_project


@pytest.fixture
def recipe_text() -> str:
    return RECIPE


@pytest.fixture
def docs() -> dict[str, str]:
    return dict(DOCS)


@pytest.fixture
def replies() -> Callable[..., Callable[[list[Message]], str]]:
    """``replies(bad=None, wrong=frozenset())``: the fake's reply function, to serve behind an endpoint."""
    return writer


@pytest.fixture
def fake(scripted):
    """``fake(bad=None, wrong=frozenset())``: a new fake question writer (a Generator)."""
    return lambda bad=None, wrong=frozenset(): scripted(writer(bad, wrong))
