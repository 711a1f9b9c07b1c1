"""Lexical ranking: BM25 with one tokenisation, whether tailor ranks in memory or the store ranks in its database.

Both rank with Lucene's BM25 (bm25s's default: k1 1.5, b 0.75, idf ``ln(1 + (N - df + 0.5) / (df + 0.5))``)
over the same terms: lower-cased words of two or more word characters, English stopwords removed, no
stemming. :class:`Bm25` is the in-memory index tailor keeps beside a store that cannot rank by itself
(LanceDB); a :class:`tailor.rag.store.LexicalStore` (pgvector) keeps :func:`term_counts` of each chunk in its
rows and ranks inside its query, so the corpus's texts never need to be in tailor's memory.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import shutil
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

TOKEN = r"(?u)\b\w\w+\b"  # bm25s's default word pattern, used for documents and queries alike
K1, B = 1.5, 0.75  # bm25s's (Lucene's) defaults, which the stores' own BM25 uses too


@functools.cache
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


def terms(text: str) -> list[str]:
    """The words of ``text`` BM25 counts, in order: lower-cased, two or more word characters, no stopwords."""
    stopwords = _stopwords()
    return [t for t in re.findall(TOKEN, text.lower()) if t not in stopwords]


def term_counts(text: str) -> tuple[list[str], list[int], int]:
    """(distinct terms in sorted order, how often each occurs, how many terms in all) of ``text``."""
    words = terms(text)
    counts = sorted(Counter(words).items())
    return [t for t, _ in counts], [n for _, n in counts], len(words)


class Bm25:
    """BM25 over chunk texts (title and heading path included), cached on disk per table version."""

    def __init__(self, retriever):
        self.retriever = retriever

    @classmethod
    def load_or_build(cls, cache: Path, ids: Sequence[str], texts: Callable[[], Sequence[str]]) -> Bm25:
        """The BM25 index over the chunks ``ids`` (whose ``texts()`` are read only if it must be built)."""
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # bm25s sets its own logger to DEBUG
        ids = list(ids)
        if (cache / "chunk_ids.json").is_file() and json.loads((cache / "chunk_ids.json").read_text()) == ids:
            return cls(bm25s.BM25.load(str(cache), show_progress=False))
        retriever = bm25s.BM25(k1=K1, b=B)
        if ids:
            from bm25s.tokenization import Tokenizer

            tokens = Tokenizer(splitter=TOKEN, stopwords="en").tokenize(
                list(texts()), return_as="tuple", show_progress=False
            )
            retriever.index(tokens, show_progress=False)
            tmp = cache.with_name(cache.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            retriever.save(str(tmp), show_progress=False)
            (tmp / "chunk_ids.json").write_text(json.dumps(ids))
            for old in cache.parent.glob("*"):
                if old != tmp:
                    shutil.rmtree(old, ignore_errors=True)
            tmp.rename(cache)
        return cls(retriever)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every chunk for ``query``."""
        vocab = self.retriever.vocab_dict or {}
        tokens = [t for t in terms(query) if t in vocab]
        n = self.retriever.scores["num_docs"] if self.retriever.scores else 0
        return np.array(self.retriever.get_scores(tokens), dtype=np.float32) if tokens else np.zeros(n, np.float32)
