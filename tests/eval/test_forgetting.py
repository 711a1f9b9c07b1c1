"""Forgetting signal: held general text, scored by the base model and by weights that were changed."""

from __future__ import annotations

import pytest

from tailor.eval.forgetting import general_passages, passage_ce


@pytest.fixture(scope="module")
def base(real_generator):
    return real_generator.model, real_generator.tokenizer


def test_passages_are_prose_of_the_requested_length_and_reproducible(base) -> None:
    _, tokenizer = base
    passages = general_passages(tokenizer, 8, 64, seed=0)
    assert len(passages) == 8 and all(len(p) == 64 for p in passages)
    assert general_passages(tokenizer, 8, 64, seed=0) == passages
    assert general_passages(tokenizer, 8, 64, seed=1) != passages
    text = tokenizer.decode(passages[0])
    assert "::=" not in text and sum(c.isalpha() for c in text) > len(text) / 2  # prose, not grammar


def test_damaged_weights_raise_general_text_cross_entropy(base) -> None:
    import copy

    import torch

    model, tokenizer = base
    passages = general_passages(tokenizer, 4, 64, seed=0)
    before = passage_ce(base, passages)
    assert all(1.0 < ce < 5.0 for ce in before)  # a pretrained model predicts English prose well
    damaged = copy.deepcopy(model)
    with torch.no_grad():
        for layer in damaged.model.layers[:4]:
            layer.mlp.down_proj.weight.mul_(0.0)  # what an overwritten layer looks like from outside
    after = passage_ce((damaged, tokenizer), passages)
    assert all(a > b + 0.1 for a, b in zip(after, before, strict=True))
