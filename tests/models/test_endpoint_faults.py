"""The endpoint client against real faults: a stand-in OpenAI-compatible server on 127.0.0.1 (tests/conftest.py's
``faulty_endpoint``) that answers 429 with Retry-After, 503, drops connections, replies past the client's timeout
and cuts its JSON in half, each on a seeded share of requests. No mock objects: real HTTP, real sockets. Where a
test says so the client's waits are recorded instead of slept, so it runs in seconds.

First the client alone (same answers, a retry counted per fault, the server's refusals at once, bounded waits),
then `tailor eval` as a user runs it: over faults, and with the endpoint killed mid-run and brought back.
"""

from __future__ import annotations

import email.utils
import json
import random
import re
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tailor.cli import app
from tailor.errors import ModelError
from tailor.models.base import GenerationSettings
from tailor.models.openai_http import ESTIMATE, OpenAIGenerator

SETTINGS = GenerationSettings(max_new_tokens=8)
QUESTIONS = [f"What is {i} times seven?" for i in range(12)]
# The retry cause the client counts for each fault the stand-in injects.
CAUSE = {
    "429": "HTTP 429",
    "503": "HTTP 503",
    "drop": "RemoteProtocolError",
    "slow": "ReadTimeout",
    "truncated": "malformed body",
}


def answer(messages) -> str:
    """The stand-in's model: a reply that depends on the question only."""
    words = re.findall(r"\w+", messages[-1]["content"])
    return f"{words[-1]} {len(words)}" if words else "nothing"


def test_faults_change_no_answer_and_each_is_one_retry(faulty_endpoint) -> None:
    waits: list[float] = []
    with faulty_endpoint(answer) as clean, faulty_endpoint(answer, share=0.6, seed=1, retry_after="2") as faulty:
        want = OpenAIGenerator(clean.url, "m").generate(QUESTIONS, SETTINGS)
        gen = OpenAIGenerator(
            faulty.url, "m", timeout_s=1, backoff_s=0.01, rng=random.Random(0), sleep=waits.append, concurrency=4
        )
        got = gen.generate(QUESTIONS, SETTINGS)
        served = faulty.served()
    assert [g.text for g in got] == [w.text for w in want] and all(w.text for w in want)
    assert set(served) == set(CAUSE)  # the seed meets every kind of fault
    assert gen.retries == {CAUSE[kind]: n for kind, n in served.items()}
    # A 429's wait is its Retry-After; the others are drawn below 0.01 s, doubling (at most 3 faults a request).
    assert waits.count(2.0) == served["429"] and all(w <= 0.04 for w in waits if w != 2.0)
    assert len(waits) == sum(served.values()) and gen.token_counter == ESTIMATE


@pytest.mark.parametrize(("status", "message"), [("401", "Incorrect API key"), ("404", "model does not exist")])
def test_a_refusal_fails_at_once_with_the_servers_message(faulty_endpoint, status: str, message: str) -> None:
    with faulty_endpoint(answer, share=1, kinds=(status,), most=99) as endpoint:
        gen = OpenAIGenerator(endpoint.url, "m", sleep=pytest.fail)
        with pytest.raises(ModelError, match=rf"HTTP {status} from /chat/completions: .*{message}"):
            gen.generate(["hi"], SETTINGS)
    assert len(endpoint.seen) == 1 and gen.retries == {}


def test_an_endpoint_that_stays_down_is_one_line_within_the_bounded_wait(faulty_endpoint) -> None:
    with faulty_endpoint(answer, share=1, kinds=("503",), most=99) as endpoint:
        gen = OpenAIGenerator(endpoint.url, "m", max_tries=4, backoff_s=0.05, max_wait_s=10)
        start = time.monotonic()
        with pytest.raises(ModelError) as failed:
            gen.generate(["hi"], SETTINGS)
        took = time.monotonic() - start
    message = str(failed.value)
    assert "\n" not in message and message.startswith(f"{endpoint.url}/chat/completions: no answer after 4 tries")
    assert "last error: HTTP 503 (The server is overloaded" in message and "max_tries or max_wait_s" in message
    assert len(endpoint.seen) == 4 and gen.retries == {"HTTP 503": 3}
    assert took < 0.05 + 0.1 + 0.2 + 1  # three waits below their ceilings, plus the requests

    # Stopped altogether: connections refused, and the total wait stops it before max_tries does.
    waits: list[float] = []
    gen = OpenAIGenerator(endpoint.url, "m", max_tries=99, backoff_s=1, max_wait_s=2.5, sleep=waits.append)
    with pytest.raises(ModelError, match=r"^http://127\.0\.0\.1:\d+/v1/chat/completions: no answer after \d+ tries"):
        gen.generate(["hi"], SETTINGS)
    assert sum(waits) == pytest.approx(2.5) and set(gen.retries) == {"ConnectError"}


def test_waits_are_full_jitter_doubling_and_retry_after_is_capped_by_the_budget(faulty_endpoint) -> None:
    waits: list[float] = []
    with faulty_endpoint(answer, share=1, kinds=("503",), most=4) as endpoint:
        gen = OpenAIGenerator(endpoint.url, "m", backoff_s=1, rng=random.Random(7), sleep=waits.append)
        assert gen.generate(["hi"], SETTINGS)[0].text == "hi 1"  # the fifth try is answered
    ref = random.Random(7)
    assert waits == [ref.uniform(0, 2**k) for k in range(4)]

    # Retry-After as an HTTP date, 30 s ahead: the wait is cut to what is left of max_wait_s, then it gives up.
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    waits.clear()
    with faulty_endpoint(answer, share=1, kinds=("429",), most=99, retry_after=later) as endpoint:
        gen = OpenAIGenerator(endpoint.url, "m", max_wait_s=10, sleep=waits.append)
        with pytest.raises(ModelError, match=r"after 2 tries .* last error: HTTP 429 \(Rate limit reached"):
            gen.generate(["hi"], SETTINGS)
    assert waits == [10]

    # ... and 3 s ahead, it is waited (to the second: HTTP dates have no fractions).
    soon = email.utils.formatdate(time.time() + 3, usegmt=True)
    waits.clear()
    with faulty_endpoint(answer, share=1, kinds=("429",), most=1, retry_after=soon) as endpoint:
        OpenAIGenerator(endpoint.url, "m", sleep=waits.append).generate(["hi"], SETTINGS)
    assert len(waits) == 1 and 1.5 < waits[0] <= 3


def test_retry_after_is_read_in_milliseconds_seconds_or_as_a_date() -> None:
    import httpx

    from tailor.models.openai_http import _retry_after

    past = email.utils.formatdate(time.time() - 60, usegmt=True)
    assert _retry_after(httpx.Headers({"retry-after-ms": "250", "retry-after": "9"})) == 0.25
    assert _retry_after(httpx.Headers({"retry-after": "7"})) == 7.0
    assert _retry_after(httpx.Headers({"retry-after": past})) == 0.0
    assert _retry_after(httpx.Headers({"retry-after": "soon"})) is None and _retry_after(httpx.Headers()) is None


# `tailor eval` as a user runs it: two datasets, so a run stopped in the second keeps the first's answers.
RECIPE = """\
model:
  kind: openai
  base_url: '{url}'
  model: stand-in
  concurrency: 2
  timeout_s: 1
  backoff_s: 0.02
  max_tries: {max_tries}
  max_wait_s: 10
data:
  examples: [{{path: alpha.jsonl}}, {{path: beta.jsonl}}]
strategies: [baseline]
suites: [task]
out: run
"""


def _project(root: Path, url: str, max_tries: int = 5) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name in ("alpha", "beta"):
        rows = [
            {"id": f"{name}-{i}", "question": f"In {name}, what is {i} times seven?", "answer": f"seven {i + 6}"}
            for i in range(4)
        ]
        (root / f"{name}.jsonl").write_text("".join(json.dumps({**r, "split": "test"}) + "\n" for r in rows))
    (root / "tailor.yaml").write_text(RECIPE.format(url=url, max_tries=max_tries))
    return root / "tailor.yaml"


def _eval(recipe: Path):
    return CliRunner().invoke(app, ["eval", "--recipe", str(recipe), "--json"])


def _answers(recipe: Path) -> list[tuple[str, str, str]]:
    lines = (recipe.parent / "run" / "predictions.jsonl").read_text().splitlines()
    return [(p["dataset"], p["id"], p["prediction"]) for p in map(json.loads, lines)]


def test_eval_over_faults_gives_the_same_results_as_without(tmp_path, faulty_endpoint) -> None:
    schedule = ("429", None, "503", "drop", None, "slow", "truncated", "503")
    with faulty_endpoint(answer) as clean, faulty_endpoint(answer, schedule=schedule) as faulty:
        want, got = (_eval(_project(tmp_path / name, ep.url)) for name, ep in (("clean", clean), ("faulty", faulty)))
    assert want.exit_code == 0 and got.exit_code == 0, got.output
    assert faulty.served() == Counter(kind for kind in schedule if kind)
    assert _answers(tmp_path / "faulty" / "tailor.yaml") == _answers(tmp_path / "clean" / "tailor.yaml")
    assert len(_answers(tmp_path / "clean" / "tailor.yaml")) == 8
    assert json.loads(got.stdout)["results"] == json.loads(want.stdout)["results"]
    # What was retried is reported: in results.json and in the log.
    retried = {CAUSE[kind]: n for kind, n in faulty.served().items()}
    assert json.loads(got.stdout)["environment"]["endpoint_retries"] == dict(sorted(retried.items()))
    assert json.loads(want.stdout)["environment"]["endpoint_retries"] == {}
    assert f"endpoint: {len([k for k in schedule if k])} requests tried again (" in got.stderr
    assert json.loads(got.stdout)["environment"]["token_counter"] == "estimate: characters ÷ 4"


class Crash:
    """The stand-in's model, which brings its endpoint down on the first question of dataset beta (that request
    and any in flight get no answer) and, with ``back_after``, up again that many seconds later."""

    def __init__(self, back_after: float | None):
        self.back_after = back_after
        self.endpoint = None
        self.crashed = False

    def __call__(self, messages) -> str:
        if "beta" in messages[-1]["content"] and not self.crashed:
            self.crashed = True
            self.endpoint.stop()
            if self.back_after is not None:
                threading.Timer(self.back_after, self.endpoint.start).start()
        return answer(messages)


def test_eval_waits_out_an_endpoint_killed_mid_run(tmp_path, faulty_endpoint) -> None:
    crash = Crash(back_after=0.3)
    with faulty_endpoint(answer) as clean, faulty_endpoint(crash) as endpoint:
        crash.endpoint = endpoint
        want = _eval(_project(tmp_path / "clean", clean.url))
        got = _eval(_project(tmp_path / "killed", endpoint.url, max_tries=20))
    assert crash.crashed and got.exit_code == 0, got.output
    asked = [body["messages"][-1]["content"] for body in endpoint.seen]
    assert sum("beta" in q for q in asked) > 4  # what the crash left unanswered was asked again
    assert _answers(tmp_path / "killed" / "tailor.yaml") == _answers(tmp_path / "clean" / "tailor.yaml")
    assert json.loads(got.stdout)["results"] == json.loads(want.stdout)["results"]


def test_eval_stopped_by_a_dead_endpoint_says_so_and_a_rerun_asks_only_what_is_missing(
    tmp_path, faulty_endpoint
) -> None:
    crash = Crash(back_after=None)
    with faulty_endpoint(answer) as clean, faulty_endpoint(crash) as endpoint:
        crash.endpoint = endpoint
        want = _eval(_project(tmp_path / "clean", clean.url))
        recipe = _project(tmp_path / "killed", endpoint.url, max_tries=3)
        stopped = _eval(recipe)
        assert stopped.exit_code == 2 and "Traceback" not in stopped.output
        errors = [line for line in stopped.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, stopped.stderr
        assert errors[0].startswith(f"error: {endpoint.url}/chat/completions: no answer after 3 tries")
        assert "last error: ConnectError" in errors[0]
        assert not (recipe.parent / "run" / "results.json").exists()

        endpoint.start()  # back on the same port: the recipe, and so the saved answers' key, is unchanged
        asked_before = len(endpoint.seen)
        resumed = _eval(recipe)
        asked = [body["messages"][-1]["content"] for body in endpoint.seen[asked_before:]]
    assert resumed.exit_code == 0, resumed.output
    assert "reused from an earlier run" in resumed.stderr and "alpha · baseline answers" in resumed.stderr
    assert len(asked) == 4 and all("beta" in q for q in asked)  # alpha's answers were not asked for again
    assert _answers(recipe) == _answers(tmp_path / "clean" / "tailor.yaml")
    assert json.loads(resumed.stdout)["results"] == json.loads(want.stdout)["results"]
