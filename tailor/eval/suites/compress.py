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

from tailor.contract import PromptedStrategy, asker
from tailor.eval.base import Column, NoRows, Panel, Size, SuiteInput, SuiteSpec, sample
from tailor.eval.measure import measure
from tailor.eval.results import ResultRow, mean_row, paired_row
from tailor.eval.scoring import example_scores, primary_metric
from tailor.workspace import Shared

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
    from tailor.compress.variants import precision, size_bytes, speed

    ws = inp.workspace
    if ws is None:
        return []
    if not ws.recipe.eval.compress:
        return NoRows("eval.compress lists no variant (bf16, int8, q8_0, q4_k_m) to compare")
    picked = sample(inp, "compress_examples", NAME)
    timed = picked[: ws.recipe.eval.size("compress_prompts")]
    if not picked:
        return []
    ds, primary = inp.dataset, primary_metric(inp.dataset)
    runs = {r.strategy: r for r in inp.runs}
    examples = [inp.examples[i] for i in picked]
    settings = ws.settings_for(ds)
    rows: list[ResultRow] = []
    for strategy in inp.strategies:
        if not isinstance(strategy, PromptedStrategy) or strategy.name not in runs:
            continue
        if not hasattr(getattr(strategy.generator, "model", None), "parameters"):
            ws.reporter.log(f"compress: {strategy.name} answers through an endpoint; no weights to compress")
            continue
        base_answers = [runs[strategy.name].answers[i] for i in picked]
        base_scores = [example_scores(a.text, e, ds)[primary] for a, e in zip(base_answers, examples, strict=True)]
        prompts = [strategy.build(inp.examples[i].question, asker(inp.examples[i])).messages for i in timed]
        key = id(strategy.generator)
        source = "base" if strategy.generator is ws.generator else f"{strategy.name}-model"
        # The model as built is the reference point of the speed / quality frontier, named by the precision
        # it runs in (model.dtype); a variant the same as it is not made twice.
        built = precision(strategy.generator)
        for variant in (built, *(v for v in ws.recipe.eval.compress if v != built)):
            generator = ws.shared(
                COMPRESSED.of(key, variant), lambda g=strategy.generator, v=variant, s=source: _variant(ws, g, v, s)
            )
            if variant == built:
                rows.append(
                    replace(
                        mean_row(strategy.name, ds.name, NAME, "compressed_score", base_scores, inp.seed),
                        variant=variant,
                    )
                )
                if runs[strategy.name].peak_rss_bytes:  # measured while it answered in the evaluation
                    peak, n = round(runs[strategy.name].peak_rss_bytes / 2**20, 1), len(runs[strategy.name].answers)
                    rows.append(
                        ResultRow(strategy.name, ds.name, NAME, "variant_peak_rss_mb", peak, n, variant=variant)
                    )
            else:
                with measure() as used:
                    answers = replace(strategy, generator=generator).answer_batch(
                        [e.question for e in examples], [asker(e) for e in examples]
                    )
                scores = [example_scores(a.text, e, ds)[primary] for a, e in zip(answers, examples, strict=True)]
                same = [float(a.text == b.text) for a, b in zip(answers, base_answers, strict=True)]
                peak = round(used.peak_rss_bytes / 2**20, 1)
                rows += [
                    ResultRow(
                        strategy.name, ds.name, NAME, "variant_peak_rss_mb", peak, len(examples), variant=variant
                    ),
                    replace(
                        mean_row(strategy.name, ds.name, NAME, "compressed_score", scores, inp.seed), variant=variant
                    ),
                    replace(
                        paired_row(
                            strategy.name, ds.name, NAME, "compressed_score_delta", scores, base_scores, inp.seed
                        ),
                        variant=variant,
                    ),
                    replace(
                        mean_row(strategy.name, ds.name, NAME, "same_answer_rate", same, inp.seed), variant=variant
                    ),
                ]
            if prompts:
                timing = speed(generator, prompts, settings.max_new_tokens)
                figures = {
                    "prefill_tokens_per_s": timing.prefill_tokens_per_s,
                    "decode_tokens_per_s": timing.decode_tokens_per_s,
                    "answer_p50_s": timing.latency_p50_s,
                    "answer_p95_s": timing.latency_p95_s,
                }
                rows += [
                    ResultRow(strategy.name, ds.name, NAME, m, v, len(prompts), variant=variant)
                    for m, v in figures.items()
                ]
            mb = ws.shared(MODEL_MB.of(key, variant), lambda g=generator: round(size_bytes(g) / 2**20, 1))
            rows.append(ResultRow(strategy.name, ds.name, NAME, "model_mb", mb, 1, variant=variant))
    return rows


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
