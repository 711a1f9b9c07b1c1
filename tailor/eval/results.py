"""results.json: the one record every report and recommendation reads. Rows, never prose."""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from tailor.artifacts import read_json_artifact, write_json_atomic
from tailor.models.precision import cpu_has_bf16

# builds: per dataset and strategy, what was built and how (the tuned prompt, its dev score, context coverage).
SIGNIFICANCE = 0.05  # a paired difference with p below this is reported as significant


def format_p(p: float | None) -> str:
    """A p-value as reports write it: ``p=0.012``, ``p<0.001``, or ``untested``."""
    if p is None:
        return "untested"
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


RESULTS_KEYS = (
    "recipe",
    "started_at",
    "finished_at",
    "environment",
    "results",
    "builds",
    "timings",
    "strategies",
    "primary",  # dataset → the metric its paired tests and the recommendation use
    "not_applicable",  # dataset → suite → why it has no rows
    "notes",  # dataset → suite → what its rows were measured on, where it says
    "sequential",  # dataset → what `tailor eval --until-decided` did: looks, n, why it stopped
    "models",  # a run over several base models (models:): name → its recipe section, strategies, what was skipped
)


@dataclass(frozen=True)
class ResultRow:
    """One measured figure. ``ci_low``/``ci_high`` bound a 95% bootstrap interval where it is a mean.

    A paired difference (a ``*_delta`` metric) also carries ``p``, the two-sided p-value that it is
    not zero, and ``vs``, the strategy it is measured against (None: against the same strategy under
    other conditions, such as clean vs perturbed questions). ``variant`` names the compressed form of
    the strategy's model a figure was measured with.
    """

    strategy: str
    dataset: str
    suite: str
    metric: str
    value: float
    n: int
    ci_low: float | None = None
    ci_high: float | None = None
    p: float | None = None
    vs: str | None = None
    variant: str | None = None  # a compressed model variant (bf16, int8); None: the model as built

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @property
    def significant(self) -> bool | None:
        """Whether a paired difference is significant at the 5% level; None for a plain figure."""
        return None if self.p is None else self.p < SIGNIFICANCE


def mean_row(strategy: str, dataset: str, suite: str, metric: str, values: list[float], seed: int) -> ResultRow:
    """A row holding the mean of per-example ``values`` with its bootstrap 95% interval."""
    from tailor.eval.metrics import mean_ci

    mean, low, high = mean_ci(values, seed=seed)
    return ResultRow(strategy, dataset, suite, metric, round(mean, 6), len(values), round(low, 6), round(high, 6))


def paired_row(
    strategy: str,
    dataset: str,
    suite: str,
    metric: str,
    a: list[float],
    b: list[float],
    seed: int,
    vs: str | None = None,
) -> ResultRow:
    """Mean of the per-example differences ``a - b`` with its bootstrap interval and p-value.

    0/1 scores (accuracy, exact match, a leak) are tested with exact McNemar, anything else with the
    paired bootstrap.
    """
    from tailor.eval.metrics import mcnemar_p, paired_bootstrap_p

    diffs = [x - y for x, y in zip(a, b, strict=True)]
    row = mean_row(strategy, dataset, suite, metric, diffs, seed)
    binary = all(x in (0.0, 1.0) for x in (*a, *b))
    p = mcnemar_p([x == 1.0 for x in a], [y == 1.0 for y in b]) if binary else paired_bootstrap_p(a, b, seed=seed)
    return replace(row, p=round(p, 6), vs=vs)


def environment() -> dict[str, Any]:
    """Versions and hardware a run came from, so a figure can be traced to a machine."""
    import importlib.metadata as md
    import os

    versions = {}
    for dist in ("llm-tailor", "torch", "transformers", "numpy", "scikit-learn"):
        try:
            versions[dist] = md.version(dist)
        except md.PackageNotFoundError:
            versions[dist] = None
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpu_bf16": cpu_has_bf16(),  # whether model.dtype: auto runs bf16 on this CPU
        "versions": versions,
    }
    try:
        import torch

        env["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
        env["torch_threads"] = torch.get_num_threads()
    except ImportError:
        env["cuda"] = None
    return env


def write_results(path: Path, payload: dict[str, Any]) -> Path:
    return write_json_atomic(path, payload)


def read_results(path: Path) -> dict[str, Any]:
    return read_json_artifact(path, RESULTS_KEYS, "results.json")
