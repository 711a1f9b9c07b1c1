"""The recipe's ``model:`` section (and every field that names a model: ``synth.model``, ``eval.judge``):
the packaged model, a model directory, a GGUF file, or an OpenAI-compatible endpoint; and ``generation:``,
how every model decodes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from tailor.section import Section


def _dtype():
    """The ``dtype`` field of every model whose weights tailor loads itself (see tailor.models.precision)."""
    return Field(
        "auto",
        description="precision of the weights in memory (transformers backend): auto (bfloat16 on a GPU or a CPU "
        "with bf16 instructions, such as AVX512-BF16; float32 elsewhere), float32 or bfloat16",
    )


Precision = Literal["auto", "float32", "bfloat16"]


class PackagedModel(Section):
    kind: Literal["packaged"] = Field("packaged", description="the model shipped with tailor (offline, CPU)")
    name: str = Field(
        "smollm2-135m-instruct",
        description="which packaged model: smollm2-135m-instruct (installed with tailor), "
        "qwen2.5-coder-0.5b-instruct or qwen2.5-coder-1.5b-instruct (extras qwen-0.5b, qwen-1.5b; `tailor models`)",
    )
    backend: Literal["transformers", "llamacpp"] = Field(
        "transformers",
        description="transformers (weights in memory: every strategy and suite) or llamacpp (fast CPU answers; "
        "no training or likelihood suites; the llamacpp extra)",
    )
    dtype: Precision = _dtype()

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        from tailor.models.packaged import catalog

        if name not in catalog():
            raise ValueError(f"unknown packaged model {name!r}; choose from {', '.join(catalog())}")
        return name


class HFModel(Section):
    kind: Literal["hf"] = Field(description="a Hugging Face model: a directory, or a hub repo id")
    path: str = Field(
        description="directory holding config.json, tokenizer and weights, or a hub repo id (org/name) as "
        "transformers' model_name_or_path takes it: read from the Hugging Face cache, downloaded only when online"
    )
    dtype: Precision = _dtype()


class GGUFModel(Section):
    kind: Literal["gguf"] = Field(description="a GGUF file, converted once to a cached model directory")
    path: str = Field(description="path to the .gguf file")
    backend: Literal["transformers", "llamacpp"] = Field(
        "transformers",
        description="transformers (converted once; every strategy and suite) or llamacpp (runs the file as is; "
        "the llamacpp extra)",
    )
    dtype: Precision = _dtype()


# How requests reach an endpoint, not what it answers: not part of what saved answers are keyed by.
TRANSPORT = frozenset({"concurrency", "timeout_s", "max_tries", "max_wait_s", "backoff_s"})


class OpenAIModel(Section):
    kind: Literal["openai"] = Field(description="any OpenAI-compatible endpoint (vLLM, llama.cpp server, hosted)")
    base_url: str = Field(description="endpoint root, e.g. http://127.0.0.1:8000/v1")
    model: str = Field(description="model name the endpoint serves")
    api_key_env: str | None = Field(None, description="environment variable holding the API key, if any")
    context_window: int = Field(8192, ge=256, description="tokens the served model accepts (prompt + answer)")
    concurrency: int = Field(4, ge=1, le=256, description="requests in flight at once")
    timeout_s: float = Field(120.0, gt=0, description="seconds to wait for one response")
    max_tries: int = Field(
        5, ge=1, le=100, description="tries per request on 408/409/429/5xx, timeouts, dropped connections"
    )
    max_wait_s: float = Field(60.0, ge=0, description="most seconds one request waits between its tries, in all")
    backoff_s: float = Field(0.5, gt=0, description="first wait's ceiling; doubles each try (random below it)")
    tokenizer: str | None = Field(
        None,
        description="local tokenizer directory to count tokens (default: the packaged model's if served, "
        "else characters ÷ 4)",
    )

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https:// (got {url!r})")
        return url


ModelConfig = Annotated[PackagedModel | HFModel | GGUFModel | OpenAIModel, Field(discriminator="kind")]


class GenerationConfig(Section):
    max_new_tokens: int = Field(32, ge=1, le=4096, description="longest answer, in tokens")
    batch_size: int = Field(8, ge=1, le=512, description="prompts generated together (higher: faster, more memory)")
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="0 is greedy decoding (reproducible)")
