"""The rag strategy: retrieve what the user may read, fit it into the window, answer with citations."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tailor.config import Recipe
from tailor.contract import BuiltPrompt, Context, PromptBuilder, User, strip_citations
from tailor.errors import DataError, Problem, RecipeError
from tailor.eval.metrics import normalize_answer
from tailor.models.base import Message
from tailor.prompt.builder import ShotPool, Way
from tailor.rag.embed import Embedder, load_embedder
from tailor.rag.index import ChunkIndex, Hit, IndexSettings, IngestReport, ingest
from tailor.rag.settings import RagConfig
from tailor.rag.store import Server
from tailor.workspace import Shared, Workspace


def mmr(hits: Sequence[Hit], index: ChunkIndex, k: int, lam: float) -> list[Hit]:
    """Maximal marginal relevance: each pick maximises λ·relevance − (1−λ)·similarity to the picks so far."""
    if len(hits) <= 1:
        return list(hits)[:k]
    top = max(h.score for h in hits)
    relevance = np.array([h.score / top for h in hits])
    vectors = index.vectors([h.chunk.chunk_id for h in hits])  # (n, dim), unit length; one store query
    chosen: list[int] = []
    while len(chosen) < min(k, len(hits)):
        redundancy = (vectors @ vectors[chosen].T).max(axis=1) if chosen else np.zeros(len(hits))
        value = lam * relevance - (1 - lam) * redundancy
        value[chosen] = -np.inf
        chosen.append(int(np.argmax(value)))
    return [hits[i] for i in chosen]


def render_chunk(hit: Hit) -> str:
    return f"[{hit.chunk.doc_id}] {hit.chunk.text}"


def cite(text: str, prompt: BuiltPrompt, most: int = 3) -> str:
    """Append ``[doc_id]`` for the documents whose retrieved text contains the answer.

    Attribution by evidence, not by the model's say-so: a small model rarely cites reliably, and an
    answer no document contains gets no citation, which is itself a signal that it is not grounded.
    """
    answer = normalize_answer(strip_citations(text))
    if not answer:
        return text
    cited = [c.doc_id for c in prompt.contexts if answer in normalize_answer(c.text)]
    unique = list(dict.fromkeys(cited))[:most]
    return text + "".join(f" [{d}]" for d in unique if f"[{d}]" not in text)


@dataclass(frozen=True)
class RagSpec:
    """One point of rag's prompt search: what surrounds the retrieved chunks, and how many chunks fit."""

    instruction: str  # before the documents; {labels} and the abstention rule filled in when built
    shots: int = 0  # question/answer demonstrations from the train split, after the documents
    selection: Way = "random"
    draw: int = 0  # which random draw of demonstrations (0: the first)
    k: int = 3  # chunks retrieved into the prompt
    context_tokens: int = 768  # their token budget (capped by the model's window)

    def describe(self) -> str:
        shots = "0 shots" if not self.shots else f"{self.shots} shots ({self.selection}"
        shots += f", draw {self.draw})" if self.shots and self.draw else ")" if self.shots else ""
        return f"k={self.k}, {self.context_tokens} context tokens, {shots}; {self.instruction!r}"


Retrieve = Callable[[str, frozenset[str]], list[Hit]]  # (question, the asker's groups) → hits they may read


def retriever(index: ChunkIndex, cfg: RagConfig, cache: bool = False) -> Retrieve:
    """Hybrid search over ``index``, pre-filtered by the asker's groups. ``cache``: remember each
    (question, groups)'s hits, for a search that asks the same dev questions under many prompts; the
    groups are part of the key, so one user's hits never answer another's query."""
    memo: dict[tuple[str, frozenset[str]], list[Hit]] = {}

    def retrieve(question: str, groups: frozenset[str]) -> list[Hit]:
        if not cache:
            return index.search(question, groups, cfg.candidates, cfg.retrievers, cfg.rrf_k)
        if (question, groups) not in memo:
            memo[question, groups] = index.search(question, groups, cfg.candidates, cfg.retrievers, cfg.rrf_k)
        return memo[question, groups]

    return retrieve


def rag_builder(
    index: ChunkIndex,
    cfg: RagConfig,
    count_tokens,
    spec: RagSpec,
    instruction: str,
    pool: ShotPool | None = None,
    retrieve: Retrieve | None = None,
) -> PromptBuilder:
    """Retrieve (hybrid, pre-filtered by the user's groups), rerank, fit ``spec.context_tokens`` tokens.

    Demonstrations (``spec.shots``, question and answer only) come from ``pool`` and, like the
    documents, only from what the user may see. ``instruction``: the system instruction, filled in.
    """
    retrieve = retrieve or retriever(index, cfg)

    def build(question: str, user: User) -> BuiltPrompt:
        hits = retrieve(question, user.groups)
        hits = mmr(hits, index, spec.k, cfg.mmr_lambda) if cfg.rerank == "mmr" else hits[: spec.k]
        contexts, used = [], 0
        for hit in hits:
            text = render_chunk(hit)
            tokens = count_tokens(text)
            if used + tokens > spec.context_tokens:
                continue  # a later, shorter chunk may still fit
            contexts.append(Context(hit.chunk.doc_id, text))
            used += tokens
        documents = "\n\n".join(c.text for c in contexts) if contexts else "(no documents you may read match)"
        messages: list[Message] = [{"role": "system", "content": f"{instruction}\n\nDocuments:\n{documents}"}]
        how = "random" if spec.selection == "bootstrapped" else spec.selection  # the pool holds only those
        shown = pool.select(question, user, spec.shots, how, spec.draw) if pool is not None else ()
        for ex in shown:
            messages += [{"role": "user", "content": ex.question}, {"role": "assistant", "content": ex.answer}]
        messages.append({"role": "user", "content": question})
        return BuiltPrompt(messages, tuple(contexts))

    return build


@dataclass(frozen=True)
class ReadyIndex:
    index: ChunkIndex
    report: IngestReport  # what this call's ingest did (often nothing)
    index_dir: Path


INDEX: Shared[ReadyIndex] = Shared("rag-index")  # the recipe's index, ingested once per workspace
EMBEDDER: Shared[Embedder] = Shared("embedder")  # .of(name): one copy of each embedder per workspace


def embedder_of(ws: Workspace, name: str) -> Embedder:
    """The workspace's copy of embedder ``name`` (loaded on first use)."""
    return ws.shared(EMBEDDER.of(name), lambda: load_embedder(name))


def index_settings(ws: Workspace, embedder_name: str, dim: int) -> IndexSettings:
    cfg = ws.recipe.rag
    return IndexSettings(embedder_name, dim, cfg.chunk_tokens, cfg.chunk_overlap, tokenizer=ws.generator.name)


def store_server(ws: Workspace) -> Server | None:
    """Where the workspace recipe's store keeps its data, if in a server (see :func:`recipe_server`)."""
    return recipe_server(ws.recipe)


def recipe_server(recipe: Recipe) -> Server | None:
    """Where the recipe's store keeps its data, if in a server: ``rag.pg_uri`` or the variables it names.

    Raises:
        RecipeError: a variable the recipe names is not set.
    """
    cfg = recipe.rag
    uris = {}
    for name in ("pg_uri_env", "pg_reader_uri_env"):
        variable = getattr(cfg, name)
        if variable is not None:
            if not os.environ.get(variable):
                raise RecipeError(recipe.problem(f"environment variable {variable} is not set", "rag", name))
            uris[name] = os.environ[variable]
    uri = cfg.pg_uri or uris.get("pg_uri_env")
    return Server(uri, uris.get("pg_reader_uri_env")) if uri else None


def ensure_index(ws: Workspace) -> ReadyIndex:
    """Ingest the recipe's corpus (only what changed) and open the index.

    Raises:
        DataError: the recipe has no documents to retrieve from.
    """
    if not ws.corpus:
        raise DataError(
            ws.recipe.problem("the rag strategy needs documents; data.corpus matched none", "data", "corpus")
        )
    name = ws.recipe.rag.embedder
    embedder = embedder_of(ws, name)
    report = ingest(
        ws.corpus,
        ws.recipe.index_dir,
        index_settings(ws, embedder.name, embedder.dim),
        embedder,
        ws.generator.count_tokens,
        ws.reporter,
        store=ws.recipe.rag.store,
        server=(server := store_server(ws)),
    )
    ws.reporter.log(report.summary())
    return ReadyIndex(ChunkIndex(ws.recipe.index_dir, embedder, server), report, ws.recipe.index_dir)


def context_budget(ws: Workspace, max_new_tokens: int, wanted: int | None = None) -> int:
    """Tokens left for documents: ``wanted`` (default the recipe's budget), capped by what the window leaves
    after the answer."""
    room = ws.generator.context_window - max_new_tokens - 256  # instruction, question, template
    if room < 64:
        raise DataError(
            Problem(f"the model's context window ({ws.generator.context_window}) leaves no room for documents")
        )
    return min(ws.recipe.rag.context_tokens if wanted is None else wanted, room)
