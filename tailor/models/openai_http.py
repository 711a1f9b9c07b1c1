"""Any OpenAI-compatible endpoint (``/v1/chat/completions``): vLLM, llama.cpp server, hosted APIs.

A batch is sent as concurrent requests (``concurrency`` in flight); the server does the batching.
Token counts come from the response's ``usage``; where a server omits it they are estimated.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tailor.errors import ModelError
from tailor.models.base import Generation, GenerationSettings, Message, Prompt

CHARS_PER_TOKEN = 4  # estimate used only where the endpoint reports no usage and we have no tokenizer


class OpenAIGenerator:
    """Chat completions over HTTP with ``httpx``."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        context_window: int = 8192,
        concurrency: int = 4,
        timeout_s: float = 120.0,
    ):
        import httpx

        self.name = model
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.concurrency = concurrency
        self._window = context_window
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout_s)

    @classmethod
    def from_env(cls, base_url: str, model: str, api_key_env: str | None, **kwargs: Any) -> OpenAIGenerator:
        """Build with the API key read from ``api_key_env``.

        Raises:
            ModelError: the variable is named but not set.
        """
        key = None
        if api_key_env:
            key = os.environ.get(api_key_env)
            if not key:
                raise ModelError(f"the environment variable {api_key_env!r} (api_key_env) is not set")
        return cls(base_url, model, api_key=key, **kwargs)

    @property
    def context_window(self) -> int:
        return self._window

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // CHARS_PER_TOKEN)

    def generate(
        self,
        prompts: Sequence[Prompt],
        settings: GenerationSettings,
        progress: Callable[[int], None] | None = None,
    ) -> list[Generation]:
        def one(prompt: Prompt) -> Generation:
            gen = self._complete(prompt, settings)
            if progress is not None:
                progress(1)
            return gen

        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(one, prompts))

    def _complete(self, prompt: Prompt, settings: GenerationSettings) -> Generation:
        import httpx

        messages: list[Message] = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
        body = {
            "model": self.model,
            "messages": messages,
            "max_tokens": settings.max_new_tokens,
            "temperature": settings.temperature,
        }
        start = time.perf_counter()
        try:
            resp = self._client.post("/chat/completions", json=body)
        except httpx.HTTPError as e:
            raise ModelError(f"{self.base_url}: request failed ({e.__class__.__name__}: {e})") from None
        latency = time.perf_counter() - start
        if resp.status_code != 200:
            raise ModelError(f"{self.base_url}: HTTP {resp.status_code} from /chat/completions: {_error_text(resp)}")
        try:
            data = resp.json()
            text = data["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError):
            raise ModelError(
                f"{self.base_url}: response is not an OpenAI chat completion: {resp.text[:200]!r}"
            ) from None
        usage = data.get("usage") or {}
        prompt_chars = sum(len(m["content"]) for m in messages)
        return Generation(
            text=text.strip(),
            prompt_tokens=int(usage.get("prompt_tokens") or prompt_chars // CHARS_PER_TOKEN),
            completion_tokens=int(usage.get("completion_tokens") or self.count_tokens(text)),
            latency_s=latency,
        )


def _error_text(resp: Any) -> str:
    try:
        err = resp.json().get("error")
        if isinstance(err, dict):
            return str(err.get("message", err))[:300]
        return str(err)[:300]
    except ValueError:
        return resp.text[:300]
