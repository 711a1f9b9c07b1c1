"""The judge suite (optional): a model of your choice grades each answer against the reference.

``eval.judge`` names any model ``model:`` accepts; a stronger one behind an OpenAI-compatible endpoint
is the usual choice. For every evaluated answer of a QA dataset it is shown the question, the reference
answer and the strategy's answer, and must reply with exactly ``{"correct": true}`` or
``{"correct": false}``. A reply that is not that JSON is asked again (``TRIES`` asks in all, the last
with the reply it gave); after that the answer is counted as ungradable, never guessed and never NaN.

Rows per strategy:
- ``judge_correct``: the share of gradable answers the judge accepts (95% CI);
- ``judge_ungradable_rate``: the share it could not grade;
- ``judge_agreement`` and ``judge_kappa``: how often its verdicts match ``contains`` (the reference in the
  answer), raw and as Cohen's kappa (chance-corrected; left out where every verdict on both sides is the
  same, where kappa is undefined). Near 1 the judge sees what the exact-answer metric sees; where the two
  disagree, read a few answers before trusting either.
"""

from __future__ import annotations

import json
import re

from tailor.contract import strip_citations
from tailor.eval.base import Column, NoRows, Panel, SuiteInput, SuiteSpec
from tailor.eval.metrics import contains_answer
from tailor.eval.results import ResultRow, mean_row
from tailor.models.base import GenerationSettings, Generator, Message
from tailor.workspace import Shared, Workspace

TRIES = 3
JUDGE: Shared[Generator] = Shared("judge")  # the judge model, loaded once per workspace
_SYSTEM = (
    "You grade answers. Decide whether the answer states the same fact as the reference answer; extra "
    'words are fine, a different or missing fact is not. Reply with exactly {"correct": true} or '
    '{"correct": false} and nothing else.'
)
_OBJECT = re.compile(r"\{[^{}]*\}")


def _load(ws: Workspace) -> Generator:
    from tailor.models.load import load_model_at

    return load_model_at(ws.recipe, ws.recipe.eval.judge, ("eval", "judge"), ws.reporter.log)


def verdict(reply: str) -> bool | None:
    """The judge's verdict in ``reply``: the ``correct`` of its JSON object, None when there is none."""
    for found in _OBJECT.findall(reply):
        try:
            value = json.loads(found).get("correct")
        except (json.JSONDecodeError, AttributeError):
            continue
        if isinstance(value, bool):
            return value
    return None


def grade(judge: Generator, items: list[tuple[str, str, str]], progress=None) -> list[bool | None]:
    """The judge's verdict on each (question, reference, answer); None where it gave none in ``TRIES`` asks."""
    settings = GenerationSettings(max_new_tokens=16, temperature=0.0)
    conversations: list[list[Message]] = [
        [
            {"role": "system", "content": _SYSTEM},
            {"role": "user", "content": f"Question: {q}\nReference answer: {ref}\nAnswer to grade: {a}"},
        ]
        for q, ref, a in items
    ]
    verdicts: list[bool | None] = [None] * len(items)
    pending = list(range(len(items)))
    for attempt in range(TRIES):
        replies = judge.generate([conversations[i] for i in pending], settings, progress if attempt == 0 else None)
        still = []
        for i, reply in zip(pending, replies, strict=True):
            verdicts[i] = verdict(reply.text)
            if verdicts[i] is None:
                conversations[i] = [
                    *conversations[i],
                    {"role": "assistant", "content": reply.text},
                    {"role": "user", "content": 'Reply with exactly {"correct": true} or {"correct": false}.'},
                ]
                still.append(i)
        pending = still
        if not pending:
            break
    return verdicts


def cohen_kappa(a: list[bool], b: list[bool]) -> float | None:
    """Cohen's kappa of two raters' yes/no verdicts; None where it is undefined (chance agreement is 1)."""
    n = len(a)
    if n == 0:
        return None
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    pa, pb = sum(a) / n, sum(b) / n
    chance = pa * pb + (1 - pa) * (1 - pb)
    return None if chance == 1 else round((observed - chance) / (1 - chance), 6)


def judge_suite(inp: SuiteInput) -> list[ResultRow]:
    ws, ds = inp.workspace, inp.dataset
    if ws is None:
        return []
    if ws.recipe.eval.judge is None:
        return NoRows("eval.judge names no model to grade answers")
    if ds.kind != "qa":
        return NoRows("a classifier's labels are scored exactly; the judge grades open answers")
    judge = ws.shared(JUDGE, lambda: _load(ws))
    rows: list[ResultRow] = []
    for run in inp.runs:
        texts = [strip_citations(a.text) for a in run.answers]
        items = [(e.question, e.answer, t) for e, t in zip(inp.examples, texts, strict=True)]
        with ws.reporter.task(f"judge {ds.name} · {run.strategy}", len(items)) as advance:
            verdicts = grade(judge, items, advance)
        exact = [contains_answer(t, e.answer) == 1.0 for t, e in zip(texts, inp.examples, strict=True)]
        graded = [(v, x) for v, x in zip(verdicts, exact, strict=True) if v is not None]
        ungradable = [float(v is None) for v in verdicts]
        rows.append(mean_row(run.strategy, ds.name, "judge", "judge_ungradable_rate", ungradable, inp.seed))
        if not graded:
            continue
        judged = [float(v) for v, _ in graded]
        rows.append(mean_row(run.strategy, ds.name, "judge", "judge_correct", judged, inp.seed))
        agree = [float(v == x) for v, x in graded]
        rows.append(mean_row(run.strategy, ds.name, "judge", "judge_agreement", agree, inp.seed))
        kappa = cohen_kappa([v for v, _ in graded], [x for _, x in graded])
        if kappa is not None:
            rows.append(ResultRow(run.strategy, ds.name, "judge", "judge_kappa", kappa, len(graded)))
    return rows


SUITE = SuiteSpec(
    name="judge",
    run=judge_suite,
    summary="optional (eval.judge): a model grades each answer against the reference, with its agreement "
    "(Cohen's kappa) with the exact-answer metric",
    order=15,
    needs=("judge",),
    columns=(
        Column("judge_correct", "judged correct"),
        Column("judge_ungradable_rate", "ungradable"),
        Column("judge_agreement", "agrees with contains"),
        Column("judge_kappa", "kappa"),
    ),
    panels=(Panel("judge: answers graded correct by the judge model", ("judge_correct",)),),
)
