"""The tables of docs/benchmarks.md: tailor against its peers, each a function of its record in bench/results/.

Each reads its record and formats it, nothing more (bench/docs_blocks.py writes them, tests/test_docs.py
checks them), so a figure in the docs is always the recorded one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from table_format import Record, ci, p_value, source, table


def rag(r: Record) -> str:
    t, li, ratio = r["tailor"], r["llamaindex"], r["ratios"]
    ti, pi = t["ingest"], li["ingest"]
    q, pq = t["query_all_groups"], li["query"]
    changed = t["incremental"]["documents_changed"]
    rows = [
        [
            "ingest, s (documents / chunks)",
            f"{ti['seconds']:.1f} ({ti['documents']:,} / {ti['chunks']:,})",
            f"{pi['seconds']:.1f} ({pi['documents']:,} / {pi['chunks']:,})",
            f"{ratio['ingest_speedup']:.2f}× faster",
        ],
        [
            "query latency p50 / p95, ms",
            f"{q['p50_ms']:.1f} / {q['p95_ms']:.1f}",
            f"{pq['p50_ms']:.1f} / {pq['p95_ms']:.1f}",
            f"p95 {ratio['query_p95_ratio']:.2f}×",
        ],
        [f"recall@5 ({q['n']} queries with known answers)", f"{q['recall_at_5']:.3f}", f"{pq['recall_at_5']:.3f}", ""],
        [
            f"re-ingest after {changed} of {ti['documents']:,} documents change, s",
            f"{t['incremental']['seconds']:.2f}",
            f"{li['incremental']['seconds']:.2f}",
            f"{ratio['incremental_speedup']:.1f}× faster",
        ],
        [
            "peak memory growth during ingest, MB",
            f"{ti['peak_rss_growth_mb']:.0f}",
            f"{pi['peak_rss_growth_mb']:.0f}",
            f"{ratio['ingest_peak_rss_growth_ratio']:.2f}×",
        ],
    ]
    how = f"{r['environment']['cpu_count']} CPU cores, mean of {r['rounds']} rounds run A B B A; peer {r['peer']}"
    grid = table(["", "tailor", "LlamaIndex", "ratio"], rows)
    tail = (
        f"\n\nWith each asker's own groups as the pre-filter, tailor's query p95 is "
        f"{ratio['query_p95_ratio_with_access_groups']:.2f}× the peer's.\n"
    )
    return source(r, "rag", how) + grid + tail


def train(r: Record) -> str:
    t, p, loss, ratio = r["tailor"], r["peer"], r["loss"], r["ratios"]
    s = r["settings"]
    rows = [
        [f"training time, s ({s['steps']} steps)", t["train_s"], p["train_s"], f"{ratio['speedup']:.2f}× faster"],
        [
            "tokens/s (sequence tokens, no padding)",
            t["tokens_per_s"],
            p["tokens_per_s"],
            f"{ratio['tokens_per_s_ratio']:.2f}×",
        ],
        [
            "mean loss over the last 10 steps",
            f"{loss['tailor_last10']:.3f}",
            f"{loss['peer_last10']:.3f}",
            f"largest per-step gap {loss['max_step_gap']:.2f} (LoRA dropout)",
        ],
        [
            "peak memory, MB",
            f"{t['peak_rss_mb']:,.0f}",
            f"{p['peak_rss_mb']:,.0f}",
            f"{ratio['peak_rss_ratio']:.2f}×",
        ],
    ]
    how = (
        f"mean of {r['rounds']} rounds run A B B A; {s['sequences']} sequences, batch {s['batch_size']}; "
        f"peer {r['peer_name']}"
    )
    return source(r, "train", how) + table(["", "tailor", "Trainer + peft", "ratio"], rows) + "\n"


_CONVERGENCE = {
    "demo": "demo's steps, {qa} paraphrases",
    "converged": "to convergence, {qa} paraphrases",
    "converged-6qa": "{ceiling}-step ceiling, {qa} paraphrases",
}


def convergence(r: Record) -> str:
    strategies = ["baseline", "rag", "finetune", "rag+finetune"]
    rows, pairs = [], []
    for key, run in r["settings"].items():
        label = _CONVERGENCE[key].format(qa=run["finetune"]["knowledge_qa"], ceiling=run["finetune"]["max_steps"])
        tr, dev = run["training"], run["training"].get("dev") or {}
        stopped = "yes" if dev.get("stopped_early") else "no"
        kept = dev.get("best_step", tr["steps"])
        rows.append(
            [
                label,
                f"{tr['steps']} ({tr['epochs']:.2f})",
                kept,
                stopped,
                f"{tr['train_s']:.0f}",
                *(f"{run['f1'][s]['value']:.3f}" for s in strategies),
            ]
        )
        pairs += [[label, pair, f"{d['delta']:+.3f}", p_value(d["p"])] for pair, d in run["pairs"].items()]
    header = ["setting", "steps (epochs)", "kept step", "stopped by itself", "training s", *strategies]
    how = f"{r['seconds'] / 60:.0f} minutes on {r['environment']['cpu_count']} CPU cores; F1 on the qa test questions"
    return (
        source(r, "convergence", how)
        + table(header, rows)
        + "\n\nPaired differences in F1:\n\n"
        + table(["setting", "pair", "Δ F1", "p"], pairs)
        + "\n"
    )


def raft(r: Record) -> str:
    rows = []
    for run in r["runs"].values():
        f1, pair, tr = run["f1"], run["pairs"]["raft vs rag+finetune"], run["training"]
        plain, rf = tr["rag+finetune"], tr["raft"]
        rows.append(
            [
                run["finetune"]["max_steps"],
                ci(f1["rag"]),
                ci(f1["rag+finetune"]),
                f"**{ci(f1['raft'])}**",
                f"{pair['delta']:+.3f} ({p_value(pair['p'])})",
                f"{plain['train_s']:,.0f} s / {rf['train_s']:,.0f} s",
                f"{plain['dev']['best_step']} / {rf['dev']['best_step']} of {rf['steps']}",
                f"{rf['tokens_seen'] / rf['steps'] / (plain['tokens_seen'] / plain['steps']):.1f}×",
            ]
        )
    header = [
        "steps (ceiling)",
        "rag",
        "rag+finetune",
        "raft",
        "raft − rag+finetune",
        "training: plain / raft",
        "kept step: plain / raft",
        "raft's tokens per step",
    ]
    how = f"{r['seconds'] / 60:.0f} minutes in all; F1 on the qa test questions (95% CI)"
    return source(r, "raft", how) + table(header, rows) + "\n"


def _prompt_column(side: dict[str, Any], spec: str) -> list[object]:
    opt = side["calls"]["optimize"]
    malformed = side["format_failures"]["malformed_answer"]
    return [
        f"{side['test_score']:.3f} [{side['test_ci95'][0]:.3f}, {side['test_ci95'][1]:.3f}]",
        f"{side['dev_score']:.3f}",
        f"{side['dev_to_test_gap']:+.3f}",
        f"{opt['model_calls']} (+{side['calls']['test']['model_calls']})",
        f"{opt['prompt_tokens']:,} / {opt['completion_tokens']:,}",
        f"{side['seconds']['wall']:,.1f}",
        f"{malformed} of {side['n_test']}" if malformed else "–",
        spec,
    ]


def _prompt_choice(side: dict[str, Any]) -> str:
    chosen = side["chosen"]
    if "demos" in chosen:
        return f"{chosen['demos']} demonstrations"
    return chosen["spec"].split(";")[0].removeprefix("instruction in system turn, ")


def prompt(r: Record, name: str = "prompt") -> str:
    """tailor's prompt search against DSPy's best optimizer, per dataset, from bench/results/NAME.json."""
    labels = [
        "test score [95% interval]",
        "dev score of the chosen prompt",
        "dev-to-test gap",
        "model calls to optimise (+ test)",
        "prompt / completion tokens to optimise",
        "wall time, s (optimise and test)",
        "test answers naming no label (format failures)",
        "chosen",
    ]
    columns, header = [], [""]
    for dataset, ds in r["datasets"].items():
        best = ds["summary"]["best_dspy"]
        for side, who in (("tailor", "tailor"), (best, "DSPy " + best)):
            columns.append(_prompt_column(ds["sides"][side], _prompt_choice(ds["sides"][side])))
            header.append(f"{dataset}: {who}")
    rows = [[label, *(col[i] for col in columns)] for i, label in enumerate(labels)]
    outside = len(r["connections_outside_127.0.0.1"])
    how = f"{r['machine']['cpus']} CPU cores; connections attempted outside 127.0.0.1: {outside}"
    model = f"{r['model']} ({r.get('backend', 'transformers')}); " if name != "prompt" else ""
    return source(r, name, model + how) + table(header, rows) + "\n"


def synth_bench(r: Record) -> str:
    t, li = r["sides"]["tailor"], r["sides"]["llamaindex"]
    single = t["own_report"]["kinds"]["single"]

    def count(side: Record, share: str) -> int:
        return round((side["share"][share] or 0) * side["returned"])

    rows = [
        [
            "tailor synth",
            f"{t['returned']} (of {single['tried']} candidates)",
            *(
                ("—",) * 3
                if not t["returned"]
                else (count(t, s) for s in ("well_formed", "answer_in_source", "round_trip"))
            ),
            t["duplicates"]["near_or_exact"],
            t["kept"],
            f"{t['seconds']:.0f} s",
        ],
        [
            "LlamaIndex (RagDatasetGenerator's procedure)",
            li["returned"],
            *(count(li, s) for s in ("well_formed", "answer_in_source", "round_trip")),
            li["duplicates"]["near_or_exact"],
            li["kept"],
            f"{li['seconds']:.0f} s",
        ],
    ]
    header = ["", "returned", "well formed", "answer in its source", "round trip", "duplicates", "kept", "time"]
    rejected = ", ".join(f"{n} {why.replace('_', ' ')}" for why, n in single["rejected"].items())
    malformed = li["screen"].get("malformed", 0)
    tail = f"\n\ntailor's rejections, each counted: {rejected}. LlamaIndex's malformed: {malformed}.\n"
    topics = len(r["corpus"]["documents"])
    how = f"{topics} topics of Python's reference, {r['limit']} questions asked of each side, model {r['model']}"
    return source(r, "synth_bench", how) + table(header, rows) + tail


_INFER = {
    "fp32": "fp32 (transformers)",
    "bf16": "bf16 (transformers)",
    "int8": "int8 (transformers)",
    "q8_0": "q8_0 (tailor's GGUF, llama.cpp)",
    "q4_k_m": "q4_k_m (tailor's GGUF, llama.cpp)",
}


def infer(r: Record) -> str:
    n = r["settings"]["prompts"]
    variants = {_INFER[k]: v for k, v in r["variants"].items()}
    variants["packaged Q4_1 file (llama.cpp, peer)"] = r["llama_cpp"]
    fp32 = r["variants"]["fp32"]["decode_tokens_per_s"]
    rows = [
        [
            name,
            f"{v['size_bytes'] / 1e6:.0f}",
            f"{v['decode_tokens_per_s']:.1f}",
            f"{v['decode_tokens_per_s'] / fp32:.1f}×",
            f"{v['bound_tokens_per_s']:.1f}",
            f"{v['decode_vs_bound']:.2f}",
            f"{v['prefill_tokens_per_s']:.0f}",
            f"{v['latency_p50_s']:.2f}",
            f"{round(v['same_answers_as_fp32'] * n)}/{n}",
        ]
        for name, v in variants.items()
    ]
    header = ["variant", "size MB", "decode tok/s", "decode vs fp32", "bound tok/s", "of bound"]
    header += ["prefill tok/s", "p50 s", "same answers as fp32"]
    how = (
        f"{n} questions answered one at a time, up to {r['settings']['max_new_tokens']} tokens, "
        f"{r['environment']['cpu_count']} CPU cores; measured read bandwidth {r['bandwidth']['read_gb_per_s']} GB/s"
    )
    return source(r, "infer", how) + table(header, rows) + "\n"


def serve(r: Record) -> str:
    runs, soak = r["runs"], r["soak"]
    rows = [
        [
            f"{label} (`batch_size: {run['batch_size']}`)",
            f"{run['answers_per_s']:.2f}",
            f"{run['latency_p50_s']:.1f}",
            f"{run['latency_p95_s']:.1f}",
            run["errors"],
            run["generator_calls"],
        ]
        for label, run in (("unbatched", runs["unbatched"]), ("batched", runs["batched"]))
    ]
    rows.append(
        [
            f"soak: every kind of request, {soak['clients']} clients (`--soak`, batched)",
            f"{soak['answers_per_s']:.2f}",
            f"{soak['answer_latency_p50_s']:.1f}",
            f"{soak['answer_latency_p95_s']:.1f}",
            f"{soak['unexpected']} of {soak['requests']}",
            "–",
        ]
    )
    grid = table(["serving", "answers/s", "p50 s", "p95 s", "errors", "generator calls"], rows)
    ratios = (
        f"\n\nBatching answers {r['throughput_ratio']:.2f}× as many requests per second; its p95 latency is "
        f"{r['p95_latency_ratio']:.2f}× the unbatched one's.\n\n"
    )
    return source(r, "serve") + grid + ratios + _soak(soak) + "\n\n" + _first_token(r["first_token"]) + "\n"


def _soak(soak: Record) -> str:
    rows = [[kind, k["requests"], k["expected_status"], k["unexpected"]] for kind, k in soak["by_kind"].items()]
    rss = soak["server_rss_mb"]
    return (
        f"The soak (`{soak['command']}`, {soak['wall_s']:.0f} s): "
        f"{soak['answers_matched_to_their_request']} of {soak['answers']} answers carried their own question's "
        f"nonce; server memory {rss['start']:,.0f} MB at start, {rss['after_warmup']:,.0f} MB after the warm-up, "
        f"{rss['end']:,.0f} MB at the end (peak {rss['peak']:,.0f} MB); after SIGTERM it exited with code "
        f"{soak['server_exit_code_after_sigterm']} in {soak['server_shutdown_s']:.1f} s. Streamed, the first word "
        f"came at {soak['stream_first_token']['first_token_p50_s']:.1f} s (p50) and the whole answer at "
        f"{soak['stream_first_token']['complete_p50_s']:.1f} s.\n\n"
        + table(["request kind", "requests", "expected status", "unexpected"], rows)
    )


def _first_token(ft: Record) -> str:
    labels = {"whole": "generated whole, then sent in pieces", "streamed": "words sent as generated"}
    rows = [
        [
            labels[name],
            run["requests"],
            f"{run['first_token_p50_s']:.2f}",
            f"{run['first_token_p95_s']:.2f}",
            f"{run['complete_p50_s']:.2f}",
            run["unexpected"],
        ]
        for name, run in ft["runs"].items()
    ]
    header = ["streamed chat completions", "requests", "first word p50 s", "first word p95 s", "whole answer p50 s"]
    return (
        f"Token streaming (`{ft['command']}`):\n\n"
        + table([*header, "unexpected"], rows)
        + f"\n\nThe first word comes in {ft['first_token_p50_ratio']:.2f}× the time; the whole answer takes "
        f"{ft['complete_p50_ratio']:.2f}× as long."
    )


def _ms(q: Record) -> str:
    return f"{q['p50_ms']:.1f} / {q['p95_ms']:.1f}"


def store(r: Record) -> str:
    lance, pg, ratio = r["lancedb"], r["pgvector"], r["ratios"]
    sel = lance["query_selective_group"]

    def both(fmt: Callable[[Record], str]) -> list[str]:
        return [fmt(lance), fmt(pg)]

    def p50(key: str) -> Callable[[Record], str]:
        return lambda s: f"{s[key]['p50_ms']:.1f}"

    rows = [
        [
            "ingest from nothing, s",
            *both(lambda s: f"{s['ingest']['seconds']:.1f}"),
            f"{ratio['ingest_seconds_ratio']:.2f}",
        ],
        [
            "query p50 / p95 ms, every group",
            *both(lambda s: _ms(s["query_all_groups"])),
            _ratio(lance, pg, "query_all_groups"),
        ],
        [
            "query p50 / p95 ms, the asker's groups",
            *both(lambda s: _ms(s["query_with_access_groups"])),
            _ratio(lance, pg, "query_with_access_groups"),
        ],
        [
            f"query p50 / p95 ms, one department ({sel['readable_share']:.2%} of chunks)",
            *both(lambda s: _ms(s["query_selective_group"])),
            _ratio(lance, pg, "query_selective_group"),
        ],
        [
            "dense only p50 ms, every group",
            *both(p50("dense_only_all_groups")),
            _ratio(lance, pg, "dense_only_all_groups", p95=False),
        ],
        [
            "BM25 only p50 ms, every group",
            *both(p50("lexical_only_all_groups")),
            _ratio(lance, pg, "lexical_only_all_groups", p95=False),
        ],
        ["recall@5 hybrid / dense / BM25", *both(_recalls), "same" if _recalls(lance) == _recalls(pg) else "differ"],
        [
            f"re-ingest after {lance['incremental']['documents_changed']} documents change, s",
            *both(lambda s: f"{s['incremental']['seconds']:.2f}"),
            f"{ratio['incremental_seconds_ratio']:.2f}",
        ],
        [
            "tailor's memory growth on opening the index, MB",
            *both(lambda s: f"{s['open_index']['peak_rss_growth_mb']:.2f}"),
            f"{ratio['open_index_rss_growth_ratio']:.2f}",
        ],
    ]
    how = f"{lance['ingest']['documents']:,} documents ({lance['ingest']['chunks']:,} chunks), rounds A B B A averaged"
    return source(r, "store", how) + table(["", "LanceDB", "pgvector", "pgvector / LanceDB"], rows) + "\n"


def _ratio(lance: Record, pg: Record, key: str, p95: bool = True) -> str:
    parts = ["p50_ms", "p95_ms"] if p95 else ["p50_ms"]
    return " / ".join(f"{pg[key][k] / lance[key][k]:.2f}" for k in parts)


def _recalls(s: Record) -> str:
    keys = ("query_all_groups", "dense_only_all_groups", "lexical_only_all_groups")
    return " / ".join(f"{s[k]['recall_at_5']:.3f}" for k in keys)
