"""The recipe's ``rag:`` section: chunking, retrieval, the prompt rag's search starts from, and the vector store."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from tailor.section import Section, StoreName


class RagConfig(Section):
    embedder: Literal["minilm", "wordllama"] = Field(
        "minilm", description="all-MiniLM-L6-v2 (384 dims) or WordLlama (static: ~100x faster, weaker)"
    )
    chunk_tokens: int = Field(128, ge=16, le=4096, description="chunk size in the generator's tokens")
    chunk_overlap: int = Field(16, ge=0, description="tokens a chunk repeats from the one before it")
    k: int = Field(3, ge=1, le=100, description="chunks in front of the model, where rag's search starts")
    shots: int = Field(3, ge=0, le=32, description="train-split demonstrations rag's prompt search starts from")
    candidates: int = Field(20, ge=1, le=1000, description="chunks each retriever proposes before fusion")
    retrievers: list[Literal["dense", "lexical"]] = Field(
        default_factory=lambda: ["dense", "lexical"],
        min_length=1,
        description="dense (embeddings), lexical (BM25); both are fused by reciprocal rank",
    )
    rrf_k: int = Field(60, ge=1, description="reciprocal rank fusion constant (higher flattens ranks)")
    rerank: Literal["none", "mmr"] = Field("none", description="mmr trades relevance for diversity among chunks")
    mmr_lambda: float = Field(0.7, ge=0, le=1, description="with rerank: mmr, 1 is pure relevance")
    context_tokens: int = Field(768, ge=64, description="token budget for retrieved chunks, where the search starts")
    instruction: str = Field(
        "Reply with only the answer: a name, number, date or short phrase, taken from the documents.",
        description="what the model is told before the retrieved documents (the search tries others)",
    )
    index_dir: str | None = Field(None, description="where the index lives (default: OUT/index)")
    store: StoreName = Field(
        "lancedb",
        description="vector store: lancedb (embedded, under index_dir) or pgvector (a PostgreSQL server, "
        "which enforces document access itself too)",
    )
    pg_uri: str | None = Field(
        None, description="pgvector: URI of the role that owns tailor's tables (a password here: use pg_uri_env)"
    )
    pg_uri_env: str | None = Field(None, description="pgvector: environment variable holding that URI instead")
    pg_reader_uri_env: str | None = Field(
        None,
        description="pgvector: environment variable holding the URI per-user queries run as "
        "(default: pg_uri's server as role tailor_reader, no password)",
    )

    @model_validator(mode="after")
    def _overlap_below_size(self) -> RagConfig:
        if self.chunk_overlap >= self.chunk_tokens:
            raise ValueError(f"chunk_overlap ({self.chunk_overlap}) must be below chunk_tokens ({self.chunk_tokens})")
        return self

    @model_validator(mode="after")
    def _one_server(self) -> RagConfig:
        given = [f for f in ("pg_uri", "pg_uri_env") if getattr(self, f) is not None]
        if self.store == "pgvector" and len(given) != 1:
            raise ValueError("store: pgvector needs exactly one of pg_uri and pg_uri_env")
        if self.store != "pgvector" and (given or self.pg_reader_uri_env):
            raise ValueError(f"pg_uri, pg_uri_env and pg_reader_uri_env are for store: pgvector, not {self.store}")
        return self
