"""The optional judge: a model behind a real OpenAI-compatible endpoint on 127.0.0.1 grades answers; replies
that are not the JSON asked for are asked again, then counted as ungradable; kappa says whether to trust it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from tailor.config import DataConfig, EvalConfig, ExampleSet, OpenAIModel, Recipe
from tailor.contract import Answer
from tailor.data.examples import Example, TaskDataset
from tailor.eval.base import StrategyRun, SuiteInput
from tailor.eval.suites.judge import TRIES, cohen_kappa, judge_suite, verdict
from tailor.workspace import Workspace

QA = TaskDataset(
    "qa",
    "qa",
    (
        Example(id="1", question="Who signed the contract?", answer="Lina Okafor"),
        Example(id="2", question="Where is the office?", answer="Porto"),
        Example(id="3", question="What does the X200 cost?", answer="$149"),
        Example(id="4", question="When did the office move?", answer="2021"),
    ),
)


def test_only_the_json_asked_for_is_a_verdict() -> None:
    assert verdict('{"correct": true}') is True
    assert verdict('Sure. {"correct": false} Hope that helps.') is False
    assert verdict('{"correct": "yes"}') is None and verdict("correct") is None and verdict("{correct: true}") is None


def test_kappa_corrects_agreement_for_chance_and_is_absent_where_undefined() -> None:
    # Observed agreement 3/4; chance 0.5·0.25 + 0.5·0.75 = 0.5; kappa = (0.75 − 0.5) / (1 − 0.5).
    assert cohen_kappa([True, True, False, False], [True, False, False, False]) == 0.5
    assert cohen_kappa([True, True], [True, True]) is None and cohen_kappa([], []) is None


class Grader(BaseHTTPRequestHandler):
    """A judge endpoint: accepts an answer that contains the reference. It wraps its first reply about the
    office in prose with no JSON, and never gives one about the move (that answer is ungradable)."""

    seen: ClassVar[list[list[dict]]] = []

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        messages = body["messages"]
        type(self).seen.append(messages)
        grading = messages[1]["content"]
        reference = grading.split("Reference answer: ")[1].split("\n")[0]
        answer = grading.split("Answer to grade: ")[1]
        if "move" in grading or ("office" in grading and len(messages) == 2):
            text = "I think this answer is probably right."
        else:
            text = json.dumps({"correct": reference.lower() in answer.lower()})
        data = json.dumps(
            {
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}}],
                "usage": {"prompt_tokens": 40, "completion_tokens": 5, "total_tokens": 45},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def grader() -> Iterator[str]:
    Grader.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Grader)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_a_judge_behind_an_endpoint_grades_retries_and_says_how_far_to_trust_it(grader, scripted) -> None:
    judge = OpenAIModel(kind="openai", base_url=grader, model="judge", concurrency=1)
    recipe = Recipe(data=DataConfig(examples=[ExampleSet(path="qa.jsonl")]), eval=EvalConfig(judge=judge))
    ws = Workspace(recipe, (QA,), (), scripted(lambda _: ""))
    texts = ["It was signed by Lina Okafor.", "The office is in Porto.", "It costs 149 dollars.", "In 2021."]
    run = StrategyRun("rag", tuple(Answer(t, (), 10, 2, 0.1) for t in texts), 1.0, 1)
    rows = {r.metric: r for r in judge_suite(SuiteInput(QA, QA.examples, (run,), (), 0, ws))}
    # Graded: Okafor and Porto right; "149 dollars" wrong to this judge, which wants "$149" verbatim.
    assert rows["judge_correct"].value == pytest.approx(2 / 3) and rows["judge_correct"].n == 3
    assert rows["judge_ungradable_rate"].value == 0.25 and rows["judge_ungradable_rate"].n == 4
    # contains (SQuAD normalisation drops the "$") accepts all three: they agree on 2 of 3, and kappa says
    # that is no better than chance, since contains said yes to everything.
    assert rows["judge_agreement"].value == pytest.approx(2 / 3) and rows["judge_kappa"].value == 0.0
    # The office answer was asked twice (the second time with the reply it gave); the move answer TRIES times.
    asked = [m[1]["content"] for m in Grader.seen]
    assert sum("Where is the office" in a for a in asked) == 2 and sum("move" in a for a in asked) == TRIES
    retry = next(m for m in Grader.seen if "Where is the office" in m[1]["content"] and len(m) > 2)
    assert (
        retry[2]["content"] == "I think this answer is probably right." and '{"correct": true}' in retry[3]["content"]
    )


def test_without_a_judge_the_suite_has_nothing_to_say(scripted) -> None:
    ws = Workspace(Recipe(data=DataConfig(examples=[ExampleSet(path="qa.jsonl")])), (QA,), (), scripted(lambda _: ""))
    run = StrategyRun("rag", tuple(Answer("x", (), 1, 1, 0.1) for _ in QA.examples), 1.0, 1)
    assert judge_suite(SuiteInput(QA, QA.examples, (run,), (), 0, ws)) == []
