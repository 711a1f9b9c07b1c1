"""The recipe's ``raft:`` section: how the raft strategy's adapter is trained (see :mod:`tailor.finetune.raft`).

Steps, learning rate, LoRA shape and early stopping are ``finetune:``'s, so that raft and finetune differ only
in how their training questions are shown; ``tailor.config`` puts this section under ``raft:``.
"""

from __future__ import annotations

from pydantic import Field

from tailor.section import Section


class RaftConfig(Section):
    oracle: float = Field(
        0.8,
        ge=0,
        le=1,
        description="share of training questions shown with the chunk that holds the answer among distractors "
        "(RAFT's P); the rest see distractors only and must answer from the weights",
    )
    seq_tokens: int = Field(
        640,
        ge=64,
        description="longest training sequence: instruction, retrieved chunks, question and answer (the chunks "
        "get what is left after 192 tokens)",
    )
