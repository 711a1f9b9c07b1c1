"""The recipe's ``serve:`` section: what `tailor serve` answers as, who may call it, and its load limits."""

from __future__ import annotations

from pydantic import Field

from tailor.section import Section, StrategyName


class ServeConfig(Section):
    """`tailor serve`: which strategies answer as which model names, who may call them, and load limits."""

    host: str = Field("127.0.0.1", description="interface to listen on (0.0.0.0: every interface)")
    port: int = Field(8000, ge=1, le=65535, description="TCP port")
    dataset: str | None = Field(None, description="dataset whose strategies are served (default: the first)")
    strategies: list[StrategyName] | None = Field(
        None, description="strategies served, each as model tailor-<name> (default: the dataset's)"
    )
    keys: str = Field(
        "keys.yaml", description="API keys file, hashed (tailor keys add); the TAILOR_API_KEYS variable overrides it"
    )
    batch_size: int = Field(8, ge=1, le=256, description="requests answered together (1: unbatched)")
    batch_wait_ms: float = Field(10.0, ge=0, le=2000, description="how long a batch waits to fill")
    max_queue: int = Field(64, ge=1, le=100_000, description="requests waiting at most; more get 429 + Retry-After")
    retry_after_s: int = Field(1, ge=1, le=3600, description="Retry-After on a 429")
    max_input_chars: int = Field(8000, ge=1, description="longest question; longer gets 413")
    max_body_bytes: int = Field(1_000_000, ge=1024, description="largest request body; larger gets 413")
    drain_timeout_s: float = Field(30.0, ge=0, le=3600, description="on SIGTERM, most seconds to finish requests")
    debug_log: str | None = Field(None, description="file for unexpected errors' tracebacks (default: none)")
