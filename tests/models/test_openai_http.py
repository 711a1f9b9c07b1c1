"""The OpenAI-compatible backend against a real HTTP server on 127.0.0.1, started by the test.

The server wraps the real local model, so the HTTP path must give exactly the local answers.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tailor.errors import ModelError
from tailor.models.base import GenerationSettings
from tailor.models.openai_http import OpenAIGenerator

QUESTIONS = ["What is the capital of France?", "Name a primary colour.", "What is 2 + 2?"]


def _serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def _model_server(generator, api_key: str | None, seen: list[dict]) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()  # the local model answers one request at a time

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def _reply(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            if api_key and self.headers.get("Authorization") != f"Bearer {api_key}":
                self._reply(401, {"error": {"message": "invalid api key", "type": "invalid_request_error"}})
                return
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append(body)
            settings = GenerationSettings(max_new_tokens=body["max_tokens"], temperature=body["temperature"])
            with lock:
                gen = generator.generate([body["messages"]], settings)[0]
            self._reply(
                200,
                {
                    "id": "cmpl-1",
                    "object": "chat.completion",
                    "model": body["model"],
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": gen.text}}],
                    "usage": {
                        "prompt_tokens": gen.prompt_tokens,
                        "completion_tokens": gen.completion_tokens,
                        "total_tokens": gen.prompt_tokens + gen.completion_tokens,
                    },
                },
            )

    return Handler


@pytest.fixture
def model_server(real_generator) -> Iterator[tuple[str, list[dict]]]:
    seen: list[dict] = []
    yield from ((url, seen) for url in _serve(_model_server(real_generator, "sekrit", seen)))


def _messages(q: str) -> list[dict]:
    return [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": q}]


@pytest.mark.slow
def test_http_backend_gives_the_local_models_answers(real_generator, model_server) -> None:
    url, seen = model_server
    settings = GenerationSettings(max_new_tokens=12)
    remote = OpenAIGenerator(url, "smollm2", api_key="sekrit", concurrency=3)
    calls: list[int] = []
    got = remote.generate([_messages(q) for q in QUESTIONS], settings, calls.append)
    want = [real_generator.generate([_messages(q)], settings)[0] for q in QUESTIONS]
    assert [g.text for g in got] == [w.text for w in want]
    assert [g.prompt_tokens for g in got] == [w.prompt_tokens for w in want]
    assert [g.completion_tokens for g in got] == [w.completion_tokens for w in want]
    assert sum(calls) == len(QUESTIONS)
    assert all(body["model"] == "smollm2" and body["max_tokens"] == 12 for body in seen)


def test_raw_text_prompt_is_sent_as_one_user_message(model_server) -> None:
    url, seen = model_server
    OpenAIGenerator(url, "m", api_key="sekrit").generate(["Say hi."], GenerationSettings(max_new_tokens=4))
    assert seen[-1]["messages"] == [{"role": "user", "content": "Say hi."}]


def test_wrong_key_is_a_model_error_with_the_servers_message(model_server) -> None:
    url, _ = model_server
    with pytest.raises(ModelError, match=r"HTTP 401.*invalid api key"):
        OpenAIGenerator(url, "m", api_key="wrong").generate(["hi"], GenerationSettings())


def test_unreachable_endpoint_is_a_model_error_after_the_tries() -> None:
    gen = OpenAIGenerator("http://127.0.0.1:9/v1", "m", timeout_s=2, max_tries=2, backoff_s=0.01)
    with pytest.raises(
        ModelError,
        match=r"^http://127.0.0.1:9/v1/chat/completions: no answer after 2 tries .*"
        r"last error: ConnectError",
    ):
        gen.generate(["hi"], GenerationSettings())
    assert gen.retries == {"ConnectError": 1}


def test_non_openai_response_is_a_model_error() -> None:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    for url in _serve(Handler):
        with pytest.raises(ModelError, match="not an OpenAI chat completion"):
            OpenAIGenerator(url, "m").generate(["hi"], GenerationSettings())


def test_api_key_comes_from_the_named_environment_variable(monkeypatch, model_server) -> None:
    url, _ = model_server
    monkeypatch.setenv("TAILOR_TEST_KEY", "sekrit")
    gen = OpenAIGenerator.from_env(url, "m", "TAILOR_TEST_KEY")
    assert gen.generate(["2+2?"], GenerationSettings(max_new_tokens=4))[0].completion_tokens > 0
    monkeypatch.delenv("TAILOR_TEST_KEY")
    with pytest.raises(ModelError, match="not set"):
        OpenAIGenerator.from_env(url, "m", "TAILOR_TEST_KEY")


def _usage_free_server(generator) -> type[BaseHTTPRequestHandler]:
    """The local model behind an endpoint that reports no ``usage``, as some servers do."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            gen = generator.generate([body["messages"]], GenerationSettings(max_new_tokens=body["max_tokens"]))[0]
            data = json.dumps({"choices": [{"message": {"role": "assistant", "content": gen.text}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@pytest.mark.slow
def test_tokens_are_counted_with_the_packaged_tokenizer_when_the_endpoint_serves_it(real_generator) -> None:
    from tailor.config import Recipe
    from tailor.data.settings import DataConfig, ExampleSet
    from tailor.models.gguf import converted_dir, packaged_gguf
    from tailor.models.load import load_generator
    from tailor.models.settings import OpenAIModel

    settings = GenerationSettings(max_new_tokens=12)
    for url in _serve(_usage_free_server(real_generator)):
        served = OpenAIModel(kind="openai", base_url=url, model="HuggingFaceTB/SmolLM2-135M-Instruct")
        remote = load_generator(Recipe(model=served, data=DataConfig(examples=[ExampleSet(path="qa.jsonl")])))
        got = remote.generate([_messages(q) for q in QUESTIONS], settings)
    want = [real_generator.generate([_messages(q)], settings)[0] for q in QUESTIONS]
    assert remote.token_counter == f"tokenizer {converted_dir(packaged_gguf('smollm2-135m-instruct'))}"
    assert [g.prompt_tokens for g in got] == [w.prompt_tokens for w in want]  # chat template included
    assert [g.completion_tokens for g in got] == [real_generator.count_tokens(w.text) for w in want]
    text = "Tokenizers split words like antidisestablishmentarianism unevenly."
    assert remote.count_tokens(text) == real_generator.count_tokens(text) != len(text) // 4


def test_a_named_tokenizer_directory_counts_tokens_and_a_missing_one_is_an_error(tmp_path) -> None:
    from tailor.models.gguf import converted_dir, packaged_gguf
    from tailor.models.openai_http import ESTIMATE

    assert OpenAIGenerator("http://127.0.0.1:9/v1", "m").token_counter == ESTIMATE
    assert OpenAIGenerator("http://127.0.0.1:9/v1", "m").count_tokens("x" * 40) == 10
    with pytest.raises(ModelError, match=r"^tokenizer: tokenizer directory not found: .*no-such-dir"):
        OpenAIGenerator("http://127.0.0.1:9/v1", "m", tokenizer_dir=tmp_path / "no-such-dir")
    with pytest.raises(ModelError, match=r"^tokenizer: .*: cannot load a tokenizer from it"):
        OpenAIGenerator("http://127.0.0.1:9/v1", "m", tokenizer_dir=tmp_path)
    # Named in a recipe, the error is located at the field, on its line.
    from tailor.models.load import load_generator
    from tailor.recipe_file import load_recipe

    recipe = tmp_path / "tailor.yaml"
    recipe.write_text(
        "data:\n  examples: [{path: qa.jsonl}]\nmodel:\n  kind: openai\n  base_url: http://127.0.0.1:9/v1\n"
        "  model: m\n  tokenizer: no-such-dir\n"
    )
    (tmp_path / "qa.jsonl").write_text('{"id": "1", "question": "q?", "answer": "a"}\n')
    with pytest.raises(ModelError) as err:
        load_generator(load_recipe(recipe))
    assert str(err.value).startswith(f"{recipe}:7: model.tokenizer: tokenizer directory not found")
    model_dir = converted_dir(packaged_gguf("smollm2-135m-instruct"))
    gen = OpenAIGenerator("http://127.0.0.1:9/v1", "m", tokenizer_dir=model_dir)
    assert gen.token_counter == f"tokenizer {model_dir}" and gen.count_tokens("Hello world") == 2
