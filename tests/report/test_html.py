"""report.html and recommendation.json from a run directory's files; `tailor report` and --compare."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys

import pytest

from tailor.artifacts import write_json_atomic
from tailor.errors import ArtifactError
from tailor.report.compare import compare_runs
from tailor.report.html import write_report


def test_report_is_one_self_contained_page_with_the_recommendation(run_dir):
    report = write_report(run_dir)
    page = report.html.read_text(encoding="utf-8")
    assert report.html == run_dir / "report.html"
    assert report.recommendation.headline.startswith("qa: rag (F1 0.750")
    assert html.escape(report.recommendation.headline) in page
    # Nothing is fetched at view time: no scripts, no external stylesheets or images.
    assert "<script" not in page
    assert not re.search(r"""(src|href)=["']?https?:""", page)
    # Plots are inline SVG: quality vs cost, task bars, leakage and cost panels, the loss curve.
    for plot in ("quality-vs-cost", "task", "leakage", "cost", "loss-curve"):
        assert f'data-plot="{plot}"' in page
    assert page.count("<svg") >= 6
    saved = json.loads((run_dir / "recommendation.json").read_text())
    assert saved["headline"] == report.recommendation.headline and saved["tailor_version"]


def test_the_loss_curve_draws_each_strategy_that_trains_its_own_weights(run_dir):
    def curve(page: str) -> str:
        return page.split('data-plot="loss-curve"', 1)[1].split("</svg>", 1)[0]

    alone = curve(write_report(run_dir).html.read_text(encoding="utf-8"))
    assert "raft" not in alone  # one line: finetune's, the only curve written
    rows = [{"step": 1, "loss": 5.0}, {"step": 2, "loss": 4.1}]
    write_json_atomic(run_dir / "raft" / "loss_curve.json", {"rows": rows})
    write_json_atomic(run_dir / "rag+finetune" / "loss_curve.json", {"rows": rows})  # trains nothing of its own
    both = curve(write_report(run_dir).html.read_text(encoding="utf-8"))
    assert ">finetune<" in both and ">raft<" in both and "rag+finetune" not in both  # a labelled line each


def test_examples_mark_the_cited_chunk_and_escape_document_text(run_dir):
    page = write_report(run_dir).html.read_text(encoding="utf-8")
    assert '<div class="ctx cited"><b>[office-lisbon]</b> The office is in Lisbon.</div>' in page
    assert '<div class="ctx"><b>[office-porto]</b> Porto &lt;b&gt;hosts&lt;/b&gt; support.</div>' in page


def test_interpretation_shows_base_answer_token_shifts_and_nearest_training_text(run_dir):
    page = write_report(run_dir).html.read_text(encoding="utf-8")
    assert "<th>base model</th><td" in page and ">Paris</td>" in page
    assert 'title="+3.50 nats">Lis</span>' in page
    assert "qa · sim 0.82 · contains the answer: Ana works from the Lisbon office." in page


def test_interpretation_of_an_older_run_is_not_shown(run_dir):
    results = json.loads((run_dir / "results.json").read_text())
    results["results"] = [r for r in results["results"] if r["metric"] != "base_agreement_rate"]
    write_json_atomic(run_dir / "results.json", results)  # this run measured no interpretation
    assert "Why the fine-tuned model" not in write_report(run_dir).html.read_text(encoding="utf-8")


def test_a_run_without_optional_files_still_reports(tmp_path, make_results, correct):
    run = tmp_path / "bare"
    write_json_atomic(run / "results.json", make_results({"prompt": correct(10), "rag": correct(30)}))
    page = write_report(run).html.read_text(encoding="utf-8")
    assert "Examples side by side" not in page and 'data-plot="loss-curve"' not in page
    assert "qa: rag" in page


def test_a_bad_predictions_line_is_named(run_dir):
    with open(run_dir / "predictions.jsonl", "a", encoding="utf-8") as f:
        f.write("{not json\n")
    with pytest.raises(ArtifactError, match=r"predictions.jsonl:4: not valid JSON"):
        write_report(run_dir)


def test_compare_names_changed_figures_recipe_fields_and_recommendations(tmp_path, make_results, correct):
    before = tmp_path / "a"
    after = tmp_path / "b"
    write_json_atomic(before / "results.json", make_results({"prompt": correct(10), "rag": correct(30)}))
    changed = make_results({"prompt": correct(30), "rag": correct(12)}, constraints={"privacy": "strict"})
    write_json_atomic(after / "results.json", changed)
    c = compare_runs(before, after)
    f1 = {(ch.strategy, ch.metric): ch for ch in c.changed}
    assert (f1["rag", "token_f1"].before, f1["rag", "token_f1"].after) == (0.75, 0.3)
    assert f1["rag", "token_f1"].beyond_noise is True
    assert ("rag", "token_f1_delta vs prompt") in f1
    assert ("constraints", None, {"privacy": "strict"}) in c.recipe
    assert c.recommendation_before.startswith("qa: rag") and c.recommendation_after.startswith("qa: prompt")


def test_cli_report_and_compare(run_dir, tmp_path):
    cmd = [sys.executable, "-m", "tailor", "report"]
    done = subprocess.run([*cmd, str(run_dir)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"report: {(run_dir / 'report.html').resolve()}",
        f"recommendation: {json.loads((run_dir / 'recommendation.json').read_text())['headline']}",
    ]
    compared = subprocess.run([*cmd, "--compare", str(run_dir), str(run_dir), "--json"], capture_output=True, text=True)
    assert compared.returncode == 0 and json.loads(compared.stdout)["changed"] == []
    missing = subprocess.run([*cmd, str(tmp_path / "nowhere")], capture_output=True, text=True, check=False)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert "results.json not found" in missing.stderr and len(missing.stderr.strip().splitlines()) == 1


def test_a_panel_over_one_answer_says_too_few_to_plot(tmp_path, make_results, correct):
    leaks = {"prompt": {"cross_user_leak_rate": 0.0}, "rag": {"cross_user_leak_rate": 1.0}}
    run = tmp_path / "n1"
    write_json_atomic(
        run / "results.json", make_results({"prompt": correct(10), "rag": correct(30)}, extra=leaks, n_extra=1)
    )
    page = write_report(run).html.read_text(encoding="utf-8")
    leakage = re.search(r'<div class="plot" data-plot="leakage">(.*?)</div>', page, re.S).group(1)
    assert "<svg" not in leakage  # no empty axes
    assert "qa · leakage: rates: too few to plot prompt cross-user leaks (n=1), rag cross-user leaks (n=1)" in leakage
    assert "a bar needs at least 2 answers" in leakage
    task = re.search(r'<div class="plot" data-plot="task">(.*?)</div>', page, re.S).group(1)
    assert "<svg" in task and "too few" not in task  # 40 answers a bar: drawn as before


def test_a_bar_over_one_answer_is_left_out_and_named_beside_the_others(tmp_path, make_results, correct):
    leaks = {"prompt": {"cross_user_leak_rate": 0.0}, "rag": {"cross_user_leak_rate": 0.25}}
    results = make_results({"prompt": correct(10), "rag": correct(30)}, extra=leaks, n_extra=8)
    for row in results["results"]:
        if row["strategy"] == "prompt" and row["metric"] == "cross_user_leak_rate":
            row["n"] = 1
    run = tmp_path / "mixed"
    write_json_atomic(run / "results.json", results)
    page = write_report(run).html.read_text(encoding="utf-8")
    leakage = re.search(r'<div class="plot" data-plot="leakage">(.*?)</div>', page, re.S).group(1)
    assert "<svg" in leakage and "too few to plot prompt cross-user leaks (n=1);" in leakage
    assert ">rag<" in leakage and ">prompt<" not in leakage  # the x axis names only the drawn bar
