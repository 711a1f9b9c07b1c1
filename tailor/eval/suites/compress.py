"""The compress suite: each strategy with local weights, answered by compressed variants of its model.

For every variant in ``eval.compress`` (bf16, int8 in torch; q8_0, q4_k_m as GGUF files run by
llama.cpp, written to ``OUT/compress/``; see :mod:`tailor.compress.variants`) and every strategy
whose generator has local weights, the strategy is rebuilt on the variant (same prompts,
same retrieval) and asked ``eval.compress_examples`` of the evaluated questions. Rows carry
``variant`` and are keyed in reports as ``<strategy>@<variant>``:

- ``compressed_score`` (the model as built — ``fp32`` or ``bf16``, as ``model.dtype`` runs it — and each
  variant): the primary metric (F1 or accuracy) on those
  questions, 95% CI;
- ``compressed_score_delta`` (variant): paired against the uncompressed answers to the same
  questions, with p (McNemar for 0/1 scores, paired bootstrap otherwise);
- ``same_answer_rate`` (variant): answers identical to the uncompressed ones;
- ``prefill_tokens_per_s``, ``decode_tokens_per_s``, ``answer_p50_s``, ``answer_p95_s`` (the model as
  built and each variant): ``eval.compress_prompts`` of the strategy's own prompts timed one at a time;
- ``model_mb`` (as built and each variant): the model's saved size;
- ``variant_peak_rss_mb`` (as built and each variant): the process's peak resident memory while that
  model answered (as built: during the evaluation itself). Like the cost suite's figure it counts
  everything the process holds (here the uncompressed model too); ``model_mb`` is the variant's own.

Each (model, variant) is compressed once per workspace and shared by the strategies on that model.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from tailor.contract import Answer, PromptedStrategy, asker
from tailor.eval.base import Column, NoRows, Panel, Size, StrategyRun, SuiteInput, SuiteSpec, sample
from tailor.eval.measure import measure
from tailor.eval.results import ResultRow, mean_row, paired_row
from tailor.eval.scoring import example_scores, primary_metric
from tailor.workspace import Shared

if TYPE_CHECKING:
    from tailor.data.examples import Example

NAME = "compress"
COMPRESSED = Shared("compress")  # .of(model, variant): each model compressed once per workspace
MODEL_MB: Shared[float] = Shared("compress-mb")


def _variant(ws, generator, variant: str, source: str):
    """``generator`` in ``variant`` form: itself (the precision it runs in), a torch copy, or a GGUF export run
    by llama.cpp."""
    from tailor.compress.variants import GGUF_VARIANTS, compress, compress_gguf, gguf_template

    if variant not in GGUF_VARIANTS:
        return compress(generator, variant)
    out = ws.recipe.out_dir / "compress" / f"{source}-{variant}.gguf"
    out.unlink(missing_ok=True)  # exported from the weights this run evaluates
    return compress_gguf(generator, variant, gguf_template(ws), out)


def compress_suite(inp: SuiteInput) -> list[ResultRow]:
    ws = inp.workspace
    if ws is None:
        return []
    if not ws.recipe.eval.compress:
        return NoRows("eval.compress lists no variant (bf16, int8, q8_0, q4_k_m) to compare")
    picked = sample(inp, "compress_examples", NAME)
    timed = picked[: ws.recipe.eval.size("compress_prompts")]
    if not picked:
        return []
    runs = {r.strategy: r for r in inp.runs}
    rows: list[ResultRow] = []
    for strategy in inp.strategies:
        if not isinstance(strategy, PromptedStrategy) or strategy.name not in runs:
            continue
        if not hasattr(getattr(strategy.generator, "model", None), "parameters"):
            ws.reporter.log(f"compress: {strategy.name} answers through an endpoint; no weights to compress")
            continue
        rows += _strategy_rows(inp, strategy, runs[strategy.name], picked, timed)
    return rows


def _strategy_rows(
    inp: SuiteInput, strategy: PromptedStrategy, run: StrategyRun, picked: list[int], timed: list[int]
) -> list[ResultRow]:
    """``strategy``'s rows: its model as built, then each variant of eval.compress, answering the ``picked``
    examples (scored and compared with its evaluated answers), timed on the ``timed`` ones' prompts."""
    from tailor.compress.variants import precision, size_bytes

    ws, ds = inp.workspace, inp.dataset
    primary = primary_metric(ds)
    examples = [inp.examples[i] for i in picked]
    base_answers = [run.answers[i] for i in picked]
    base_scores = [example_scores(a.text, e, ds)[primary] for a, e in zip(base_answers, examples, strict=True)]
    prompts = [strategy.build(inp.examples[i].question, asker(inp.examples[i])).messages for i in timed]
    key = id(strategy.generator)
    source = "base" if strategy.generator is ws.generator else f"{strategy.name}-model"
    # The model as built is the reference point of the speed / quality frontier, named by the precision
    # it runs in (model.dtype); a variant the same as it is not made twice.
    built = precision(strategy.generator)
    rows: list[ResultRow] = []
    for variant in (built, *(v for v in ws.recipe.eval.compress if v != built)):
        generator = ws.shared(
            COMPRESSED.of(key, variant), lambda g=strategy.generator, v=variant, s=source: _variant(ws, g, v, s)
        )
        if variant == built:
            rows += _as_built_rows(inp, run, base_scores, variant)
        else:
            variant_strategy = replace(strategy, generator=generator)
            rows += _variant_rows(inp, variant_strategy, examples, base_answers, base_scores, variant)
        if prompts:
            rows += _speed_rows(inp, strategy.name, generator, prompts, variant)
        mb = ws.shared(MODEL_MB.of(key, variant), lambda g=generator: round(size_bytes(g) / 2**20, 1))
        rows.append(ResultRow(strategy.name, ds.name, NAME, "model_mb", mb, 1, variant=variant))
    return rows


def _as_built_rows(inp: SuiteInput, run: StrategyRun, scores: list[float], variant: str) -> list[ResultRow]:
    """The model as built: its evaluated answers' scores, and its peak memory while it answered them."""
    ds = inp.dataset.name
    rows = [replace(mean_row(run.strategy, ds, NAME, "compressed_score", scores, inp.seed), variant=variant)]
    if run.peak_rss_bytes:  # measured while it answered in the evaluation
        peak, n = round(run.peak_rss_bytes / 2**20, 1), len(run.answers)
        rows.append(ResultRow(run.strategy, ds, NAME, "variant_peak_rss_mb", peak, n, variant=variant))
    return rows


def _variant_rows(
    inp: SuiteInput,
    strategy: PromptedStrategy,
    examples: list[Example],
    base_answers: list[Answer],
    base_scores: list[float],
    variant: str,
) -> list[ResultRow]:
    """``strategy`` on a compressed model answering ``examples``: peak memory, score, paired change against
    the model as built, and how often its answer is the same."""
    ds, primary, name = inp.dataset, primary_metric(inp.dataset), strategy.name
    with measure() as used:
        answers = strategy.answer_batch([e.question for e in examples], [asker(e) for e in examples])
    scores = [example_scores(a.text, e, ds)[primary] for a, e in zip(answers, examples, strict=True)]
    same = [float(a.text == b.text) for a, b in zip(answers, base_answers, strict=True)]
    peak = round(used.peak_rss_bytes / 2**20, 1)
    return [
        ResultRow(name, ds.name, NAME, "variant_peak_rss_mb", peak, len(examples), variant=variant),
        replace(mean_row(name, ds.name, NAME, "compressed_score", scores, inp.seed), variant=variant),
        replace(
            paired_row(name, ds.name, NAME, "compressed_score_delta", scores, base_scores, inp.seed), variant=variant
        ),
        replace(mean_row(name, ds.name, NAME, "same_answer_rate", same, inp.seed), variant=variant),
    ]


def _speed_rows(inp: SuiteInput, name: str, generator, prompts: list, variant: str) -> list[ResultRow]:
    """``generator`` timed on ``prompts`` one at a time: prefill and decode tokens/s, p50 and p95 latency."""
    from tailor.compress.variants import speed

    timing = speed(generator, prompts, inp.workspace.settings_for(inp.dataset).max_new_tokens)
    figures = {
        "prefill_tokens_per_s": timing.prefill_tokens_per_s,
        "decode_tokens_per_s": timing.decode_tokens_per_s,
        "answer_p50_s": timing.latency_p50_s,
        "answer_p95_s": timing.latency_p95_s,
    }
    return [ResultRow(name, inp.dataset.name, NAME, m, v, len(prompts), variant=variant) for m, v in figures.items()]


SUITE = SuiteSpec(
    name=NAME,
    run=compress_suite,
    summary="bf16 / int8 / GGUF variants of each strategy's model: quality change vs speed and size",
    order=90,
    needs=("local-weights",),
    sizes=(
        Size(
            "compress_examples",
            "compress: evaluated questions each variant answers (paired with the uncompressed answers)",
            12,
            64,
            scored=True,
        ),
        Size("compress_prompts", "compress: prompts timed one at a time for prefill and decode speed", 2, 8),
    ),
    columns=(
        Column("compressed_score", "score"),
        Column("compressed_score_delta", "Δ vs as built"),
        Column("same_answer_rate", "same answer"),
        Column("prefill_tokens_per_s", "prefill tok/s"),
        Column("decode_tokens_per_s", "decode tok/s"),
        Column("answer_p50_s", "p50 s (batch 1)"),
        Column("model_mb", "MiB"),
        Column("variant_peak_rss_mb", "peak MiB"),
    ),
    panels=(Panel("compression: answer change vs the model as built (primary metric)", ("compressed_score_delta",)),),
)
