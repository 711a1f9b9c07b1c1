"""The search machinery every prompt search shares: budget, ties, and the held-out confirmation."""

from __future__ import annotations

from tailor.data.examples import Example
from tailor.progress import SilentReporter
from tailor.prompt.ascent import ascend, split_dev


def _examples(prefix: str, n: int) -> list[Example]:
    return [Example(id=f"{prefix}{i}", question=f"{prefix} question {i}?", answer="a") for i in range(n)]


def _search(table: dict[tuple[str, str], float], budget: int = 10):
    """Ascent over candidates "start", "a".."d" in one stage, scored from ``table`` by (candidate, part)."""
    calls: list[tuple[str, ...]] = []

    def score(candidates, examples, advance):
        calls.append(tuple(candidates))
        part = examples[0].id[0]
        return [([table[c, part]] * len(examples), float(len(c))) for c in candidates]

    outcome = ascend(
        "start",
        [lambda best: ["a", "b", "c", "d"]],
        score,
        _examples("s", 4),
        _examples("c", 2),
        budget,
        lambda c: {"candidate": c},
        SilentReporter(),
        "test",
    )
    return outcome, calls


def test_the_winner_is_kept_when_held_out_examples_confirm_it() -> None:
    table = {("start", "s"): 0.2, ("a", "s"): 0.5, ("b", "s"): 0.9, ("c", "s"): 0.1, ("d", "s"): 0.9}
    table |= {("b", "c"): 0.5, ("start", "c"): 0.5}
    outcome, calls = _search(table)
    assert outcome.best == "b"  # ties on the search part go to the shorter prompt: "b" before "d" (same length)
    assert (outcome.dev_score, outcome.n_dev, outcome.confirm_score, outcome.n_confirm) == (0.9, 4, 0.5, 2)
    assert outcome.confirmed
    assert calls[-1] == ("b", "start")  # the held-out part scores the winner against the start only
    assert [r["candidate"] for r in outcome.leaderboard][:2] == ["b", "d"]


def test_a_winner_the_held_out_examples_do_not_confirm_gives_way_to_the_start() -> None:
    """Selected on noise: best on the search part, worse than the start where it was not chosen."""
    table = {("start", "s"): 0.2, ("a", "s"): 0.3, ("b", "s"): 0.8, ("c", "s"): 0.1, ("d", "s"): 0.1}
    table |= {("b", "c"): 0.0, ("start", "c"): 0.5}
    outcome, _ = _search(table)
    assert outcome.best == "start" and not outcome.confirmed
    assert outcome.dev_score == 0.2 and outcome.confirm_score == 0.5


def test_the_budget_caps_the_candidates_scored() -> None:
    table = {(c, p): 0.0 for c in ("start", "a", "b", "c", "d") for p in "sc"}
    outcome, calls = _search(table, budget=3)
    assert len(outcome.leaderboard) == 3 and outcome.calls == 3 * 4
    assert calls[:2] == [("start",), ("a", "b")]


def test_a_race_drops_the_clearly_worse_early_and_fits_more_candidates_in_the_same_calls() -> None:
    """16 search examples: "good" answers all, the rest a quarter of them, "late" only the second half
    (a race can drop a late bloomer: the price of spending calls where they decide)."""
    names = ["v0", "v1", "good", "late", *(f"v{i}" for i in range(2, 8))]

    def value(c: str, i: int) -> float:
        return 1.0 if c == "good" or (c == "late" and i >= 8) else float(i % 4 == 0)

    seen: dict[str, list[int]] = {}

    def score(candidates, examples, advance):
        out = []
        for c in candidates:
            ids = [int(e.id[1:]) for e in examples]
            seen.setdefault(c, []).extend(ids)
            out.append(([value(c, i) for i in ids], 10.0))
        return out

    search = _examples("s", 16)
    budget = 4  # the calls of 4 candidates scored on all 16 examples: 64
    stage = [lambda best: names]
    outcome = ascend("start", stage, score, search, [], budget, lambda c: {"c": c}, SilentReporter(), "race")
    assert outcome.best == "good" and outcome.dev_score == 1.0 and outcome.calls <= budget * 16
    assert len(seen) > budget  # more variants than a full scoring of each would allow
    assert len(seen["good"]) == 16 and len(seen["late"]) == 4  # dropped after the first quarter
    assert [r["n"] for r in outcome.leaderboard][:2] == [16, 16]


def test_dev_is_cut_into_a_search_part_and_a_held_out_part() -> None:
    dev = _examples("d", 12)
    search, confirm = split_dev(dev, 24, 8)
    assert (len(search), len(confirm)) == (8, 4)  # at most a third held out
    assert not {e.id for e in search} & {e.id for e in confirm}
    assert split_dev(dev, 5, 2) == (dev[:5], dev[10:])
    assert split_dev(dev, 24, 0) == (dev, [])
