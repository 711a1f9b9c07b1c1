"""`tailor serve` as a real process shuts down gracefully on SIGTERM: it stops accepting connections,
answers every request in flight or queued (within serve.drain_timeout_s) and exits 0.

The model is a stand-in OpenAI-compatible endpoint in this process that takes its time per answer, so
requests are reliably in flight when the signal arrives; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import concurrent.futures
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tailor.serve.keys import add_key
from tailor.serve.server import free_port


def slow_echo(seconds: float):
    def respond(messages) -> str:
        time.sleep(seconds)
        return "echo: " + messages[-1]["content"].rsplit("\n", 1)[-1]

    return respond


def start_server(tmp_path: Path, world: Path, model_url: str, serve: dict) -> tuple[subprocess.Popen, str, str]:
    """`python -m tailor serve` over the tiny world with ``serve`` as its serve section, up and answering:
    (process, /v1 base URL, an API key). Its stderr goes to tmp_path/serve.log."""
    shutil.copytree(world, tmp_path / "world")
    recipe = {
        "model": {"kind": "openai", "base_url": model_url, "model": "m"},
        "data": {"examples": [{"path": "world/qa.jsonl"}], "corpus": ["world/docs/**/*.md"]},
        "strategies": ["baseline"],
        "serve": {"strategies": ["baseline"], **serve},
    }
    (tmp_path / "tailor.yaml").write_text(yaml.safe_dump(recipe))
    key, _ = add_key(tmp_path / "keys.yaml", "erin", ["everyone"])
    port = free_port()
    command = [sys.executable, "-m", "tailor", "serve", "--recipe", str(tmp_path / "tailor.yaml"), "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=(tmp_path / "serve.log").open("w"))
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, (tmp_path / "serve.log").read_text()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                return process, f"http://127.0.0.1:{port}/v1", key
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "tailor serve did not come up"
        time.sleep(0.1)


def ask(base_url: str, key: str, question: str) -> httpx.Response:
    body = {"model": "tailor-baseline", "messages": [{"role": "user", "content": question}]}
    return httpx.post(f"{base_url}/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=60)


def refuses_connections(base_url: str) -> bool:
    url = httpx.URL(base_url)
    try:
        socket.create_connection((url.host, url.port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def wait_for(condition, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.02)


@pytest.mark.slow
def test_sigterm_answers_requests_in_flight_and_queued_then_exits_0(tmp_path, tiny_world_dir, faulty_endpoint):
    # batches of 2, 0.5 s per answer, one answer at a time: 4 requests are 2 s of work, 2 of them queued
    with faulty_endpoint(slow_echo(0.5)) as model:
        serve = {"batch_size": 2, "batch_wait_ms": 300, "drain_timeout_s": 30}
        process, base_url, key = start_server(tmp_path, tiny_world_dir, model.url, serve)
        try:
            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                replies = [pool.submit(ask, base_url, key, f"question {i}") for i in range(4)]
                health = base_url.removesuffix("/v1") + "/health"
                wait_for(lambda: httpx.get(health).json()["queued"] == 2)  # 2 being answered, 2 waiting
                process.send_signal(signal.SIGTERM)
                wait_for(lambda: refuses_connections(base_url), seconds=5)
                assert not all(r.done() for r in replies)  # no new connection while these are still running
                for i, reply in enumerate(replies):
                    response = reply.result()
                    assert response.status_code == 200, response.text
                    assert response.json()["choices"][0]["message"]["content"] == f"echo: question {i}"
                    assert response.json()["choices"][0]["finish_reason"] == "stop"
            assert process.wait(timeout=30) == 0
        finally:
            process.kill()
    log = (tmp_path / "serve.log").read_text()
    assert "Traceback" not in log and log.count("POST /v1/chat/completions status=200") == 4
    assert refuses_connections(base_url)


@pytest.mark.slow
def test_a_request_still_running_at_the_drain_timeout_gets_503(tmp_path, tiny_world_dir, faulty_endpoint):
    with faulty_endpoint(slow_echo(3)) as model:
        process, base_url, key = start_server(tmp_path, tiny_world_dir, model.url, {"drain_timeout_s": 0.5})
        try:
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                reply = pool.submit(ask, base_url, key, "a long one")
                wait_for(lambda: model.seen)
                process.send_signal(signal.SIGTERM)
                signalled = time.monotonic()
                response = reply.result()
                assert time.monotonic() - signalled < 2.5  # cut off after about 0.5 s, not the 3 s answer
            assert response.status_code == 503 and response.json()["error"]["code"] == "server_shutting_down"
            assert process.wait(timeout=30) == 0
        finally:
            process.kill()
    assert "Traceback" not in (tmp_path / "serve.log").read_text()
