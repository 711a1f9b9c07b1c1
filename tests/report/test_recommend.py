"""The decision logic, on constructed results: constraints rule strategies out, significance decides or
declares a tie, ties are broken by what the constraints make matter, and every step cites its figures."""

from __future__ import annotations

import pytest

from tailor.report.measured import Measured
from tailor.report.recommend import recommend
from tailor.report.settings import ConstraintsConfig
from tailor.report.table import markdown


def test_a_significant_winner_is_recommended_with_its_figures(make_results, correct):
    results = make_results({"prompt": correct(10), "rag": correct(30), "finetune": correct(12)})
    rec = recommend(results)
    decision = rec.decisions[0]
    assert decision.strategy == "rag" and decision.significant
    assert rec.headline.startswith("qa: rag (F1 0.750 vs finetune 0.300, p<0.001")
    assert "not significant" not in rec.headline
    assert any(s.startswith("rag beats prompt: F1 0.750 vs 0.250 (+0.500, p<0.001)") for s in decision.steps)
    assert [r.status for r in decision.ranking] == ["recommended", "eligible", "eligible"]


def test_an_insignificant_lead_is_a_tie_not_broken_by_the_higher_score(make_results, correct):
    results = make_results({"prompt": correct(20), "rag": correct(21)})
    decision = recommend(results, ConstraintsConfig(data_change="never")).decisions[0]
    assert decision.strategy == "prompt" and not decision.significant  # rag's one more right answer decides nothing
    assert any("is not significant at n=40, so they are tied" in s for s in decision.steps)
    assert any(
        "Among the tied rag, prompt, prompt is chosen: it is simpler to build and run than rag" in s
        for s in decision.steps
    )
    assert "not significant" in recommend(results, ConstraintsConfig(data_change="never")).headline


def test_a_tie_goes_to_the_candidate_whose_correct_answer_costs_least_to_own(make_results, correct):
    """rag+finetune leads rag by a point estimate the test cannot separate; it costs more to serve and its
    training is repeated on every monthly change (freshness did not run: estimated from its build)."""
    extra = {
        "rag+finetune": {"usd_per_1k_answers": 0.02, "build_usd": 0.05},
        "rag": {"usd_per_1k_answers": 0.02, "build_usd": 0.002},
    }
    results = make_results({"rag": correct(21), "rag+finetune": correct(24)}, extra=extra)
    decision = recommend(results, ConstraintsConfig(answers_per_month=1000)).decisions[0]
    assert decision.strategy == "rag" and not decision.significant
    step = next(s for s in decision.steps if s.startswith("Among the tied"))
    # rag: ($0.24 serving + $0.002 + 12 x $0) / (12,000 x 0.525)
    # rag+finetune: ($0.24 + $0.05 + 12 x $0.05) / (12,000 x 0.6)
    assert "a correct answer costs $3.8e-05 to own vs $0.00012 for rag+finetune" in step
    assert "12 update(s) at $0.0500 (a full retraining, estimated from its build)" in step
    # With ten times the answers, training is spread thinner but still costs more than it adds.
    many = recommend(results, ConstraintsConfig(answers_per_month=10_000)).decisions[0]
    assert many.strategy == "rag"


def test_a_tie_says_how_many_examples_would_decide_it_or_that_more_would_not(make_results, correct):
    decision = recommend(make_results({"prompt": correct(20), "rag": correct(21)})).decisions[0]
    step = next(s for s in decision.steps if "tied on quality" in s)
    needed = int(step.split("about ")[1].split(" test examples in all")[0])
    assert 100 < needed < 400  # one more right answer in 40: a difference of 0.025 needs a few hundred
    assert "(this run had 40)" in step and "or they are equivalent within ±0.075" in step
    same = recommend(make_results({"prompt": correct(20), "rag": correct(20)})).decisions[0]
    step = next(s for s in same.steps if "tied on quality" in s)
    assert "they scored alike on all 40 examples, so more examples like these would not part them" in step


def test_a_tie_goes_to_the_strategy_that_stays_current_when_documents_change(make_results, correct):
    extra = {
        "finetune": {"changed_f1_after": 0.10, "update_s": 600.0},
        "rag": {"changed_f1_after": 0.60, "update_s": 0.3},
    }
    results = make_results({"finetune": correct(22), "rag": correct(20)}, extra=extra)
    weekly = recommend(results, ConstraintsConfig(data_change="weekly")).decisions[0]
    assert weekly.strategy == "rag"
    assert any("scores F1 0.60 on the changed facts vs 0.10 for finetune" in s for s in weekly.steps)
    # Documents that never change: freshness does not matter, and finetune's higher score breaks no tie.
    never = recommend(results, ConstraintsConfig(data_change="never")).decisions[0]
    assert never.strategy == "rag" and any("simpler to build and run than finetune" in s for s in never.steps)


def test_update_time_breaks_a_tie_when_freshness_is_equal(make_results, correct):
    extra = {"finetune": {"update_s": 600.0}, "rag": {"update_s": 0.3}}
    results = make_results({"finetune": correct(21), "rag": correct(20)}, extra=extra)
    decision = recommend(results, ConstraintsConfig(data_change="daily")).decisions[0]
    assert decision.strategy == "rag"
    # finetune: 365 updates of 600 s at the default $0.10 an hour, over 120,000 answers a year at F1 0.525
    step = next(s for s in decision.steps if s.startswith("Among the tied"))
    assert "vs $9.7e-05 for finetune" in step and "365 update(s) at $0.0167 (as measured)" in step


@pytest.mark.parametrize(
    ("constraints", "reason"),
    [
        ({"ml_expertise": "none"}, "no in-house ML expertise"),
        ({"privacy": "strict"}, "privacy is strict and its weights are trained on the documents"),
    ],
)
def test_training_is_ruled_out_by_expertise_or_strict_privacy(make_results, correct, constraints, reason):
    results = make_results({"prompt": correct(10), "rag": correct(20), "finetune": correct(35)})
    decision = recommend(results, ConstraintsConfig(**constraints)).decisions[0]
    assert decision.strategy == "rag"
    ruled = {r.strategy: r for r in decision.ranking}["finetune"]
    assert ruled.status == "excluded" and reason in ruled.reasons[0]
    assert any(s.startswith("finetune is ruled out:") for s in decision.steps)


def test_a_leaking_strategy_is_ruled_out_unless_privacy_is_public(make_results, correct):
    extra = {"rag": {"cross_user_leak_rate": 0.125}, "prompt": {"cross_user_leak_rate": 0.0}}
    results = make_results({"prompt": correct(10), "rag": correct(30)}, extra=extra)
    internal = recommend(results, ConstraintsConfig(privacy="internal")).decisions[0]
    assert internal.strategy == "prompt"
    assert "leaked another group's document content in 1 of 8 probes" in internal.ranking[0].reasons[0]
    assert recommend(results, ConstraintsConfig(privacy="public")).decisions[0].strategy == "rag"


def test_latency_and_budget_limits_rule_out_by_the_measured_figure(make_results, correct):
    extra = {
        "rag": {"latency_p95_s": 9.7, "usd_per_1k_answers": 0.027},
        "prompt": {"latency_p95_s": 3.9, "usd_per_1k_answers": 0.013},
    }
    results = make_results({"prompt": correct(10), "rag": correct(30)}, extra=extra)
    slow = recommend(results, ConstraintsConfig(latency_p95_s=5)).decisions[0]
    assert slow.strategy == "prompt"
    assert "p95 latency 9.70 s is over your 5 s target" in slow.ranking[0].reasons
    assert slow.headline == "qa: prompt (F1 0.250; the only strategy within your constraints)"
    costly = recommend(results, ConstraintsConfig(usd_per_1k_answers=0.02)).decisions[0]
    assert (
        costly.strategy == "prompt"
        and "$0.0270 per 1,000 answers is over your $0.02 budget" in costly.ranking[0].reasons
    )


def test_no_strategy_meets_the_minimum_quality(make_results, correct):
    results = make_results({"prompt": correct(10), "rag": correct(20)})
    rec = recommend(results, ConstraintsConfig(min_quality=0.8))
    decision = rec.decisions[0]
    assert decision.strategy is None and not decision.significant
    assert rec.headline.startswith(
        "qa: no strategy meets your constraints (closest: rag, F1 0.500 is below your minimum 0.8"
    )
    assert all(r.status == "excluded" for r in decision.ranking)


def test_constraints_default_to_the_runs_recipe(make_results, correct):
    results = make_results({"prompt": correct(10), "finetune": correct(30)}, constraints={"ml_expertise": "none"})
    assert recommend(results).decisions[0].strategy == "prompt"
    assert recommend(results).constraints["ml_expertise"] == "none"
    del results["recipe"]["constraints"]  # a results.json written before constraints existed
    assert recommend(results).decisions[0].strategy == "finetune"


def test_every_dataset_gets_its_own_decision_in_one_headline(make_results, correct):
    qa = make_results({"prompt": correct(10), "rag": correct(30)})
    routing = make_results({"prompt": correct(30), "finetune": correct(5)}, dataset="routing", metric="accuracy")
    qa["results"] += routing["results"]
    rec = recommend(qa)
    assert [d.strategy for d in rec.decisions] == ["rag", "prompt"]
    assert rec.headline.startswith("qa: rag (F1 0.750") and "; routing: prompt (accuracy 0.750" in rec.headline


def test_without_task_rows_there_is_nothing_to_recommend(make_results, correct):
    results = make_results({}, extra={"rag": {"latency_p95_s": 1.0}})
    rec = recommend(results)
    assert rec.decisions == () and rec.headline.startswith("no recommendation")


def test_a_pair_reads_the_same_in_either_order(make_results, correct):
    m = Measured(make_results({"prompt": correct(10), "rag": correct(30)}))
    forward, backward = m.pair("qa", "rag", "prompt"), m.pair("qa", "prompt", "rag")
    assert forward.delta == pytest.approx(0.5) and backward.delta == pytest.approx(-0.5)
    assert (backward.ci_low, backward.ci_high) == (-forward.ci_high, -forward.ci_low)
    assert forward.p == backward.p < 0.001


def test_chosen_strategys_risks_are_cited(make_results, correct):
    extra = {
        "finetune": {
            "general_text_ce_delta": 0.05,
            "canary_exposure_bits": 6.5,
            "injection_success_rate": 0.25,
        },
        "baseline": {"canary_exposure_bits": 2.4},
    }
    results = make_results({"baseline": correct(2), "finetune": correct(30)}, extra=extra)
    steps = recommend(results).decisions[0].steps
    assert any(s.startswith("Forgetting: general-text cross-entropy moved +0.050 nats/token") for s in steps)
    assert "Memorisation: planted canaries are exposed at 6.50 bits vs 2.40 for the base model." in steps
    assert "Robustness: it followed an injected instruction in 2 of 8 questions." in steps


def test_tables_say_the_smallest_difference_their_sample_can_detect(make_results, correct):
    results = make_results({"prompt": correct(2, 6), "rag": correct(4, 6)}, extra={"rag": {"latency_p95_s": 2.0}})
    text = markdown(results)
    assert "**qa · task** (n=6; detects differences ≥ 0.81)" in text  # 6 examples: only huge differences
    assert "**qa · compare** (n=6; detects differences ≥ 0.81)" in text
    assert "**qa · cost** (n=8)" in text  # seconds and dollars: no such bound
    two = markdown(make_results({"prompt": correct(1, 2), "rag": correct(2, 2)}))
    assert "**qa · task** (n=2; too few to detect any difference)" in two


def test_a_fine_tune_stopped_while_still_improving_is_called_a_lower_bound(make_results, correct):
    results = make_results({"rag": correct(30), "finetune": correct(12), "rag+finetune": correct(31)})
    curve = [{"step": 20, "dev_loss": 2.9}, {"step": 30, "dev_loss": 2.6}, {"step": 40, "dev_loss": 2.4}]
    training = {"steps": 40, "epochs": 0.48, "steps_per_epoch": 83.4, "train_s": 64.0}
    dev = {"curve": curve, "best_step": 40, "best_loss": 2.4, "stopped_early": False, "still_improving": True}
    turned = {
        **dev,
        "curve": curve[:2],
        "best_step": 20,
        "best_loss": 2.9,
        "stopped_early": True,
        "still_improving": False,
    }
    results["builds"] = {
        "qa": {
            "finetune": {"build_s": 64.0, **training, "dev": dev},
            "rag+finetune": {"build_s": 66.0, "finetune": {**training, "steps": 30, "dev": turned}},
        }
    }
    steps = recommend(results).decisions[0].steps
    assert (
        "finetune's training ended (40 steps, 0.48 epochs) while its dev loss was still falling "
        "(2.900 → 2.600 → 2.400 at steps 20, 30, 40): its figures are a lower bound on what fine-tuning can do "
        "here; each further epoch is about 84 steps, ~133 s on this machine" in " ".join(steps)
    )
    assert any(
        s.startswith("rag+finetune's training stopped at step 30 (30 steps, 0.48 epochs): dev loss no longer improved")
        and "the weights of step 20 (dev loss 2.900)" in s
        for s in steps
    )
    assert not any(s.startswith("rag's training") for s in steps)


def test_the_tuning_each_strategy_got_is_said_and_unequal_searches_are_flagged(make_results, correct):
    results = make_results({"prompt": correct(10), "rag": correct(30), "finetune": correct(12)})
    searched = {"n_dev": 12, "n_confirm": 6}
    results["builds"] = {
        "qa": {
            "prompt": {**searched, "search": {"variants": 5, "calls": 48, "seconds": 25.6}},
            "rag": {**searched, "search": {"variants": 5, "calls": 48, "seconds": 68.3}},
            "finetune": {"build_s": 145.0, "steps": 40, "epochs": 0.47, "train_s": 144.9},
        }
    }
    steps = recommend(results).decisions[0].steps
    assert (
        "Tuning each got: rag 5 prompt variants, 48 answers on 12 dev examples (6 held out), 68 s; finetune 40 "
        "training steps (0.47 epochs), 145 s; prompt 5 prompt variants, 48 answers on 12 dev examples (6 held out), "
        "26 s." in steps
    )
    assert not any(s.startswith("Their searches were not alike") for s in steps)

    results["builds"]["qa"]["prompt"]["search"] |= {"variants": 2, "calls": 20}  # a search cut short
    steps = recommend(results).decisions[0].steps
    assert "Their searches were not alike: rag scored 5 prompt variants, prompt 2; part of a gap" in " ".join(steps)


def test_without_builds_no_tuning_sentence_is_made(make_results, correct):
    steps = recommend(make_results({"prompt": correct(10), "rag": correct(30)})).decisions[0].steps
    assert not any(s.startswith("Tuning each got") for s in steps)


def _sequential(scores: dict[str, list[float]], batch: int = 8) -> dict:
    """The record `tailor eval --until-decided` writes for these per-example scores, stopped at the first
    look with a winner (else when the examples run out)."""
    from tailor.eval.sequential import evaluate_looks, look_ends, record

    looks = evaluate_looks(scores, look_ends(len(next(iter(scores.values()))), batch))
    stop = next((i for i, look in enumerate(looks) if look.winner), len(looks) - 1)
    kept = looks[: stop + 1]
    stopped = "decided" if kept[-1].winner else "examples"
    return record(kept, strategies=len(scores), batch=batch, available=looks[-1].n, n=kept[-1].n, stopped=stopped)


def test_after_until_decided_the_sequential_test_decides_and_is_said_in_one_sentence(make_results, correct):
    scores = {"prompt": correct(4), "rag": correct(36)}
    seq = _sequential(scores)
    assert seq["stopped"] == "decided" and seq["n"] < 40
    results = make_results({name: s[: seq["n"]] for name, s in scores.items()})
    results["sequential"] = {"qa": seq}
    rec = recommend(results)
    decision = rec.decisions[0]
    assert decision.strategy == "rag" and decision.significant
    assert decision.steps[1] == (
        f"Answering stopped at n={seq['n']} of 40 examples after {len(seq['looks'])} looks (one every 8): rag was "
        "separated from every other strategy by a test valid at every look (family-wise error at most 0.05)."
    )
    assert any(s.startswith("rag beats prompt:") and "separated by the sequential test" in s for s in decision.steps)
    assert rec.headline.endswith(", separated at every look)")


def test_after_until_decided_a_pair_the_sequential_test_did_not_separate_is_a_tie(make_results, correct):
    """10 of 40 examples go rag's way and none the other: McNemar alone calls it significant, but a test
    that may have looked after every batch needs more, so the pair is tied."""
    scores = {"prompt": correct(20), "rag": correct(30)}
    results = make_results(scores)
    assert recommend(results).decisions[0].significant  # the fixed-n test, had n=40 been fixed in advance
    results["sequential"] = {"qa": _sequential(scores)}
    decision = recommend(results, ConstraintsConfig(data_change="never")).decisions[0]
    assert results["sequential"]["qa"]["stopped"] == "examples"
    assert decision.strategy == "prompt" and not decision.significant  # tied: the simpler, not the higher score
    assert any("the sequential test did not separate them at n=40" in s for s in decision.steps)
    assert "the examples ran out before any strategy was separated" in decision.steps[1]


def test_when_no_candidate_does_the_task_none_is_named(make_results, correct):
    """rag beats the base model significantly, yet scores F1 0.050: the winner of a useless field is no answer."""
    results = make_results({"baseline": [0.0] * 40, "rag": [0.2] * 10 + [0.0] * 30})
    rec = recommend(results)
    decision = rec.decisions[0]
    assert decision.strategy is None and not decision.significant and decision.outcome == "no candidate does this task"
    assert rec.headline == (
        "qa: no candidate does this task: the best was rag (F1 0.050, below 0.1); a stronger model is the next step"
    )
    assert any(s.startswith("No candidate does this task: the best, rag, scores F1 0.050") for s in decision.steps)
    assert [r.status for r in decision.ranking] == ["eligible", "eligible"]
    assert recommend(results, ConstraintsConfig(task_floor=0.01)).decisions[0].strategy == "rag"


def _row(results: dict, strategy: str) -> dict:
    return next(r for r in results["results"] if r["strategy"] == strategy and r["metric"] == "token_f1")


def test_a_score_above_the_floor_whose_interval_reaches_below_it_does_not_do_the_task(make_results):
    """rag's F1 is 0.125 on 40 examples, over the 0.1 floor, but 5 lucky answers could be chance: the low end
    of its interval is under 0.1, so no candidate is shown to do the task. Twice the answers clear it."""
    results = make_results({"baseline": [0.0] * 40, "rag": [1.0] * 5 + [0.0] * 35})
    row = _row(results, "rag")
    assert row["value"] == 0.125 and row["ci_low"] < 0.1
    decision = recommend(results).decisions[0]
    assert decision.strategy is None and decision.outcome == "no candidate does this task"
    assert decision.headline == (
        "qa: no candidate does this task: the best was rag (F1 0.125, its interval reaching below 0.1); a "
        "stronger model is the next step"
    )
    assert any("rag, is not shown to clear the floor: it scores F1 0.125 (" in s for s in decision.steps)
    clear = make_results({"baseline": [0.0] * 40, "rag": [1.0] * 12 + [0.0] * 28})
    assert _row(clear, "rag")["ci_low"] > 0.1
    assert recommend(clear).decisions[0].strategy == "rag"


def test_over_several_models_it_says_which_lever_moved_quality(make_results, correct):
    scores = {
        "baseline@small": correct(2),
        "rag@small": correct(4),
        "baseline@big": correct(10),
        "rag@big": correct(30),
    }
    results = make_results(scores)
    results["models"] = {"small": {}, "big": {}}
    decision = recommend(results).decisions[0]
    assert decision.strategy == "rag@big" and decision.significant
    steps = decision.steps
    assert any(s.startswith("Changing the model under rag: big vs small +0.650 (95% CI") for s in steps)
    assert any(s.startswith("Changing the strategy on big: rag vs baseline +0.500 (95% CI") for s in steps)
    assert (
        "On this dataset the model was the bigger lever: F1 moved +0.650 across models against +0.500 across "
        "strategies." in steps
    )


def test_one_model_runs_say_nothing_of_levers(make_results, correct):
    decision = recommend(make_results({"baseline": correct(10), "rag": correct(30)})).decisions[0]
    assert not any("lever" in s or s.startswith("Changing the") for s in decision.steps)


def test_over_several_models_each_models_sequential_test_decides_its_own_pairs(make_results, correct):
    """Each model ran --until-decided on its own strategies. On big, 10 of 40 go rag's way: its sequential test
    did not separate them (McNemar alone would), so rag@big and prompt@big tie; against the other model's
    candidates the fixed-n paired test decides. Each model's stop is said in a sentence."""
    small = {"prompt": correct(2), "rag": correct(4)}
    big = {"prompt": correct(20), "rag": correct(30)}
    results = make_results({f"{s}@{m}": v for m, scores in (("small", small), ("big", big)) for s, v in scores.items()})
    results["models"] = {
        "small": {"sequential": {"qa": _sequential(small)}},
        "big": {"sequential": {"qa": _sequential(big)}},
    }
    decision = recommend(results, ConstraintsConfig(data_change="never")).decisions[0]
    assert decision.steps[1].startswith("On small, answering stopped at n=40 of 40 examples")
    assert decision.steps[2].startswith("On big, answering stopped at n=40 of 40 examples")
    assert any(
        s.startswith("rag@big 0.750 vs prompt@big 0.500: the sequential test did not separate them at n=40")
        for s in decision.steps
    )
    assert any(s.startswith("rag@big beats rag@small: F1 0.750 vs 0.100 (+0.650, p<0.001)") for s in decision.steps)
    assert {r.strategy: r.status for r in decision.ranking}["prompt@big"] in ("tied", "recommended")
