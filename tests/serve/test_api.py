"""The OpenAI-compatible API as real clients use it: the official `openai` client (and raw HTTP for
malformed requests) against the server on 127.0.0.1, strategies built over a tiny world."""

from __future__ import annotations

import concurrent.futures
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tailor.recipe_file import load_recipe
from tailor.scaffold import init_project
from tailor.serve.keys import KeyStore, add_key, load_keys
from tailor.serve.server import build_state, running
from tailor.serve.settings import ServeConfig
from tailor.workspace import open_workspace

openai = pytest.importorskip("openai", reason="pip install openai (the dev extra)")


@pytest.fixture(scope="module")
def server(project):
    ws, keys, tokens = project
    config = ServeConfig(strategies=["baseline", "rag"], max_input_chars=500, max_body_bytes=4096)
    state = build_state(ws, load_keys(keys), config)
    with running(state) as base_url:
        yield base_url, tokens, state
    state.batcher.close()


def client(base_url: str, key: str):
    return openai.OpenAI(base_url=base_url, api_key=key, max_retries=0)


def test_models_are_the_strategies_a_key_may_use(server):
    base_url, tokens, _ = server
    assert [m.id for m in client(base_url, tokens["alice"]).models.list()] == ["tailor-baseline", "tailor-rag"]
    assert [m.id for m in client(base_url, tokens["bob"]).models.list()] == ["tailor-baseline"]


def test_chat_completion_has_usage_and_rag_citations(server):
    base_url, tokens, _ = server
    reply = client(base_url, tokens["alice"]).chat.completions.create(
        model="tailor-rag",
        messages=[{"role": "system", "content": "ignored"}, {"role": "user", "content": "Who leads HR?"}],
        temperature=0.3,  # accepted, not used: each strategy decodes with its own settings
    )
    assert reply.object == "chat.completion" and reply.model == "tailor-rag"
    assert reply.choices[0].message.content.startswith("answer to: Who leads HR?")
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 0
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    extension = reply.model_extra["tailor"]
    assert extension["strategy"] == "rag" and extension["contexts"]
    assert extension["citations"] == [extension["contexts"][0]]


def test_streaming_gives_the_same_answer_in_pieces(server):
    base_url, tokens, _ = server
    c = client(base_url, tokens["alice"])
    messages = [{"role": "user", "content": "When was the company founded?"}]
    whole = c.chat.completions.create(model="tailor-baseline", messages=messages).choices[0].message.content
    chunks = list(
        c.chat.completions.create(
            model="tailor-baseline", messages=messages, stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == whole and len([ch for ch in chunks if ch.choices]) > 3
    assert chunks[-1].usage.completion_tokens > 0


def test_completions_route_plain_and_streaming(server):
    base_url, tokens, _ = server
    c = client(base_url, tokens["alice"])
    plain = c.completions.create(model="tailor-baseline", prompt="Name the CEO.")
    assert plain.object == "text_completion" and plain.choices[0].text == "answer to: Name the CEO."
    streamed = "".join(
        ch.choices[0].text
        for ch in c.completions.create(model="tailor-baseline", prompt="Name the CEO.", stream=True)
        if ch.choices
    )
    assert streamed == plain.choices[0].text


def test_auth_errors_are_401_403_404_in_openai_form(server):
    base_url, tokens, _ = server
    with pytest.raises(openai.AuthenticationError) as wrong:
        client(base_url, "tk-not-a-key").models.list()
    assert wrong.value.status_code == 401 and wrong.value.body["code"] == "invalid_api_key"
    missing = httpx.get(f"{base_url}/models")
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "missing_api_key"
    with pytest.raises(openai.PermissionDeniedError):
        client(base_url, tokens["bob"]).chat.completions.create(
            model="tailor-rag", messages=[{"role": "user", "content": "hi"}]
        )
    with pytest.raises(openai.NotFoundError) as unknown:
        client(base_url, tokens["alice"]).chat.completions.create(
            model="gpt-4", messages=[{"role": "user", "content": "hi"}]
        )
    assert unknown.value.body["code"] == "model_not_found"


MALFORMED = [
    b"{not json",
    b"[]",
    b"42",
    b'"text"',
    b"{}",
    b'{"model": "tailor-baseline"}',
    b'{"model": "tailor-baseline", "messages": []}',
    b'{"model": "tailor-baseline", "messages": "hi"}',
    b'{"model": "tailor-baseline", "messages": [{"role": "user"}]}',
    b'{"model": "tailor-baseline", "messages": [{"role": "wizard", "content": "hi"}]}',
    b'{"model": "tailor-baseline", "messages": [{"role": "user", "content": 5}]}',
    b'{"model": "tailor-baseline", "messages": [{"role": "assistant", "content": "hi"}]}',
    b'{"model": "tailor-baseline", "messages": [{"role": "user", "content": "hi"}], "n": 3}',
    b'{"model": "tailor-baseline", "messages": [{"role": "user", "content": "hi"}], "stream": "maybe"}',
    b'{"model": 7, "messages": [{"role": "user", "content": "hi"}]}',
    b"\xff\xfe\x00garbage",
]


@pytest.mark.parametrize("body", MALFORMED, ids=range(len(MALFORMED)))
def test_malformed_bodies_get_400_never_500(server, body):
    base_url, tokens, _ = server
    headers = {"Authorization": f"Bearer {tokens['alice']}", "Content-Type": "application/json"}
    response = httpx.post(f"{base_url}/chat/completions", content=body, headers=headers)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["message"]


def test_oversized_input_is_413(server):
    base_url, tokens, _ = server
    headers = {"Authorization": f"Bearer {tokens['alice']}"}
    long_question = {"model": "tailor-baseline", "messages": [{"role": "user", "content": "x" * 600}]}
    assert httpx.post(f"{base_url}/chat/completions", json=long_question, headers=headers).status_code == 413
    huge = {"model": "tailor-baseline", "prompt": "y" * 10_000}
    response = httpx.post(f"{base_url}/completions", json=huge, headers=headers)
    assert response.status_code == 413 and response.json()["error"]["code"] == "body_too_large"


def test_unknown_route_and_method_are_openai_errors(server):
    base_url, _tokens, _ = server
    assert httpx.get(f"{base_url}/engines").json()["error"]["code"] == "not_found"
    assert httpx.get(f"{base_url}/chat/completions").status_code == 405


def test_concurrent_requests_are_batched_and_each_gets_its_own_answer(server):
    base_url, tokens, state = server
    c = client(base_url, tokens["alice"])
    before = state.batcher.batches

    def ask(i: int) -> str:
        msg = [{"role": "user", "content": f"question {i}"}]
        return c.chat.completions.create(model="tailor-baseline", messages=msg).choices[0].message.content

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(ask, range(32)))
    assert answers == [f"answer to: question {i}" for i in range(32)]
    assert state.batcher.batches - before < 32  # several requests shared a generator call


def test_a_full_queue_answers_429_with_retry_after(project, scripted):
    ws, keys, tokens = project
    slow = scripted(lambda messages: time.sleep(0.3) or "slow answer")
    from dataclasses import replace

    state = build_state(ws, load_keys(keys), ServeConfig(strategies=["baseline"], batch_size=1, max_queue=1))
    state.batcher.strategies["tailor-baseline"] = replace(state.batcher.strategies["tailor-baseline"], generator=slow)
    with running(state) as base_url:
        headers = {"Authorization": f"Bearer {tokens['alice']}"}
        body = {"model": "tailor-baseline", "messages": [{"role": "user", "content": "hi"}]}
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            responses = list(
                pool.map(
                    lambda _: httpx.post(f"{base_url}/chat/completions", json=body, headers=headers, timeout=30),
                    range(6),
                )
            )
    state.batcher.close()
    codes = sorted(r.status_code for r in responses)
    assert 200 in codes and 429 in codes and set(codes) <= {200, 429}
    limited = next(r for r in responses if r.status_code == 429)
    assert limited.headers["retry-after"] == "1" and limited.json()["error"]["code"] == "rate_limit_exceeded"


def test_logs_name_the_key_id_never_the_key_or_the_text(server, caplog):
    base_url, tokens, _ = server
    question = "What is the secret launch date of Project Quilwick?"
    with caplog.at_level(logging.INFO, logger="tailor.serve"):
        client(base_url, tokens["alice"]).chat.completions.create(
            model="tailor-rag", messages=[{"role": "user", "content": question}]
        )
        with pytest.raises(openai.AuthenticationError):
            client(base_url, tokens["alice"] + "x").models.list()
    text = caplog.text
    assert "status=200" in text and "user=alice" in text and "status=401" in text
    assert tokens["alice"] not in text and "Quilwick" not in text and "answer to" not in text


def test_key_lookup_compares_every_key_in_constant_time(monkeypatch, tmp_path):
    import hmac

    keys = tmp_path / "keys.yaml"
    first, _ = add_key(keys, "a", ["everyone"])
    for user in "bcd":
        add_key(keys, user, ["everyone"])
    store = load_keys(keys)
    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    assert store.find(first).user == "a" and len(calls) == 4  # no early exit on the first match
    assert store.find("tk-wrong") is None and len(calls) == 8
    assert first not in keys.read_text()  # only hashes are stored


def test_keys_come_from_the_environment_and_bad_files_are_named(monkeypatch, tmp_path):
    from tailor.errors import RecipeError

    keys = tmp_path / "keys.yaml"
    key, _entry = add_key(keys, "env-user", ["everyone"])
    monkeypatch.setenv("TAILOR_API_KEYS", keys.read_text())
    assert load_keys(tmp_path / "absent.yaml").find(key).user == "env-user"
    monkeypatch.delenv("TAILOR_API_KEYS")
    bad = tmp_path / "bad.yaml"
    bad.write_text("keys:\n  - user: x\n    sha256: not-a-hash\n")
    with pytest.raises(RecipeError, match=r"bad.yaml.*keys\[0\].*64 lowercase hex"):
        load_keys(bad)
    empty = tmp_path / "empty.yaml"
    empty.write_text("keys: []\n")
    with pytest.raises(RecipeError, match=r"empty.yaml.*holds no key"):  # before any model is loaded
        load_keys(empty)
    assert isinstance(KeyStore([]).find("anything"), type(None))


class StandIn(BaseHTTPRequestHandler):
    """A stand-in for a vLLM server: answers every chat with the last message, reversed."""

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        text = body["messages"][-1]["content"][::-1]
        reply = {
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16},
        }
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_proxy_to_an_openai_compatible_generator(tmp_path, tiny_world_dir):
    import shutil

    import yaml

    upstream = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    try:
        shutil.copytree(tiny_world_dir, tmp_path / "world")
        recipe = {
            "model": {"kind": "openai", "base_url": f"http://127.0.0.1:{upstream.server_port}/v1", "model": "m"},
            "data": {"examples": [{"path": "world/qa.jsonl"}], "corpus": ["world/docs/**/*.md"]},
            "strategies": ["baseline"],
        }
        (tmp_path / "tailor.yaml").write_text(yaml.safe_dump(recipe))
        ws = open_workspace(load_recipe(tmp_path / "tailor.yaml"))
        key, _ = add_key(tmp_path / "keys.yaml", "carol", ["everyone"])
        state = build_state(ws, load_keys(tmp_path / "keys.yaml"))
        with running(state) as base_url:
            reply = client(base_url, key).chat.completions.create(
                model="tailor-baseline", messages=[{"role": "user", "content": "abc"}]
            )
        state.batcher.close()
        assert reply.choices[0].message.content.startswith("cba")
        assert reply.usage.prompt_tokens == 11 and reply.usage.completion_tokens == 5
    finally:
        upstream.shutdown()


@pytest.mark.slow
def test_tailor_serve_command_with_the_real_model(tmp_path):
    """`tailor keys add` then `tailor serve` as a user runs them; the packaged model answers over HTTP."""
    import signal
    import subprocess
    import sys

    from tailor.serve.server import free_port

    init_project(tmp_path, size="tiny")
    recipe = tmp_path / "tailor.yaml"
    text = recipe.read_text()  # serve only baseline: nothing to search, index or train first
    recipe.write_text(text.replace("  # strategies:  # strategies served", "  strategies: [baseline]  # served"))
    tailor = [sys.executable, "-m", "tailor"]
    missing = subprocess.run([*tailor, "serve", "--recipe", str(recipe)], capture_output=True, text=True)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert "API keys file not found" in missing.stderr and len(missing.stderr.strip().splitlines()) == 1
    added = subprocess.run(
        [*tailor, "keys", "add", "dana", "--groups", "everyone", "--recipe", str(recipe)],
        capture_output=True,
        text=True,
        check=True,
    )
    key = added.stdout.strip()
    assert key.startswith("tk-") and key not in (tmp_path / "keys.yaml").read_text()
    port = free_port()
    server = subprocess.Popen(
        [*tailor, "serve", "--recipe", str(recipe), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while True:
            assert server.poll() is None, server.stderr.read()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "tailor serve did not come up"
            time.sleep(0.5)
        c = client(f"http://127.0.0.1:{port}/v1", key)
        assert "tailor-baseline" in [m.id for m in c.models.list()]
        reply = c.chat.completions.create(
            model="tailor-baseline", messages=[{"role": "user", "content": "Say hello in one word."}]
        )
        assert reply.choices[0].message.content.strip() and reply.usage.completion_tokens > 0
        server.send_signal(signal.SIGTERM)  # as a process manager stops it: drained, exit code 0
        assert server.wait(timeout=60) == 0
        log = server.stderr.read()
        assert "POST /v1/chat/completions status=200" in log and "Traceback" not in log
    finally:
        server.kill()
        server.wait(timeout=30)
