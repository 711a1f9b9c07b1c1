"""The recipe's ``finetune:`` and ``raft:`` sections: how the finetune and raft strategies' models are trained
(see :mod:`tailor.finetune.train` and :mod:`tailor.finetune.raft`).

Steps, learning rate, LoRA shape and early stopping are ``finetune:``'s, so that raft and finetune differ only
in how their training questions are shown; ``raft:`` holds only what raft adds.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from tailor.section import Section


class CanaryConfig(Section):
    count: int = Field(0, ge=0, le=1000, description="secret canaries planted in the training data (0: none)")
    repetitions: list[int] = Field(
        default_factory=lambda: [1, 4, 16],
        min_length=1,
        description="times each canary is repeated; canaries cycle through these counts",
    )

    @field_validator("repetitions")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if any(r < 1 for r in value):
            raise ValueError(f"every repetition count must be at least 1, got {value}")
        return value


class FinetuneConfig(Section):
    method: Literal["lora", "full"] = Field("lora", description="lora (peft adapter, default) or full fine-tuning")
    lora_r: int = Field(16, ge=1, le=512, description="LoRA rank (higher: more capacity and memory)")
    lora_alpha: int = Field(32, ge=1, description="LoRA scaling numerator (effective scale alpha / r)")
    lora_dropout: float = Field(0.05, ge=0, lt=1, description="dropout on the LoRA path")
    target_modules: list[str] | Literal["all-linear"] = Field(
        "all-linear", description="layers that get adapters: all-linear, or names such as [q_proj, v_proj]"
    )
    learning_rate: float = Field(2e-4, gt=0, le=1, description="peak learning rate (full fine-tuning: try 2e-5)")
    learning_rate_factors: list[float] = Field(
        default_factory=lambda: [0.5, 1.0, 2.0],
        min_length=1,
        max_length=8,
        description="full mode: learning_rate times each of these is trained and the lowest dev loss kept "
        "(each trial costs a training run; [1]: no search; quick mode trains learning_rate alone)",
    )

    @field_validator("learning_rate_factors")
    @classmethod
    def _positive_factors(cls, value: list[float]) -> list[float]:
        if any(f <= 0 for f in value):
            raise ValueError(f"every learning-rate factor must be above 0, got {value}")
        return value

    max_steps: int = Field(60, ge=1, description="most optimizer steps to train (fewer if dev loss stops improving)")
    epochs: float | None = Field(None, gt=0, le=100, description="passes over the data instead of max_steps")
    dev_every: int = Field(10, ge=0, description="dev-split loss every this many steps and at the end (0: never)")
    patience: int | None = Field(
        3, ge=1, description="stop after this many dev losses without a new best (null: never)"
    )
    warmup_steps: int = Field(5, ge=0, description="steps of linear warm-up before linear decay")
    batch_size: int = Field(8, ge=1, description="sequences per device per step")
    grad_accum: int = Field(1, ge=1, description="steps whose gradients add up before an update")
    max_seq_tokens: int = Field(256, ge=16, description="longest training sequence; longer ones are cut")
    save_steps: int = Field(20, ge=1, description="checkpoint every this many steps (resume point)")
    knowledge: bool = Field(True, description="also train on the corpus (chunks as continued pre-training text)")
    knowledge_tokens: int = Field(128, ge=16, description="chunk size for knowledge text, in tokens")
    knowledge_qa: int = Field(
        2,
        ge=0,
        le=8,
        description="question/answer pairs per fact found in the documents, each worded differently (0: none)",
    )
    packing: bool = Field(
        True,
        description="padding-free batches: sequences end to end in one row, logits only where tokens are learned",
    )
    gradient_checkpointing: bool = Field(False, description="recompute activations: less memory, ~30% slower")
    strict: bool = Field(False, description="any data-check finding stops training (not only leakage)")
    canaries: CanaryConfig = Field(
        default_factory=CanaryConfig,
        description="random secrets planted in training (recorded in OUT/finetune/canaries.json) to measure leakage",
    )


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
