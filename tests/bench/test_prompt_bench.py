"""bench/prompt_bench.py: its call-counting endpoint, its outside-connection check and its scoring (no DSPy
needed), and the whole benchmark in --smoke mode with the real model where DSPy is installed."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tailor.models.base import GenerationSettings
from tailor.models.openai_http import OpenAIGenerator

ROOT = Path(__file__).resolve().parent.parent.parent


def _bench():
    """bench/prompt_bench.py as a module, with bench/ on the path as when it runs (for its ``common``)."""
    if str(ROOT / "bench") not in sys.path:
        sys.path.append(str(ROOT / "bench"))
    spec = importlib.util.spec_from_file_location("prompt_bench", ROOT / "bench" / "prompt_bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_endpoint_counts_every_call_under_the_phase_it_came_in(scripted):
    bench = _bench()
    model = scripted(lambda messages: f"echo {messages[-1]['content']}")
    endpoint = bench.CountingEndpoint(model)
    url = endpoint.start()
    try:
        client = OpenAIGenerator(url, bench.MODEL, concurrency=4)
        endpoint.phase("qa/tailor/optimize")
        first = client.generate([f"q{i}" for i in range(5)], GenerationSettings(max_new_tokens=7))
        endpoint.phase("qa/tailor/test")
        second = client.generate(["last one"], GenerationSettings(max_new_tokens=7, temperature=0.7))
    finally:
        endpoint.stop()
    assert sorted(g.text for g in first) == [f"echo q{i}" for i in range(5)]
    assert second[0].text == "echo last one"
    assert endpoint.usage("qa/tailor/optimize")["model_calls"] == 5
    assert endpoint.usage("qa/tailor/test")["model_calls"] == 1
    assert endpoint.usage("qa/tailor")["model_calls"] == 6  # a phase counts the phases under it
    assert endpoint.usage("qa/tailor/test")["completion_tokens"] == 3  # the scripted model counts words
    assert [c["temperature"] for c in endpoint.calls if c["phase"] == "qa/tailor/test"] == [0.7]
    assert len(model.prompts) == 6  # each request reached the model once


def test_outside_connections_are_recorded_and_loopback_is_not():
    outside = _bench().OutsideConnections()
    sys.audit("socket.connect", None, ("127.0.0.1", 8000))
    sys.audit("socket.getaddrinfo", "localhost", 80, 0, 0, 0)
    assert outside.seen == []
    sys.audit("socket.connect", None, ("192.0.2.7", 443))  # the event only: nothing is sent
    sys.audit("socket.getaddrinfo", "example.invalid", 443, 0, 0, 0)
    assert outside.seen == ["connect 192.0.2.7:443", "lookup example.invalid"]


def test_routing_answers_without_a_label_are_format_failures_not_wrong_answers(tiny_world_dir):
    from tailor.data.examples import TaskDataset, load_examples

    bench = _bench()
    examples = load_examples(tiny_world_dir / "routing.jsonl")[:3]
    labels = tuple(sorted({e.label for e in load_examples(tiny_world_dir / "routing.jsonl")}))
    dataset = TaskDataset(name="routing", kind="classify", examples=tuple(examples), labels=labels)
    wrong = next(label for label in dataset.labels if label != examples[1].label)
    texts = [examples[0].label, wrong, "Sure, I can help with that."]
    values, malformed = bench.scores(texts, examples, dataset)
    assert values == [1.0, 0.0, 0.0]
    assert malformed == [False, False, True]
    record = bench.score_record(values, malformed, 0, dev_score=0.5)
    assert record["format_failures"] == {"unparsed": 0, "malformed_answer": 1}
    assert record["wrong_answers"] == 1
    assert record["dev_to_test_gap"] == pytest.approx(0.5 - 1 / 3, abs=1e-4)


@pytest.mark.slow
def test_smoke_run_accounts_for_every_model_call(tmp_path):
    pytest.importorskip("dspy", reason="the DSPy side needs pip install -e '.[bench]' (CI does not install it)")
    out = tmp_path / "prompt.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "prompt_bench.py"), "--smoke", "--results", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads(out.read_text())
    assert record["command"] == "python bench/prompt_bench.py --smoke"
    assert record["connections_outside_127.0.0.1"] == []
    routing = record["datasets"]["routing"]
    assert routing["sizes"] == {"train": 2, "dev": 2, "test": 2}
    sides = routing["sides"]
    assert set(sides) == {"tailor", "BootstrapFewShotWithRandomSearch", "MIPROv2"}
    spent = sum(s["calls"][part]["model_calls"] for s in sides.values() for part in ("optimize", "test"))
    assert spent + routing["adapter_probe"]["model_calls"] == record["model_calls_total"]
    assert sides["tailor"]["calls"]["test"]["model_calls"] == 2
    # The endpoint saw what tailor's search counted, plus the winner's confirmation (it and the start prompt
    # on the held-out examples).
    chosen, optimize = sides["tailor"]["chosen"], sides["tailor"]["calls"]["optimize"]["model_calls"]
    assert chosen["search_calls"] <= optimize <= chosen["search_calls"] + 2 * chosen["confirm_examples"]
