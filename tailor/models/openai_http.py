"""Any OpenAI-compatible endpoint (``/v1/chat/completions``): vLLM, llama.cpp server, hosted APIs.

A batch is sent as concurrent requests (``concurrency`` in flight); the server does the batching.

A request that meets a passing fault is tried again, on the faults the ``openai`` client retries:
connection errors and timeouts, HTTP 408, 409, 429 and 5xx, and a 200 whose body is cut short. Each
wait is what the server's ``Retry-After`` asks, or else drawn at random below a ceiling that doubles
with every try (full jitter, so the requests in flight do not all come back at once). One request is
tried at most ``max_tries`` times and waits at most ``max_wait_s`` in all; then it fails with one
line naming the endpoint, the last fault and the tries. What else the server refuses (400, 401, 403,
404, 422...) fails at once with the server's message: trying again cannot change it.

Token counts come from the response's ``usage``. Where a server omits it they are counted with the
model's tokenizer when one is known, else estimated; ``token_counter`` says which.
"""

from __future__ import annotations

import email.utils
import math
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from pathlib import Path
from typing import Any

from tailor.errors import ModelError, Problem
from tailor.models.base import Generation, GenerationSettings, Message, Prompt

CHARS_PER_TOKEN = 4  # estimate used only where the endpoint reports no usage and we have no tokenizer
ESTIMATE = "estimate: characters ÷ 4"
RETRY_STATUSES = frozenset({408, 409, 429})  # and every 5xx, as the openai client does


class OpenAIGenerator:
    """Chat completions over HTTP with ``httpx``, retried on passing faults.

    ``retries`` counts the tries made again, by cause (``HTTP 429``, ``ReadTimeout``, ``malformed body``...);
    ``token_counter`` says how tokens are counted where the server reports none. ``rng`` draws the jittered
    waits and ``sleep`` waits them (tests pass a seeded one and a recorder).
    """

    remote = True  # it bills by token; a local backend costs the machine's time (the cost suite)

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        context_window: int = 8192,
        concurrency: int = 4,
        timeout_s: float = 120.0,
        max_tries: int = 5,
        max_wait_s: float = 60.0,
        backoff_s: float = 0.5,
        tokenizer_dir: Path | str | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        import httpx

        self.name = model
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.concurrency = concurrency
        self.max_tries = max_tries
        self.max_wait_s = max_wait_s
        self.backoff_s = backoff_s
        self.retries: dict[str, int] = {}
        self._window = context_window
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._lock = threading.Lock()  # guards retries and the rng across the request threads
        self._tokenizer = load_tokenizer(Path(tokenizer_dir)) if tokenizer_dir is not None else None
        self.token_counter = f"tokenizer {tokenizer_dir}" if tokenizer_dir is not None else ESTIMATE
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
        if self._tokenizer is not None:
            return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])
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
        messages: list[Message] = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
        body = {
            "model": self.model,
            "messages": messages,
            "max_tokens": settings.max_new_tokens,
            "temperature": settings.temperature,
        }
        start = time.perf_counter()
        data = self._post(body)
        latency = time.perf_counter() - start
        try:
            text = data["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise ModelError(
                f"{self.base_url}: response is not an OpenAI chat completion: {str(data)[:200]!r}"
            ) from None
        usage = data.get("usage") or {}
        return Generation(
            text=text.strip(),
            prompt_tokens=int(usage.get("prompt_tokens") or self._prompt_tokens(messages)),
            completion_tokens=int(usage.get("completion_tokens") or self.count_tokens(text)),
            latency_s=latency,
        )

    def _post(self, body: dict[str, Any]) -> Any:
        """The endpoint's JSON reply to ``body``, tried again on passing faults.

        Raises:
            ModelError: the server refused the request, or still failed after ``max_tries`` tries or
                ``max_wait_s`` of waiting.
        """
        import httpx

        waited, tries, start = 0.0, 0, time.monotonic()
        while True:
            tries += 1
            asked: float | None = None  # the wait the server asked for
            try:
                resp = self._client.post("/chat/completions", json=body)
            except httpx.HTTPError as e:  # refused, dropped, timed out: what the openai client retries too
                cause, detail = e.__class__.__name__, str(e)
            else:
                if resp.status_code == 200:
                    try:
                        return resp.json()
                    except ValueError:  # cut short (a complete JSON reply of the wrong shape is not retried)
                        cause, detail = "malformed body", repr(resp.text[:80])
                elif resp.status_code in RETRY_STATUSES or resp.status_code >= 500:
                    cause, detail = f"HTTP {resp.status_code}", _error_text(resp)
                    asked = _retry_after(resp.headers)
                else:
                    raise ModelError(
                        f"{self.base_url}: HTTP {resp.status_code} from /chat/completions: {_error_text(resp)}"
                    )
            if tries >= self.max_tries or waited >= self.max_wait_s:
                break
            with self._lock:
                self.retries[cause] = self.retries.get(cause, 0) + 1
                ceiling = self.backoff_s * 2 ** min(tries - 1, 30)
                wait = asked if asked is not None else self._rng.uniform(0, ceiling)
            wait = min(wait, self.max_wait_s - waited)
            self._sleep(wait)
            waited += wait
        detail = " ".join(detail.split())[:200] or "no detail"
        raise ModelError(
            f"{self.base_url}/chat/completions: no answer after {tries} {'try' if tries == 1 else 'tries'} in "
            f"{time.monotonic() - start:.1f} s; "
            f"last error: {cause} ({detail}); check that the endpoint is up, or raise max_tries or max_wait_s"
        )

    def _prompt_tokens(self, messages: list[Message]) -> int:
        """Tokens of the prompt as the model sees it (chat template applied), where the server did not say."""
        if self._tokenizer is not None and self._tokenizer.chat_template:
            text = self._tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            return self.count_tokens(text)
        return self.count_tokens("\n".join(m["content"] for m in messages))


def load_tokenizer(path: Path) -> Any:
    """The tokenizer saved in directory ``path``, never downloaded.

    Raises:
        ModelError: ``path`` holds no tokenizer that transformers can read.
    """
    if not path.is_dir():
        message = f"tokenizer directory not found: {path}; name a local directory or remove it"
        raise ModelError(Problem(message, field="tokenizer"))
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError, KeyError) as e:
        message = f"{path}: cannot load a tokenizer from it: {' '.join(str(e).split())}"
        raise ModelError(Problem(message, field="tokenizer")) from None


def _retry_after(headers: Any) -> float | None:
    """Seconds the server asks to wait: ``retry-after-ms``, or ``Retry-After`` in seconds or as an HTTP date."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            seconds = float(headers.get(name, "")) * scale
        except ValueError:
            continue
        if math.isfinite(seconds):
            return max(0.0, seconds)
    try:
        when = email.utils.parsedate_to_datetime(headers.get("retry-after", ""))
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000": a time in UTC with no zone given
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - time.time())


def _error_text(resp: Any) -> str:
    """The server's error message, on one line."""
    try:
        err = resp.json().get("error")
        text = str(err.get("message", err) if isinstance(err, dict) else err)
    except (ValueError, AttributeError):
        text = resp.text
    return " ".join(text.split())[:300]
