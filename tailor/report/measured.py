"""A read-only view of results.json: look up a measured row by dataset, strategy and metric.

The report and the recommendation read figures only through this view, so every number they show
is one a suite recorded.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from tailor import plugins

PRIMARY_METRICS = ("accuracy", "token_f1")  # classification datasets lead with accuracy, QA with F1


@dataclass(frozen=True)
class Pair:
    """``strategy`` minus ``vs`` on a dataset's primary metric, oriented as asked."""

    strategy: str
    vs: str
    delta: float
    ci_low: float | None
    ci_high: float | None
    p: float | None
    n: int


def strategy_key(row: dict) -> str:
    """A row's strategy, as reports name it: ``finetune``, or ``finetune@int8`` for a compressed variant."""
    return f"{row['strategy']}@{row['variant']}" if row.get("variant") else row["strategy"]


class Measured:
    """Rows of one results.json, indexed for lookup."""

    def __init__(self, results: dict[str, Any]):
        self.results = results
        self._rows: dict[tuple[str, str, str], dict] = {}
        self._pairs: dict[tuple[str, str, str, str], dict] = {}
        self._strategies: dict[str, list[str]] = defaultdict(list)
        for row in results["results"]:
            ds, s = row["dataset"], strategy_key(row)
            if row.get("vs"):
                self._pairs[(ds, s, row["vs"], row["metric"])] = row
            else:
                self._rows[(ds, s, row["metric"])] = row
            if s not in self._strategies[ds]:
                self._strategies[ds].append(s)

    def properties(self, strategy: str) -> dict[str, Any]:
        """What the run recorded about a strategy (retrieves, trains, simplicity); for a results.json
        written before strategies were recorded, what the installed strategy of that name declares."""
        name = strategy.split("@", 1)[0]  # finetune@int8 is finetune's model, compressed
        recorded = (self.results.get("strategies") or {}).get(name)
        if recorded is not None:
            return recorded
        spec = plugins.strategies().get(name)
        return spec.properties() if spec else {}

    @property
    def models(self) -> list[str]:
        """The base models of a run over several (``models:``); one-model runs: [the model's name]."""
        recorded = self.results.get("models")
        if recorded:
            return list(recorded)
        return [str((self.results.get("environment") or {}).get("model") or "model")]

    def _parts(self, candidate: str) -> tuple[str, str | None, str | None]:
        """``strategy@model@variant`` → (strategy, model or None, variant or None)."""
        strategy, *rest = candidate.split("@")
        model = rest[0] if rest and self.results.get("models") and rest[0] in self.results["models"] else None
        if model is not None:
            rest = rest[1:]
        return strategy, model, (rest[0] if rest else None)

    def strategy_of(self, candidate: str) -> str:
        return self._parts(candidate)[0]

    def model_of(self, candidate: str) -> str:
        """The base model a candidate runs on (a one-model run's only model)."""
        return self._parts(candidate)[1] or self.models[0]

    def variant_of(self, candidate: str) -> str | None:
        """The compressed variant a row was measured with (``finetune@int8``), None for the model as built."""
        return self._parts(candidate)[2]

    def trains(self, strategy: str) -> bool:
        """Its weights are trained on the user's data."""
        return bool(self.properties(strategy).get("trains"))

    def simplicity(self, strategy: str) -> int:
        """Less to build and keep running is lower; unknown strategies come last."""
        return int(self.properties(strategy).get("simplicity", 1_000))

    @property
    def datasets(self) -> list[str]:
        return list(self._strategies)

    def strategies(self, dataset: str) -> list[str]:
        """Strategies with rows on ``dataset``, in the order the run evaluated them."""
        return list(self._strategies[dataset])

    def row(self, dataset: str, strategy: str, metric: str) -> dict | None:
        return self._rows.get((dataset, strategy, metric))

    def value(self, dataset: str, strategy: str, metric: str) -> float | None:
        row = self.row(dataset, strategy, metric)
        return None if row is None else row["value"]

    def primary(self, dataset: str) -> str | None:
        """The dataset's headline task metric (the one the run recorded as primary, else accuracy or token_f1),
        None when the task suite did not run."""
        recorded = (self.results.get("primary") or {}).get(dataset)
        for metric in (recorded, *PRIMARY_METRICS) if recorded else PRIMARY_METRICS:
            if any(self.row(dataset, s, metric) for s in self.strategies(dataset)):
                return metric
        return None

    def pair(self, dataset: str, strategy: str, vs: str) -> Pair | None:
        """The paired difference ``strategy − vs`` on the primary metric (stored in either order)."""
        metric = f"{self.primary(dataset)}_delta"
        row = self._pairs.get((dataset, strategy, vs, metric))
        if row is not None:
            return Pair(strategy, vs, row["value"], row.get("ci_low"), row.get("ci_high"), row.get("p"), row["n"])
        row = self._pairs.get((dataset, vs, strategy, metric))
        if row is None:
            return None
        low, high = row.get("ci_low"), row.get("ci_high")
        return Pair(
            strategy,
            vs,
            -row["value"],
            None if high is None else -high,
            None if low is None else -low,
            row.get("p"),
            row["n"],
        )
