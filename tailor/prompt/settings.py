"""The recipe's ``prompt:`` section: the prompt search every strategy that builds a prompt shares.

Its budget (``candidates``, ``dev_size``, ``confirm_size``) is the same for prompt, rag and rag+finetune,
so their scores compare tuned options.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from tailor.section import Section


class PromptConfig(Section):
    candidates: int = Field(
        12,
        ge=1,
        le=200,
        description="each searched strategy's budget: this many variants' worth of dev answers (racing fits more)",
    )
    dev_size: int = Field(24, ge=1, description="dev examples each variant is scored on")
    confirm_size: int = Field(
        8,
        ge=0,
        description="dev examples held out of the search to confirm the winner on (at most a third of dev; 0: none)",
    )
    shots: list[Annotated[int, Field(ge=0, le=32)]] = Field(
        default_factory=lambda: [0, 2, 4], min_length=1, description="few-shot example counts to try"
    )
    selection: list[Literal["random", "similar"]] = Field(
        default_factory=lambda: ["random", "similar"],
        min_length=1,
        description="how few-shot examples are chosen (bootstrapped ones, which the model got right, are tried too)",
    )
    context_tokens: int = Field(
        384, ge=0, description="token budget for a static block of documents in the prompt (0: never)"
    )
