"""Token streaming on the real server on 127.0.0.1: the words of an answer reach the client while the model
is still generating, through the batcher, for chat and completions, rag's citations included; a model that
fails after its first words ends the stream instead of hanging it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import httpx
import pytest

from tailor.models.base import Generation, GenerationSettings, OnText, Prompt, settled
from tailor.serve.keys import load_keys
from tailor.serve.server import build_state, running
from tailor.serve.settings import ServeConfig

WORD_S = 0.15


class Dictating:
    """A model that says its answer a word at a time, WORD_S seconds a word, reporting each as it goes:
    "answer to <the question's last word> one two three four five". A question containing "halfway"
    makes it fail after its third word."""

    name = "dictating"
    streams = True
    context_window = 8192

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def generate(
        self,
        prompts: Sequence[Prompt],
        settings: GenerationSettings,
        progress: Callable[[int], None] | None = None,
        on_text: OnText | None = None,
    ) -> list[Generation]:
        questions = [p if isinstance(p, str) else p[-1]["content"].rsplit("\n", 1)[-1] for p in prompts]
        answers = [f"answer to {q.split()[-1]} one two three four five".split() for q in questions]
        for n in range(1, max(len(a) for a in answers) + 1):
            time.sleep(WORD_S)
            for i, words in enumerate(answers):
                if n == 4 and "halfway" in questions[i]:
                    raise RuntimeError("the model fell over halfway")
                if on_text is not None and n <= len(words):
                    on_text(i, settled(" ".join(words[:n])))
        return [Generation(" ".join(a), 10, len(a), WORD_S * len(a)) for a in answers]


@pytest.fixture(scope="module")
def server(project):
    ws, keys, tokens = project
    state = build_state(ws, load_keys(keys), ServeConfig(strategies=["baseline", "rag"], batch_size=4))
    for name, strategy in state.batcher.strategies.items():
        state.batcher.strategies[name] = replace(strategy, generator=Dictating())
    with running(state) as base_url:
        yield base_url, tokens["alice"]
    state.batcher.close()


def stream(base_url: str, key: str, route: str, body: dict) -> tuple[list[dict], list[float], float]:
    """POST a streaming request: (the chunks, seconds from the request to each, seconds to the end)."""
    chunks, arrived, start = [], [], time.perf_counter()
    with httpx.stream(
        "POST", f"{base_url}/{route}", json={**body, "stream": True}, headers={"Authorization": f"Bearer {key}"}
    ) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if line.startswith("data: {"):
                chunks.append(json.loads(line.removeprefix("data: ")))
                arrived.append(time.perf_counter() - start)
    return chunks, arrived, time.perf_counter() - start


def test_chat_words_arrive_while_the_answer_is_generated(server):
    base_url, key = server
    messages = [{"role": "user", "content": "Who founded Zorblax?"}]
    chunks, arrived, total = stream(
        base_url, key, "chat/completions", {"model": "tailor-baseline", "messages": messages}
    )
    deltas = [
        (c["choices"][0]["delta"].get("content"), t) for c, t in zip(chunks, arrived, strict=True) if c["choices"]
    ]
    words = [(text, t) for text, t in deltas if text]
    assert "".join(text for text, _ in words) == "answer to Zorblax? one two three four five"
    assert len(words) >= 6  # one delta per settled word, not the whole answer at the end
    assert words[0][1] < total - 4 * WORD_S  # the first word came while at least four were still to come
    plain = httpx.post(
        f"{base_url}/chat/completions",
        json={"model": "tailor-baseline", "messages": messages},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert plain.json()["choices"][0]["message"]["content"] == "".join(text for text, _ in words)


def test_completion_stream_of_rag_ends_with_its_citations(server):
    base_url, key = server
    # the stand-in's answer contains no document text, so rag cites nothing; its contexts still arrive last
    chunks, arrived, total = stream(base_url, key, "completions", {"model": "tailor-rag", "prompt": "Who is the CEO?"})
    text = "".join(c["choices"][0]["text"] for c in chunks if c["choices"])
    assert text == "answer to CEO? one two three four five"
    assert arrived[0] < total - 4 * WORD_S
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and chunks[-1]["tailor"]["contexts"]


def test_concurrent_streams_in_one_batch_each_get_their_own_words(server):
    import concurrent.futures

    base_url, key = server

    def one(i: int) -> str:
        body = {"model": "tailor-baseline", "messages": [{"role": "user", "content": f"question q{i}"}]}
        chunks, _, _ = stream(base_url, key, "chat/completions", body)
        return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        texts = list(pool.map(one, range(4)))
    assert texts == [f"answer to q{i} one two three four five" for i in range(4)]


def test_a_model_failing_after_its_first_words_ends_the_stream_with_an_error_event(server, capfd):
    """(Failing before its first words is a 500: tests/serve/test_guard.py.)"""
    import openai

    base_url, key = server
    body = {"model": "tailor-baseline", "messages": [{"role": "user", "content": "fail halfway"}], "stream": True}
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.stream("POST", f"{base_url}/chat/completions", json=body, headers=headers, timeout=10) as response:
        assert response.status_code == 200  # its first words were out before it failed
        events = [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")]
    assert events[1]["choices"][0]["delta"]["content"] == "answer"  # the words said before the failure
    error = events[-1]["error"]  # then an error event, and no [DONE]
    assert error["code"] == "internal_error" and response.headers["x-request-id"] in error["message"]
    with pytest.raises(openai.APIError, match="internal error"):  # what the official client makes of it
        client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0)
        for _ in client.chat.completions.create(model="tailor-baseline", messages=body["messages"], stream=True):
            pass
    assert "without completing response" not in capfd.readouterr().err  # ended properly, not dropped
    ok = httpx.post(f"{base_url}/completions", json={"model": "tailor-baseline", "prompt": "again"}, headers=headers)
    assert ok.status_code == 200 and ok.json()["choices"][0]["text"] == "answer to again one two three four five"
