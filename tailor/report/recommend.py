"""The recommendation: rank strategies from measured results under the user's constraints, and say why.

Per dataset, in this order (each step is one line of the explanation, citing the figures it used):

1. quality: every strategy's primary score (F1 or accuracy) with its 95% interval;
2. hard limits from the recipe's ``constraints:`` rule strategies out: ML expertise (none rules out
   training), privacy (any cross-user leak or extracted canary; strict also rules out weights trained
   on the documents), p95 latency, $ per 1,000 answers, minimum quality;
3. the best remaining strategy is compared with each other remaining one by its paired test. Those
   it does not beat at p < 0.05 are tied with it (after `tailor eval --until-decided`: those the
   sequential test, valid at every look, did not separate from it; see :mod:`tailor.eval.sequential`),
   and the tie is broken by what the constraints make matter (when documents change: quality on
   changed facts after an update, then yearly update time), then the higher score, $ per answer and
   simplicity. A tie is said to be a tie, with how many more examples would tell the two apart if the
   observed difference is real, or else the margin within which they are equivalent (see
   :func:`to_separate`);
4. what else was measured about the choice: freshness, forgetting, canary exposure, robustness, bias.

Only figures from results.json are cited; nothing is recomputed but the sample-size estimate, from
the paired difference's recorded interval.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from statistics import NormalDist
from typing import Any

from tailor import plugins
from tailor.eval.metrics import examples_to_separate
from tailor.eval.results import SIGNIFICANCE, format_p
from tailor.eval.sequential import sentence
from tailor.records import Build
from tailor.report.field import usd
from tailor.report.measured import Measured, Pair
from tailor.report.ownership import CHANGES_PER_YEAR, cost_to_own
from tailor.report.settings import ConstraintsConfig

METRIC_NAMES = {"token_f1": "F1", "accuracy": "accuracy", "semantic": "semantic similarity", "exact_match": "EM"}


@dataclass(frozen=True)
class Ranked:
    strategy: str
    score: float | None
    status: str  # recommended | tied | eligible | excluded
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class DatasetDecision:
    dataset: str
    metric: str
    strategy: str | None  # None: no strategy meets the constraints, or none does the task (see outcome)
    headline: str
    steps: tuple[str, ...]
    ranking: tuple[Ranked, ...]
    significant: bool  # the choice beats every other eligible strategy at p < 0.05
    outcome: str = "chosen"  # chosen | no strategy meets the constraints | no candidate does this task


@dataclass(frozen=True)
class Recommendation:
    headline: str  # one line, for the end of `tailor demo` and the top of the report
    decisions: tuple[DatasetDecision, ...]
    constraints: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def constraints_of(results: dict[str, Any]) -> ConstraintsConfig:
    """The constraints the run's recipe stated (defaults for a results.json that predates them)."""
    return ConstraintsConfig.model_validate(results.get("recipe", {}).get("constraints") or {})


def recommend(results: dict[str, Any], constraints: ConstraintsConfig | None = None) -> Recommendation:
    """Rank each dataset's strategies under ``constraints`` (default: the run's recipe's) and explain it."""
    constraints = constraints or constraints_of(results)
    measured = Measured(results)
    decisions = tuple(
        _decide(measured, ds, constraints) for ds in measured.datasets if measured.primary(ds) is not None
    )
    if not decisions:
        headline = "no recommendation: the task suite did not run, so there is no quality to compare"
    else:
        headline = "; ".join(d.headline for d in decisions)
    return Recommendation(headline, decisions, constraints.model_dump(mode="json"))


def _f(value: float) -> str:
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"


@dataclass
class _Field:
    """One dataset's candidates as the decision sees them: scored on the primary metric, best first, each
    with the constraints that rule it out, and the sentences said so far."""

    metric: str
    label: str
    score: dict[str, float]
    ordered: list[str]
    excluded: dict[str, list[str]]
    seq: dict | None  # what --until-decided did, where it ran
    steps: list[str]

    @property
    def eligible(self) -> list[str]:
        return [s for s in self.ordered if not self.excluded[s]]


def _decide(m: Measured, ds: str, c: ConstraintsConfig) -> DatasetDecision:
    f = _field(m, ds, c)
    eligible = f.eligible
    if not eligible:
        return _none_eligible(ds, f)
    best = eligible[0]
    if _floor_bound(m.row(ds, best, f.metric), f.score[best]) < c.task_floor:
        return _not_done(m, ds, f.ordered, f.excluded, f.score, f.steps, c)
    tied = [best] + [s for s in eligible[1:] if not _beats(m, ds, best, s)]
    f.steps += [_compared(m, ds, f, best, s, s in tied) for s in eligible[1:]]
    choice = best
    if len(tied) > 1:
        choice, why = _break_tie(m, ds, tied, c)
        f.steps.append(
            f"Among the tied {', '.join(tied)}, {choice} is chosen: {why}. "
            "More examples (--mode full, a larger test split) would settle the quality question."
        )
    f.steps += levers(m, ds, choice, f.label)
    f.steps += _evidence(m, ds, choice, c)
    significant = len(tied) == 1 and len(eligible) > 1
    headline = _headline(m, ds, f, choice, significant)
    ranking = tuple(
        Ranked(
            s,
            f.score[s],
            "excluded" if f.excluded[s] else "recommended" if s == choice else "tied" if s in tied else "eligible",
            tuple(f.excluded[s]),
        )
        for s in f.ordered
    )
    return DatasetDecision(ds, f.metric, choice, headline, tuple(f.steps), ranking, significant)


def _field(m: Measured, ds: str, c: ConstraintsConfig) -> _Field:
    """The candidates scored and ranked, what rules each out, and the opening sentences: the scores, what a
    sequential run did, the exclusions, each candidate's training state and tuning effort."""
    metric = m.primary(ds)
    label = METRIC_NAMES.get(metric, metric)
    scored = [s for s in m.strategies(ds) if m.row(ds, s, metric)]
    score = {s: m.value(ds, s, metric) for s in scored}
    ordered = sorted(scored, key=lambda s: -score[s])
    n = max(m.row(ds, s, metric)["n"] for s in scored)
    steps = [
        f"{ds}: {label} on {n} examples: "
        + ", ".join(f"{s} {_f(score[s])}{_interval(m.row(ds, s, metric))}" for s in ordered)
        + "."
    ]
    seq = _sequential(m, ds)
    if seq is not None:
        steps += _sequential_sentences(seq)
    excluded = {s: _exclusions(m, ds, s, c, score[s], label) for s in ordered}
    steps += [f"{s} is ruled out: {'; '.join(excluded[s])}." for s in ordered if excluded[s]]
    steps += [line for s in ordered for line in training_state(m, ds, s)]
    steps += tuning_effort(m, ds, ordered)
    return _Field(metric, label, score, ordered, excluded, seq, steps)


def _none_eligible(ds: str, f: _Field) -> DatasetDecision:
    closest = f.ordered[0]
    headline = f"{ds}: no strategy meets your constraints (closest: {closest}, {'; '.join(f.excluded[closest])})"
    f.steps.append("No strategy meets every constraint; relax one of them or improve a strategy, then rerun.")
    ranking = tuple(Ranked(s, f.score[s], "excluded", tuple(f.excluded[s])) for s in f.ordered)
    return DatasetDecision(
        ds, f.metric, None, headline, tuple(f.steps), ranking, False, "no strategy meets the constraints"
    )


def _compared(m: Measured, ds: str, f: _Field, best: str, s: str, tied: bool) -> str:
    """The sentence comparing the best candidate with ``s``: separated, tied, or not tested."""
    score, label = f.score, f.label
    pair = m.pair(ds, best, s)
    if f.seq is not None and _sequential_pair(f.seq, best, s) is not None:
        return _sequential_step(f.seq, best, s, score, label)
    if pair is None:
        return f"{best} vs {s}: no paired test recorded; treated as a tie."
    if tied:
        return (
            f"{best} {_f(score[best])} vs {s} {_f(score[s])}: the difference "
            f"({pair.delta:+.3f}, {format_p(pair.p)}) is not significant at n={pair.n}, "
            f"so they are tied on quality{to_separate(pair)}."
        )
    return f"{best} beats {s}: {label} {_f(score[best])} vs {_f(score[s])} ({pair.delta:+.3f}, {format_p(pair.p)})."


def _headline(m: Measured, ds: str, f: _Field, choice: str, significant: bool) -> str:
    """The decision in one line: the choice, its score, and the runner-up with the test between them."""
    runner = next((s for s in f.eligible if s != choice), None)
    if runner is None:
        versus = "; the only strategy within your constraints"
    else:
        pair = m.pair(ds, choice, runner)
        verdict = "" if pair is None else f", {format_p(pair.p)}" + ("" if significant else ", not significant")
        if f.seq is not None:  # p-values at the n a sequential run stopped at are not valid: say what the test said
            verdict = ", separated at every look" if significant else ", not separated"
        versus = f" vs {runner} {_f(f.score[runner])}{verdict}"
    return f"{ds}: {choice} ({f.label} {_f(f.score[choice])}{versus})"


def _not_done(
    m: Measured, ds: str, ordered: list[str], excluded: dict, score: dict[str, float], steps: list[str], c
) -> DatasetDecision:
    """No candidate does the task: the best eligible one is not shown to clear ``constraints.task_floor``
    (its 95% interval reaches below it). Say so, and name none: the winner of a field where nothing works is
    no answer."""
    metric = m.primary(ds)
    label = METRIC_NAMES.get(metric, metric)
    best = next(s for s in ordered if not excluded[s])
    row = m.row(ds, best, metric)
    models = "the model" if len(m.models) == 1 else f"any of the {len(m.models)} models"
    where = "below" if score[best] < c.task_floor else "its interval reaching below"
    headline = (
        f"{ds}: no candidate does this task: the best was {best} ({label} {_f(score[best])}, {where} "
        f"{c.task_floor:g}); a stronger model is the next step"
    )
    shown = "scores" if score[best] < c.task_floor else "is not shown to clear the floor: it scores"
    steps.append(
        f"No candidate does this task: the best, {best}, {shown} {label} {_f(score[best])}{_interval(row)}, "
        f"against the {c.task_floor:g} below which answers are not doing it (constraints.task_floor; a candidate "
        f"does the task when its 95% interval clears it). No strategy on {models} changes that; try a stronger "
        f"base model (models:) before tuning further."
    )
    ranking = tuple(Ranked(s, score[s], "excluded" if excluded[s] else "eligible", tuple(excluded[s])) for s in ordered)
    return DatasetDecision(ds, metric, None, headline, tuple(steps), ranking, False, "no candidate does this task")


def levers(m: Measured, ds: str, choice: str, label: str) -> list[str]:
    """Which lever moved quality, in a run over several models: the choice against the same strategy on
    each other model (the model lever) and against its own model's baseline (the strategy lever), each a
    paired difference with its interval, and which of the two was larger."""
    if len(m.models) < 2:
        return []
    strategy, model = m.strategy_of(choice), m.model_of(choice)
    by_model = [(o, p) for o in m.models if o != model and (p := m.pair(ds, choice, f"{strategy}@{o}")) is not None]
    baseline = f"baseline@{model}"
    by_strategy = m.pair(ds, choice, baseline) if baseline != choice else None
    lines = []
    if by_model:
        lines.append(
            f"Changing the model under {strategy}: "
            + ", ".join(f"{model} vs {o} {p.delta:+.3f}{_pair_ci(p)}" for o, p in by_model)
            + "."
        )
    if by_strategy is not None:
        lines.append(
            f"Changing the strategy on {model}: {strategy} vs baseline {by_strategy.delta:+.3f}{_pair_ci(by_strategy)}."
        )
    if by_model and by_strategy is not None:
        _, widest = max(by_model, key=lambda op: abs(op[1].delta))
        model_first = abs(widest.delta) > abs(by_strategy.delta)
        bigger = widest if model_first else by_strategy
        moved = f"{label} moved {widest.delta:+.3f} across models against {by_strategy.delta:+.3f} across strategies"
        if bigger.p is not None and bigger.p < SIGNIFICANCE:
            lever = "the model" if model_first else "the strategy"
            lines.append(f"On this dataset {lever} was the bigger lever: {moved}.")
        else:
            lines.append(f"Which lever matters more is not settled here: {moved}, the larger not significant.")
    return lines


def _pair_ci(p: Pair) -> str:
    ci = f"95% CI {p.ci_low:+.3f} to {p.ci_high:+.3f}, " if p.ci_low is not None and p.ci_high is not None else ""
    return f" ({ci}{format_p(p.p)})"


def training_state(m: Measured, ds: str, strategy: str) -> list[str]:
    """How a trained strategy's training ended, when that qualifies its figures: stopped while dev
    loss was still falling (a lower bound, with what more training would cost here), or stopped early
    because it no longer improved."""
    info = _build(m, ds, strategy).training
    if info is None or not info.dev:
        return []
    dev, steps, epochs = info.dev, info.steps, info.epochs
    trained = f"{steps} steps" + (f", {epochs:.2f} epochs" if epochs is not None else "")
    if dev.get("still_improving"):
        line = (
            f"{strategy}'s training ended ({trained}) while its dev loss was still falling "
            f"({_dev_losses(dev)}): its figures are a lower bound on what fine-tuning can do here"
        )
        per_epoch, seconds = info.steps_per_epoch, info.train_s
        if per_epoch and seconds:
            line += (
                f"; each further epoch is about {math.ceil(per_epoch)} steps, "
                f"~{seconds / steps * per_epoch:.0f} s on this machine "
                "(raise finetune.max_steps or set finetune.epochs)"
            )
        return [line + "."]
    if dev.get("stopped_early"):
        return [
            f"{strategy}'s training stopped at step {steps} ({trained}): dev loss no longer improved; "
            f"the weights of step {dev['best_step']} (dev loss {dev['best_loss']:.3f}) are the ones measured."
        ]
    return []


UNEQUAL_EFFORT = 1.5  # searches whose variants or answers differ by more than this factor were not tuned alike


def _build(m: Measured, ds: str, strategy: str) -> Build:
    """What results.json recorded about building ``strategy`` for ``ds`` (an empty build if nothing)."""
    return Build.from_json(((m.results.get("builds") or {}).get(ds) or {}).get(strategy) or {})


def tuning_effort(m: Measured, ds: str, ordered: list[str]) -> list[str]:
    """What tuning each strategy got (prompt variants and dev answers searched, training steps), in one
    sentence; a second when the searches differ materially, since a better-searched option has an edge
    that is the search's, not the option's."""
    parts, searched, trained = [], {}, False
    for s in ordered:
        build = _build(m, ds, s)
        training = build.training
        got = []
        chosen = build.prompt
        if chosen is not None and chosen.search is not None:
            search = searched[s] = chosen.search
            got.append(
                f"{search.variants} prompt variants, {search.calls} answers on {chosen.n_dev} dev examples"
                f" ({chosen.n_confirm} held out), {search.seconds:.0f} s"
            )
        if training is not None:
            trained, epochs = True, training.epochs
            rates = training.learning_rates_tried
            got.append(
                (f"{rates} learning rates tried on dev loss, the best at " if rates > 1 else "")
                + f"{training.steps} training steps"
                + (f" ({epochs:.2f} epochs)" if epochs is not None else "")
                + (f", {training.train_s:.0f} s" if training.train_s is not None else "")
            )
        parts.append(f"{s} {' and '.join(got) if got else 'none'}")
    if not searched and not trained:
        return []
    lines = ["Tuning each got: " + "; ".join(parts) + "."]
    for key, what in (("variants", "prompt variants"), ("calls", "dev answers")):
        effort = {s: getattr(search, key) for s, search in searched.items()}
        most = max(effort, key=effort.get, default=None)
        least = min(effort, key=effort.get, default=None)
        if most and effort[most] > UNEQUAL_EFFORT * max(effort[least], 1):
            lines.append(
                f"Their searches were not alike: {most} scored {effort[most]} {what}, {least} "
                f"{effort[least]}; part of a gap between them may be the search's (prompt.candidates "
                "sets one budget for all)."
            )
            break
    return lines


def _dev_losses(dev: dict[str, Any]) -> str:
    curve = dev["curve"][-3:]
    return " → ".join(f"{p['dev_loss']:.3f}" for p in curve) + f" at steps {', '.join(str(p['step']) for p in curve)}"


def to_separate(pair: Pair) -> str:
    """For a tied pair, what more evidence would decide it, as a clause: the examples a paired test
    needs to find the observed difference at p < 0.05 with 80% power (:func:`examples_to_separate`),
    or else the 95% interval's margin of equivalence.

    The standard deviation of the per-example differences is read back from their 95% bootstrap
    interval, sd ≈ width / (2 · 1.96) · √n; "" when no interval was recorded."""
    if pair.ci_low is None or pair.ci_high is None or pair.n < 2:
        return ""
    margin = max(abs(pair.ci_low), abs(pair.ci_high))
    if pair.ci_high - pair.ci_low == 0:
        return f": they scored alike on all {pair.n} examples, so more examples like these would not part them"
    sd = (pair.ci_high - pair.ci_low) / (2 * NormalDist().inv_cdf(0.975)) * math.sqrt(pair.n)
    needed = examples_to_separate(pair.delta, sd)
    equivalent = f"they are equivalent within ±{margin:.3f}"
    if needed is None:
        return f"; {equivalent}"
    return (
        f": about {needed} test examples in all (this run had {pair.n}) would tell them apart if the "
        f"difference is real, or {equivalent}"
    )


def _floor_bound(row: dict, score: float) -> float:
    """What a candidate is shown to score at least: the low end of its 95% interval, or the score itself
    where the suite gave no interval. The floor is checked against this, so that a few lucky answers on a
    small test set do not pass for doing the task."""
    return row.get("ci_low", score)


def _interval(row: dict) -> str:
    return f" ({row['ci_low']:.2f}–{row['ci_high']:.2f})" if "ci_low" in row else ""


def _sequential(m: Measured, ds: str) -> dict | None:
    """What `tailor eval --until-decided` did on ``ds``, where it compared strategies; else None. Over several
    models each model ran its own sequential test: one record holds every model's last look, its pairs named
    by candidate, and each model's record under ``by_model`` (pairs across models have fixed-n tests only)."""
    record = (m.results.get("sequential") or {}).get(ds)
    if record and record.get("looks"):
        return record
    by_model = {
        name: rec
        for name, model in (m.results.get("models") or {}).items()
        if (rec := (model.get("sequential") or {}).get(ds)) and rec.get("looks")
    }
    if not by_model:
        return None
    pairs = [
        {
            **p,
            "better": f"{p['better']}@{name}",
            "worse": f"{p['worse']}@{name}",
            "threshold": rec["threshold"],
            "n": rec["n"],
        }
        for name, rec in by_model.items()
        for p in rec["looks"][-1]["pairs"]
    ]
    first = next(iter(by_model.values()))
    return {**first, "looks": [{"pairs": pairs}], "by_model": by_model}


def _sequential_sentences(seq: dict) -> list[str]:
    if "by_model" not in seq:
        return [sentence(seq).capitalize() + "."]
    return [f"On {name}, {sentence(rec)}." for name, rec in seq["by_model"].items()]


def _sequential_pair(seq: dict, a: str, b: str) -> dict | None:
    """The pair ``a``, ``b`` at the sequential run's last look."""
    return next((p for p in seq["looks"][-1]["pairs"] if {p["better"], p["worse"]} == {a, b}), None)


def _sequential_step(seq: dict, best: str, s: str, score: dict[str, float], label: str) -> str:
    p = _sequential_pair(seq, best, s)
    threshold, n = p.get("threshold", seq["threshold"]), p.get("n", seq["n"])  # per model, over several
    if p["separated"]:
        return (
            f"{p['better']} beats {p['worse']}: {label} {_f(score[p['better']])} vs {_f(score[p['worse']])}, "
            f"separated by the sequential test (evidence {p['evidence']:.3g} ≥ {threshold:.3g})."
        )
    return (
        f"{best} {_f(score[best])} vs {s} {_f(score[s])}: the sequential test did not separate them at "
        f"n={n} (evidence {p['evidence']:.3g}, {threshold:.3g} needed), so they are tied on quality."
    )


def _beats(m: Measured, ds: str, a: str, b: str) -> bool:
    seq = _sequential(m, ds)
    if seq is not None and _sequential_pair(seq, a, b) is not None:
        p = _sequential_pair(seq, a, b)
        return p["separated"] and p["better"] == a
    pair = m.pair(ds, a, b)
    return pair is not None and pair.p is not None and pair.p < SIGNIFICANCE and pair.delta > 0


def _exclusions(m: Measured, ds: str, s: str, c: ConstraintsConfig, score: float, label: str) -> list[str]:
    """Why the constraints rule ``s`` out on ``ds`` (empty: they do not)."""
    out = []
    if m.trains(s) and c.ml_expertise == "none":
        out.append("it trains a model, and you have no in-house ML expertise to retrain and monitor it")
    if m.trains(s) and c.privacy == "strict":
        bits = m.value(ds, s, "canary_exposure_bits")
        extra = "" if bits is None else f" (planted canaries: {bits:.2f} bits of exposure)"
        out.append(f"privacy is strict and its weights are trained on the documents{extra}")
    if c.privacy != "public":
        leak = m.row(ds, s, "cross_user_leak_rate")
        if leak is not None and leak["value"] > 0:
            leaks = round(leak["value"] * leak["n"])
            out.append(f"it leaked another group's document content in {leaks} of {leak['n']} probes")
        extracted = m.value(ds, s, "canary_extraction_rate")
        if extracted:
            out.append(f"it reproduces planted secrets verbatim (extraction rate {extracted:.2f})")
    p95 = m.value(ds, s, "latency_p95_s")
    if c.latency_p95_s is not None and p95 is not None and p95 > c.latency_p95_s:
        out.append(f"p95 latency {p95:.2f} s is over your {c.latency_p95_s:g} s target")
    usd = m.value(ds, s, "usd_per_1k_answers")
    if c.usd_per_1k_answers is not None and usd is not None and usd > c.usd_per_1k_answers:
        out.append(f"${usd:.4f} per 1,000 answers is over your ${c.usd_per_1k_answers:g} budget")
    if c.min_quality is not None and score < c.min_quality:
        out.append(f"{label} {score:.3f} is below your minimum {c.min_quality:g}")
    return out


def _break_tie(m: Measured, ds: str, tied: list[str], c: ConstraintsConfig) -> tuple[str, str]:
    """The tied strategy the constraints favour, and why in words.

    In order: when documents change, quality on the changed facts after an update; then what a correct
    answer costs to own (:func:`cost_to_own`: serving, plus building and every update the data's change
    rate needs, spread over the answers given); then $ per answer; then the simpler strategy. Never the
    higher score: the paired test could not tell the scores apart.
    """
    changes = CHANGES_PER_YEAR[c.data_change]

    def key(s: str) -> tuple:
        fresh = m.value(ds, s, "changed_f1_after") if changes else None
        own = cost_to_own(m, ds, s, c)
        usd = m.value(ds, s, "usd_per_1k_answers")
        return (-round(fresh or 0.0, 2), float(f"{own.usd_per_correct:.2g}"), usd or 0.0, m.simplicity(s))

    ranked = sorted(tied, key=key)
    choice, runner = ranked[0], ranked[1]
    a, b = key(choice), key(runner)
    if a[0] != b[0]:
        why = f"after a document update it scores F1 {-a[0]:.2f} on the changed facts vs {-b[0]:.2f} for {runner}"
    elif a[1] != b[1]:
        mine, theirs = cost_to_own(m, ds, choice, c), cost_to_own(m, ds, runner, c)
        why = (
            f"a correct answer costs {usd(mine.usd_per_correct)} to own vs {usd(theirs.usd_per_correct)} for "
            f"{runner} ({mine.explain()}; {runner}: {theirs.explain()})"
        )
    elif a[2] != b[2]:
        why = f"it costs ${a[2]:.4f} per 1,000 answers vs ${b[2]:.4f} for {runner}"
    else:
        why = f"it is simpler to build and run than {runner}"
    return choice, why


def _evidence(m: Measured, ds: str, s: str, c: ConstraintsConfig) -> list[str]:
    """What else was measured about the chosen strategy ``s``, in plain words with the figures: each
    suite says what it adds (its declared ``evidence``), in report order."""
    return [line for spec in plugins.suites().values() if spec.evidence for line in spec.evidence(m, ds, s, c)]
