"""The tables that measure what a feature does (docs/own-documents.md, suites.md, rag.md), from bench/results/.

Each reads its record and formats it, nothing more (bench/docs_blocks.py writes them, tests/test_docs.py
checks them), so a figure in the docs is always the recorded one.
"""

from __future__ import annotations

from table_format import Record, ci, p_value, source, table


def pgvector_recall(r: Record) -> str:
    plans = {"planner": "planner's choice", "hnsw": "HNSW walk forced"}
    rows = [
        [
            plans.get(row["plan"], row["plan"]),
            f"{row['group']} ({row['readable_share']:.0%})",
            row["n"],
            f"{row['recall']:.3f}",
            f"{row['p50_ms']:.1f}",
            f"{row['p95_ms']:.1f}",
            row["short"],
        ]
        for row in r["rows"]
    ]
    how = (
        f"{r['chunks']:,} chunks of {r['dim']} dimensions, {r['queries']} queries per row, "
        f"ingest {r['ingest_s']:.0f} s; "
        "recall against numpy's exact top n among the chunks the group may read"
    )
    header = ["plan", "group (share it may read)", "n", "recall@n", "p50 ms", "p95 ms", "short answers"]
    return source(r, "pgvector_recall", how) + table(header, rows) + "\n"


def freshness_sim(r: Record) -> str:
    real, sim = r["modes"]["real"]["rows"], r["modes"]["simulated"]["rows"]

    def moved(row: Record, metric: str, digits: int) -> str:
        return f"{row[metric + '_before']['value']:.{digits}f} → {row[metric + '_after']['value']:.{digits}f}"

    rows = []
    for name in real:
        a, b = real[name], sim[name]
        update = "nothing to update" if not a["update_s"]["value"] else _update(a, b)
        rows.append(
            [
                name,
                moved(a, "stale_rate", 2),
                moved(a, "changed_f1", 3),
                moved(b, "stale_rate", 2),
                moved(b, "changed_f1", 3),
                update,
            ]
        )
    n_real = next(iter(real.values()))["changed_f1_after"]["n"]
    how = (
        f"{r['world']['size']} world, a {r['world']['finetune_steps']}-step fine-tune, version 2 changing "
        f"{r['world']['version_2_fraction']:.0%} of the facts; {n_real} real changed facts asked, "
        f"{r['questions']} simulated edits"
    )
    header = ["strategy", "real: stale", "real: F1", "simulated: stale", "simulated: F1", "update (real / simulated)"]
    return source(r, "freshness_sim", how) + table(header, rows) + "\n"


def _update(real: Record, sim: Record) -> str:
    full = real["full_rebuild_s"]["value"]
    text = f"{real['update_s']['value']:.2f} s / {sim['update_s']['value']:.2f} s (full {full:.1f} s)"
    if "retrain_steps" in real:
        text += f", {real['retrain_steps']['value']} more steps"
    return text


def synth_quality(r: Record) -> str:
    rep = r["synth_report"]
    single, unans = rep["kinds"]["single"], rep["kinds"]["unanswerable"]
    rejected = ", ".join(f"{n} {why.replace('_', ' ')}" for why, n in single["rejected"].items())
    rows = [
        ["single-passage questions kept (of tried)", f"{single['kept']} of {single['tried']} ({rejected})"],
        ["unanswerable questions kept", unans["kept"]],
        [
            "kept answers that are facts the world states in that document",
            f"{r['truth']['single_true_fact_share']:.0%}",
        ],
        ["synthesis time, s", f"{r['synth_s']:.0f}"],
        ["answerable questions in the synthesized test split", rep["decision"]["questions"]],
        ["rank correlation of strategies, synthesized vs real (Spearman)", f"{r['spearman']:.2f}"],
        ["differences significant on real questions that keep their sign", r["significant_real_pairs_kept_sign"]],
    ]
    scores = [[s, f"{r['scores']['real'][s]:.3f}", f"{r['scores']['synth'][s]:.3f}"] for s in r["scores"]["real"]]
    how = f"{rep['settings']['questions']} questions asked for, model {rep['model']['name']}, task suite"
    return (
        source(r, "synth_quality", how)
        + table(["", ""], rows)
        + "\n\n"
        + table(["strategy", "F1 on the world's test questions", "F1 on the synthesized ones"], scores)
        + "\n"
    )


def any_corpus(r: Record) -> str:
    suites = [[name, s.get("rows", "–"), s.get("not_applicable", "")] for name, s in r["suites"].items()]
    metrics = ("token_f1", "contains", "semantic", "hallucination_rate")
    answers = [[name, *(ci(a[m]) for m in metrics)] for name, a in r["answers"].items()]
    n = next(iter(r["answers"].values()))
    syn = r["synthesized"]
    how = (
        f"{r['corpus']['documents']} topics of Python's reference, {syn['kept']} questions synthesized in "
        f"{syn['seconds']:.0f} s, every suite in quick mode, {r['seconds'] / 60:.0f} minutes in all"
    )
    notes = "".join(f"\n\nNote ({k}): {v}" for ds in r["notes"].values() for k, v in ds.items())
    return (
        source(r, "any_corpus", how)
        + table(["suite", "rows", "why none"], suites)
        + f"\n\nAnswers ({n['token_f1']['n']} answerable and {n['hallucination_rate']['n']} unanswerable "
        "test questions, 95% CI):\n\n"
        + table(["strategy", *metrics], answers)
        + notes
        + f"\n\nRecommendation: {r['recommendation']['headline']}\n"
    )


def sequential_error(r: Record) -> str:
    def rate(x: float | None) -> str:
        return "–" if x is None else f"{x:.2%}"

    rows = [
        [
            row["setting"],
            rate(row["sequential"]["winner_rate"]),
            rate(row["sequential"]["right_winner_share"]),
            rate(row["sequential"]["any_pair_claimed_rate"]),
            f"{row['sequential']['median_n_at_stop']:.0f}",
            rate(row["sequential"]["stopped_before_max"]),
            rate(row["z_test_every_look"]["any_pair_claimed_rate"]),
            rate(row["z_test_once_at_400"]["winner_rate"]),
        ]
        for row in r["rows"]
    ]
    header = ["setting", "winner named", "of which right", "any pair claimed", "median n at stop", "stopped early"]
    header += ["z-test every look: any pair claimed", "z-test once at the end: winner named"]
    how = f"{r['runs']:,} runs per setting, a look {r['looks']}; {r['method']}"
    return source(r, "sequential_error", how) + table(header, rows) + "\n"


# The figures each risk suite's table shows, in this order (a suite's other metrics stay in the record).
LADDER_SUITE_METRICS = {
    "freshness": ("changed_f1_before", "changed_f1_after", "stale_rate_before", "stale_rate_after", "update_s"),
    "robustness": ("score_clean", "score_delta_injection", "injection_success_rate", "doc_injection_retrieved_rate"),
    "bias": ("score_delta_gender", "score_delta_nationality", "score_delta_age", "answer_change_rate"),
    "leakage": ("canary_exposure_bits", "canary_extraction_rate", "cross_user_leak_rate"),
    "forgetting": ("trivia_accuracy", "trivia_accuracy_delta", "general_text_ce", "general_text_ce_delta"),
}


def ladder_suites(r: Record, name: str, with_source: bool = True) -> str:
    """Every suite beyond task, retrieval and cost, per candidate of a model_ladder.py record: one table per
    suite, each figure with the number of examples it rests on."""

    def figure(cell: Record | None) -> str:
        if cell is None:
            return "–"
        value = cell["value"]
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        return f"{shown} (n={cell['n']})" if (cell.get("n") or 1) > 1 else shown

    models = ", ".join(r["recipe"]["models"])
    how = f"models {models}, quick mode, {r['n_test']} hand-written test questions for the task suite"
    parts = [source(r, name, how)] if with_source else []
    for suite, by_candidate in r["suites"].items():
        wanted = LADDER_SUITE_METRICS.get(suite) or tuple(next(iter(by_candidate.values())))
        shown = [m for m in wanted if any(m in figures for figures in by_candidate.values())]
        rows = [[cand, *(figure(figures.get(m)) for m in shown)] for cand, figures in by_candidate.items()]
        parts.append(f"**{suite}**\n\n" + table(["candidate", *shown], rows) + "\n\n")
    return "".join(parts).rstrip("\n") + "\n"


def pydoc_synth(r: Record, before: Record | None = None) -> str:
    """`tailor synth` with the 1.5B writer on Python's reference: what it kept, what a person accepts of it,
    and whether the synthesized questions rank the strategies as the hand-written ones do; beside the same
    figures from ``before`` (a run before the reply checks were added) where given."""
    runs = [before, r] if before else [r]
    columns = [_synth_column(run) for run in runs]
    header = ["", "before the two reply checks", "with them"] if before else ["", ""]
    rows = [[label, *(c.get(label, "–") for c in columns)] for label in columns[-1]]
    seen = r.get("review")
    if seen:
        replay = seen["checks_replayed"]
        rows.append(
            [
                "every question a person read: the reply checks reject",
                *([""] if before else []),
                f"{replay['rejected_by_person_caught']} the person rejected, "
                f"{replay['accepted_by_person_caught']} the person accepted",
            ]
        )
    scores = [
        [s, f"{r['scores']['real'][s]:.3f}", *(f"{run['scores']['synth'].get(s, float('nan')):.3f}" for run in runs)]
        for s in r["scores"]["real"]
    ]
    synth_cols = ["F1, synthesized (before the checks)", "F1, synthesized"] if before else ["F1, synthesized"]
    pairs = [
        [
            p["pair"],
            f"{p['real']['delta']:+.3f}",
            p_value(p["real"]["p"]),
            f"{p['synth']['delta']:+.3f}",
            p_value(p["synth"]["p"]),
        ]
        for p in r["pairs"]
    ]
    how = (
        f"writer {r['writer']['name']}, answerer {r['answerer']['name']} (llama.cpp), "
        f"{r['synth_report']['settings']['questions']} questions asked for, task suite in quick mode"
    )
    text = source(r, "pydoc_synth", how) + table(header, rows) + "\n\n"
    text += table(["strategy", "F1, hand-written test questions", *synth_cols], scores) + "\n\n"
    text += table(["pair", "hand-written: difference", "p", "synthesized: difference", "p"], pairs) + "\n"
    if seen and seen["rejected_because"]:
        why = seen["rejected_because"].items()
        text += "\nWhy a person rejected a kept question:\n\n" + "".join(f"- {n}: {w}\n" for w, n in why)
    return text


def _synth_column(r: Record) -> dict[str, object]:
    """One pydoc_synth record's figures, by row label."""
    rep, kept, seen = r["synth_report"], r["kept"], r.get("review")
    single = rep["kinds"]["single"]
    rejected = ", ".join(f"{n} {why.replace('_', ' ')}" for why, n in single["rejected"].items())
    share = kept["single_answer_in_source_share"]
    column: dict[str, object] = {
        "single-passage questions kept (of tried)": f"{single['kept']} of {single['tried']} ({rejected})",
        "kept in all": f"{kept['kept']} ({', '.join(f'{n} {kind}' for kind, n in kept['by_kind'].items())})",
        "single-passage answers found verbatim in their source": "–" if share is None else f"{share:.0%}",
        "documents covered": f"{kept['documents_covered']} of 79",
        "synthesis time, min": f"{r['synth_s'] / 60:.0f}",
        "answerable questions in the synthesized test split": rep["decision"]["questions"],
    }
    if seen:
        by_kind = ", ".join(f"{kind} {n}" for kind, n in seen["accepted_by_kind"].items())
        column["kept questions a person accepts on reading"] = f"{seen['accepted']} of {seen['read']} ({by_kind})"
    column["rank correlation of strategies, synthesized vs hand-written (Spearman)"] = (
        "–" if r["spearman"] is None else f"{r['spearman']:.2f}"
    )
    column["differences significant on hand-written questions that keep their sign"] = r[
        "significant_real_pairs_kept_sign"
    ]
    column["sign flips among pairs significant on both"] = r["sign_flips_among_significant"]
    return column
